"""The streaming listener: PCM frames in, listener events out.

    listener = Listener(Vocabulary.default("en"), sample_rate=44100, channels=2)
    for chunk in microphone:                       # any chunk size
        for event in listener.feed(chunk):         # SpeechStarted, PartialText, Command, Rejected
            ...
    events = listener.finish()                     # end of stream

Times are seconds of audio fed (the stream's own clock). Work per call is bounded by the audio
in it: the recogniser decodes while the utterance is spoken, and the decision is made when the
end-pointer sees a short hangover of silence.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace

import numpy as np

from ..events import Command, ListenerEvent, PartialText, Rejected, SpeechStarted
from ..vocabulary import Vocabulary
from .audio import ENGINE_RATE, StreamConverter, to_int16_bytes
from .denoise import NoiseSuppressor
from .engines import Recognizer, make_recognizer
from .frontend import FRAME_SAMPLES, FRAME_SECONDS, Boundary, Endpointer, FrontendSettings

# Reasons given in Rejected events.
NOT_A_COMMAND = "not a command"
NOTHING_RECOGNISED = "nothing recognised"
TOO_SHORT = "too short for a command"
TOO_LONG = "too long for a command"
LOW_CONFIDENCE = "low confidence"


@dataclass(frozen=True)
class ListenerSettings:
    frontend: FrontendSettings = field(default_factory=FrontendSettings)
    min_utterance: float = 0.12     # shorter bursts are clicks and knocks
    max_utterance: float = 2.5      # commands are short; longer speech is conversation
    min_confidence: float | None = None   # None: the engine's own threshold
    partial_interval: float = 0.2   # seconds of audio between partial-text updates
    denoise: bool = True            # spectral noise suppression before VAD and recogniser


class Listener:
    def __init__(self, vocabulary: Vocabulary, recognizer: Recognizer | None = None, *,
                 sample_rate: int = ENGINE_RATE, channels: int = 1,
                 settings: ListenerSettings = ListenerSettings()):
        self.vocabulary = vocabulary
        self.recognizer = recognizer if recognizer is not None else make_recognizer(vocabulary)
        self.settings = settings
        self._converter = StreamConverter(sample_rate, channels)
        frontend = settings.frontend
        if frontend.tail_db is None and getattr(self.recognizer, "tail_db", None) is not None:
            # The engine's choice of tail gate (the learned classifier's window does not
            # depend on where the end-pointer puts the end of a word, so it can decide sooner).
            frontend = replace(frontend, tail_db=self.recognizer.tail_db)
        self._endpointer = Endpointer(frontend)
        self._denoiser = NoiseSuppressor() if settings.denoise else None
        self._pending = np.zeros(0, np.float32)
        self._pre_roll_frames = max(1, round(settings.frontend.pre_roll / FRAME_SECONDS))
        # Audio kept from before the start of speech: the pre-roll the engine decodes, and
        # further back for engines that look at more (the learned classifier's window).
        context = round(getattr(self.recognizer, "context_seconds", 0.0) / FRAME_SECONDS)
        self._pre_roll: deque[bytes] = deque(maxlen=max(self._pre_roll_frames, context))
        self._utterance_start: float | None = None   # set while an utterance is being decoded
        self._overlong = False                       # speech went on past max_utterance
        self._last_partial = ""
        self._next_partial = 0.0

    @property
    def time(self) -> float:
        """Seconds of audio processed so far."""
        return self._endpointer.frames * FRAME_SECONDS

    def feed(self, pcm: bytes | np.ndarray) -> list[ListenerEvent]:
        """Audio in the format given at construction: 16-bit bytes or a numpy array, channels
        interleaved (or shaped (frames, channels))."""
        x = self._converter.convert(pcm)
        self._pending = np.concatenate([self._pending, x]) if len(self._pending) else x
        events: list[ListenerEvent] = []
        n = len(self._pending) // FRAME_SAMPLES
        for i in range(n):
            self._frame(self._pending[i * FRAME_SAMPLES:(i + 1) * FRAME_SAMPLES], events)
        self._pending = self._pending[n * FRAME_SAMPLES:]
        return events

    def finish(self) -> list[ListenerEvent]:
        """End of stream: decide on any utterance still open."""
        events: list[ListenerEvent] = []
        if len(self._pending):
            frame = np.zeros(FRAME_SAMPLES, np.float32)
            frame[:len(self._pending)] = self._pending
            self._pending = np.zeros(0, np.float32)
            self._frame(frame, events)
        if self._utterance_start is not None:
            events.append(self._decide(self._endpointer.force_end()))
        self._overlong = False
        return events

    # --- per 10 ms frame ---------------------------------------------------------------

    def _frame(self, frame: np.ndarray, events: list[ListenerEvent]) -> None:
        if self._denoiser is not None:
            frame = self._denoiser.process(frame)
        pcm16 = to_int16_bytes(frame)
        self._pre_roll.append(pcm16)
        decision = self._endpointer.push(frame, pcm16)
        now = self.time
        if decision.boundary is Boundary.START:
            self._utterance_start = decision.t
            self._last_partial, self._next_partial = "", now + self.settings.partial_interval
            events.append(SpeechStarted(decision.t))
            self.recognizer.begin()
            history = list(self._pre_roll)
            older, pre_roll = history[:-self._pre_roll_frames], history[-self._pre_roll_frames:]
            if older and hasattr(self.recognizer, "context"):
                self.recognizer.context(b"".join(older))
            self.recognizer.accept(b"".join(pre_roll))
            return
        if self._overlong:
            if decision.boundary is Boundary.END:
                self._overlong = False
            return
        if self._utterance_start is None:
            return
        self.recognizer.accept(pcm16)
        if decision.boundary is Boundary.END:
            events.append(self._decide(decision.t))
        elif now - self._utterance_start > self.settings.max_utterance:
            # Decide now rather than at the end: a long stretch of speech is not a command,
            # and the engine's work must stay bounded.
            self.recognizer.end()
            events.append(Rejected("", TOO_LONG, self._utterance_start, now, now))
            self._utterance_start = None
            self._overlong = True
        elif now >= self._next_partial:
            self._next_partial = now + self.settings.partial_interval
            text = self.recognizer.partial()
            if text and text != self._last_partial:
                self._last_partial = text
                events.append(PartialText(text, now))

    def _decide(self, t_end: float) -> ListenerEvent:
        start, now = self._utterance_start, self.time
        assert start is not None
        self._utterance_start = None
        hyp = self.recognizer.end()
        if t_end - start < self.settings.min_utterance:
            return Rejected(hyp.text, TOO_SHORT, start, t_end, now)
        if not hyp.text:
            return Rejected("", NOTHING_RECOGNISED, start, t_end, now)
        intent = self.vocabulary.intent_for(hyp.text) if hyp.in_grammar else None
        if intent is None:
            return Rejected(hyp.text, NOT_A_COMMAND, start, t_end, now)
        threshold = self.settings.min_confidence
        if threshold is None:
            threshold = self.recognizer.min_confidence
        if hyp.confidence < threshold:
            return Rejected(hyp.text, LOW_CONFIDENCE, start, t_end, now)
        return Command(intent, hyp.text, hyp.confidence, start, t_end, now)


@dataclass(frozen=True)
class Result:
    """What one recording amounted to: its first command, else why it was rejected."""
    intent: str | None
    text: str
    confidence: float | None
    t_end: float | None
    t_decided: float | None
    reason: str | None = None

    def shifted(self, dt: float) -> "Result":
        move = lambda t: None if t is None else max(0.0, t + dt)
        return Result(self.intent, self.text, self.confidence, move(self.t_end),
                      move(self.t_decided), self.reason)

    def to_json(self) -> dict:
        r = lambda t: None if t is None else round(t, 3)
        return {"intent": self.intent, "text": self.text,
                "confidence": r(self.confidence), "t_end": r(self.t_end),
                "t_decided": r(self.t_decided)}


def summarize(events: list[ListenerEvent]) -> Result:
    for e in events:
        if isinstance(e, Command):
            return Result(e.intent, e.phrase, e.confidence, e.t_end, e.t_decided)
    rejected = [e for e in events if isinstance(e, Rejected)]
    if rejected:
        # The most telling rejection: one with words, else the last.
        e = next((e for e in rejected if e.text), rejected[-1])
        return Result(None, e.text, None, e.t_end, e.t_decided, e.reason)
    return Result(None, "", None, None, None, "no speech heard")
