import logging
import socket
import time

import pytest

from ingest.spreads.monitor.webhooks import WebhookNotifier, check_webhook_url, redact_url

BODY = {"book": "btc_mxn", "state": "triggered", "text": "btc_mxn spread 1.2 % is above 1 %"}


def test_alerts_are_posted_as_json_with_a_text(webhook_receiver):
    notifier = WebhookNotifier([webhook_receiver.url], backoff_factor=0.01)
    notifier.notify(BODY)
    assert webhook_receiver.wait_for(1) == [BODY]
    notifier.close()
    assert (notifier.delivered, notifier.failed) == (1, 0)


def test_failed_deliveries_are_retried_with_backoff_and_logged_without_the_secret(
    webhook_receiver, caplog
):
    caplog.set_level(logging.DEBUG)
    webhook_receiver.fail_first = 2
    notifier = WebhookNotifier([webhook_receiver.url], backoff_factor=0.05)
    notifier.notify(BODY)
    assert webhook_receiver.wait_for(1) == [BODY]
    notifier.close()
    assert webhook_receiver.attempts == 3
    retries = [
        r.getMessage() for r in caplog.records if "attempt failed (HTTP 503)" in r.getMessage()
    ]
    assert len(retries) == 2
    assert not [r for r in caplog.records if "SECRET" in r.getMessage()]


def test_an_unreachable_webhook_gives_up_after_its_attempts_and_never_logs_its_path(caplog):
    caplog.set_level(logging.DEBUG)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/services/T0SECRET/B0SECRET/xoxbSECRET"
    notifier = WebhookNotifier([url], attempts=3, backoff_factor=0.01, timeout=1)
    notifier.notify(BODY)
    notifier.close(grace_seconds=5)
    assert (notifier.delivered, notifier.failed) == (0, 1)
    messages = [r.getMessage() for r in caplog.records]
    assert any("webhook http://127.0.0.1/…: failed after retries" in m for m in messages)
    assert not [m for m in messages if "SECRET" in m]


def test_a_slow_webhook_does_not_hold_up_notify(webhook_receiver):
    webhook_receiver.delay = 1.0
    notifier = WebhookNotifier([webhook_receiver.url])
    started = time.monotonic()
    for _ in range(5):
        notifier.notify(BODY)
    assert time.monotonic() - started < 0.1
    notifier.close(grace_seconds=0.2)


def test_urls_are_shown_by_scheme_and_host_only():
    assert (
        redact_url("https://hooks.slack.com/services/T0/B0/XYZ?x=1") == "https://hooks.slack.com/…"
    )


@pytest.mark.parametrize("url", ["hooks.slack.com/services/T0/B0/X", "ftp://host/x", "https://"])
def test_non_http_webhooks_are_refused_without_echoing_them(url):
    reason = check_webhook_url(url)
    assert reason is not None and "/services/" not in reason


class RoutedReceiver:
    """A webhook endpoint whose paths answer as named: `/in` takes the alert, `/moved/<status>`
    redirects to `/in`, `/twice` redirects with 307 to `/moved/307`, `/gone` is 410 and
    `/busy` answers 429 with a Retry-After of an hour once, then takes the alert."""

    def __init__(self) -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.requests: list[tuple[str, str, object]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):
                pass

            def _answer(self, method):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                receiver.requests.append((method, self.path, body))
                headers = {}
                if self.path.startswith("/moved/"):
                    status, headers = int(self.path.rsplit("/", 1)[1]), {"Location": "/in"}
                elif self.path == "/twice":
                    status, headers = 307, {"Location": "/moved/307"}
                elif self.path == "/slow":
                    time.sleep(1.0)
                    status = 200
                elif self.path == "/gone":
                    status = 410
                elif (
                    self.path == "/busy" and sum(p == "/busy" for _, p, _ in receiver.requests) == 1
                ):
                    status, headers = 429, {"Retry-After": "3600"}
                else:
                    status = 200
                self.send_response(status)
                for name, value in {"Content-Length": "0", **headers}.items():
                    self.send_header(name, value)
                self.end_headers()

            def do_POST(self):
                self._answer("POST")

            def do_GET(self):
                self._answer("GET")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def routed():
    receiver = RoutedReceiver()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.mark.parametrize("status", [301, 302, 303])
