"""Plays the speech queue's decisions: each Started utterance's audio begins at the sample of
its time, a Cut one fades out over a few milliseconds from the sample of the cut.

The same Player writes to any sink. Offline (preview, tests) the caller moves it through the
timeline with `write_until(t)`; live, `LivePlayer` runs it on a thread that writes one small
block after another to a sounddevice stream (silence when nothing is playing), so that an
acknowledgement submitted now is in the stream within a block or two.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np

from ..errors import UserError
from ..speech_queue import Cut, Dropped, SpeechAction, Started, Utterance
from . import SAMPLE_RATE, earcons
from .sinks import PacedSink, Sink
from .tts import resample

CUT_FADE = 0.010        # seconds: long enough not to click, short enough to sound "cut"
BLOCK = 256             # samples per live block (11.6 ms at 22050 Hz; the sink's block)


@dataclass
class _Voice:
    utterance: Utterance
    samples: np.ndarray
    start: int                  # sample where it begins
    end: int                    # sample where it ends (exclusive); earlier once cut
    cut: int | None = None      # sample where the fade-out begins
    submitted: float = 0.0      # perf_counter when the queue's decision reached the player
    first_written: float | None = None


_recordings: dict[str, np.ndarray] = {}


def load_recording(path: str | Path) -> np.ndarray:
    """A cue's own recording (a script's `audio:`), as mono float32 at SAMPLE_RATE."""
    key = str(path)
    if key not in _recordings:
        import soundfile
        try:
            data, rate = soundfile.read(key, dtype="float32", always_2d=True)
        except (OSError, RuntimeError) as e:
            raise UserError(f"{path}: cannot read the cue's recording ({e})") from None
        _recordings[key] = resample(data.mean(axis=1), rate, SAMPLE_RATE)
    return _recordings[key]


def sounds_from(renderer) -> Callable[[Utterance], np.ndarray]:
    """An utterance's audio: its earcon, its recording (a cue with `audio:`), or its text
    rendered through the renderer's cache."""
    def sound_of(utt: Utterance) -> np.ndarray:
        if utt.earcon:
            return earcons.load(utt.earcon)
        audio = (getattr(utt, "extra", None) or {}).get("audio")
        if audio:
            return load_recording(audio)
        return renderer.render(utt.text)
    return sound_of


def duration_from(sound_of: Callable[[Utterance], np.ndarray], samplerate: int):
    """`duration_of` for the SpeechQueue: the real length of what will be played."""
    return lambda utt: len(sound_of(utt)) / samplerate


