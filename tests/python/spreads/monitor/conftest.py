"""Fixtures of the spread-monitor tests: a clock that jumps and a webhook receiver (the local
Bitso is in the suite-wide conftest)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

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


class WebhookReceiver:
    """Collects POSTed JSON bodies; answers 503 to the first `fail_first` and waits `delay`."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.attempts = 0
        self.fail_first = 0
        self.delay = 0.0
        self.received = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(receiver.delay)
                with receiver.received:
                    receiver.attempts += 1
                    failing = receiver.attempts <= receiver.fail_first
                    if not failing:
                        receiver.bodies.append(json.loads(body))
                        receiver.received.notify_all()
                self.send_response(503 if failing else 200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        # The path plays the secret part of a Slack incoming-webhook URL.
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T0SECRET/B0SECRET"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict]:
        with self.received:
            self.received.wait_for(lambda: len(self.bodies) >= count, timeout)
            return list(self.bodies)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()
