"""One run of the monitor: a quote source on its own thread, the one-second sampler, and the
sinks each second goes to (the lake journal, then alerts)."""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from ingest.spreads.monitor import alert_state
from ingest.spreads.monitor.alert_rules import (
    DEFAULT_SEVERITY,
    DEFAULT_THRESHOLDS,
    REMINDER,
    RESOLVED,
    AlertRule,
    AlertRules,
    simple_rules,
)
from ingest.spreads.monitor.alert_state import OpenAlerts
from ingest.spreads.monitor.alert_writer import AlertLogWriter
from ingest.spreads.monitor.alertmanager import AlertmanagerSink, managed_alert
from ingest.spreads.monitor.alerts import (
    FRESH,
    AlertEvent,
    AlertFile,
    AlertTracker,
    epoch_seconds,
    log_alert,
)
from ingest.spreads.monitor.clock import Clock
from ingest.spreads.monitor.feed_alerts import FeedWatch
from ingest.spreads.monitor.lake import LakeWriter
from ingest.spreads.monitor.plan import ALERT_TIMINGS
from ingest.spreads.monitor.quotes import Quote, QuoteBoard
from ingest.spreads.monitor.receiver_groups import ReceiverGroups
from ingest.spreads.monitor.records import SpreadRecord, utc_iso
from ingest.spreads.monitor.sampler import Sampler
from ingest.spreads.monitor.silences import SILENCES_FILE, SilenceBook
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
    # The alert rules; None: the `thresholds` shorthand (every book, every alert to every URL
    # of the run's webhook notifier).
    rules: AlertRules | None = None
    thresholds: tuple[Decimal, ...] = DEFAULT_THRESHOLDS
    duration: int | None = None
    # A quote not confirmed current for this long is not used: the second becomes a gap.
    quote_max_age: float = 5.0
    # A book without a usable quote for this many seconds gets a `stale` alert; `/healthz`
    # judges freshness by the same limit.
    stale_after: int = 30
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
    """Turns observations into alert events and hands each to the log, the alerts file, its
    rule's webhook receivers and the Alertmanager sink; records, per alert, how long after its
    quote arrived that happened. An alert a silence covers, or one an open higher threshold
    inhibits, is logged and written with `silenced: true` but not sent.

    The alerts file and the open episodes (monitor.alert_state) are written in order, in
    batches, on a thread of their own (monitor.alert_writer), like webhooks.
    """

    def __init__(
        self,
        tracker: AlertTracker,
        feed: FeedWatch,
        alert_file: AlertFile,
        notifier: WebhookNotifier,
        clock: Clock,
        summary: RunSummary,
        state_dir: Path,
        supervisor: Supervisor | None = None,
        carried: OpenAlerts | None = None,
        spread_from_records: bool = True,
        silences: SilenceBook | None = None,
        alertmanager: AlertmanagerSink | None = None,
        receivers: ReceiverGroups | None = None,
    ) -> None:
        self.supervisor = supervisor
        # The run's health and metrics state (monitor.health), if served.
        self.state = None
        self.tracker = tracker
        self.feed = feed
        self.alert_file = alert_file
        self.notifier = notifier
        self.clock = clock
        self.summary = summary
        self.silences = silences
        self.alertmanager = alertmanager
        # Groups and paces each receiver's messages; by default each alert goes out at once.
        self.receivers = receivers or ReceiverGroups(notifier, tracker.rules.receivers)
        # Episodes of books or thresholds this run does not watch, kept for a later run.
        self.carried = carried or OpenAlerts()
        # False with alerts per message: spread alerts then come from `observe_quote`.
        self.spread_from_records = spread_from_records
        # The source's thread (alerts per message) and the sampler's both change open episodes;
        # the lock keeps each change and its persisted snapshot in the writer's queue in order.
        self._lock = threading.Lock()
        self._file_writer = AlertLogWriter(alert_file, state_dir, supervisor)

    def observe_second(self, records: Sequence[SpreadRecord]) -> None:
        with self._lock:
            events = []
            for record in records:
                events += self._send(self.feed.observe(record), None)
                if self.spread_from_records and record.observed_at is not None:
                    events += self._send(self.tracker.observe(record), record.observed_at)
            if events or self.tracker.peak_rose:
                self._file_writer.submit(events, self._open_alerts())

    def observe_quote(self, quote: Quote) -> None:
        with self._lock:
            events = self._send(self.tracker.observe_quote(quote), quote.observed_at)
            if events:
                self._file_writer.submit(events, self._open_alerts())

    def _open_alerts(self) -> Callable[[], OpenAlerts]:
        """The open episodes after this change, built by the writer if it saves them."""
        carried, episodes, stale = (
            self.carried,
            self.tracker.open_episodes_later(),
            self.feed.open_stale(),
        )
        return lambda: carried + OpenAlerts(episodes(), stale)

    def _send(self, events: list[AlertEvent], arrived_at: float | None) -> list[AlertEvent]:
        """Deliver each event; returns them as delivered (held back or not)."""
        delivered = []
        for event in events:
            event = self._silenced(event)
            log_alert(event)
            if self.state is not None:
                threshold = "" if event.threshold is None else str(event.threshold)
                self.state.on_alert(event.book, threshold, event.state)
            if not event.silenced:
                self._route(event)
            elif event.state in (RESOLVED, FRESH) and self.alertmanager is not None:
                # The trigger may have gone out before the silence: unended, the sink would
                # refresh it for ever. Alertmanager takes the end of an alert it never had.
                self._to_alertmanager(event, self._matching_rules(event))
            self.summary.alerts += 1
            if arrived_at is not None:
                self.summary.alert_latencies.append(self.clock.time() - arrived_at)
            delivered.append(event)
        return delivered

    def _silenced(self, event: AlertEvent) -> AlertEvent:
        if event.silenced or self.silences is None:
            return event
        silence = self.silences.is_silenced(event.book, event.threshold, self.clock.time())
        if silence is None:
            return event
        return dataclasses.replace(event, held_back_by=f"silence {silence.id}")

    def _route(self, event: AlertEvent) -> None:
        """To the rule's receivers (a stale feed: those of every rule of its book), and to
        Alertmanager, which makes its own reminders from the refreshes."""
        matching = self._matching_rules(event)
        names = dict.fromkeys(name for rule in matching for name in rule.receivers)
        for name in names:
            self.receivers.send(name, event.as_json())
        if self.alertmanager is not None and event.state != REMINDER:
            self._to_alertmanager(event, matching)

    def _matching_rules(self, event: AlertEvent) -> tuple[AlertRule, ...]:
        """The event's rule; a stale feed's (no threshold): every rule of its book."""
        rules = self.tracker.rules
        if event.threshold is None:
            return rules.rules_for(event.book)
        rule = rules.rule(event.book, event.threshold)
        return () if rule is None else (rule,)

    def _to_alertmanager(self, event: AlertEvent, matching: tuple[AlertRule, ...]) -> None:
        assert self.alertmanager is not None
        severity = matching[0].severity if len(matching) == 1 else DEFAULT_SEVERITY
        start = epoch_seconds(event.episode_start or event.orderbook_timestamp)
        self.alertmanager.send(managed_alert(event, start, severity))

    def close(self) -> None:
        """Wait until every alert is in the alert log."""
        self._file_writer.close()
        try:
            self.alert_file.publish_pending()
        except OSError as error:
            log.error("alert log not uploaded, kept in the journal folder: %s", error)


