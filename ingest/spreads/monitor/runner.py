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
from ingest.spreads.monitor.supervisor import (
    DEFAULT_MAX_RESTARTS,
    DEFAULT_RESTART_WINDOW,
    MonitorFailed,
    Supervisor,
    close_all,
    describe,
)
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
    # A part failing more often than this within `restart_window` seconds stops the run.
    max_restarts: int = DEFAULT_MAX_RESTARTS
    restart_window: float = DEFAULT_RESTART_WINDOW
    # `/metrics` and `/healthz` on this address (monitor.health); None: not served.
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"


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
    # Restarts per part (after an unexpected exception).
    restarts: dict[str, int] = dataclasses.field(default_factory=dict)


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
        supervisor: Supervisor | None = None,
    ) -> None:
        self.supervisor = supervisor
        # The run's health and metrics state (monitor.health), if served.
        self.state = None
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
            if self.state is not None:
                self.state.on_alert(event.book, str(event.threshold), event.state)
            self._file_writer.submit(self._write, event)
            self.notifier.notify(event.as_json())
            self.summary.alerts += 1
            self.summary.alert_latencies.append(self.clock.time() - arrived_at)

    def _write(self, event: AlertEvent) -> None:
        try:
            self.alert_file.write(event)
        except OSError as error:
            log.error("could not write the alert to the alert log: %s", error)
        except Exception as error:
            # The writer's boundary: the next alert is written as usual.
            log.error("alert not written to the alert log: %s", event.text)
            if self.supervisor is None:
                log.exception("alerts file failed")
            else:
                self.supervisor.failed("alerts file", error)

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
        self,
        lake: LakeWriter,
        alerts: AlertDispatcher | None,
        summary: RunSummary,
        supervisor: Supervisor | None = None,
    ) -> None:
        self.lake = lake
        self.alerts = alerts
        self.summary = summary
        self.supervisor = supervisor
        # The run's health and metrics state (monitor.health), if served.
        self.state = None

    def on_second(self, second: int, records: Sequence[SpreadRecord], lateness: float) -> None:
        try:
            self.lake.write(second, list(records))
        except OSError:
            raise  # the lake cannot be written: the run ends (status 1), the journal kept
        except Exception as error:
            # The lake writer's boundary: this second is lost, the next one is written as usual
            # (the sampler's cadence spaces the attempts).
            if self.supervisor is None:
                raise
            self.supervisor.failed("lake writer", error)
            return
        summary = self.summary
        summary.seconds += 1
        summary.records += len(records)
        summary.gaps += sum(record.is_gap for record in records)
        summary.worst_lateness = max(summary.worst_lateness, lateness)
        if self.state is not None:
            self.state.on_second(records, lateness)
        if self.alerts is not None:
            for record in records:
                self.alerts.observe_record(record)


# How each source's loop is named in logs and in the restart counts.
SOURCE_PARTS = {"rest": "REST poller", "ws": "WebSocket reader"}


def run_monitor(
    options: MonitorOptions,
    board: QuoteBoard,
    source: QuoteSource,
    clock: Clock,
    stop: threading.Event,
    notifier: WebhookNotifier,
) -> RunSummary:
    """Sample `board` every second until `stop` is set or for `options.duration` seconds, then
    close the open window; `source` runs on its own thread meanwhile.

    Every part runs under a supervisor (see monitor.supervisor). If one fails too often, the run
    stops, every sink is closed (a failure closing one never skips the others), and
    MonitorFailed says which part failed.
    """
    if options.alert_timing not in ALERT_TIMINGS:
        raise ValueError(f"alert timing must be one of {', '.join(ALERT_TIMINGS)}")
    lake = LakeWriter(options.lake, options.window_seconds, options.fmt, options.journal_dir)
    started = clock.time()
    recovered = lake.open(math.floor(started))
    summary = RunSummary(recovered_windows=recovered)
    supervisor = Supervisor(clock, stop, options.max_restarts, options.restart_window)
    lake.on_failure = supervisor.failed
    notifier.on_failure = supervisor.failed
    alerts = AlertDispatcher(
        AlertTracker(options.thresholds),
        AlertFile(options.lake, lake.journal_dir),
        notifier,
        clock,
        summary,
        supervisor,
    )
    per_message = options.alert_timing == "message"
    sinks = Sinks(lake, None if per_message else alerts, summary, supervisor)
    if per_message:
        board.on_quote = alerts.observe_quote
    source_stop = threading.Event()
    source_part = SOURCE_PARTS.get(source.name, f"{source.name} source")
    if hasattr(source, "supervisor"):
        source.supervisor = supervisor

    def source_failed(reason: str) -> None:
        for book in board.books:
            board.report_problem(book, f"{source_part} failed ({reason}); restarting")

    source_thread = supervisor.thread(
        source_part, source.run, source_stop, on_failure=source_failed
    )
    sampler = Sampler(board, clock, source.name, options.stale_after)
    health = None
    if options.metrics_port is not None:
        from ingest.spreads.monitor.health import HealthServer, RunState

        state = RunState(options.books, options.stale_after, clock)
        state.supervisor, state.source, state.notifier, state.lake = (
            supervisor,
            source,
            notifier,
            lake,
        )
        state.source_alive = source_thread.is_alive
        state.budget = getattr(source, "budget", None)
        sinks.state = alerts.state = state
        try:
            health = HealthServer(state, options.metrics_host, options.metrics_port)
        except OSError as error:
            stop.set()
            supervisor.failure = (
                f"cannot serve metrics on {options.metrics_host}:{options.metrics_port}: {error}"
            )

    def sample(sampler_stop: threading.Event) -> None:
        sampler.run(sinks.on_second, sampler_stop, options.duration)

    try:
        board.wait_first_look(options.stale_after)
        supervisor.run("sampler", sample, stop, may_return=True, passes=(OSError,))
    finally:
        source_stop.set()

        def stop_source() -> None:
            # A request in flight ends by its own timeout; the thread is a daemon.
            source_thread.join(timeout=1.0)
            board.on_quote = None

        close_errors = close_all(
            [
                ("source", stop_source),
                ("lake writer", lake.close),
                ("alerts file", alerts.close),
                ("webhook notifier", notifier.close),
                ("metrics server", health.close if health is not None else lambda: None),
            ]
        )
    summary.files = list(lake.published)
    summary.restarts = dict(supervisor.restarts)
    if supervisor.failure is not None:
        closing = "".join(f"; closing the {name} failed too" for name, _ in close_errors)
        raise MonitorFailed(
            f"{supervisor.failure}; {summary.records} records of {summary.seconds} seconds "
            f"written, {len(summary.files)} window files published, every sink closed{closing}"
        )
    if close_errors:
        name, error = close_errors[0]
        if isinstance(error, OSError):
            raise error
        raise MonitorFailed(f"closing the {name} failed: {describe(error)}") from error
    return summary
