"""Benchmark of the WebSocket source: every book the local Bitso lists, streamed at a realistic
message rate, with alerts per message (`--alert-timing second` leaves spread alerts to the
sampler's seconds, which shows what the stream alone costs).

The server runs in a subprocess (its CPU is not counted) with `--activity` changes per second
per book, and a script that moves every book's spread across 0.1 % and back each second, each
book at its own offset, so alerts keep firing. The monitor runs in this process and reports the
latency from a frame's arrival to its alert (handed to the log, the alerts file and the webhook
queue), how late after each second's boundary the sampler read the board, and the CPU it
spent, in all and per thread (Linux). Run from the repository root:

    .venv/bin/python -m benchmarks.ws_bench --seconds 60 --activity 10
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from unittest import mock

from benchmarks.local_bitso_server import start_local_bitso
from bitso_sandbox.local_bitso.catalog import BOOKS
from ingest.spreads.monitor import runner
from ingest.spreads.monitor.bitso_rest import BitsoRestClient
from ingest.spreads.monitor.budget import RequestBudget
from ingest.spreads.monitor.clock import SystemClock
from ingest.spreads.monitor.plan import ALERT_TIMINGS, DEPTHS
from ingest.spreads.monitor.quotes import QuoteBoard
from ingest.spreads.monitor.runner import MonitorOptions, run_monitor
from ingest.spreads.monitor.sampler import Sampler
from ingest.spreads.monitor.webhooks import WebhookNotifier
from ingest.spreads.monitor.ws_source import WsSource


def alerting_script() -> dict:
    """Each book above 0.1 % for one second in two, books 37 ms apart."""
    books = {}
    for index, book in enumerate(BOOKS):
        offset = round(index * 0.037 % 1, 3)
        books[book] = [
            {"at": offset, "spread": "0.3"},
            {"at": offset + 1, "spread": "0.05"},
        ]
    return {"repeat_every": 2, "books": books}


def percentile(values: list[float], share: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[round(share * 1000) - 1]


class TimedSampler(Sampler):
    """The monitor's sampler, noting how late after its second each board reading came."""

    lateness: list[float] = []

    def sample(self, second: int, now: float) -> list:
        TimedSampler.lateness.append(now - second)
        return super().sample(second, now)


class ThreadCpu:
    """CPU seconds (user and system) each thread of this process spent while inside, by name,
    read from /proc every second while the threads live (so to the second); empty where /proc
    is not."""

    def __init__(self) -> None:
        self.seconds: dict[tuple[str, int], float] = {}
        self._before: dict[tuple[str, int], float] = {}
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="benchmark CPU watcher")

    def __enter__(self) -> ThreadCpu:
        self._before = self._read()
        self._watcher.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._watcher.join()

    def by_name(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for key, seconds in self.seconds.items():
            name = key[0]
            totals[name] = totals.get(name, 0.0) + seconds - self._before.get(key, 0.0)
        return {name: round(seconds, 2) for name, seconds in sorted(totals.items())}

    def _watch(self) -> None:
        while True:
            stopping = self._stop.wait(1.0)
            self.seconds.update(self._read())
            if stopping:
                return

    @staticmethod
    def _read() -> dict[tuple[str, int], float]:
        ticks = os.sysconf("SC_CLK_TCK")
        seconds = {}
        for thread in threading.enumerate():
            try:
                stat = Path(f"/proc/self/task/{thread.native_id}/stat").read_text()
            except OSError:
                continue
            # Fields after the name's closing parenthesis: utime and stime are 12th and 13th.
            fields = stat.rsplit(")", 1)[1].split()
            seconds[thread.name, thread.native_id] = (int(fields[11]) + int(fields[12])) / ticks
        return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60, help="seconds to stream")
    parser.add_argument(
        "--activity", type=float, default=10.0, help="changes per second per book on the server"
    )
    parser.add_argument("--depth", choices=DEPTHS, default="top")
    parser.add_argument(
        "--alert-timing",
        choices=ALERT_TIMINGS,
        default="message",
        help="`second` leaves out the per-message alert work, to see what the stream alone costs",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")

    with tempfile.TemporaryDirectory() as work:
        script = Path(work) / "script.json"
        script.write_text(json.dumps(alerting_script()))
        server, api_url, ws_url = start_local_bitso(
            args.seconds,
            *("--script", str(script), "--activity", str(args.activity)),
            *("--rate-limit", "1000"),
        )
        try:
            client = BitsoRestClient(api_url)
            clock = SystemClock()
            budget = RequestBudget(60)
            budget.spend(clock.time())
            books = tuple(client.available_books())
            board = QuoteBoard(books)
            options = MonitorOptions(
                books=books,
                lake=Path(work) / "lake",
                window_seconds=60,
                duration=args.seconds,
                alert_timing=args.alert_timing,
            )
            source = WsSource(ws_url, board, client, budget, clock, depth=args.depth)
            cpu, wall = time.process_time(), time.monotonic()
            with mock.patch.object(runner, "Sampler", TimedSampler), ThreadCpu() as threads:
                summary = run_monitor(
                    options, board, source, clock, threading.Event(), WebhookNotifier([])
                )
            cpu, wall = time.process_time() - cpu, time.monotonic() - wall
        finally:
            server.terminate()
            server.wait(10)

    latencies_ms = [latency * 1000 for latency in summary.alert_latencies]
    lateness_ms = [lateness * 1000 for lateness in TimedSampler.lateness]
    report = {
        "books": len(books),
        "depth": args.depth,
        "alert_timing": args.alert_timing,
        "server_changes_per_second_per_book": args.activity,
        "seconds": summary.seconds,
        "frames": source.frames,
        "frames_per_second": round(source.frames / wall),
        "observations": summary.records,
        "gaps": summary.gaps,
        "alerts": summary.alerts,
        "alert_latency_p50_ms": round(percentile(latencies_ms, 0.5), 3),
        "alert_latency_p99_ms": round(percentile(latencies_ms, 0.99), 3),
        "alert_latency_max_ms": round(max(latencies_ms), 3),
        "cpu_seconds": round(cpu, 2),
        "wall_seconds": round(wall, 1),
        "cpu_share_of_one_core": f"{cpu / wall:.1%}",
        "cpu_per_frame_us": round(cpu / source.frames * 1e6, 1),
        "cpu_seconds_by_thread": threads.by_name(),
        "sampling_lateness_p99_ms": round(percentile(lateness_ms, 0.99), 1),
        "worst_sampling_lateness_ms": round(summary.worst_lateness * 1000, 1),
        "api_requests": source.rest_requests + 1,
        "connections": source.connections,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
