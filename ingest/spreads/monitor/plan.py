"""What one monitor run is asked to do, and the choices it is made of. Kept free of the
monitor's machinery, so the command line can declare its options without importing it."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

SOURCES = ("ws", "rest")
# With ws: `top` reads the orders channel, `book` keeps full books from diff-orders.
DEPTHS = ("top", "book")
# `second`: alerts come from the lake's one-second records, so the alert log and the lake tell
# the same episodes. `message`: alerts come from every quote as it arrives (sub-second).
ALERT_TIMINGS = ("second", "message")
SECONDS_PER_DAY = 86_400


def window_problem(seconds: int) -> str | None:
    """Why a window length cannot be used (lake files must tile each UTC day), or None."""
    if seconds <= 0:
        return f"{seconds} is not a positive number of seconds"
    if SECONDS_PER_DAY % seconds:
        return f"{seconds} s does not divide a day into whole windows (e.g. 60, 300, 600, 3600)"
    return None


@dataclasses.dataclass(frozen=True)
class MonitorPlan:
    books: tuple[str, ...]
    source: str = "ws"
    depth: str = "top"
    ws_timeout: float = 30.0
    # With ws: a book without a frame this long is checked against the ticker (0: never).
    book_timeout: float = 60.0
    rest_fallback: bool = False
    alert_timing: str = "second"
    window_seconds: int = 600
    fmt: str = "csv"
    # None: the dbt project's thresholds seed, or the built-in defaults outside a project.
    thresholds: tuple[Decimal, ...] | None = None
    request_budget: int = 50
    duration: int | None = None
    # A part that fails more than `max_restarts` times within `restart_window` seconds stops
    # the run with a non-zero exit (monitor.supervisor).
    max_restarts: int = 5
    restart_window: float = 300.0