def test_a_301_302_or_303_is_not_a_delivery_and_is_not_followed(routed, caplog, status):
    notifier = WebhookNotifier([f"{routed.base}/moved/{status}"], backoff_factor=0.01)
    notifier.notify(BODY)
    notifier.close()
    assert (notifier.delivered, notifier.failed) == (0, 1)
    assert [(method, path) for method, path, _ in routed.requests] == [("POST", f"/moved/{status}")]
    logged = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)
    assert f"HTTP {status} redirect to http://127.0.0.1/… is not a delivery" in logged
    assert BODY["text"] in logged


@pytest.mark.parametrize("status", [307, 308])
def test_a_307_or_308_is_followed_once_with_the_body(routed, status):
    notifier = WebhookNotifier([f"{routed.base}/moved/{status}"], backoff_factor=0.01)
    notifier.notify(BODY)
    notifier.close()
    assert (notifier.delivered, notifier.failed) == (1, 0)
    assert routed.requests == [("POST", f"/moved/{status}", BODY), ("POST", "/in", BODY)]


def test_a_second_redirect_is_not_followed(routed):
    notifier = WebhookNotifier([f"{routed.base}/twice"], backoff_factor=0.01)
    notifier.notify(BODY)
    notifier.close()
    assert (notifier.delivered, notifier.failed) == (0, 1)
    assert [path for _, path, _ in routed.requests] == ["/twice", "/moved/307"]


def test_410_gone_disables_the_webhook_with_a_clear_line(routed, caplog):
    notifier = WebhookNotifier([f"{routed.base}/gone", f"{routed.base}/in"], backoff_factor=0.01)
    notifier.notify(BODY)
    time.sleep(0.5)
    notifier.notify(BODY)
    notifier.notify(BODY)
    notifier.close()
    assert [path for _, path, _ in routed.requests].count("/gone") == 1
    assert [path for _, path, _ in routed.requests].count("/in") == 3
    assert notifier.disabled == {f"{routed.base}/gone"} and notifier.dropped == 2
    # Each webhook's own figures, by position and host (never the URL's secret path).
    assert [
        (c.index, c.host, c.delivered, c.failed, c.dropped, c.queued) for c in notifier.counts()
    ] == [(1, "127.0.0.1", 0, 1, 2, 0), (2, "127.0.0.1", 3, 0, 0, 0)]
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("HTTP 410 Gone: disabled for the rest of the run" in line for line in logged)
    assert any("2 alerts dropped during the run" in line for line in logged)


def test_a_long_retry_after_holds_the_next_alerts_back_only_up_to_the_bound(routed):
    notifier = WebhookNotifier([f"{routed.base}/busy"], backoff_factor=0.01, retry_after_max=0.5)
    started = time.monotonic()
    notifier.notify(BODY)
    notifier.notify({**BODY, "text": "second"})
    notifier.close()
    assert time.monotonic() - started < 5  # not the hour the server asked for
    assert notifier.delivered == 2
    assert [body["text"] for _, _, body in routed.requests] == [
        BODY["text"],
        BODY["text"],
        "second",
    ]


def test_a_full_queue_drops_are_counted_and_logged_once_then_in_total(routed, caplog):
    notifier = WebhookNotifier([f"{routed.base}/slow"], queue_size=1)
    notifier.notify(BODY)
    time.sleep(0.3)  # the worker is busy with the first alert for a second
    for _ in range(5):
        notifier.notify(BODY)
    assert notifier.queue_depth() == 1
    notifier.close()
    assert (notifier.delivered, notifier.dropped) == (2, 4)
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert sum("alert dropped" in line for line in logged) == 1
    assert "webhooks: 4 alerts dropped during the run" in logged
