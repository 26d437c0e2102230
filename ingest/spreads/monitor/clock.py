"""Wall-clock time behind one small interface, so tests can run ten minutes in a blink (and step
the wall clock as NTP would)."""

from __future__ import annotations

import threading
import time
from typing import Protocol

# The wall clock moving this much against the monotonic clock between two readings was stepped
# (NTP, an operator, a resumed machine): slewing changes it by well under a millisecond a second.
STEP_TOLERANCE = 0.25


class Clock(Protocol):
    def time(self) -> float:
        """Seconds since the epoch, UTC."""

    def monotonic(self) -> float:
        """Seconds on a clock that is never stepped (any origin), to notice wall-clock steps."""

    def sleep_until(self, deadline: float, stop: threading.Event) -> bool:
        """Wait until the wall clock reaches `deadline`; False if `stop` was set first.

        Returns early (True) if the wall clock was stepped back meanwhile: the deadline is then
        further away than planned, and the caller decides what to do.
        """


class SystemClock:
    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep_until(self, deadline: float, stop: threading.Event) -> bool:
        offset = self.time() - self.monotonic()
        # Re-read the clock after each wake-up: Event.wait may return early or late.
        while (remaining := deadline - self.time()) > 0:
            if stop.wait(remaining):
                return False
            if self.time() - self.monotonic() < offset - STEP_TOLERANCE:
                break
        return not stop.is_set()
