"""The Alertmanager sink: the alerts it builds, its delivery (retries, refresh, flush on close)
at a local HTTP server, and its alerts in a real Alertmanager: listed with their labels,
resolved, and held back by an Alertmanager silence."""

from __future__ import annotations

import dataclasses
import logging
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import requests

from ingest.spreads.monitor.alertmanager import (
    SPREAD_ALERTNAME,
    STALE_FEED_ALERTNAME,
    AlertmanagerSink,
    alerts_endpoint,
    managed_alert,
)
from ingest.spreads.monitor.alerts import FRESH, RESOLVED, STALE, TRIGGERED, AlertEvent
from tests.python.spreads.alerting.conftest import RESOLVE_TIMEOUT_SECONDS

EPISODE_START = 1_795_946_426.0  # 2026-11-29T10:00:26+00:00


def event(state: str, book: str = "btc_mxn", at: str = "2026-11-29T10:00:26+00:00") -> AlertEvent:
    return AlertEvent(
        book=book,
        threshold=Decimal("1.0"),
        state=state,
        spread=Decimal("1.2002583979"),
        bid=Decimal("1529420"),
        ask=Decimal("1548000"),
        orderbook_timestamp=at,
    )


def now_episode(book: str, state: str = TRIGGERED) -> tuple[AlertEvent, float]:
    """An event of an episode that started a second ago (Alertmanager judges times by its own
    clock, so live tests use the present)."""
    start = time.time() - 1
    return event(state, book, datetime.now(UTC).isoformat(timespec="seconds")), start


def test_an_episode_keeps_its_labels_and_start_from_trigger_to_resolution() -> None:
    triggered = managed_alert(event(TRIGGERED), EPISODE_START, "warning")
    a_minute_later = event(TRIGGERED, at="2026-11-29T10:01:26+00:00")
    again = managed_alert(a_minute_later, EPISODE_START, "warning")
    resolved = managed_alert(
        event(RESOLVED, at="2026-11-29T10:05:00+00:00"), EPISODE_START, "warning"
    )
    assert triggered.as_json() == {
        "labels": {
            "alertname": SPREAD_ALERTNAME,
            "book": "btc_mxn",
            "threshold": "1.0",
            "severity": "warning",
        },
        "annotations": {
            "summary": event(TRIGGERED).text,
            "spread": "1.2002583979",
            "bid": "1529420",
            "ask": "1548000",
        },
        "startsAt": "2026-11-29T10:00:26.000+00:00",
    }
    assert again.identity == triggered.identity == resolved.identity
    assert again.as_json()["startsAt"] == resolved.as_json()["startsAt"]
    assert resolved.as_json()["endsAt"] == "2026-11-29T10:05:00.000+00:00"
    # Another episode of the same book and threshold is the same alert in Alertmanager's eyes
    # (same labels), but a new start.
    later = managed_alert(event(TRIGGERED), EPISODE_START + 600, "warning")
    assert later.as_json()["startsAt"] != triggered.as_json()["startsAt"]


def test_a_stale_feed_is_its_own_alert_without_threshold_or_prices() -> None:
    stale = AlertEvent(
        "btc_mxn", None, STALE, None, None, None, "2026-11-29T10:00:56+00:00", 30, "no quote"
    )
    fresh = dataclasses.replace(
        stale,
        state=FRESH,
        spread=Decimal("0.2"),
        bid=Decimal("100"),
        ask=Decimal("100.2"),
        orderbook_timestamp="2026-11-29T10:01:06+00:00",
        quiet_seconds=40,
        reason=None,
    )
    opened = managed_alert(stale, EPISODE_START, "critical")
    assert opened.labels == {
        "alertname": STALE_FEED_ALERTNAME,
        "book": "btc_mxn",
        "severity": "critical",
    }
    assert opened.annotations == {"summary": stale.text}
    assert opened.ends_at is None
    ended = managed_alert(fresh, EPISODE_START, "critical")
    assert ended.identity == opened.identity
    assert ended.annotations["spread"] == "0.2"
    assert ended.as_json()["endsAt"] == "2026-11-29T10:01:06.000+00:00"


def test_an_alertmanager_url_must_be_http() -> None:
    assert alerts_endpoint("http://am:9093/") == "http://am:9093/api/v2/alerts"
    with pytest.raises(ValueError, match="is not an http"):
        alerts_endpoint("am:9093")


def test_failed_posts_are_retried_with_backoff(http_receiver) -> None:
    http_receiver.statuses = [503, 502]
    sink = AlertmanagerSink([http_receiver.url], backoff_factor=0.01)
    sink.send(managed_alert(event(TRIGGERED), EPISODE_START, "warning"))
    sink.close()
    assert http_receiver.attempts == 3
    ((posted,),) = http_receiver.bodies
    assert posted["labels"]["book"] == "btc_mxn"
    assert (sink.posted, sink.failed) == (1, 0)


def test_a_refused_post_is_not_retried_and_is_logged_with_the_reason(http_receiver, caplog) -> None:
    http_receiver.statuses = [400]
    sink = AlertmanagerSink([http_receiver.url], backoff_factor=0.01)
    with caplog.at_level(logging.ERROR):
        sink.send(managed_alert(event(TRIGGERED), EPISODE_START, "warning"))
        sink.close()
    assert http_receiver.attempts == 1
    assert sink.failed == 1
    assert "HTTP 400" in caplog.text and "1 alerts not posted" in caplog.text
    assert "btc_mxn spread" in caplog.text


