"""Where the player's samples go: a sound card (sounddevice output stream) or a WAV file.

The interface is two calls, `write(frames)` and `close()`, so the player is the same code for
both. Frames are float32 mono at `samplerate`, in order, without gaps: sample i of everything
written is the audio at time i / samplerate.
"""
from __future__ import annotations

import subprocess
import sys
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
    """A sounddevice (PortAudio) output stream. The stream runs in callback mode and takes its
    blocks from a queue only `queue_blocks` deep; write() blocks while that queue is full. So
    the player stays a few blocks (~45 ms) ahead of the stream, and a new sound (an
    acknowledgement) reaches it within that. (Blocking-write mode through ALSA's PulseAudio
    plugin let the writer run a second ahead, or fall behind, in our tests: the stream's own
    buffer depth is not ours to choose there.)

    Measured through ALSA's PulseAudio plugin on a 2-core VM (12 s of tone, gaps in what the
    sink received): PortAudio's "low" latency (9-11 ms) underran again and again, and each
    underrun cost ~200 ms of silence (a 12 s tone took 30 s); 35 ms with 4 blocks of 256
    played it whole. 2 or 3 blocks left the queue empty when PortAudio asked for several
    blocks at once."""

    realtime = True

    def __init__(self, device: int | str | None = None, samplerate: int = SAMPLE_RATE,
                 blocksize: int = 256, latency: float | str = 0.035,
                 queue_blocks: int = 4) -> None:
        import queue
        try:
            sd = sounddevice_module()
        except OSError as e:   # PortAudio library missing
            raise UserError(f"audio output unavailable: {e} (install libportaudio2)") from None
        self.samplerate = samplerate
        self.blocksize = blocksize
        self._queue: queue.Queue[np.ndarray] = queue.Queue(maxsize=queue_blocks)
        self._carry = np.zeros(0, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)
        self.underflows = 0          # callbacks that found nothing to play (silence was played)
        self.frames_played = 0
        # (frames handed to PortAudio so far, perf_counter) after each callback: when a given
        # sample left our hands, for the latency figure.
        from collections import deque
        self.handed: deque[tuple[int, float]] = deque(maxlen=50_000)
        try:
            self._stream = sd.OutputStream(device=device, samplerate=samplerate, channels=1,
                                           dtype="float32", blocksize=blocksize,
                                           latency=latency, callback=self._callback)
            self._stream.start()
        except (sd.PortAudioError, ValueError) as e:
            where = f"device {device!r}" if device is not None else "the default output device"
            raise UserError(f"cannot open {where} for playback: {e}") from None
        self.latency = float(self._stream.latency)   # seconds from the callback to the speaker

    def _callback(self, outdata, frames, time_info, status) -> None:
        import queue
        out = outdata[:, 0]
        filled = 0
        while filled < frames:
            if not len(self._carry):
                try:
                    self._carry = self._queue.get_nowait()
                except queue.Empty:
                    break
            n = min(frames - filled, len(self._carry))
            out[filled:filled + n] = self._carry[:n]
            self._carry = self._carry[n:]
            filled += n
        if filled < frames:
            out[filled:] = 0.0
            self.underflows += 1
        self.frames_played += filled
        self.handed.append((self.frames_played, time.perf_counter()))

    def handed_at(self, frame: int) -> float | None:
        """perf_counter of the callback that handed sample `frame` (0-based, counting every
        sample written) to PortAudio; None if not yet."""
        for count, t in list(self.handed):
            if count > frame:
                return t
        return None

    def write(self, frames: np.ndarray) -> None:
        import queue
        frames = np.clip(np.asarray(frames, dtype=np.float32), -1.0, 1.0)
        data = np.concatenate([self._pending, frames]) if len(self._pending) else frames
        whole = len(data) - len(data) % self.blocksize
        for i in range(0, whole, self.blocksize):
            try:
                # A stream that stopped calling back must not hang the player for ever.
                self._queue.put(data[i:i + self.blocksize], timeout=2.0 + self.latency)
            except queue.Full:
                raise UserError("the audio output stopped taking samples "
                                f"(stream {'active' if self._stream.active else 'stopped'})") from None
        self._pending = data[whole:].copy()

    def close(self) -> None:
        if self._stream.closed:
            return
        try:
            if len(self._pending):
                pad = np.zeros(self.blocksize - len(self._pending), dtype=np.float32)
                self.write(pad)
            # Let the queue play out, then stop (stop() also plays out what PortAudio holds).
            deadline = time.monotonic() + 2.0
            while (not self._queue.empty() or len(self._carry)) and time.monotonic() < deadline:
                time.sleep(self.blocksize / self.samplerate)
            self._stream.stop()
        finally:
            self._stream.close()


def output_device_available() -> bool:
    try:
        sd = sounddevice_module()
        sd.query_devices(kind="output")
        return True
    except Exception:   # no PortAudio, no device: both mean "no"
        return False


_SOUNDDEVICE = None


def sounddevice_module():
    """The sounddevice module, or a UserError in one line when the audio system cannot start.
    Its import starts PortAudio, which with a broken ALSA configuration can abort the whole
    process (SIGABRT) or raise: it is tried in a child process first, once."""
    global _SOUNDDEVICE
    if _SOUNDDEVICE is not None:
        return _SOUNDDEVICE
    hint = "check the ALSA configuration (ALSA_CONFIG_PATH, ~/.asoundrc) and the sound server"
    try:
        probe = subprocess.run([sys.executable, "-c", "import sounddevice"], capture_output=True,
                               text=True, timeout=30)
    except subprocess.TimeoutExpired:
        raise UserError(f"the audio system did not start within 30 s; {hint}") from None
    if probe.returncode != 0:
        lines = [l for l in probe.stderr.strip().splitlines() if l.strip()]
        why = lines[-1][:200] if lines else (f"killed by signal {-probe.returncode}"
                                              if probe.returncode < 0 else "no message")
        if probe.returncode < 0:
            why = f"it aborted (signal {-probe.returncode}): {why}"
        raise UserError(f"the audio system cannot start ({why}); {hint}")
    try:
        import sounddevice
    except Exception as e:      # PortAudioError, OSError: no libportaudio
        raise UserError(f"the audio system cannot start ({str(e).splitlines()[0][:200]}); "
                        f"{hint}") from None
    _SOUNDDEVICE = sounddevice
    return sounddevice
