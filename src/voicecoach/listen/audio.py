"""PCM in any shape -> the 16 kHz mono 16-bit stream the recognisers need.

Frames may come in any size, sample rate and channel count (a microphone gives what it gives);
the converter keeps state between frames so that chunk boundaries leave no seams.
"""
from __future__ import annotations

import stat
from pathlib import Path

import numpy as np
import soundfile as sf

from ..errors import UserError

ENGINE_RATE = 16000


class AudioFileError(UserError):
    """An audio file that cannot be read (missing, not audio, empty)."""


def as_float_frames(pcm: bytes | np.ndarray, channels: int) -> np.ndarray:
    """Samples as float32 in [-1, 1], shaped (frames, channels). Bytes are 16-bit little-endian."""
    if isinstance(pcm, (bytes, bytearray, memoryview)):
        x = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    else:
        x = np.asarray(pcm)
        if x.dtype.kind == "i":
            x = x.astype(np.float32) / float(np.iinfo(x.dtype).max + 1)
        elif x.dtype.kind == "u":   # 8-bit WAV is unsigned
            half = float(np.iinfo(x.dtype).max + 1) / 2
            x = (x.astype(np.float32) - half) / half
        else:
            x = finite(x.astype(np.float32, copy=False))
    if x.ndim == 1:
        if x.size % channels:
            raise ValueError(f"{x.size} samples is not a whole number of {channels}-channel frames")
        x = x.reshape(-1, channels)
    elif x.shape[1] != channels:
        raise ValueError(f"got {x.shape[1]} channels, expected {channels}")
    return x


class StreamConverter:
    """Stateful down-mix + resampling to 16 kHz float32 mono.

    Resampling is a windowed-sinc low-pass (against aliasing when the input rate is higher)
    followed by linear interpolation; filter history and the fractional read position carry
    over from one chunk to the next, so the output does not depend on how input was chunked.
    """

    def __init__(self, sample_rate: int, channels: int = 1, target_rate: int = ENGINE_RATE):
        if sample_rate <= 0 or channels <= 0:
            raise ValueError(f"bad audio format: {sample_rate} Hz, {channels} channels")
        self.sample_rate, self.channels, self.target_rate = sample_rate, channels, target_rate
        self._step = sample_rate / target_rate      # input samples per output sample
        self._fir = _lowpass(min(sample_rate, target_rate) / 2 * 0.9, sample_rate) \
            if sample_rate > target_rate else None
        self._hist = np.zeros(0 if self._fir is None else len(self._fir) - 1, np.float32)
        self._tail = np.zeros(0, np.float32)        # filtered input not yet interpolated
        self._pos = 0.0                             # next output position within _tail
        self._odd = b""                             # bytes of a frame split between chunks

    def _whole_frames(self, pcm: bytes | np.ndarray) -> bytes | np.ndarray:
        if not isinstance(pcm, (bytes, bytearray, memoryview)):
            return pcm
        data = self._odd + bytes(pcm)
        cut = len(data) - len(data) % (2 * self.channels)
        self._odd = data[cut:]
        return data[:cut]

    def convert(self, pcm: bytes | np.ndarray) -> np.ndarray:
        mono = as_float_frames(self._whole_frames(pcm), self.channels).mean(axis=1)
        if self.sample_rate == self.target_rate:
            return mono.astype(np.float32, copy=False)
        if self._fir is not None:
            padded = np.concatenate([self._hist, mono])
            filtered = np.convolve(padded, self._fir, mode="valid").astype(np.float32)
            if len(self._hist):
                self._hist = padded[-len(self._hist):]
        else:
            filtered = mono
        x = np.concatenate([self._tail, filtered])
        # Output positions strictly inside x (need x[i] and x[i+1] for interpolation).
        n = int(np.floor((len(x) - 1 - self._pos) / self._step)) + 1 if len(x) - 1 > self._pos else 0
        if n <= 0:
            self._tail = x
            return np.zeros(0, np.float32)
        pos = self._pos + self._step * np.arange(n)
        i = pos.astype(np.int64)
        frac = (pos - i).astype(np.float32)
        out = x[i] * (1 - frac) + x[np.minimum(i + 1, len(x) - 1)] * frac
        next_pos = self._pos + self._step * n
        keep = min(int(np.floor(next_pos)), len(x))   # the next position may lie past x
        self._tail = x[keep:]
        self._pos = next_pos - keep
        return out.astype(np.float32)


def _lowpass(cutoff_hz: float, rate: int, taps: int = 63) -> np.ndarray:
    n = np.arange(taps) - (taps - 1) / 2
    h = np.sinc(2 * cutoff_hz / rate * n) * np.hamming(taps)
    return (h / h.sum()).astype(np.float32)


def to_int16_bytes(x: np.ndarray) -> bytes:
    return (np.clip(x, -1.0, 1.0 - 1 / 32768) * 32768).astype("<i2").tobytes()


def open_audio_file(path: str | Path) -> sf.SoundFile:
    """An audio file opened for reading in blocks, or an AudioFileError saying what is wrong
    with it: missing, a folder, a device or pipe (which would block), not audio, empty."""
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise AudioFileError(f"{path}: no such file") from None
    except OSError as e:          # a symlink loop, a name too long, no permission
        raise AudioFileError(f"{path}: cannot be opened ({e.strerror or e})") from None
    if stat.S_ISDIR(st.st_mode):
        raise AudioFileError(f"{path}: is a folder, not an audio file")
    if not stat.S_ISREG(st.st_mode):
        raise AudioFileError(f"{path}: is a device or a pipe, not an audio file")
    try:
        f = sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as e:
        why = _short(e)
        if "SF_INFO struct incomplete" in why:      # libsndfile's words for a header of 0 Hz
            why = "its header gives no sample rate or no channels"
        raise AudioFileError(f"{path}: not a readable audio file ({why})") from None
    if f.samplerate <= 0 or f.channels <= 0:
        f.close()
        raise AudioFileError(f"{path}: its header gives {f.samplerate} Hz, {f.channels} channels")
    if f.frames == 0:
        f.close()
        raise AudioFileError(f"{path}: contains no audio")
    return f


def read_audio_file(path: str | Path) -> tuple[np.ndarray, int]:
    """(samples float32 shaped (frames, channels), sample rate). Any format libsndfile reads.
    For short files; a long recording is read in blocks (open_audio_file)."""
    with open_audio_file(path) as f:
        try:
            data = f.read(dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, OSError) as e:
            raise AudioFileError(f"{path}: not a readable audio file ({_short(e)})") from None
        return finite(data), int(f.samplerate)


def finite(x: np.ndarray) -> np.ndarray:
    """Samples with NaN and infinities (a broken file or device) made silence and full scale."""
    if not np.isfinite(x).all():
        x = np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0)
    return x


def load_mono_16k(path: str | Path) -> np.ndarray:
    data, rate = read_audio_file(path)
    return StreamConverter(rate, data.shape[1]).convert(data)


def _short(e: Exception) -> str:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return msg.split(": ", 1)[-1] if "Error opening" in msg else msg
