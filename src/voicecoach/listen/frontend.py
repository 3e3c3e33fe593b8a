"""Audio front end: voice activity and end-pointing on 10 ms frames of 16 kHz audio.

A frame counts as voice when WebRTC's VAD (shipped in pocketsphinx) says so AND it stands
clearly above the running noise floor: the VAD alone fires on a steady exercise bike, the
energy gate alone on any bump. End of speech is declared after a short hangover of silence,
which is what bounds the listener's latency.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np
from pocketsphinx import Vad

FRAME_SAMPLES = 160          # 10 ms at 16 kHz
FRAME_SECONDS = 0.01


@dataclass(frozen=True)
class FrontendSettings:
    vad_mode: int = 2                 # WebRTC aggressiveness 0..3
    margin_db: float = 9.0            # voice must be this far above the noise floor
    min_level_db: float = -50.0       # below this (dBFS) nothing is voice
    start_window: int = 10            # frames looked at to declare a start ...
    start_voiced: int = 6             # ... of which this many must be voice
    hangover: float = 0.15            # seconds of non-voice that end an utterance
    pre_roll: float = 0.25            # audio kept from before the start (the onset is soft)
    # Within an utterance, frames this far below its loudest are not voice (breath, rustle
    # after the word). None: the engine's choice: off for the grammar engines (it shortened
    # latency but cut soft word endings, docs/listening.md), on for the learned classifier.
    tail_db: float | None = None


class Boundary(Enum):
    START = "start"
    END = "end"


@dataclass(frozen=True)
class FrameDecision:
    voiced: bool
    boundary: Boundary | None = None
    t: float = 0.0        # for START: start of speech; for END: end of speech (stream seconds)


class Endpointer:
    """Feeds on 10 ms frames, says where utterances start and end."""

    def __init__(self, settings: FrontendSettings = FrontendSettings()):
        self.s = settings
        self._vad = Vad(settings.vad_mode, 16000, FRAME_SECONDS)
        assert self._vad.frame_bytes == FRAME_SAMPLES * 2
        self._floor_db: float | None = None
        self._recent: list[bool] = []
        self.in_speech = False
        self._silent_frames = 0
        self._last_voiced_end = 0.0
        self._peak_db = -200.0
        self.frames = 0

    def level_db(self, frame: np.ndarray) -> float:
        return 10 * float(np.log10(np.mean(frame.astype(np.float64) ** 2) + 1e-12))

    def push(self, frame: np.ndarray, pcm16: bytes) -> FrameDecision:
        """One 10 ms frame (float samples and the same as 16-bit bytes)."""
        t0 = self.frames * FRAME_SECONDS
        self.frames += 1
        level = self.level_db(frame)
        if self._floor_db is None:
            # Start low, not at the first frame's level: a recording may begin mid-word, and
            # the floor rises to steady noise within seconds anyway.
            self._floor_db = min(level, self.s.min_level_db)
        voiced = (level > self.s.min_level_db and level > self._floor_db + self.s.margin_db
                  and (self.s.tail_db is None or not self.in_speech
                       or level > self._peak_db - self.s.tail_db)
                  and self._vad.is_speech(pcm16))
        # Noise floor: drops at once to quieter frames, creeps up slowly otherwise (so that
        # speech barely moves it but a bike that starts up is learnt within a few seconds).
        if level < self._floor_db:
            self._floor_db = level
        else:
            self._floor_db += min(level - self._floor_db, 0.02 if voiced else 0.1)

        self._recent.append(voiced)
        if len(self._recent) > self.s.start_window:
            self._recent.pop(0)
        if voiced:
            self._last_voiced_end = t0 + FRAME_SECONDS
            self._peak_db = max(self._peak_db, level) if self.in_speech else level
        if not self.in_speech:
            if sum(self._recent) >= self.s.start_voiced:
                self.in_speech = True
                self._silent_frames = 0
                first = self._recent.index(True)
                start = t0 - (len(self._recent) - 1 - first) * FRAME_SECONDS
                return FrameDecision(voiced, Boundary.START, start)
            return FrameDecision(voiced)
        self._silent_frames = 0 if voiced else self._silent_frames + 1
        if self._silent_frames * FRAME_SECONDS >= self.s.hangover:
            self.in_speech = False
            self._recent.clear()
            return FrameDecision(voiced, Boundary.END, self._last_voiced_end)
        return FrameDecision(voiced)

    @property
    def quiet_frames(self) -> int:
        """Frames of non-voice since the last voiced one, within an utterance."""
        return self._silent_frames if self.in_speech else 0

    @property
    def last_voiced_end(self) -> float:
        """End of the last voiced frame (stream seconds)."""
        return self._last_voiced_end

    def force_end(self) -> float:
        """End the utterance now (end of stream, or too long); returns the end of speech."""
        self.in_speech = False
        self._recent.clear()
        return self._last_voiced_end
