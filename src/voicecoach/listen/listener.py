"""The streaming listener: PCM frames in, listener events out.

    listener = Listener(Vocabulary.default("en"), sample_rate=44100, channels=2)
    for chunk in microphone:                       # any chunk size
        for event in listener.feed(chunk):         # SpeechStarted, PartialText, Command, Rejected
            ...
    events = listener.finish()                     # end of stream

Times are seconds of audio fed (the stream's own clock). The listener owns the one audio
buffer (context before the speech, pre-roll, the utterance) and hands each utterance to its
engine (scoring.Engine); the one decision policy (policy.py) turns the engine's scores into a
Command or a Rejected. A streaming engine decodes while the utterance is spoken; an utterance
scorer (Whisper) is asked ahead, at each pause in the speech, so that when the end-pointer's
hangover closes the utterance the answer is usually ready.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace

import numpy as np

from ..events import Command, ListenerEvent, PartialText, Rejected, SpeechStarted
from ..vocabulary import Vocabulary
from .audio import ENGINE_RATE, StreamConverter, to_int16_bytes
from .denoise import NoiseSuppressor
from .frontend import FRAME_SAMPLES, FRAME_SECONDS, Boundary, Endpointer, FrontendSettings
from .policy import (AT_ONCE, IN_SPEECH, LOW_CONFIDENCE, TOO_LONG, TOO_SHORT, Policy, decide,
                     decide_early, policy_for)
from .registry import make_engine
from .scoring import Engine, Scores, Utterance

# An utterance scorer is asked ahead after this much quiet within the speech: soon enough to be
# done before the hangover ends, late enough not to score every dip inside a word.
SPECULATE_AFTER = 0.04
# The end-pointer's hangover in wake-word mode: the pause people make after "coach," (espeak's
# comma: 0.2-0.3 s) must not end the utterance.
WAKE_HANGOVER = 0.45


@dataclass(frozen=True)
class ListenerSettings:
    frontend: FrontendSettings = field(default_factory=FrontendSettings)
    max_utterance: float | None = None   # longer speech is no command (None: the engine's)
    policy: Policy | None = None    # None: the engine's (policy.POLICIES)
    partial_interval: float = 0.2   # seconds of audio between partial-text updates
    denoise: bool = True            # spectral noise suppression before VAD and recogniser
    # Speech this close (seconds) to other speech, before or after, is not addressed to the
    # coach: a word inside talk or counting (docs/listening.md, bench soak). Halting intents
    # are exempt (policy.AT_ONCE).
    isolation: float = 0.5
    # ... where that other speech lasted at least this long: a word, not a breath or a click
    # before the command (measured on commands-train: such lead-ins took real commands).
    talk_seconds: float = 0.25


class Listener:
    def __init__(self, vocabulary: Vocabulary, engine: Engine | None = None, *,
                 sample_rate: int = ENGINE_RATE, channels: int = 1,
                 settings: ListenerSettings = ListenerSettings()):
        self.vocabulary = vocabulary
        self.engine = engine if engine is not None else make_engine(vocabulary)
        self.settings = settings
        self.policy = settings.policy or policy_for(self.engine.name)
        self._converter = StreamConverter(sample_rate, channels)
        frontend = settings.frontend
        if vocabulary.wake_word:
            # "Coach, ... faster": the pause after the wake word stays inside the utterance.
            frontend = replace(frontend, hangover=max(frontend.hangover, WAKE_HANGOVER))
        if frontend.tail_db is None and self.engine.tail_db is not None:
            # The engine's choice of tail gate (an engine that sees the whole window does not
            # depend on where the end-pointer puts the end of a word, so it can decide sooner).
            frontend = replace(frontend, tail_db=self.engine.tail_db)
        self._endpointer = Endpointer(frontend)
        self.max_utterance = settings.max_utterance or self.engine.max_utterance
        self._denoiser = NoiseSuppressor() if settings.denoise else None
        self._pending = np.zeros(0, np.float32)
        self._pre_roll_frames = max(1, round(settings.frontend.pre_roll / FRAME_SECONDS))
        # Audio kept from before the start of speech: the pre-roll, and further back for
        # engines that look at more (the learned classifier's window).
        context = round(self.engine.context_seconds / FRAME_SECONDS)
        self._history: deque[bytes] = deque(maxlen=self._pre_roll_frames + context)
        self._audio: list[bytes] = []          # the utterance's buffer: history, then speech
        self._speech_start = 0                 # samples of history in front of the speech
        self._speculation: Scores | None = None    # scores of the buffer as it was at a pause
        self._speculate_frames = max(1, round(SPECULATE_AFTER / FRAME_SECONDS))
        self._utterance_start: float | None = None   # set while an utterance is being decoded
        # Decided before the end-pointer closed it (too long, or a command taken at a pause):
        # the rest of the utterance is heard out, not decided again.
        self._decided_early: ListenerEvent | None = None
        self._last_partial = ""
        self._next_partial = 0.0
        self._talk_end = -1e9       # end of the last speech that was no command (talk)
        # An attempt at a command not understood, held until `isolation` of quiet shows it
        # was said on its own (else it was part of talk, and gets no answer).
        self._held: Rejected | None = None

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
            self._add(events, self._decide(self._endpointer.force_end()))
        self._release_held(events)
        self._decided_early = None
        return events

    # --- per 10 ms frame ---------------------------------------------------------------

    def _frame(self, frame: np.ndarray, events: list[ListenerEvent]) -> None:
        if self._denoiser is not None:
            frame = self._denoiser.process(frame)
        pcm16 = to_int16_bytes(frame)
        self._history.append(pcm16)
        decision = self._endpointer.push(frame, pcm16)
        now = self.time
        if self._held is not None and (decision.boundary is Boundary.START
                                       or now - self._held.t_end >= self.settings.isolation):
            self._release_held(events, talk=decision.boundary is Boundary.START)
        if decision.boundary is Boundary.START:
            self._utterance_start = decision.t
            self._last_partial, self._next_partial = "", now + self.settings.partial_interval
            events.append(SpeechStarted(decision.t))
            self.engine.begin()
            history = list(self._history)
            self._audio = history
            self._speech_start = sum(map(len, history[:-self._pre_roll_frames])) // 2
            self._speculation = None
            self.engine.accept(b"".join(history[-self._pre_roll_frames:]))
            return
        if self._decided_early is not None:
            if decision.boundary is Boundary.END:
                if isinstance(self._decided_early, Command):
                    self._consumed()
                else:
                    self._talk_end = decision.t
                self._decided_early = None
            return
        if self._utterance_start is None:
            return
        self._audio.append(pcm16)
        self.engine.accept(pcm16)
        if decision.voiced:
            self._speculation = None     # speech went on: what was scored ahead is stale
        if decision.boundary is Boundary.END:
            self._add(events, self._decide(decision.t))
        elif now - self._utterance_start > self.max_utterance:
            # Decide now rather than at the end: a long stretch of speech is not a command,
            # and the engine's work must stay bounded.
            self._decided_early = Rejected("", TOO_LONG, self._utterance_start, now, now)
            events.append(self._decided_early)
            self._end_utterance()
        elif self.engine.speculative and self._endpointer.quiet_frames == self._speculate_frames:
            self._speculation = self.engine.score(self._utterance())
            if self._utterance_start - self._talk_end >= self.settings.isolation:
                early = self._take_early(self._speculation)
                if early is not None:
                    events.append(early)
        elif now >= self._next_partial:
            self._next_partial = now + self.settings.partial_interval
            text = self.engine.partial()
            if text and text != self._last_partial:
                self._last_partial = text
                events.append(PartialText(text, now))

    @staticmethod
    def _add(events: list[ListenerEvent], event: ListenerEvent | None) -> None:
        if event is not None:
            events.append(event)

    def _utterance(self) -> Utterance:
        audio = np.frombuffer(b"".join(self._audio), dtype="<i2")
        return Utterance(audio, self._speech_start)

    def _end_utterance(self) -> None:
        self._utterance_start = None
        self._audio = []
        self._speculation = None

    def _consumed(self) -> None:
        """A command was taken: its audio is no context for the next utterance, which would
        otherwise hear the whole command in front of it and may take it again. (A rejected
        fragment's audio stays: it may be the start of the command that follows.)"""
        self._history.clear()

    def _take_early(self, scores: Scores) -> Command | None:
        """A clear command at a pause, taken without waiting out the hangover (Policy.early)."""
        start = self._utterance_start
        assert start is not None
        t_end = self._endpointer.last_voiced_end
        if t_end - start < self.policy.min_seconds:
            return None
        d = decide_early(scores, self.vocabulary, self.policy, t_end - start)
        if d is None or d.intent is None:
            return None
        self._end_utterance()
        self._decided_early = Command(d.intent, d.phrase, d.confidence, start, t_end, self.time)
        return self._decided_early

    def _decide(self, t_end: float) -> ListenerEvent | None:
        start = self._utterance_start
        assert start is not None
        if t_end - start < self.policy.min_seconds:
            scores = None
        else:
            scores = self._speculation or self.engine.score(self._utterance())
        self._end_utterance()
        now = self.time
        if scores is None:      # (a streaming decoder is reset by the next begin)
            return Rejected("", TOO_SHORT, start, t_end, now)
        d = decide(scores, self.vocabulary, self.policy, t_end - start)
        after_talk = start - self._talk_end < self.settings.isolation
        if d.intent is not None and (not after_talk or d.intent in AT_ONCE):
            self._consumed()
            return Command(d.intent, d.phrase, d.confidence, start, t_end, now)
        reason = IN_SPEECH if after_talk and d.reason != TOO_SHORT else d.reason or ""
        rejected = Rejected(d.phrase, reason, start, t_end, now, d.confidence)
        if reason != TOO_SHORT and t_end - start >= self.settings.talk_seconds:
            self._talk_end = t_end
        if reason == LOW_CONFIDENCE and self.settings.isolation > 0:
            self._held = rejected
            return None
        return rejected

    def _release_held(self, events: list[ListenerEvent], talk: bool = False) -> None:
        """The held attempt goes out: as it was after a quiet `isolation`, as talk when more
        speech came first."""
        held, self._held = self._held, None
        if held is not None:
            events.append(replace(held, reason=IN_SPEECH, t_decided=self.time) if talk
                          else replace(held, t_decided=self.time))


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
