"""One speech queue for everything the coach says, so that nothing ever overlaps.

Priorities: an acknowledgement of a command first (it cuts a coaching cue that is playing), step
announcements next, coaching cues last. A coaching cue that cannot start within its freshness
window is dropped rather than spoken late, and coaching cues and announcements keep a minimum gap
after whatever was said before them.

The queue decides *when* each utterance starts; how long it lasts comes from `duration_of`
(an estimate in simulation, the rendered audio's length when speaking for real). It is driven by
the session's clock: call `pump(now)` whenever the time reaches `next_wakeup()`.
"""
from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Callable


class Priority(IntEnum):
    ACK = 0            # acknowledgement / answer to a command
    ANNOUNCEMENT = 1   # step changes, rounds, session start and end
    CUE = 2            # coaching cues


@dataclass
class Utterance:
    """One thing to say: speech (text) or an earcon (a short tone named by `earcon`)."""
    text: str
    priority: Priority
    kind: str                        # the timeline event type it becomes: step, cue, response
    earcon: str | None = None        # name of an earcon in audio/ to play instead of speech
    due: float = 0.0                 # clock time it was queued
    stale_after: float | None = None # it may start at most this long after `due`, else dropped
    intent: str | None = None
    step: int | None = None
    id: int = field(default=-1)
    extra: dict = field(default_factory=dict)   # carried onto the timeline event (audio, speed)


@dataclass(frozen=True)
class Started:
    utterance: Utterance
    t: float
    duration: float


@dataclass(frozen=True)
class Cut:
    """A playing utterance stopped early (an acknowledgement interrupted it)."""
    utterance: Utterance
    t: float


@dataclass(frozen=True)
class Dropped:
    """A queued utterance that was never spoken: stale, or cleared (pause, end)."""
    utterance: Utterance
    t: float
    reason: str


SpeechAction = Started | Cut | Dropped


def estimate_duration(utt: Utterance, words_per_minute: float = 165.0) -> float:
    """Rough length of speech for simulation: espeak-ng at its default rate, plus a short tail."""
    if utt.earcon:
        return 0.25
    words = max(1, len(utt.text.split()))
    return round(0.3 + words * 60.0 / words_per_minute, 3)


class SpeechQueue:
    def __init__(self, duration_of: Callable[[Utterance], float] = estimate_duration,
                 min_gap: float = 1.0, ack_gap: float = 0.0) -> None:
        self._duration_of = duration_of
        self.min_gap = min_gap
        self.ack_gap = ack_gap
        self._heap: list[tuple[int, int, Utterance]] = []
        self._ids = itertools.count(1)
        self._seq = itertools.count()
        self.playing: Utterance | None = None
        self._ends_at = 0.0        # when the playing (or last) utterance ends

    # -- feeding ---------------------------------------------------------------------------
    def submit(self, utt: Utterance, now: float, interrupt: bool = False) -> list[SpeechAction]:
        """Queue `utt`. An acknowledgement cuts a coaching cue that is playing; with `interrupt`
        (the first thing said in answer to a new command) it cuts whatever is playing."""
        utt.id = next(self._ids)
        utt.due = now
        actions: list[SpeechAction] = []
        self._finish_if_done(now)
        if self.playing is not None and utt.priority == Priority.ACK and (
                interrupt or self.playing.priority == Priority.CUE):
            actions.append(Cut(self.playing, now))
            self.playing = None
            self._ends_at = now
        heapq.heappush(self._heap, (int(utt.priority), next(self._seq), utt))
        return actions + self.pump(now)

    def clear(self, now: float, at_least: Priority = Priority.ANNOUNCEMENT,
              reason: str = "cleared") -> list[SpeechAction]:
        """Drop queued (not playing) utterances of this priority or lower importance."""
        keep, actions = [], []
        for item in self._heap:
            if item[2].priority >= at_least:
                actions.append(Dropped(item[2], now, reason))
            else:
                keep.append(item)
        heapq.heapify(keep)
        self._heap = keep
        return actions

    # -- driving ---------------------------------------------------------------------------
    def pump(self, now: float) -> list[SpeechAction]:
        """Start whatever may start now; drop what has gone stale."""
        actions: list[SpeechAction] = []
        self._finish_if_done(now)
        stale = [item for item in self._heap if self._stale(item[2], now)]
        if stale:
            self._heap = [item for item in self._heap if not self._stale(item[2], now)]
            heapq.heapify(self._heap)
            actions += [Dropped(item[2], now, "stale") for item in sorted(stale)]
        while self._heap and self.playing is None:
            _, _, utt = self._heap[0]
            if now < self._earliest_start(utt):
                break
            heapq.heappop(self._heap)
            duration = max(0.0, float(self._duration_of(utt)))
            self.playing = utt
            self._ends_at = now + duration
            actions.append(Started(utt, now, duration))
            self._finish_if_done(now)
        return actions

    def next_wakeup(self) -> float | None:
        """The next time pump() could do something, or None when idle and empty."""
        times = [self._ends_at] if self.playing is not None else []
        if self._heap and self.playing is None:
            times.append(self._earliest_start(self._heap[0][2]))
        # Wake when a queued cue goes stale, to drop it on time.
        times += [u.due + u.stale_after + 1e-6 for _, _, u in self._heap if u.stale_after is not None]
        return min(times) if times else None

    @property
    def idle(self) -> bool:
        return self.playing is None and not self._heap

    @staticmethod
    def _stale(utt: Utterance, now: float) -> bool:
        return utt.stale_after is not None and now > utt.due + utt.stale_after

    def _earliest_start(self, utt: Utterance) -> float:
        gap = self.ack_gap if utt.priority == Priority.ACK else self.min_gap
        return max(utt.due, self._ends_at + gap) if self._ends_at > 0 else utt.due

    def _finish_if_done(self, now: float) -> None:
        if self.playing is not None and now >= self._ends_at:
            self.playing = None
