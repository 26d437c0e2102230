"""`/metrics` (Prometheus text format, by prometheus-client) and `/healthz` for one monitor run,
both read at request time from the state the monitor itself runs on: the last records, the
supervisor, the source's and the webhooks' counters. Imported only when a metrics port is set."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import (
    CollectorRegistry,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

log = logging.getLogger(__name__)

# A `_created` series per histogram says when the process started, which `up` and restarts
# already tell; the exported names stay the documented ones.
disable_created_metrics()

PREFIX = "bitso_monitor"
LATENESS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def gap_kind(reason: str) -> str:
    """A gap reason without its details (`stale quote`, `WebSocket down`, ...): a label with
    few values."""
    return reason.split(" (")[0].split(":")[0][:60]


# Gaps that describe the market, not the feed: the source answered and the book itself has no
# usable top, so the monitor is not blind.
MARKET_GAPS = ("empty book", "crossed book")


class RunState:
    """What `/metrics` and `/healthz` read, filled by the run as it goes (records per second
    and alerts); everything else is read from the parts themselves."""

    def __init__(self, books: tuple[str, ...], stale_after: float, clock) -> None:
        self.books = books
        self.stale_after = stale_after
        self.clock = clock
        self.registry = CollectorRegistry(auto_describe=True)
        self.lateness = Histogram(
            f"{PREFIX}_sampler_lateness_seconds",
            "Seconds between a wall-clock second and the moment the board was read.",
            buckets=LATENESS_BUCKETS,
            registry=self.registry,
        )
        self._lock = threading.Lock()
        self.last_records: dict[str, object] = {}
        self.last_second_at: float | None = None
        self.records: dict[str, int] = dict.fromkeys(books, 0)
        self.gap_seconds: dict[tuple[str, str], int] = {}
        self.alerts: dict[tuple[str, str, str], int] = {}
        # When each book last had a record the monitor can vouch for: a quote, or a market gap.
        self.started_at = clock.time()
        self.usable_at: dict[str, float] = {}
        # Set by the run once its parts exist.
        self.supervisor = None
        self.source = None
        self.source_alive: Callable[[], bool] = lambda: True
        self.notifier = None
        self.lake = None
        self.budget = None

    def on_second(self, records, lateness: float) -> None:
        self.lateness.observe(max(0.0, lateness))
        with self._lock:
            self.last_second_at = self.clock.time()
            for record in records:
                self.last_records[record.book] = record
                self.records[record.book] = self.records.get(record.book, 0) + 1
                if not record.is_gap or gap_kind(record.gap_reason or "") in MARKET_GAPS:
                    self.usable_at[record.book] = self.last_second_at
                if record.is_gap:
                    key = (record.book, gap_kind(record.gap_reason or "unknown"))
                    self.gap_seconds[key] = self.gap_seconds.get(key, 0) + 1

    def on_alert(self, book: str, threshold: str, state: str) -> None:
        with self._lock:
            key = (book, threshold, state)
            self.alerts[key] = self.alerts.get(key, 0) + 1

    def health(self) -> tuple[bool, dict]:
        """(healthy, the JSON answer): every part alive, and every book's last record fresh, a
        market gap (empty or crossed book), or a gap with a known cause (a failed request, the
        WebSocket down, a resync) in a book that had a usable record within `stale_after`."""
        now = self.clock.time()
        reasons = []
        supervisor = self.supervisor
        if supervisor is not None and supervisor.failure is not None:
            reasons.append(f"stopping: {supervisor.failure}")
        if not self.source_alive():
            reasons.append("the source's thread has ended")
        with self._lock:
            last_at, last = self.last_second_at, dict(self.last_records)
            usable_at = dict(self.usable_at)
        if last_at is None or now - last_at > self.stale_after:
            reasons.append(f"sampler: no second written within the last {self.stale_after:g} s")
        books = {}
        for book in self.books:
            record = last.get(book)
            if record is None:
                books[book] = "no record yet"
                reasons.append(f"{book}: no record yet")
            elif not record.is_gap:
                books[book] = "fresh"
            elif gap_kind(record.gap_reason or "") == "stale quote":
                books[book] = record.gap_reason
                reasons.append(f"{book}: {record.gap_reason}")
            else:
                books[book] = f"gap: {record.gap_reason}"
                blind_for = now - usable_at.get(book, self.started_at)
                if blind_for > self.stale_after:
                    reasons.append(
                        f"{book}: no usable quote for {blind_for:.0f} s (limit "
                        f"{self.stale_after:g} s): {record.gap_reason}"
                    )
        body = {"status": "ok" if not reasons else "unhealthy", "reasons": reasons, "books": books}
        if supervisor is not None:
            body["restarts"] = dict(supervisor.restarts)
        return not reasons, body


class _Collector:
    def __init__(self, state: RunState) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        state = self.state
        now = state.clock.time()
        spread = GaugeMetricFamily(
            f"{PREFIX}_spread_percent", "The book's spread in the last record.", labels=["book"]
        )
        age = GaugeMetricFamily(
            f"{PREFIX}_quote_age_seconds",
            "Age of the quote behind the last record.",
            labels=["book"],
        )
        with state._lock:
            last = dict(state.last_records)
            records = dict(state.records)
            gaps = dict(state.gap_seconds)
            alerts = dict(state.alerts)
        for book, record in last.items():
            if record.spread is not None:
                spread.add_metric([book], float(record.spread))
            if record.quote_age_ms is not None:
                age.add_metric([book], record.quote_age_ms / 1000)
        yield spread
        yield age
        written = CounterMetricFamily(
            f"{PREFIX}_records", "Records written to the lake journal.", labels=["book"]
        )
        for book, count in records.items():
            written.add_metric([book], count)
        yield written
        gap = CounterMetricFamily(
            f"{PREFIX}_gap_seconds",
            "Seconds recorded as gaps, by reason.",
            labels=["book", "reason"],
        )
        for (book, reason), count in gaps.items():
            gap.add_metric([book, reason], count)
        yield gap
        alert = CounterMetricFamily(
            f"{PREFIX}_alerts", "Alerts sent.", labels=["book", "threshold", "state"]
        )
        for key, count in alerts.items():
            alert.add_metric(list(key), count)
        yield alert
        if state.supervisor is not None:
            restarts = CounterMetricFamily(
                f"{PREFIX}_part_restarts",
                "Restarts after an unexpected exception.",
                labels=["part"],
            )
            for part, count in state.supervisor.restarts.items():
                restarts.add_metric([part], count)
            yield restarts
        yield from self._source(state)
        if state.notifier is not None:
            yield from self._webhooks(state.notifier)
        lake = state.lake
        if lake is not None:
            yield CounterMetricFamily(
                f"{PREFIX}_lake_files_published",
                "Window files published.",
                value=len(lake.published),
            )
            yield CounterMetricFamily(
                f"{PREFIX}_lake_publish_failures",
                "Windows that could not be published (kept in the journal).",
                value=lake.publish_failures,
            )
        budget = state.budget
        if budget is not None:
            yield GaugeMetricFamily(
                f"{PREFIX}_rest_requests_last_minute",
                "REST requests in the last 60 seconds.",
                value=budget.sent_in_last_minute(now),
            )
            yield GaugeMetricFamily(
                f"{PREFIX}_rest_request_budget",
                "Most REST requests allowed in any 60 seconds.",
                value=budget.per_minute,
            )

    @staticmethod
    def _webhooks(notifier) -> Iterator[Metric]:
        # A webhook URL is a credential: its series are told apart by position and host only.
        labels = ["webhook", "host"]
        families = {
            "delivered": CounterMetricFamily(
                f"{PREFIX}_webhook_deliveries", "Alerts delivered.", labels=labels
            ),
            "failed": CounterMetricFamily(
                f"{PREFIX}_webhook_failures",
                "Alerts not delivered (after retries, or a redirect refused).",
                labels=labels,
            ),
            "dropped": CounterMetricFamily(
                f"{PREFIX}_webhook_dropped",
                "Alerts dropped untried (queue full, or disabled by 410 Gone).",
                labels=labels,
            ),
            "queued": GaugeMetricFamily(
                f"{PREFIX}_webhook_queue_depth", "Alerts waiting to be posted.", labels=labels
            ),
        }
        for counts in notifier.counts():
            for field, family in families.items():
                family.add_metric([str(counts.index), counts.host], getattr(counts, field))
        yield from families.values()

    @staticmethod
    def _source(state: RunState) -> Iterator[Metric]:
        source = state.source
        if source is None:
            return
        labels = ["source"]
        name = source.name
        errors = CounterMetricFamily(
            f"{PREFIX}_source_errors",
            "Unusable replies or frames, by kind.",
            labels=[*labels, "kind"],
        )
        for kind, count in getattr(source, "errors", {}).items():
            errors.add_metric([name, kind], count)
        for kind, count in source.problems.counts.items():
            errors.add_metric([name, kind], count)
        yield errors
        if name == "ws":
            frames = CounterMetricFamily(
                f"{PREFIX}_source_frames", "Frames received.", labels=labels
            )
            frames.add_metric([name], source.frames)
            yield frames
            reconnects = CounterMetricFamily(
                f"{PREFIX}_source_reconnects", "Connections after the first.", labels=labels
            )
            reconnects.add_metric([name], max(0, source.connections - 1))
            yield reconnects
            down = CounterMetricFamily(
                f"{PREFIX}_source_disconnected_seconds", "Seconds without a stream.", labels=labels
            )
            down.add_metric([name], source.disconnected_seconds())
            yield down
            resyncs = CounterMetricFamily(
                f"{PREFIX}_source_resyncs",
                "Order-book snapshots fetched again after a diff-orders sequence gap.",
                labels=[*labels, "book"],
            )
            silent = CounterMetricFamily(
                f"{PREFIX}_source_silent_book_reconnects",
                "Connections replaced because one book's frames stopped while the ticker moved.",
                labels=[*labels, "book"],
            )
            for book in state.books:
                resyncs.add_metric([name, book], source.resyncs[book])
                silent.add_metric([name, book], source.silent_books[book])
            yield resyncs
            yield silent
        requests = CounterMetricFamily(
            f"{PREFIX}_source_requests", "REST requests sent by the source.", labels=labels
        )
        requests.add_metric([name], source.rest_requests)
        yield requests


class HealthServer:
    """Serves `/metrics` and `/healthz` on `host:port` from a thread of its own."""

    def __init__(self, state: RunState, host: str, port: int) -> None:
        state.registry.register(_Collector(state))

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                log.debug("%s %s", self.address_string(), format % args)

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                if path == "/metrics":
                    self._send(200, generate_latest(state.registry), CONTENT_TYPE_LATEST)
                elif path == "/healthz":
                    healthy, body = state.health()
                    self._send(
                        200 if healthy else 503, json.dumps(body).encode(), "application/json"
                    )
                else:
                    self._send(404, b"", "text/plain")

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://{host}:{self.server.server_address[1]}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="metrics", daemon=True
        )
        self._thread.start()
        log.info("metrics on %s/metrics, health on %s/healthz", self.url, self.url)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