def test_close_posts_everything_queued(http_receiver) -> None:
    sink = AlertmanagerSink([http_receiver.url, http_receiver.url + "/second"])
    for book in ("btc_mxn", "eth_mxn", "usd_mxn"):
        sink.send(managed_alert(event(TRIGGERED, book), EPISODE_START, "warning"))
    sink.close()
    posted = [alert["labels"]["book"] for body in http_receiver.bodies for alert in body]
    assert sorted(posted) == sorted(["btc_mxn", "eth_mxn", "usd_mxn"] * 2)


def test_open_alerts_are_refreshed_until_resolved(http_receiver) -> None:
    sink = AlertmanagerSink([http_receiver.url], refresh_seconds=0.2)
    sink.send(managed_alert(event(TRIGGERED, "btc_mxn"), EPISODE_START, "warning"))
    sink.send(managed_alert(event(TRIGGERED, "eth_mxn"), EPISODE_START, "warning"))
    bodies = http_receiver.wait_until(lambda bodies: len(bodies) >= 3)
    assert sorted(alert["labels"]["book"] for alert in bodies[-1]) == ["btc_mxn", "eth_mxn"]
    sink.send(managed_alert(event(RESOLVED, "btc_mxn"), EPISODE_START, "warning"))
    assert [alert.labels["book"] for alert in sink.open_alerts()] == ["eth_mxn"]
    resolved_at = len(http_receiver.wait_until(lambda b: any("endsAt" in a for a in b[-1])))
    later = http_receiver.wait_until(lambda bodies: len(bodies) >= resolved_at + 2)
    sink.close()
    assert all(
        [alert["labels"]["book"] for alert in body] == ["eth_mxn"] for body in later[resolved_at:]
    )


def alert_labels(alerts: list[dict]) -> list[dict]:
    return [alert["labels"] for alert in alerts]


def notified(notifications: list[dict], book: str, status: str) -> bool:
    return any(
        alert["labels"]["book"] == book and alert["status"] == status
        for body in notifications
        for alert in body["alerts"]
    )


def test_alerts_appear_in_alertmanager_with_their_labels_and_then_resolve(alertmanager) -> None:
    sink = AlertmanagerSink([alertmanager.url], refresh_seconds=0.5)
    triggered, start = now_episode("btc_mxn")
    sink.send(managed_alert(triggered, start, "critical"))
    listed = alertmanager.wait_for_alerts(bool, book="btc_mxn")
    assert alert_labels(listed) == [
        {
            "alertname": SPREAD_ALERTNAME,
            "book": "btc_mxn",
            "threshold": "1.0",
            "severity": "critical",
        }
    ]
    assert listed[0]["annotations"]["spread"] == "1.2002583979"
    assert listed[0]["status"]["state"] == "active"
    assert datetime.fromisoformat(listed[0]["startsAt"]).timestamp() == pytest.approx(start, abs=1)
    notifications = alertmanager.notifications
    firing = notifications.wait_until(lambda bodies: notified(bodies, "btc_mxn", "firing"))
    assert notified(firing, "btc_mxn", "firing")
    resolved, _ = now_episode("btc_mxn", RESOLVED)
    sink.send(managed_alert(resolved, start, "critical"))
    assert alertmanager.wait_for_alerts(lambda alerts: not alerts, book="btc_mxn") == []
    over = notifications.wait_until(lambda bodies: notified(bodies, "btc_mxn", "resolved"))
    assert notified(over, "btc_mxn", "resolved")
    sink.close()


def test_an_alertmanager_silence_suppresses_the_notification(alertmanager) -> None:
    now = datetime.now(UTC)
    silence = requests.post(
        f"{alertmanager.url}/api/v2/silences",
        json={
            "matchers": [{"name": "book", "value": "eth_mxn", "isRegex": False, "isEqual": True}],
            "startsAt": now.isoformat(),
            "endsAt": (now + timedelta(hours=1)).isoformat(),
            "createdBy": "test",
            "comment": "maintenance",
        },
        timeout=5,
    )
    assert silence.ok, silence.text
    silence_id = silence.json()["silenceID"]
    sink = AlertmanagerSink([alertmanager.url], refresh_seconds=0.5)
    for book in ("eth_mxn", "usd_mxn"):
        triggered, start = now_episode(book)
        sink.send(managed_alert(triggered, start, "warning"))
    (silenced,) = alertmanager.wait_for_alerts(bool, book="eth_mxn")
    assert silenced["status"]["state"] == "suppressed"
    assert silenced["status"]["silencedBy"] == [silence_id]
    # The unsilenced alert of the same post is notified; by then the silenced one would be too.
    notifications = alertmanager.notifications.wait_until(
        lambda b: notified(b, "usd_mxn", "firing")
    )
    assert notified(notifications, "usd_mxn", "firing")
    time.sleep(1.5)  # one more group interval
    assert not notified(alertmanager.notifications.wait_until(bool, 0), "eth_mxn", "firing")
    sink.close()


def test_the_refresh_keeps_an_alert_open_past_the_resolve_timeout(alertmanager) -> None:
    sink = AlertmanagerSink([alertmanager.url], refresh_seconds=0.5)
    triggered, start = now_episode("xrp_mxn")
    sink.send(managed_alert(triggered, start, "warning"))
    assert alertmanager.wait_for_alerts(bool, book="xrp_mxn")
    time.sleep(RESOLVE_TIMEOUT_SECONDS + 1.5)
    assert alertmanager.alerts(book="xrp_mxn"), "the refreshed alert was resolved"
    # A monitor that stops refreshing lets Alertmanager resolve the alert by itself.
    sink.close()
    assert alertmanager.wait_for_alerts(lambda alerts: not alerts, book="xrp_mxn") == []
