"""Local HTTP endpoints for the tests: a receiver of POSTed JSON (a webhook, an Alertmanager
receiver) and a free loopback port for servers the tests start."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class JsonReceiver:
    """Collects POSTed JSON bodies on a loopback port.

    Each POST is answered with the next of `statuses`, else 503 while it is one of the first
    `fail_first`, else 200; only a 200 keeps its body. `delay` holds every answer back.
    """

    def __init__(self, path: str = "") -> None:
        self.bodies: list = []
        # When each kept body arrived (time.monotonic).
        self.arrivals: list[float] = []
        self.statuses: list[int] = []
        self.fail_first = 0
        self.delay = 0.0
        self.attempts = 0
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
                    if receiver.statuses:
                        status = receiver.statuses.pop(0)
                    else:
                        status = 503 if receiver.attempts <= receiver.fail_first else 200
                    if status == 200:
                        receiver.bodies.append(json.loads(body))
                        receiver.arrivals.append(time.monotonic())
                        receiver.received.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def wait_until(self, condition: Callable[[list], bool], timeout: float = 15.0) -> list:
        """The bodies once `condition(bodies)` holds (or as they are at the timeout)."""
        with self.received:
            self.received.wait_for(lambda: condition(list(self.bodies)), timeout)
            return list(self.bodies)

    def wait_for(self, count: int, timeout: float = 10.0) -> list:
        """The bodies once there are `count` of them (or as they are at the timeout)."""
        return self.wait_until(lambda bodies: len(bodies) >= count, timeout)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