class Sinks:
    """Everything that happens to one second's records: the lake journal, then alerts."""

    def __init__(
        self,
        lake: LakeWriter,
        alerts: AlertDispatcher,
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
        if self._journaled([(second, list(records))]):
            self._count(records, lateness)

    def on_missed(self, seconds: Sequence[tuple[int, list[SpreadRecord]]], now: float) -> None:
        """Seconds the sampler could not sample (all gaps), journaled with one write."""
        if self._journaled(seconds):
            for second, records in seconds:
                self._count(records, now - second)

    def _journaled(self, seconds: Sequence[tuple[int, list[SpreadRecord]]]) -> bool:
        try:
            self.lake.write_seconds(seconds)
        except OSError:
            raise  # the lake cannot be written: the run ends (status 1), the journal kept
        except Exception as error:
            # The lake writer's boundary: these seconds are lost, the next one is written as
            # usual (the sampler's cadence spaces the attempts).
            if self.supervisor is None:
                raise
            self.supervisor.failed("lake writer", error)
            return False
        return True

    def _count(self, records: Sequence[SpreadRecord], lateness: float) -> None:
        summary = self.summary
        summary.seconds += 1
        summary.records += len(records)
        summary.gaps += sum(record.is_gap for record in records)
        summary.worst_lateness = max(summary.worst_lateness, lateness)
        if self.state is not None:
            self.state.on_second(records, lateness)
        self.alerts.observe_second(records)


def _log_resumed(tracked: OpenAlerts, carried: OpenAlerts) -> None:
    for episode in tracked.episodes:
        log.info(
            "%s has been above %s %% since %s (peak %s %%): not triggered again",
            episode.book,
            episode.threshold,
            episode.started,
            episode.peak,
        )
    for stale in tracked.stale:
        log.info(
            "%s has had no usable quote since %s: not alerted again",
            stale.book,
            utc_iso(stale.since),
        )
    if carried.episodes or carried.stale:
        log.info(
            "%d open episodes of books or thresholds this run does not watch are kept for a "
            "later run",
            len(carried.episodes) + len(carried.stale),
        )


# How each source's loop is named in logs and in the restart counts.
SOURCE_PARTS = {"rest": "REST poller", "ws": "WebSocket reader"}


def run_monitor(
    options: MonitorOptions,
    board: QuoteBoard,
    source: QuoteSource,
    clock: Clock,
    stop: threading.Event,
    notifier: WebhookNotifier,
    alertmanager: AlertmanagerSink | None = None,
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
    if alertmanager is not None:
        alertmanager.on_failure = supervisor.failed
    rules = options.rules or simple_rules(options.thresholds, notifier.urls)
    rules.check_books(options.books)
    tracked, carried = alert_state.load(lake.journal_dir).split(
        options.books, lambda book, threshold: rules.rule(book, threshold) is not None
    )
    _log_resumed(tracked, carried)
    per_message = options.alert_timing == "message"
    receivers = ReceiverGroups(notifier, rules.receivers)
    receivers.on_failure = supervisor.failed
    alerts = AlertDispatcher(
        AlertTracker(rules, tracked.episodes),
        FeedWatch(options.stale_after, tracked.stale),
        AlertFile(options.lake, lake.journal_dir),
        notifier,
        clock,
        summary,
        lake.journal_dir,
        supervisor,
        carried=carried,
        spread_from_records=not per_message,
        silences=SilenceBook(lake.journal_dir / SILENCES_FILE, monotonic=clock.monotonic),
        alertmanager=alertmanager,
        receivers=receivers,
    )
    sinks = Sinks(lake, alerts, summary, supervisor)
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
    sampler = Sampler(board, clock, source.name, options.quote_max_age)
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
        sampler.run(sinks.on_second, sinks.on_missed, sampler_stop, options.duration)

    try:
        board.wait_first_look(options.quote_max_age)
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
                ("receiver groups", receivers.close),
                ("webhook notifier", notifier.close),
                (
                    "Alertmanager sink",
                    alertmanager.close if alertmanager is not None else lambda: None,
                ),
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
