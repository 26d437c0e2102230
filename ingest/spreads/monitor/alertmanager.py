"""Alerts to Prometheus Alertmanager, which then does the routing, grouping across teams,
silencing and repeating for teams that run it.

Each open alert is posted to `<url>/api/v2/alerts` when it triggers and again every
`refresh_seconds`: Alertmanager resolves an alert it has not heard of for its
`resolve_timeout` (5 minutes by default), so the refresh must come well within it, and a monitor
that stops lets its alerts resolve by themselves. A resolved alert is posted once with `endsAt`.
An alert is identified by its labels and `startsAt`, both derived from (book, threshold, episode
start) only, so a retried or repeated post is harmless.

Each URL has its own worker thread and bounded queue, so a slow Alertmanager never holds up the
observations or another Alertmanager; failed posts are retried with backoff by urllib3, as the
webhooks are.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime

import requests
from requests.adapters import HTTPAdapter
from urllib3.util import Retry

from ingest.spreads.monitor.alerts import FRESH, RESOLVED, STALE, AlertEvent
from ingest.spreads.monitor.quotes import format_decimal
from ingest.spreads.monitor.webhooks import MAX_RETRY_AFTER_SECONDS, redact_url

log = logging.getLogger(__name__)

SPREAD_ALERTNAME = "BitsoSpreadAboveThreshold"
STALE_FEED_ALERTNAME = "BitsoFeedStale"
ALERTS_PATH = "/api/v2/alerts"
DEFAULT_REFRESH_SECONDS = 60.0
# Alerts posted together at most, when several are queued.
MAX_BATCH = 100
_STOP = object()


@dataclasses.dataclass(frozen=True)
class ManagedAlert:
    """One alert as Alertmanager sees it."""

    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: datetime
    # Set once the episode is over.
    ends_at: datetime | None = None

    @property
    def identity(self) -> tuple[tuple[str, str], ...]:
        """Alertmanager tells alerts apart by their label set."""
        return tuple(sorted(self.labels.items()))

    def as_json(self) -> dict[str, object]:
        body: dict[str, object] = {
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "startsAt": _rfc3339(self.starts_at),
        }
        if self.ends_at is not None:
            body["endsAt"] = _rfc3339(self.ends_at)
        return body


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def managed_alert(event: AlertEvent, episode_start: float, severity: str) -> ManagedAlert:
    """The Alertmanager alert of a spread episode (`triggered` … `resolved`) or a stale feed
    (`stale` … `fresh`). `episode_start` (epoch seconds) is the episode's identity, the same for
    its opening, its refreshes and its end, which sets `endsAt`."""
    stale_feed = event.state in (STALE, FRESH)
    labels = {"alertname": STALE_FEED_ALERTNAME if stale_feed else SPREAD_ALERTNAME}
    labels["book"] = event.book
    if event.threshold is not None:
        labels["threshold"] = str(event.threshold)
    labels["severity"] = severity
    annotations = {"summary": event.text}
    for name, value in (("spread", event.spread), ("bid", event.bid), ("ask", event.ask)):
        if value is not None:
            annotations[name] = format_decimal(value) if name == "spread" else str(value)
    ends = event.state in (RESOLVED, FRESH)
    return ManagedAlert(
        labels=labels,
        annotations=annotations,
        starts_at=datetime.fromtimestamp(episode_start, UTC),
        ends_at=datetime.fromisoformat(event.orderbook_timestamp) if ends else None,
    )


def alerts_endpoint(url: str) -> str:
    """`url`'s alerts API; refuses what is not an http(s) URL."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"Alertmanager {redact_url(url)} is not an http(s) URL")
    return url.rstrip("/") + ALERTS_PATH


class _LoggedRetry(Retry):
    """urllib3's retry policy, logging each failed attempt with the Alertmanager's host."""

    def increment(
        self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None
    ):
        cause = f"HTTP {response.status}" if response is not None else type(error).__name__
        host = f"{_pool.scheme}://{_pool.host}/…" if _pool is not None else "Alertmanager"
        log.warning("Alertmanager %s: attempt failed (%s)", host, cause)
        return super().increment(method, url, response, error, _pool, _stacktrace)


