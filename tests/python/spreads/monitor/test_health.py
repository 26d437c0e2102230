"""`/metrics` and `/healthz` of a running monitor, read from the state the run itself uses."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import requests
from click.testing import CliRunner

from ingest.cli import cli
from ingest.spreads.monitor.clock import SystemClock
from ingest.spreads.monitor.quotes import Quote, QuoteBoard
from ingest.spreads.monitor.runner import MonitorOptions, run_monitor
from ingest.spreads.monitor.webhooks import WebhookNotifier
from tests.python.receivers import free_port


class TickingSource:
    """Publishes a fresh btc_mxn quote five times a second until `frozen` is set."""

    name = "rest"

    def __init__(self, board: QuoteBoard) -> None:
        self.board = board
        self.frozen = threading.Event()
        self.rest_requests = 0
        self.errors = {"transport": 2}

        class Problems:
            counts = {"bad-row": 3}

        self.problems = Problems()

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(0.2):
            if not self.frozen.is_set():
                quote = Quote("btc_mxn", Decimal("99.5"), Decimal("100"), time.time(), "rest")
                self.board.publish(quote)

    def traffic_report(self) -> str:
        return ""


def wait_for(condition, timeout=10.0, what="the condition"):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return value


def test_metrics_and_health_follow_the_run_and_a_stale_book_turns_health_503(tmp_path):
    board = QuoteBoard(["btc_mxn"])
    source = TickingSource(board)
    port = free_port()
    options = MonitorOptions(
        books=("btc_mxn",),
        lake=tmp_path,
        window_seconds=60,
        stale_after=1.5,
        thresholds=(Decimal("0.1"),),
        metrics_port=port,
    )
    stop = threading.Event()
    runner = threading.Thread(
        target=run_monitor,
        args=(options, board, source, SystemClock(), stop, WebhookNotifier([])),
        daemon=True,
    )
    runner.start()
    base = f"http://127.0.0.1:{port}"
    try:

        def health():
            try:
                return requests.get(f"{base}/healthz", timeout=2)
            except requests.ConnectionError:
                return None

        ok = wait_for(
            lambda: (reply := health()) is not None and reply.status_code == 200 and reply
        )
        assert ok.json()["status"] == "ok" and ok.json()["books"] == {"btc_mxn": "fresh"}
        metrics = requests.get(f"{base}/metrics", timeout=2).text
        for line in (
            'bitso_monitor_spread_percent{book="btc_mxn"} 0.5',
            'bitso_monitor_alerts_total{book="btc_mxn",state="triggered",threshold="0.1"} 1.0',
            'bitso_monitor_source_errors_total{kind="transport",source="rest"} 2.0',
            'bitso_monitor_source_errors_total{kind="bad-row",source="rest"} 3.0',
            "# TYPE bitso_monitor_webhook_queue_depth gauge",
            "bitso_monitor_sampler_lateness_seconds_bucket",
        ):
            assert line in metrics, line
        assert 'bitso_monitor_records_total{book="btc_mxn"}' in metrics
        source.frozen.set()
        # (A Response is false when its status is not ok: compare the status, keep the JSON.)
        stale = wait_for(
            lambda: (reply := health()).status_code == 503 and reply.json(), what="a 503"
        )
        assert stale["status"] == "unhealthy"
        assert any(reason.startswith("btc_mxn: stale quote") for reason in stale["reasons"])
        metrics = requests.get(f"{base}/metrics", timeout=2).text
        assert 'bitso_monitor_gap_seconds_total{book="btc_mxn",reason="stale quote"}' in metrics
    finally:
        stop.set()
        runner.join(15)
    assert not runner.is_alive()
    try:
        requests.get(f"{base}/healthz", timeout=1)
    except requests.ConnectionError:
        pass
    else:
        raise AssertionError("the metrics server is still up after the run")


def test_the_metrics_port_is_checked_and_named_in_help():
    runner = CliRunner()
    help_text = runner.invoke(cli, ["spreads", "--help"]).output
    assert "BITSO_METRICS_PORT" in help_text and "BITSO_METRICS_HOST" in help_text
    result = runner.invoke(cli, ["spreads", "--metrics-port", "http"], env={"BITSO_WEBHOOKS": ""})
    assert result.exit_code == 2 and "BITSO_METRICS_PORT must be a port number" in result.output


def test_a_failing_source_turns_health_unhealthy_after_stale_after_but_a_market_gap_does_not(
    clock,
):
    from ingest.spreads.monitor.health import RunState
    from ingest.spreads.monitor.records import SpreadRecord

    state = RunState(("btc_mxn", "usd_mxn"), stale_after=5.0, clock=clock)

    def second(btc_gap: str | None, usd_gap: str | None) -> tuple[bool, dict]:
        clock.now += 1
        records = [
            SpreadRecord(int(clock.now), book, "rest", gap_reason=gap)
            if gap
            else SpreadRecord(int(clock.now), book, "rest", Decimal(99), Decimal(100), Decimal(1))
            for book, gap in (("btc_mxn", btc_gap), ("usd_mxn", usd_gap))
        ]
        state.on_second(records, 0.0)
        return state.health()

    assert second(None, None)[0]
    failing = "HTTP 503 server error"
    for _ in range(5):  # a gap with a known cause, younger than stale_after: still healthy
        healthy, body = second(failing, "empty book (no bid)")
        assert healthy, body
        assert body["books"]["btc_mxn"] == f"gap: {failing}"
    healthy, body = second(failing, "empty book (no bid)")
    assert not healthy and body["status"] == "unhealthy"
    assert body["reasons"] == [f"btc_mxn: no usable quote for 6 s (limit 5 s): {failing}"]
    # The first fresh second makes it healthy again; an empty book never made it blind.
    assert second(None, "empty book (no bid)")[0]
