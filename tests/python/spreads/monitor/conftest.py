"""Fixtures of the spread-monitor tests: a clock that jumps and a webhook receiver (the local
Bitso is in the suite-wide conftest)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from tests.python.receivers import JsonReceiver

SLACK_LIKE_PATH = "/services/T0SECRET/B0SECRET"

# 2026-11-29T10:00:00+00:00, a window boundary for every window length.
T0 = 1_795_946_400


class ManualClock:
    """Time stands still until something sleeps; `sleep_until` jumps straight to the deadline
    (plus `latency`, to play a late wake-up) and then calls `on_advance(now)`. `step` moves the
    wall clock alone, as NTP does; the monotonic clock follows only the sleeps."""

    def __init__(self, start: float = T0 + 0.25) -> None:
        self.now = start
        self.elapsed = 0.0
        self.latency = 0.0
        self.on_advance: Callable[[float], None] | None = None

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.elapsed

    def step(self, seconds: float) -> None:
        self.now += seconds

    def sleep_until(self, deadline: float, stop: threading.Event) -> bool:
        if stop.is_set():
            return False
        woken = max(self.now, deadline + self.latency)
        self.elapsed += woken - self.now
        self.now = woken
        if self.on_advance is not None:
            self.on_advance(self.now)
        return not stop.is_set()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def webhook_receiver() -> Iterator[JsonReceiver]:
    # The path plays the secret part of a Slack incoming-webhook URL.
    receiver = JsonReceiver(SLACK_LIKE_PATH)
    yield receiver
    receiver.close()
