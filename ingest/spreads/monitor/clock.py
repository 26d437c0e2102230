"""Wall-clock time behind one small interface, so tests can run ten minutes in a blink."""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float:
        """Seconds since the epoch, UTC."""

    def sleep_until(self, deadline: float, stop: threading.Event) -> bool:
        """Wait until `deadline`; False if `stop` was set first."""


class SystemClock:
    def time(self) -> float:
        return time.time()

    def sleep_until(self, deadline: float, stop: threading.Event) -> bool:
        # Re-read the clock after each wake-up: Event.wait may return early or late.
        while (remaining := deadline - time.time()) > 0:
            if stop.wait(remaining):
                return False
        return not stop.is_set()
