"""The one clock a session runs on: real for live sessions, virtual for simulation and tests.

Everything that needs the time asks a Clock; nothing sleeps or starts a timer thread on its own.
Times are seconds since the clock started, as floats.
"""
from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the session's clock started."""

    def sleep_until(self, t: float) -> None:
        """Block (real) or jump (virtual) until the clock reads at least t."""


class RealClock:
    """Monotonic wall time, starting at 0."""

    def __init__(self) -> None:
        self._origin = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self._origin

    def sleep_until(self, t: float) -> None:
        delay = t - self.now()
        if delay > 0:
            time.sleep(delay)


class VirtualClock:
    """Time that moves only when told to: a whole session runs in milliseconds."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)

    def now(self) -> float:
        return self._now

    def sleep_until(self, t: float) -> None:
        self.advance_to(t)

    def advance_to(self, t: float) -> None:
        # Never backwards: events scheduled "in the past" happen now.
        if t > self._now:
            self._now = float(t)