class Player:
    def __init__(self, sink: Sink, sound_of: Callable[[Utterance], np.ndarray],
                 origin: float = 0.0, fade: float = CUT_FADE) -> None:
        self.sink = sink
        self.rate = sink.samplerate
        self.sound_of = sound_of
        self.origin = origin              # timeline time of sample 0
        self.fade = max(1, int(round(fade * self.rate)))
        self.position = 0                 # samples written so far
        self._voices: list[_Voice] = []
        self._by_id: dict[int, _Voice] = {}
        self._lock = threading.Lock()
        self.placed: dict[int, tuple[int, int]] = {}   # utterance id -> (start, end) samples
        self.latencies: list[tuple[Utterance, float]] = []   # decision -> first sample written
        self.first_written: dict[int, float] = {}   # utterance id -> perf_counter of that write
        self.on_first_sample: Callable[[Utterance, float], None] | None = None

    def sample_at(self, t: float) -> int:
        return int(round((t - self.origin) * self.rate))

    # -- the queue's decisions -----------------------------------------------------------------
    def handle(self, action: SpeechAction, submitted: float | None = None,
               now: bool = False) -> None:
        """Apply one action at the sample of its time, or with `now` (live: the session hands
        actions over when they are due) at the write head. A time already written also means
        the write head: as soon as possible."""
        # Rendering (on demand, for a status answer) happens outside the lock: the live
        # writer thread must never wait for it, or the output would stutter.
        samples = self.sound_of(action.utterance) if isinstance(action, Started) else None
        with self._lock:
            if isinstance(action, Started):
                start = self.position if now else max(self.sample_at(action.t), self.position)
                voice = _Voice(action.utterance, samples, start, start + len(samples),
                               submitted=time.perf_counter() if submitted is None else submitted)
                self._voices.append(voice)
                self._by_id[action.utterance.id] = voice
                self.placed[action.utterance.id] = (voice.start, voice.end)
            elif isinstance(action, Cut):
                voice = self._by_id.get(action.utterance.id)
                if voice is None or voice.cut is not None:
                    return
                cut = max(self.position if now else self.sample_at(action.t),
                          self.position, voice.start)
                if cut < voice.end:
                    voice.cut = cut
                    voice.end = min(voice.end, cut + self.fade)
                    self.placed[action.utterance.id] = (voice.start, voice.end)
            elif isinstance(action, Dropped):
                pass        # never started: nothing to play

    def handle_all(self, actions: Iterable[SpeechAction]) -> None:
        for a in actions:
            self.handle(a)

    # -- writing ---------------------------------------------------------------------------
    def _mix(self, n: int) -> tuple[np.ndarray, list[_Voice]]:
        lo, hi = self.position, self.position + n
        out = np.zeros(n, dtype=np.float32)
        starting = []
        for v in self._voices:
            a, b = max(lo, v.start), min(hi, v.end)
            if a >= b:
                continue
            seg = v.samples[a - v.start:b - v.start]
            if v.cut is not None and b > v.cut:
                idx = np.arange(a, b)
                seg = seg * np.clip((v.end - idx) / self.fade, 0.0, 1.0).astype(np.float32)
            out[a - lo:b - lo] += seg
            if v.first_written is None and v.start < hi:
                starting.append(v)
        self._voices = [v for v in self._voices if v.end > hi]
        self.position = hi
        return out, starting

    def _write_block(self, n: int) -> None:
        with self._lock:
            block, starting = self._mix(n)
        self.sink.write(block)
        now = time.perf_counter()
        for v in starting:
            v.first_written = now
            self.first_written[v.utterance.id] = now
            self.latencies.append((v.utterance, now - v.submitted))
            if self.on_first_sample:
                self.on_first_sample(v.utterance, now - v.submitted)

    def write_until(self, t: float, block: int = 8192) -> None:
        """Write everything up to timeline time t (offline: as fast as the sink takes it)."""
        target = self.sample_at(t)
        while self.position < target:
            self._write_block(min(block, target - self.position))

    @property
    def busy_until(self) -> int:
        with self._lock:
            return max((v.end for v in self._voices), default=self.position)

    def finish(self, tail: float = 0.5) -> None:
        """Play out whatever is still sounding, a short silence after it, and close the sink."""
        end = self.busy_until + int(tail * self.rate)
        while self.position < end:
            self._write_block(min(8192, end - self.position))
        self.sink.close()


class LivePlayer:
    """A Player driven by a thread in real time, for a live session.

    `voicecoach run` would do:  live = LivePlayer(SoundDeviceSink(), sounds_from(renderer));
    live.start(); then hand over every speech-queue result as it happens (the session's
    on_event, or its queue's actions) with `live.submit(actions)`; at the end `live.stop()`.
    Actions are played when they are handed over, at the write head: the session acts when
    things are due, and a sound card's clock need not agree with the session's (a stream may
    take a while to start, or drift), so live times are never mapped to samples."""

    def __init__(self, sink: Sink, sound_of: Callable[[Utterance], np.ndarray],
                 block: int = BLOCK) -> None:
        if not getattr(sink, "realtime", False):
            sink = PacedSink(sink)      # a file has no speaker to pace it: pace it ourselves
        self.block = block
        self.player = Player(sink, sound_of)
        self._running = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def start(self, ready_timeout: float = 5.0) -> None:
        """Start writing; return once the output is steadily taking samples. (Through ALSA's
        PulseAudio plugin a new stream took one block, then nothing for ~2 s: the session's
        first words should not wait for that.)"""
        self._running.set()
        self._thread = threading.Thread(target=self._run, name="voicecoach-player", daemon=True)
        self._thread.start()
        sink = self.player.sink
        deadline = time.monotonic() + ready_timeout
        while (getattr(sink, "frames_played", None) is not None
               and sink.frames_played < 4 * self.block and time.monotonic() < deadline
               and self._thread.is_alive()):
            time.sleep(0.005)

    def _run(self) -> None:
        try:
            while self._running.is_set():
                self.player._write_block(self.block)
        except BaseException as e:   # surfaced by stop(): the session must learn the output died
            self.error = e

    def submit(self, actions: Iterable[SpeechAction], decided: float | None = None) -> None:
        """`decided`: perf_counter when the decision was taken (for the latency figure)."""
        for a in actions:
            self.player.handle(a, submitted=decided, now=True)

    def stop(self, drain: bool = True) -> None:
        if drain:
            end = self.player.busy_until
            while self.player.position < end and self._thread and self._thread.is_alive():
                time.sleep(self.block / self.player.rate)
        self._running.clear()
        if self._thread:
            self._thread.join()
        self.player.sink.close()
        if self.error:
            raise self.error

    @property
    def latencies(self) -> list[tuple[Utterance, float]]:
        return self.player.latencies
