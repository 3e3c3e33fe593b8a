"""Where the player's samples go: a sound card (sounddevice output stream) or a WAV file.

The interface is two calls, `write(frames)` and `close()`, so the player is the same code for
both. Frames are float32 mono at `samplerate`, in order, without gaps: sample i of everything
written is the audio at time i / samplerate.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Protocol

import numpy as np

from ..errors import UserError
from . import SAMPLE_RATE


class Sink(Protocol):
    samplerate: int
    realtime: bool          # True when write() itself paces the caller at playback speed

    def write(self, frames: np.ndarray) -> None: ...

    def close(self) -> None: ...


class WavSink:
    """Writes a 16-bit mono WAV file, as fast as the caller can produce samples."""

    realtime = False

    def __init__(self, path: str | Path, samplerate: int = SAMPLE_RATE) -> None:
        import soundfile
        self.path = Path(path)
        self.samplerate = samplerate
        self.frames_written = 0
        try:
            self._file = soundfile.SoundFile(str(self.path), "w", samplerate=samplerate,
                                             channels=1, subtype="PCM_16", format="WAV")
        except (OSError, RuntimeError) as e:
            raise UserError(f"{self.path}: cannot write the WAV file ({e})") from None

    def write(self, frames: np.ndarray) -> None:
        frames = np.clip(np.asarray(frames, dtype=np.float32), -1.0, 1.0)
        self._file.write(frames)
        self.frames_written += len(frames)

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


class MemorySink:
    """Keeps the samples in memory (benchmarks and tests that look at the signal)."""

    realtime = False

    def __init__(self, samplerate: int = SAMPLE_RATE) -> None:
        self.samplerate = samplerate
        self._blocks: list[np.ndarray] = []
        self.frames_written = 0

    def write(self, frames: np.ndarray) -> None:
        self._blocks.append(np.asarray(frames, dtype=np.float32).copy())
        self.frames_written += len(frames)

    def close(self) -> None:
        pass

    @property
    def samples(self) -> np.ndarray:
        return np.concatenate(self._blocks) if self._blocks else np.zeros(0, np.float32)


class PacedSink:
    """Wraps a file or memory sink so that write() returns no earlier than the moment its last
    sample would have been played: the player then runs at the pace of a sound card, which is
    what latency figures need when there is no sound card."""

    realtime = True

    def __init__(self, inner: WavSink | MemorySink, buffered: float = 0.05) -> None:
        self.inner = inner
        self.samplerate = inner.samplerate
        self._buffered = buffered      # like a device's output buffer: this much may be ahead
        self._t0: float | None = None
        self._written = 0

    def write(self, frames: np.ndarray) -> None:
        if self._t0 is None:
            self._t0 = time.perf_counter()
        # Wait until the buffer has room for this block, like a blocking stream write.
        due = self._t0 + (self._written + len(frames)) / self.samplerate - self._buffered
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        self.inner.write(frames)
        self._written += len(frames)

    def close(self) -> None:
        self.inner.close()


class SoundDeviceSink:
    """A sounddevice (PortAudio) output stream in blocking-write mode: write() returns once the
    block is in the stream's buffer, so a player writing small blocks stays a few milliseconds
    ahead of the speaker and a new sound (an acknowledgement) reaches the stream within a block
    or two."""

    realtime = True

    def __init__(self, device: int | str | None = None, samplerate: int = SAMPLE_RATE,
                 blocksize: int = 256, latency: float | str = "low") -> None:
        try:
            import sounddevice as sd
        except OSError as e:   # PortAudio library missing
            raise UserError(f"audio output unavailable: {e} (install libportaudio2)") from None
        self.samplerate = samplerate
        self.blocksize = blocksize
        try:
            self._stream = sd.OutputStream(device=device, samplerate=samplerate, channels=1,
                                           dtype="float32", blocksize=blocksize,
                                           latency=latency)
            self._stream.start()
        except (sd.PortAudioError, ValueError) as e:
            where = f"device {device!r}" if device is not None else "the default output device"
            raise UserError(f"cannot open {where} for playback: {e}") from None
        self.latency = float(self._stream.latency)   # seconds from write to the speaker
        self.underflows = 0

    def write(self, frames: np.ndarray) -> None:
        frames = np.clip(np.asarray(frames, dtype=np.float32), -1.0, 1.0).reshape(-1, 1)
        if self._stream.write(frames):
            self.underflows += 1

    def close(self) -> None:
        if not self._stream.closed:
            try:
                self._stream.stop()     # plays out what is buffered
            finally:
                self._stream.close()


def output_device_available() -> bool:
    try:
        import sounddevice as sd
        sd.query_devices(kind="output")
        return True
    except Exception:   # no PortAudio, no device: both mean "no"
        return False
