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
