"""Benchmark of the spread monitor against the local Bitso, monitoring every book it lists.

Runs the monitor in this process (the server in a subprocess, so its CPU is not counted) and
reports records per window, the worst sampling lateness (timing jitter) and the CPU cost per
observation. Run from the repository root:

    .venv/bin/python -m benchmarks.monitor_bench --seconds 130 --window 60
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import tempfile
import threading
import time
from pathlib import Path

import requests

from benchmarks.local_bitso_server import start_local_bitso
from ingest.contracts import LAKE_FILE_FORMATS
from ingest.spreads.monitor.bitso_rest import BitsoRestClient
from ingest.spreads.monitor.budget import RequestBudget
from ingest.spreads.monitor.clock import SystemClock
from ingest.spreads.monitor.quotes import QuoteBoard
from ingest.spreads.monitor.rest_source import RestSource
from ingest.spreads.monitor.runner import MonitorOptions, run_monitor
from ingest.spreads.monitor.webhooks import WebhookNotifier


def records_per_window(lake: Path, fmt: str) -> collections.Counter[int]:
    """How many windows (of any book) held how many records."""
    import duckdb

    reader = "read_csv" if fmt == "csv" else "read_parquet"
    rows = duckdb.sql(
        f"select count(*) from {reader}('{lake}/spreads/*/*/*.{fmt}', filename = true, "
        "hive_partitioning = false) group by filename"
    ).fetchall()
    return collections.Counter(count for (count,) in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=130, help="seconds to sample")
    parser.add_argument("--window", type=int, default=60, help="seconds per lake file")
    parser.add_argument("--format", choices=LAKE_FILE_FORMATS, default="csv")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    server, url, _ = start_local_bitso(args.seconds)
    try:
        client = BitsoRestClient(url)
        budget = RequestBudget(50)
        clock = SystemClock()
        budget.spend(clock.time())
        books = tuple(client.available_books())
        board = QuoteBoard(books)
        with tempfile.TemporaryDirectory() as lake:
            options = MonitorOptions(
                books=books,
                lake=Path(lake),
                window_seconds=args.window,
                fmt=args.format,
                duration=args.seconds,
                quote_max_age=max(5.0, 3 * budget.spacing),
            )
            source = RestSource(client, board, budget, clock)
            cpu, wall = time.process_time(), time.monotonic()
            summary = run_monitor(
                options, board, source, clock, threading.Event(), WebhookNotifier([])
            )
            cpu, wall = time.process_time() - cpu, time.monotonic() - wall
            windows = records_per_window(Path(lake), args.format)
        stats = requests.get(f"{url}/_local/stats", timeout=5).json()
    finally:
        server.terminate()
        server.wait(10)

    full = windows.get(args.window, 0)
    report = {
        "books": len(books),
        "seconds_sampled": summary.seconds,
        "observations": summary.records,
        "gaps": summary.gaps,
        "window_seconds": args.window,
        "format": args.format,
        "files_by_records": dict(sorted(windows.items())),
        "full_windows": full,
        "worst_lateness_ms": round(summary.worst_lateness * 1000, 1),
        "cpu_seconds": round(cpu, 3),
        "wall_seconds": round(wall, 1),
        "cpu_per_observation_us": round(cpu / summary.records * 1e6, 1),
        "cpu_share_of_one_core": f"{cpu / wall:.2%}",
        "api_requests": stats["requests"],
        "max_api_requests_in_60s": stats["max_requests_in_60s"],
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
