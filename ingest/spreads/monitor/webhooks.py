"""Webhook delivery off the sampling path: one worker thread and queue per URL, retries with
backoff by urllib3, and URLs (secrets, e.g. Slack's) never logged beyond scheme and host."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util import Retry

log = logging.getLogger(__name__)

_STOP = object()
# Whatever a server's Retry-After says, one wait between attempts lasts at most this long, so one
# alert holds the ones queued behind it back by at most (attempts - 1) times this.
MAX_RETRY_AFTER_SECONDS = 30.0
# A 301, 302 or 303 would turn the POST into a bodiless GET: not a delivery.
REDIRECTS_REFUSED = (301, 302, 303)
# 307 and 308 keep the method and body: followed once.
REDIRECTS_FOLLOWED = (307, 308)
GONE = 410


def redact_url(url: str) -> str:
    """Scheme and host only: the path and query of an incoming-webhook URL are its credential."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}/…"


def check_webhook_url(url: str) -> str | None:
    """Why `url` cannot be a webhook, or None; the reason never repeats the URL in full."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"webhook {redact_url(url)} is not an http(s) URL"
    return None


class _RedactSecrets(logging.Filter):
    """Removes webhook URLs' paths from urllib3's own log records (its retry warnings and debug
    request lines name the path)."""

    def __init__(self, urls: Iterable[str]) -> None:
        super().__init__()
        self.secrets = {
            part
            for url in urls
            for part in (url, urlsplit(url).path, urlsplit(url).query)
            if len(part) > 1
        }

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = message
        for secret in sorted(self.secrets, key=len, reverse=True):
            redacted = redacted.replace(secret, "/…")
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


_URLLIB3_LOGGERS = ("urllib3.connectionpool", "urllib3.util.retry")


class _LoggedRetry(Retry):
    """urllib3's retry policy, logging each failed attempt without the URL's path."""

    def increment(
        self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None
    ):
        cause = f"HTTP {response.status}" if response is not None else type(error).__name__
        host = f"{_pool.scheme}://{_pool.host}/…" if _pool is not None else "webhook"
        log.warning("webhook %s: attempt failed (%s)", host, cause)
        return super().increment(method, url, response, error, _pool, _stacktrace)


@dataclasses.dataclass
class WebhookCounts:
    """What happened to the alerts of one webhook, the `index`-th URL given (from 1)."""

    index: int
    host: str
    delivered: int = 0
    failed: int = 0
    # Alerts not even tried: the queue was full, or the webhook answered 410 Gone.
    dropped: int = 0
    queued: int = 0


class WebhookNotifier:
    """Posts each alert to every webhook URL as JSON. `notify` only enqueues, so a slow or dead
    endpoint never holds up the observations."""

    def __init__(
        self,
        urls: Iterable[str],
        attempts: int = 5,
        backoff_factor: float = 1.0,
        timeout: float = 5.0,
        queue_size: int = 1000,
        retry_after_max: float = MAX_RETRY_AFTER_SECONDS,
    ) -> None:
        self.urls = tuple(urls)
        self._counts = {
            url: WebhookCounts(index, urlsplit(url).hostname or "?")
            for index, url in enumerate(self.urls, start=1)
        }
        self.disabled: set[str] = set()
        self._counter_lock = threading.Lock()
        # Told of an unexpected exception in a delivery (the run's supervisor).
        self.on_failure: Callable[[str, BaseException], object] | None = None
        self._filter = _RedactSecrets(self.urls)
        for name in _URLLIB3_LOGGERS:
            logging.getLogger(name).addFilter(self._filter)
        retry = _LoggedRetry(
            total=attempts - 1,
            backoff_factor=backoff_factor,
            backoff_max=60,
            status_forcelist=(429, 500, 502, 503, 504),
            allowed_methods=None,  # POST too: a repeated alert beats a lost one
            raise_on_status=False,
            retry_after_max=retry_after_max,
        )
        self._workers = []
        for url in self.urls:
            session = requests.Session()
            session.mount("http://", HTTPAdapter(max_retries=retry))
            session.mount("https://", HTTPAdapter(max_retries=retry))
            jobs: queue.Queue[object] = queue.Queue(queue_size)
            thread = threading.Thread(
                target=self._deliver_all,
                args=(url, session, jobs, timeout),
                name=f"webhook {redact_url(url)}",
                daemon=True,
            )
            thread.start()
            self._workers.append((url, jobs, thread))

    def notify(self, body: dict[str, object], urls: Iterable[str] | None = None) -> None:
        """Queue `body` for these of the notifier's URLs (a rule's receivers), or for all."""
        wanted = None if urls is None else set(urls)
        for url, jobs, _thread in self._workers:
            if wanted is not None and url not in wanted:
                continue
            if url in self.disabled:
                self._drop(url, body, "the webhook is disabled (HTTP 410 Gone)")
                continue
            try:
                jobs.put_nowait(body)
            except queue.Full:
                self._drop(url, body, f"queue full ({jobs.maxsize} alerts waiting)")

    def counts(self) -> list[WebhookCounts]:
        """Each webhook's figures so far, its queue depth included, in the order given."""
        queued = {url: jobs.qsize() for url, jobs, _thread in self._workers}
        with self._counter_lock:
            return [
                dataclasses.replace(counts, queued=queued[url])
                for url, counts in self._counts.items()
            ]

    @property
    def delivered(self) -> int:
        return sum(counts.delivered for counts in self.counts())

    @property
    def failed(self) -> int:
        return sum(counts.failed for counts in self.counts())

    @property
    def dropped(self) -> int:
        return sum(counts.dropped for counts in self.counts())

    def queue_depth(self) -> int:
        return sum(counts.queued for counts in self.counts())

    def _count(self, url: str, outcome: str) -> None:
        with self._counter_lock:
            counts = self._counts[url]
            setattr(counts, outcome, getattr(counts, outcome) + 1)

    def _drop(self, url: str, body: dict[str, str], why: str) -> None:
        with self._counter_lock:
            self._counts[url].dropped += 1
            first = sum(counts.dropped for counts in self._counts.values()) == 1
        if first:
            log.error(
                "webhook %s: %s, alert dropped: %s (further drops are counted and logged at "
                "DEBUG; the total at the end)",
                redact_url(url),
                why,
                body.get("text"),
            )
        else:
            log.debug("webhook %s: %s, alert dropped: %s", redact_url(url), why, body.get("text"))

    def close(self, grace_seconds: float = 10.0) -> None:
        """Let queued deliveries finish for up to `grace_seconds`, then give up on the rest."""
        deadline = time.monotonic() + grace_seconds
        for _url, jobs, _thread in self._workers:
            with contextlib.suppress(queue.Full):
                jobs.put(_STOP, timeout=max(0.0, deadline - time.monotonic()))
        for url, jobs, thread in self._workers:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                log.error(
                    "webhook %s: gave up on %d undelivered alerts at shutdown",
                    redact_url(url),
                    jobs.qsize(),
                )
        if self.dropped:
            log.error("webhooks: %d alerts dropped during the run", self.dropped)
        for name in _URLLIB3_LOGGERS:
            logging.getLogger(name).removeFilter(self._filter)

    def _deliver_all(
        self, url: str, session: requests.Session, jobs: queue.Queue[object], timeout: float
    ) -> None:
        with session:
            while (body := jobs.get()) is not _STOP:
                assert isinstance(body, dict)
                try:
                    self._deliver(url, session, body, timeout)
                except Exception as error:
                    # The notifier's boundary: this alert is lost, the next one is delivered.
                    self._count(url, "failed")
                    log.error(
                        "webhook %s: alert not delivered: %s", redact_url(url), body.get("text")
                    )
                    if self.on_failure is None:
                        log.exception("webhook notifier failed")
                    else:
                        self.on_failure("webhook notifier", error)

    def _deliver(
        self, url: str, session: requests.Session, body: dict[str, str], timeout: float
    ) -> None:
        if url in self.disabled:
            self._drop(url, body, "the webhook is disabled (HTTP 410 Gone)")
            return
        try:
            # Redirects are judged here: requests would turn a 301/302/303 POST into a GET.
            response = session.post(url, json=body, timeout=timeout, allow_redirects=False)
            if response.status_code in REDIRECTS_FOLLOWED and "Location" in response.headers:
                target = urljoin(url, response.headers["Location"])
                log.info(
                    "webhook %s: HTTP %d, posting again to %s",
                    redact_url(url),
                    response.status_code,
                    redact_url(target),
                )
                response = session.post(target, json=body, timeout=timeout, allow_redirects=False)
        except requests.RequestException as error:
            outcome = f"failed after retries: {type(error).__name__}"
        else:
            status = response.status_code
            if response.ok and status not in (*REDIRECTS_REFUSED, *REDIRECTS_FOLLOWED):
                self._count(url, "delivered")
                return
            if status == GONE:
                self.disabled.add(url)
                log.error(
                    "webhook %s: HTTP 410 Gone: disabled for the rest of the run; its alerts "
                    "are dropped (remove it from --webhook / BITSO_WEBHOOKS)",
                    redact_url(url),
                )
                outcome = "HTTP 410 Gone"
            elif 300 <= status < 400:
                where = response.headers.get("Location")
                target = redact_url(urljoin(url, where)) if where else "nowhere"
                outcome = f"HTTP {status} redirect to {target} is not a delivery"
            else:
                outcome = f"failed after retries: HTTP {status}"
        self._count(url, "failed")
        log.error("webhook %s: %s; alert not delivered: %s", redact_url(url), outcome, body["text"])
