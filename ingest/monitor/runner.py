"""Wires a quote source, the one-second sampler and the sinks into one run of the monitor."""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from ingest.monitor.alerts import DEFAULT_THRESHOLDS, AlertFile, AlertTracker, log_alert
from ingest.monitor.clock import Clock
from ingest.monitor.lake import LakeWriter
from ingest.monitor.quotes import QuoteBoard
from ingest.monitor.records import SpreadRecord
from ingest.monitor.sampler import Sampler
from ingest.monitor.webhooks import WebhookNotifier

log = logging.getLogger(__name__)


class QuoteSource(Protocol):
    """Keeps a QuoteBoard current from some feed (REST polling now, a WebSocket later)."""

    name: str

    def run(self, stop: threading.Event) -> None:
        """Publish quotes and problems to the board until `stop` is set."""


@dataclasses.dataclass(frozen=True)
class MonitorOptions:
    books: tuple[str, ...]
    lake: Path
    window_seconds: int = 600
    fmt: str = "csv"
    thresholds: tuple[Decimal, ...] = DEFAULT_THRESHOLDS
    duration: int | None = None
    # A quote older than this is not used: the second becomes a gap.
    stale_after: float = 5.0


@dataclasses.dataclass
class RunSummary:
    seconds: int = 0
    records: int = 0
    gaps: int = 0
    alerts: int = 0
    recovered_windows: int = 0
    worst_lateness: float = 0.0
    files: list[Path] = dataclasses.field(default_factory=list)


class Sinks:
    """Everything that happens to one second's records: the lake journal, then alerts."""

    def __init__(
        self,
        lake: LakeWriter,
        tracker: AlertTracker,
        alert_file: AlertFile,
        notifier: WebhookNotifier,
    ) -> None:
        self.lake = lake
        self.tracker = tracker
        self.alert_file = alert_file
        self.notifier = notifier
        self.summary = RunSummary()

    def on_second(self, second: int, records: Sequence[SpreadRecord], lateness: float) -> None:
        self.lake.write(second, list(records))
        summary = self.summary
        summary.seconds += 1
        summary.records += len(records)
        summary.gaps += sum(record.is_gap for record in records)
        summary.worst_lateness = max(summary.worst_lateness, lateness)
        for record in records:
            for event in self.tracker.observe(record):
                summary.alerts += 1
                log_alert(event)
                self.alert_file.write(event)
                self.notifier.notify(event.as_json())


def run_monitor(
    options: MonitorOptions,
    board: QuoteBoard,
    source: QuoteSource,
    clock: Clock,
    stop: threading.Event,
    notifier: WebhookNotifier,
) -> RunSummary:
    """Sample `board` every second until `stop` is set or for `options.duration` seconds, then
    close the open window; `source` runs on its own thread meanwhile."""
    lake = LakeWriter(options.lake, options.window_seconds, options.fmt)
    started = clock.time()
    recovered = lake.open(math.floor(started))
    sinks = Sinks(lake, AlertTracker(options.thresholds), AlertFile(options.lake), notifier)
    sinks.summary.recovered_windows = recovered
    source_stop = threading.Event()
    source_thread = threading.Thread(
        target=source.run, args=(source_stop,), name=f"{source.name} source", daemon=True
    )
    source_thread.start()
    board.wait_first_look(options.stale_after)
    sampler = Sampler(board, clock, source.name, options.stale_after)
    try:
        sampler.run(sinks.on_second, stop, options.duration)
    finally:
        source_stop.set()
        lake.close()
        notifier.close()
        # A request in flight ends by its own timeout; the thread is a daemon.
        source_thread.join(timeout=1.0)
    sinks.summary.files = list(lake.published)
    return sinks.summary
