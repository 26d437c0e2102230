"""Builds one monitor run from the settings and the run's choices: checks the books against the
API, then wires the REST client, the request budget, the quote board, the source, the alert
rules, the webhook notifier and the Alertmanager sink."""

from __future__ import annotations

import dataclasses
import logging
import threading

from ingest.settings import Settings
from ingest.spreads.monitor.alert_rules import AlertRules, rules_for_run
from ingest.spreads.monitor.alertmanager import AlertmanagerSink
from ingest.spreads.monitor.bitso_rest import BitsoError, BitsoRestClient
from ingest.spreads.monitor.budget import RequestBudget
from ingest.spreads.monitor.clock import Clock, SystemClock
from ingest.spreads.monitor.plan import MonitorPlan
from ingest.spreads.monitor.quotes import QuoteBoard
from ingest.spreads.monitor.rest_source import RestSource
from ingest.spreads.monitor.runner import MonitorOptions, QuoteSource, RunSummary, run_monitor
from ingest.spreads.monitor.webhooks import WebhookNotifier
from ingest.spreads.monitor.ws_source import WsSource

log = logging.getLogger(__name__)


class MonitorSetupError(RuntimeError):
    """The run cannot start: the API cannot be asked which books it lists."""


class UnknownBooks(ValueError):
    """The API does not list some of the books asked for (a usage error)."""


@dataclasses.dataclass
class Monitor:
    settings: Settings
    options: MonitorOptions
    board: QuoteBoard
    source: QuoteSource
    client: BitsoRestClient
    clock: Clock
    notifier: WebhookNotifier
    alertmanager: AlertmanagerSink | None = None

    def run(self, stop: threading.Event) -> RunSummary:
        """Record until `stop` is set or the duration is over; the client is closed after."""
        try:
            return run_monitor(
                self.options,
                self.board,
                self.source,
                self.clock,
                stop,
                self.notifier,
                self.alertmanager,
            )
        finally:
            self.client.close()

    def summary_line(self, summary: RunSummary) -> str:
        latency = ""
        if summary.alert_latencies:
            latency = f", worst alert latency {max(summary.alert_latencies) * 1000:.0f} ms"
        return (
            f"{summary.records} records ({summary.gaps} gaps) over {summary.seconds} seconds, "
            f"{len(summary.files)} files published under "
            f"{str(self.settings.lake).rstrip('/')}/spreads, {summary.alerts} alerts, "
            f"{self.source.traffic_report()}, "
            f"worst sampling lateness {summary.worst_lateness * 1000:.0f} ms{latency}"
        )


def build_monitor(
    settings: Settings,
    plan: MonitorPlan,
    clock: Clock | None = None,
    rules: AlertRules | None = None,
) -> Monitor:
    """Everything one run needs, after checking that the API lists every book. `rules`: the
    run's alert rules, as the command line checked them (by default from the settings)."""
    clock = clock or SystemClock()
    budget = RequestBudget(plan.request_budget)
    client = BitsoRestClient(settings.api_url)
    budget.spend(clock.time())
    try:
        listed = set(client.available_books())
    except BitsoError as error:
        client.close()
        raise MonitorSetupError(f"cannot check the books at GET {error.url}: {error}") from error
    unknown = [book for book in plan.books if book not in listed]
    if unknown:
        client.close()
        raise UnknownBooks(f"{', '.join(unknown)} not in {settings.api_url}/v3/available_books/")
    if rules is None:
        rules = rules_for_run(
            settings.alert_rules,
            plan.thresholds,
            settings.webhooks,
            settings.project_dir,
            settings.environment,
        )
    thresholds = tuple(sorted({rule.threshold for rule in rules.rules}, reverse=True))
    board = QuoteBoard(plan.books)
    options = MonitorOptions(
        books=plan.books,
        lake=settings.lake,
        journal_dir=settings.journal_dir,
        window_seconds=plan.window_seconds,
        fmt=plan.fmt,
        rules=rules,
        thresholds=thresholds,
        duration=plan.duration,
        quote_max_age=max(5.0, 3 * budget.spacing),
        stale_after=settings.stale_after,
        alert_timing=plan.alert_timing,
        max_restarts=plan.max_restarts,
        restart_window=plan.restart_window,
        metrics_port=None if settings.metrics_port is None else int(settings.metrics_port),
        metrics_host=settings.metrics_host,
    )
    source: QuoteSource
    if plan.source == "ws":
        source = WsSource(
            settings.ws_url,
            board,
            client,
            budget,
            clock,
            depth=plan.depth,
            silence_timeout=plan.ws_timeout,
            rest_fallback=plan.rest_fallback,
            book_timeout=plan.book_timeout or None,
        )
    else:
        source = RestSource(client, board, budget, clock)
    log.info(
        "monitoring %s by %s from %s every second; thresholds %s %%; %d-second %s windows in %s",
        ",".join(plan.books),
        plan.source,
        settings.ws_url if plan.source == "ws" else settings.api_url,
        ", ".join(str(threshold) for threshold in thresholds),
        plan.window_seconds,
        plan.fmt,
        settings.lake,
    )
    # Receivers may share a URL: one delivery worker per URL.
    notifier = WebhookNotifier(dict.fromkeys(url for r in rules.receivers for url in r.urls))
    alertmanager = AlertmanagerSink(settings.alertmanagers) if settings.alertmanagers else None
    return Monitor(settings, options, board, source, client, clock, notifier, alertmanager)