class AlertmanagerSink:
    """Sends alerts to every Alertmanager URL and keeps the open ones refreshed. `send` only
    enqueues; `close` posts what is queued (within a grace period) and stops the workers."""

    def __init__(
        self,
        urls: Iterable[str],
        refresh_seconds: float = DEFAULT_REFRESH_SECONDS,
        attempts: int = 5,
        backoff_factor: float = 1.0,
        timeout: float = 5.0,
        queue_size: int = 1000,
    ) -> None:
        self.endpoints = tuple(alerts_endpoint(url) for url in urls)
        self.refresh_seconds = refresh_seconds
        self.timeout = timeout
        self.posted = 0
        self.failed = 0
        self.dropped = 0
        # Told of an unexpected exception in a worker (the run's supervisor).
        self.on_failure: Callable[[str, BaseException], object] | None = None
        self._open: dict[tuple[tuple[str, str], ...], ManagedAlert] = {}
        self._lock = threading.Lock()
        self._retry = _LoggedRetry(
            total=attempts - 1,
            backoff_factor=backoff_factor,
            backoff_max=60,
            status_forcelist=(429, 500, 502, 503, 504),
            allowed_methods=None,  # POST too: Alertmanager takes a repeated alert as the same one
            raise_on_status=False,
            retry_after_max=MAX_RETRY_AFTER_SECONDS,
        )
        self._workers = []
        for endpoint in self.endpoints:
            jobs: queue.Queue[object] = queue.Queue(queue_size)
            thread = threading.Thread(
                target=self._work,
                args=(endpoint, jobs),
                name=f"alertmanager {redact_url(endpoint)}",
                daemon=True,
            )
            thread.start()
            self._workers.append((endpoint, jobs, thread))

    def send(self, alert: ManagedAlert) -> None:
        with self._lock:
            if alert.ends_at is None:
                self._open[alert.identity] = alert
            else:
                self._open.pop(alert.identity, None)
        for endpoint, jobs, _thread in self._workers:
            try:
                jobs.put_nowait(alert)
            except queue.Full:
                # An open alert is posted again at the next refresh; a lost resolution is made
                # good by Alertmanager's resolve_timeout, the alert no longer being refreshed.
                with self._lock:
                    self.dropped += 1
                    first = self.dropped == 1
                log.log(
                    logging.ERROR if first else logging.DEBUG,
                    "Alertmanager %s: queue full (%d alerts waiting), alert dropped: %s",
                    redact_url(endpoint),
                    jobs.maxsize,
                    alert.annotations.get("summary"),
                )

    def open_alerts(self) -> list[ManagedAlert]:
        with self._lock:
            return list(self._open.values())

    def queue_depth(self) -> int:
        return sum(jobs.qsize() for _endpoint, jobs, _thread in self._workers)

    def close(self, grace_seconds: float = 10.0) -> None:
        deadline = time.monotonic() + grace_seconds
        for _endpoint, jobs, _thread in self._workers:
            with contextlib.suppress(queue.Full):
                jobs.put(_STOP, timeout=max(0.0, deadline - time.monotonic()))
        for endpoint, jobs, thread in self._workers:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                log.error(
                    "Alertmanager %s: gave up on %d unposted alerts at shutdown",
                    redact_url(endpoint),
                    jobs.qsize(),
                )
        if self.dropped:
            log.error("Alertmanager: %d alerts dropped during the run", self.dropped)

    def _work(self, endpoint: str, jobs: queue.Queue[object]) -> None:
        session = requests.Session()
        session.mount("http://", HTTPAdapter(max_retries=self._retry))
        session.mount("https://", HTTPAdapter(max_retries=self._retry))
        next_refresh = time.monotonic() + self.refresh_seconds
        with session:
            while True:
                try:
                    job = jobs.get(timeout=max(0.0, next_refresh - time.monotonic()))
                except queue.Empty:
                    job = None
                if job is not None:
                    batch, stopping = self._drain(job, jobs)
                    self._post_safely(endpoint, session, batch, "alerts")
                    if stopping:
                        return
                # Checked after every batch too, so a steady stream of alerts cannot starve it.
                if time.monotonic() >= next_refresh:
                    next_refresh = time.monotonic() + self.refresh_seconds
                    self._post_safely(endpoint, session, self.open_alerts(), "refresh")

    @staticmethod
    def _drain(first: object, jobs: queue.Queue[object]) -> tuple[list[ManagedAlert], bool]:
        """The queued alerts that can go in one post, and whether the sink is stopping."""
        batch: list[ManagedAlert] = []
        job = first
        while True:
            if job is _STOP:
                return batch, True
            assert isinstance(job, ManagedAlert)
            batch.append(job)
            if len(batch) == MAX_BATCH:
                return batch, False
            try:
                job = jobs.get_nowait()
            except queue.Empty:
                return batch, False

    def _post_safely(
        self, endpoint: str, session: requests.Session, alerts: list[ManagedAlert], what: str
    ) -> None:
        if not alerts:
            return
        try:
            self._post(endpoint, session, alerts, what)
        except Exception as error:
            # The worker's boundary: these alerts are lost (open ones come back at the next
            # refresh), the worker carries on.
            with self._lock:
                self.failed += len(alerts)
            if self.on_failure is None:
                log.exception("Alertmanager %s: posting failed", redact_url(endpoint))
            else:
                self.on_failure("Alertmanager sink", error)

    def _post(
        self, endpoint: str, session: requests.Session, alerts: list[ManagedAlert], what: str
    ) -> None:
        body = [alert.as_json() for alert in alerts]
        try:
            response = session.post(endpoint, json=body, timeout=self.timeout)
        except requests.RequestException as error:
            outcome = f"failed after retries: {type(error).__name__}"
        else:
            if response.ok:
                with self._lock:
                    self.posted += len(alerts)
                return
            # A 4xx other than 429 is Alertmanager refusing the alerts: its reason says why.
            outcome = f"HTTP {response.status_code}: {response.text.strip()[:200]}"
        with self._lock:
            self.failed += len(alerts)
        log.error(
            "Alertmanager %s: %s; %d alerts not posted (%s), first: %s",
            redact_url(endpoint),
            outcome,
            len(alerts),
            what,
            alerts[0].annotations.get("summary"),
        )
