"""Small typed events that flow between the stages (after the Wyoming protocol's idea).

microphone frames -> listener -> ListenerEvent -> session -> TimelineEvent -> speech queue -> output

Times (t_*) are seconds on the session clock / audio timeline.
"""
from __future__ import annotations

from dataclasses import dataclass, field, asdict
from typing import Any


# --- listener -> session --------------------------------------------------------------------

@dataclass(frozen=True)
class SpeechStarted:
    """Voice activity began (the listener may still reject what follows)."""
    t: float


@dataclass(frozen=True)
class PartialText:
    """The recogniser's running hypothesis for the utterance in progress."""
    text: str
    t: float


@dataclass(frozen=True)
class Command:
    """An utterance recognised as a command of the vocabulary."""
    intent: str
    phrase: str
    confidence: float
    t_start: float      # start of the speech
    t_end: float        # end of the speech
    t_decided: float    # when the listener committed to it


@dataclass(frozen=True)
class Rejected:
    """An utterance heard but not taken as a command (not in vocabulary, low confidence, noise)."""
    text: str
    reason: str
    t_start: float
    t_end: float
    t_decided: float
    confidence: float | None = None   # how near it came to a command (0.5: the threshold)


ListenerEvent = SpeechStarted | PartialText | Command | Rejected


# --- session -> outside world ---------------------------------------------------------------

# Timeline event types, in the session's own words.
STATE = "state"          # the session machine entered a state
STEP = "step"            # a program step began (text: its spoken announcement)
CUE = "cue"              # a coaching cue was spoken
COMMAND = "command"      # an utterance was heard (intent None: not understood)
RESPONSE = "response"    # spoken feedback to a command
DROPPED = "dropped"      # a coaching cue went stale and was dropped unspoken
EVENT_TYPES = (STATE, STEP, CUE, COMMAND, RESPONSE, DROPPED)


@dataclass(frozen=True)
class TimelineEvent:
    t: float
    type: str
    state: str
    text: str
    intent: str | None = None
    step: int | None = None          # 1-based index of the current step, when running
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        extra = d.pop("extra")
        d["t"] = round(self.t, 3)
        d.update(extra)
        return d
