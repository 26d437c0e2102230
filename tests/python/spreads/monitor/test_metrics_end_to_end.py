"""`/metrics` and `/healthz` of a real `ingest spreads --metrics-port` against `ingest
serve-bitso`, read with prometheus-client's own parser: every series the monitor promises, the
documented list equal to what is exported, and health that turns 503 while the source fails and
200 again once it recovers, for both sources."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.python.receivers import JsonReceiver, free_port

from . import test_end_to_end
from .conftest import SLACK_LIKE_PATH
from .test_end_to_end import ROOT, Server, finish, start_monitor

server_factory = test_end_to_end.server_factory

BOOKS = ("btc_mxn", "usd_mxn")
# Spreads cross the 0.055 % threshold every second: alerts, hence webhook deliveries.
MOVING = [{"at": 0, "spread": "0.05"}, {"at": 1, "spread": "0.06"}]


def scrape(base: str) -> dict:
    text = requests.get(f"{base}/metrics", timeout=5).text
    return {family.name: family for family in text_string_to_metric_families(text)}, text


def samples(families: dict, name: str, **labels: str) -> list:
    """The samples of family `name` (without `_total`) whose labels include `labels`."""
    family = families.get(name)
    assert family is not None, f"{name} is not exported"
    return [
        sample
        for sample in family.samples
        if all(sample.labels.get(key) == value for key, value in labels.items())
    ]


def value(families: dict, name: str, **labels: str) -> float:
    found = [
        sample
        for sample in samples(families, name, **labels)
        if sample.name in (name, f"{name}_total")
    ]
    assert len(found) == 1, (name, labels, found)
    return found[0].value


def exported_names(families: dict) -> set[str]:
    """Names as a PromQL query spells them: counters with `_total`."""
    return {
        f"{name}_total" if family.type == "counter" else name
        for name, family in families.items()
        if name.startswith("bitso_monitor_")
    }


def poll(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
    return result


def health(base: str) -> tuple[int, dict] | None:
    try:
        reply = requests.get(f"{base}/healthz", timeout=2)
    except requests.ConnectionError:
        return None
    return reply.status_code, reply.json()


@pytest.fixture(scope="module")
def ws_book_run(tmp_path_factory):
    """One full-book WebSocket monitor with a webhook, through a diff-orders gap, scraped once
    every promised series has moved; then stopped with SIGTERM."""
    tmp_path = tmp_path_factory.mktemp("metrics")
    server = Server(tmp_path, {"repeat_every": 2, "books": dict.fromkeys(BOOKS, MOVING)})
    receiver = JsonReceiver(SLACK_LIKE_PATH)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    monitor = start_monitor(
        tmp_path / "lake",
        server,
        *("--depth", "book", "--window", "5", "--threshold", "0.055"),
        *("--webhook", receiver.url, "--request-budget", "60", "--duration", "90"),
        *("--metrics-port", str(port)),
    )
    try:

        def streaming():
            try:
                families, _text = scrape(base)
            except requests.ConnectionError:
                return None
            return value(families, "bitso_monitor_records", book=BOOKS[0]) > 0

        poll(streaming, 30, "the first records")
        server.post("faults", {"fault": "ws_sequence_gap", "at": 0, "for": 1.5})

        def everything_moved():
            families, text = scrape(base)
            moved = (
                sum(sample.value for sample in samples(families, "bitso_monitor_source_resyncs"))
                and value(families, "bitso_monitor_lake_files_published") >= len(BOOKS)
                and sum(s.value for s in samples(families, "bitso_monitor_webhook_deliveries"))
                and all(
                    samples(families, "bitso_monitor_alerts", book=book, state=state)
                    for book in BOOKS
                    for state in ("triggered", "resolved")
                )
            )
            return moved and (families, text)

        families, text = poll(
            everything_moved, 45, "a resync, a published file, alerts, a delivery"
        )
        monitor.send_signal(signal.SIGTERM)
        finish(monitor, timeout=30)
    finally:
        if monitor.poll() is None:
            monitor.kill()
        server.stop()
        receiver.close()
    return families, text


def test_metrics_carry_every_promised_series_per_book_source_webhook_and_lake(ws_book_run):
    families, text = ws_book_run
    for book in BOOKS:
        assert 0 < value(families, "bitso_monitor_spread_percent", book=book) < 1
        assert value(families, "bitso_monitor_quote_age_seconds", book=book) >= 0
        assert value(families, "bitso_monitor_records", book=book) >= 1
        assert value(families, "bitso_monitor_source_silent_book_reconnects", book=book) == 0
        assert samples(families, "bitso_monitor_alerts", book=book, threshold="0.055")
        assert samples(families, "bitso_monitor_source_resyncs", source="ws", book=book)
    states = {sample.labels["state"] for sample in samples(families, "bitso_monitor_alerts")}
    assert states == {"triggered", "resolved"}
    assert value(families, "bitso_monitor_source_frames", source="ws") > 0
    assert value(families, "bitso_monitor_source_reconnects", source="ws") == 0
    assert value(families, "bitso_monitor_source_disconnected_seconds", source="ws") == 0
    assert value(families, "bitso_monitor_source_requests", source="ws") >= 3
    assert "bitso_monitor_source_errors" in families
    assert "bitso_monitor_gap_seconds" in families
    assert "bitso_monitor_part_restarts" in families
    assert 1 <= value(families, "bitso_monitor_rest_requests_last_minute") <= 60
    assert value(families, "bitso_monitor_rest_request_budget") == 60
    webhook = {"webhook": "1", "host": "127.0.0.1"}
    assert value(families, "bitso_monitor_webhook_deliveries", **webhook) >= 1
    assert value(families, "bitso_monitor_webhook_failures", **webhook) == 0
    assert value(families, "bitso_monitor_webhook_dropped", **webhook) == 0
    assert value(families, "bitso_monitor_webhook_queue_depth", **webhook) >= 0
    assert value(families, "bitso_monitor_lake_files_published") >= len(BOOKS)
    assert value(families, "bitso_monitor_lake_publish_failures") == 0
    lateness = families["bitso_monitor_sampler_lateness_seconds"]
    assert lateness.type == "histogram"
    # One observation per second sampled, one record per book and second.
    (count,) = [s.value for s in lateness.samples if s.name.endswith("_count")]
    for book in BOOKS:
        assert abs(count - value(families, "bitso_monitor_records", book=book)) <= 1
    # A webhook URL is a credential: no label, help or value carries its path.
    assert "SECRET" not in text and "/services/" not in text


def documented_metrics() -> set[str]:
    """The first column of the metrics table in docs/spread_monitor.md."""
    doc = (ROOT / "docs" / "spread_monitor.md").read_text()
    section = doc.split("## Health and metrics", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(bitso_monitor_\w+)`", section, flags=re.MULTILINE))


def test_the_documented_metrics_are_exactly_the_exported_ones(ws_book_run):
    families, _text = ws_book_run
    assert documented_metrics() == exported_names(families)


def faulty_monitor(tmp_path: Path, server: Server, *args: str):
    port = free_port()
    monitor = start_monitor(
        tmp_path / "lake",
        server,
        *("--duration", "90", "--stale-after", "5", "--metrics-port", str(port)),
        *args,
    )
    return monitor, f"http://127.0.0.1:{port}"


@pytest.mark.parametrize(
    ("source_args", "fault", "length"),
    [
        (("--source", "rest"), "http_503", 6),
        (("--source", "ws"), "ws_drop", 6),
    ],
    ids=["rest", "ws"],
)
def test_health_turns_503_while_the_source_fails_and_200_once_it_recovers(
    tmp_path, server_factory, source_args, fault, length
):
    server = server_factory({"repeat_every": 2, "books": dict.fromkeys(BOOKS, MOVING)})
    monitor, base = faulty_monitor(tmp_path, server, *source_args)
    try:
        poll(lambda: (answer := health(base)) and answer[0] == 200, 20, "a first 200")
        server.post("faults", {"fault": fault, "at": 0, "for": length})
        status, body = poll(
            lambda: (answer := health(base)) and answer[0] == 503 and answer, 15, "a 503"
        )
        assert body["status"] == "unhealthy"
        assert any("no usable quote for" in reason for reason in body["reasons"]), body
        if fault == "ws_drop":
            # The outage going on counts already, before the stream is back.
            families, _text = scrape(base)
            assert value(families, "bitso_monitor_source_disconnected_seconds", source="ws") > 0
        status, body = poll(
            lambda: (answer := health(base)) and answer[0] == 200 and answer, 30, "a 200 again"
        )
        assert body["books"] == dict.fromkeys(BOOKS, "fresh")
        assert monitor.poll() is None
        monitor.send_signal(signal.SIGTERM)
        _out, err = finish(monitor, timeout=30)
    finally:
        if monitor.poll() is None:
            monitor.kill()
    assert "Traceback" not in err
