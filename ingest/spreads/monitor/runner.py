"""One run of the monitor: a quote source on its own thread, the one-second sampler, and the
sinks each second goes to (the lake journal, then alerts)."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import math
import threading
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from ingest.spreads.monitor.alerts import (
    DEFAULT_THRESHOLDS,
    AlertEvent,
    AlertFile,
    AlertTracker,
    log_alert,
)
from ingest.spreads.monitor.clock import Clock
from ingest.spreads.monitor.lake import LakeWriter
from ingest.spreads.monitor.plan import ALERT_TIMINGS
from ingest.spreads.monitor.quotes import Quote, QuoteBoard
from ingest.spreads.monitor.records import SpreadRecord
from ingest.spreads.monitor.sampler import Sampler
from ingest.spreads.monitor.webhooks import WebhookNotifier

log = logging.getLogger(__name__)


class QuoteSource(Protocol):
    """Keeps a QuoteBoard current from some feed (REST polling or the WebSocket)."""

    name: str

    def run(self, stop: threading.Event) -> None:
        """Publish quotes and problems to the board until `stop` is set."""

    def traffic_report(self) -> str:
        """What the source did during the run, for its summary line."""


@dataclasses.dataclass(frozen=True)
class MonitorOptions:
    books: tuple[str, ...]
    # A local folder or an object-store URL (`s3://bucket/prefix`).
    lake: str | Path
    window_seconds: int = 600
    fmt: str = "csv"
    thresholds: tuple[Decimal, ...] = DEFAULT_THRESHOLDS
    duration: int | None = None
    # A quote not confirmed current for this long is not used: the second becomes a gap.
    stale_after: float = 5.0
    alert_timing: str = "second"
    # Where the open window is journaled; by default beside a local lake (see monitor.lake).
    journal_dir: Path | None = None


@dataclasses.dataclass
class RunSummary:
    seconds: int = 0
    records: int = 0
    gaps: int = 0
    alerts: int = 0
    recovered_windows: int = 0
    worst_lateness: float = 0.0
    files: list[str] = dataclasses.field(default_factory=list)
    # Per alert, seconds from the arrival of the quote behind it to its hand-over to the sinks.
    alert_latencies: list[float] = dataclasses.field(default_factory=list)


class AlertDispatcher:
    """Turns observations into alert events and hands each to the log, the alerts file and the
    webhooks; records, per alert, how long after its quote arrived that happened.

    The alerts file is written (and fsynced) in order on a thread of its own, like webhooks, so
    a slow disk delays neither an alert nor the next second.
    """

    def __init__(
        self,
        tracker: AlertTracker,
        alert_file: AlertFile,
        notifier: WebhookNotifier,
        clock: Clock,
        summary: RunSummary,
    ) -> None:
        self.tracker = tracker
        self.alert_file = alert_file
        self.notifier = notifier
        self.clock = clock
        self.summary = summary
        self._file_writer = concurrent.futures.ThreadPoolExecutor(1, "alerts-file")

    def observe_record(self, record: SpreadRecord) -> None:
        if record.observed_at is not None:
            self._send(self.tracker.observe(record), record.observed_at)

    def observe_quote(self, quote: Quote) -> None:
        self._send(self.tracker.observe_quote(quote), quote.observed_at)

    def _send(self, events: list[AlertEvent], arrived_at: float) -> None:
        for event in events:
            log_alert(event)
            self._file_writer.submit(self._write, event)
            self.notifier.notify(event.as_json())
            self.summary.alerts += 1
            self.summary.alert_latencies.append(self.clock.time() - arrived_at)

    def _write(self, event: AlertEvent) -> None:
        try:
            self.alert_file.write(event)
        except OSError as error:
            log.error("could not write the alert to the alert log: %s", error)

    def close(self) -> None:
        """Wait until every alert is in the alert log."""
        self._file_writer.shutdown(wait=True)
        try:
            self.alert_file.publish_pending()
        except OSError as error:
            log.error("alert log not uploaded, kept in the journal folder: %s", error)


class Sinks:
    """Everything that happens to one second's records: the lake journal, then (with alerts per
    second) alerts."""

    def __init__(
        self, lake: LakeWriter, alerts: AlertDispatcher | None, summary: RunSummary
    ) -> None:
        self.lake = lake
        self.alerts = alerts
        self.summary = summary

    def on_second(self, second: int, records: Sequence[SpreadRecord], lateness: float) -> None:
        self.lake.write(second, list(records))
        summary = self.summary
        summary.seconds += 1
        summary.records += len(records)
        summary.gaps += sum(record.is_gap for record in records)
        summary.worst_lateness = max(summary.worst_lateness, lateness)
        if self.alerts is not None:
            for record in records:
                self.alerts.observe_record(record)


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
    if options.alert_timing not in ALERT_TIMINGS:
        raise ValueError(f"alert timing must be one of {', '.join(ALERT_TIMINGS)}")
    lake = LakeWriter(options.lake, options.window_seconds, options.fmt, options.journal_dir)
    started = clock.time()
    recovered = lake.open(math.floor(started))
    summary = RunSummary(recovered_windows=recovered)
    alerts = AlertDispatcher(
        AlertTracker(options.thresholds),
        AlertFile(options.lake, lake.journal_dir),
        notifier,
        clock,
        summary,
    )
    per_message = options.alert_timing == "message"
    sinks = Sinks(lake, None if per_message else alerts, summary)
    if per_message:
        board.on_quote = alerts.observe_quote
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
        # A request in flight ends by its own timeout; the thread is a daemon.
        source_thread.join(timeout=1.0)
        board.on_quote = None
        lake.close()
        alerts.close()
        notifier.close()
    summary.files = list(lake.published)
    return summary
