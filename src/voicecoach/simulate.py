"""Whole sessions in virtual time: the commands are given as text with their times, the clock
jumps from one deadline to the next, and the timeline comes out at once."""
from __future__ import annotations

import re
from typing import Callable

from .clock import VirtualClock
from .errors import UserError
from .events import TimelineEvent
from .script import CueScript
from .session import Session
from .speech_queue import Utterance, estimate_duration

_SAY = re.compile(r"^\s*(?:(?P<h>\d+):)?(?P<m>\d+):(?P<s>\d{1,2}(?:\.\d+)?)\s+(?P<text>\S.*?)\s*$")
_SAY_SECONDS = re.compile(r"^\s*(?P<sec>\d+(?:\.\d+)?)s?\s+(?P<text>\S.*?)\s*$")


MAX_SAY_SECONDS = 24 * 3600     # a session lasts at most 12 hours (script.MAX_TOTAL_SECONDS)


def parse_say(spec: str) -> tuple[float, str]:
    """'0:05 go' / '1:02:30 stop' / '75 faster' -> (seconds, phrase)."""
    m = _SAY.match(spec)
    if m:
        if float(m["s"]) >= 60:
            raise UserError(f"--say {spec!r}: seconds must be below 60 (M:SS)")
        return _within_a_day(spec, int(m["h"] or 0) * 3600 + int(m["m"]) * 60 + float(m["s"])), m["text"]
    m = _SAY_SECONDS.match(spec)
    if m:
        return _within_a_day(spec, float(m["sec"])), m["text"]
    raise UserError(f"--say {spec!r}: expected a time and a phrase, like \"0:05 go\"")


def _within_a_day(spec: str, t: float) -> float:
    if t > MAX_SAY_SECONDS:
        raise UserError(f"--say {spec!r}: that is {t / 3600:,.0f} hours in; a session lasts at "
                        f"most 12 hours (give a time within {MAX_SAY_SECONDS // 3600} hours)")
    return t


def simulate(script: CueScript, says: list[tuple[float, str]],
             duration_of: Callable[[Utterance], float] | None = None,
             until: float | None = None) -> list[TimelineEvent]:
    """Run a whole session of `script` in virtual time with the user saying `says`."""
    clock = VirtualClock()
    session = Session(script, clock, duration_of=duration_of or estimate_duration)
    pending = sorted(says, key=lambda s: s[0])
    # However the commands go, the simulation ends: paused reminders stop, and this bounds it.
    limit = until if until is not None else (
        (pending[-1][0] if pending else 0.0) + session.program.duration + 3600)
    session.begin()
    i = 0
    while True:
        candidates = [t for t in (session.next_deadline(),
                                  pending[i][0] if i < len(pending) else None) if t is not None]
        if not candidates:
            break
        t = min(candidates)
        if t > limit:
            break
        clock.advance_to(t)
        session.advance(clock.now())
        while i < len(pending) and pending[i][0] <= clock.now():
            session.hear(pending[i][1])
            i += 1
    return session.events
