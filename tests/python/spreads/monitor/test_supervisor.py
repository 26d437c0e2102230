"""Supervision: a part that raises is logged once and restarted with backoff; one that cannot
recover stops the run with every sink closed, and the command exits 1."""

from __future__ import annotations

import json
import logging
import threading
from decimal import Decimal

import pytest
from click.testing import CliRunner

from bitso_sandbox.local_bitso.exchange import Script
from ingest.cli import cli
from ingest.spreads.monitor.lake import LakeWriter
from ingest.spreads.monitor.quotes import Quote, QuoteBoard
from ingest.spreads.monitor.rest_source import RestSource
from ingest.spreads.monitor.runner import MonitorOptions, run_monitor
from ingest.spreads.monitor.sampler import Sampler
from ingest.spreads.monitor.supervisor import MonitorFailed, Supervisor
from ingest.spreads.monitor.webhooks import WebhookNotifier

from .conftest import T0
from .test_runner import IdleSource, rows


def test_a_part_that_raises_is_logged_once_and_restarted_with_growing_pauses(clock, caplog):
    stop = threading.Event()
    supervisor = Supervisor(clock, stop, max_restarts=5, restart_window=300)
    started_at = []

    def body(part_stop: threading.Event) -> None:
        started_at.append(clock.time())
        if len(started_at) <= 2:
            raise RuntimeError(f"boom {len(started_at)}")
        part_stop.set()  # the third start runs until stopped

    caplog.set_level(logging.DEBUG, "ingest.spreads.monitor.supervisor")
    supervisor.run("REST poller", body, threading.Event())
    assert [round(at - started_at[0], 2) for at in started_at] == [0, 1, 3]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in errors] == [
        "REST poller failed: RuntimeError: boom 1; restarting in 1 s "
        "(failure 1 of at most 5 within 300 s)",
        "REST poller failed: RuntimeError: boom 2; restarting in 2 s "
        "(failure 2 of at most 5 within 300 s)",
    ]
    assert all(r.exc_info is None for r in errors)
    tracebacks = [r for r in caplog.records if r.levelno == logging.DEBUG and r.exc_info]
    assert len(tracebacks) == 2
    assert supervisor.restarts == {"REST poller": 2} and not stop.is_set()


def test_a_part_that_ends_by_itself_is_a_failure_too(clock):
    stop = threading.Event()
    supervisor = Supervisor(clock, stop, max_restarts=1, restart_window=60)
    supervisor.run("WebSocket reader", lambda _stop: None, threading.Event())
    assert stop.is_set()
    assert supervisor.failure.startswith("the WebSocket reader failed 2 times within 60 s")


def test_failures_beyond_the_bound_stop_the_run_and_old_ones_are_forgotten(clock):
    stop = threading.Event()
    supervisor = Supervisor(clock, stop, max_restarts=2, restart_window=10, max_backoff=4)
    clock.now = T0
    assert supervisor.failed("sampler", RuntimeError("a")) == 1
    clock.now = T0 + 5
    assert supervisor.failed("sampler", RuntimeError("b")) == 2
    clock.now = T0 + 12  # the first failure is out of the window
    assert supervisor.failed("sampler", RuntimeError("c")) == 2
    assert not stop.is_set()
    clock.now = T0 + 13
    assert supervisor.failed("sampler", RuntimeError("d")) is None
    assert stop.is_set()
    assert supervisor.failure == "the sampler failed 3 times within 10 s (last: RuntimeError: d)"


def driven_board(clock, spread_bid="1496250"):
    """btc_mxn at 0.25 % (above 0.1 %), fresh every second."""
    board = QuoteBoard(["btc_mxn"])

    def advance(now):
        board.publish(Quote("btc_mxn", Decimal(spread_bid), Decimal("1500000"), now, "rest"))

    advance(clock.now)
    clock.on_advance = advance
    return board


def test_a_sampler_failure_restarts_it_and_the_run_still_has_every_second(
    tmp_path, clock, monkeypatch
):
    board = driven_board(clock)
    original = Sampler.sample
    calls = {"n": 0}

    def flaky(self, second, now):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyError("btc_mxn")
        return original(self, second, now)

    monkeypatch.setattr(Sampler, "sample", flaky)
    options = MonitorOptions(books=("btc_mxn",), lake=tmp_path, window_seconds=60, duration=10)
    summary = run_monitor(
        options, board, IdleSource(), clock, threading.Event(), WebhookNotifier([])
    )
    assert summary.restarts == {"sampler": 1}
    written = rows(tmp_path / "spreads/book=btc_mxn/date=2026-11-29/btc_mxn_20261129T100000Z.csv")
    assert len(written) == 10 == summary.seconds
    # The second that failed and the one-second pause are recorded as gaps, never skipped.
    assert [row["is_gap"] for row in written].count("true") == 1


def test_a_failure_closing_one_sink_never_skips_the_others(
    tmp_path, clock, monkeypatch, webhook_receiver
):
    board = driven_board(clock)

    def broken_close(self):
        raise RuntimeError("lake gone")

    monkeypatch.setattr(LakeWriter, "close", broken_close)
    webhook_receiver.delay = 0.5  # still queued when the run ends
    options = MonitorOptions(books=("btc_mxn",), lake=tmp_path, window_seconds=60, duration=3)
    with pytest.raises(MonitorFailed, match="closing the lake writer failed: RuntimeError"):
        run_monitor(
            options,
            board,
            IdleSource(),
            clock,
            threading.Event(),
            WebhookNotifier([webhook_receiver.url]),
        )
    alert_log = tmp_path / "alerts/date=2026-11-29/alerts.jsonl"
    assert [json.loads(line)["threshold"] for line in alert_log.read_text().splitlines()] == ["0.1"]
    assert [body["threshold"] for body in webhook_receiver.bodies] == ["0.1"]


def test_the_webhook_and_alerts_file_boundaries_lose_one_alert_not_the_worker(
    webhook_receiver, monkeypatch
):
    failures = []
    notifier = WebhookNotifier([webhook_receiver.url])
    notifier.on_failure = lambda part, error: failures.append((part, repr(error)))
    original = WebhookNotifier._deliver
    calls = {"n": 0}

    def flaky(self, *args):
        calls["n"] += 1
        if calls["n"] == 1:
            raise TypeError("not JSON serializable")
        return original(self, *args)

    monkeypatch.setattr(WebhookNotifier, "_deliver", flaky)
    notifier.notify({"text": "first"})
    notifier.notify({"text": "second"})
    notifier.close()
    assert [body["text"] for body in webhook_receiver.bodies] == ["second"]
    assert failures == [("webhook notifier", "TypeError('not JSON serializable')")]
    assert notifier.failed == 1 and notifier.delivered == 1


def run_cli(local_bitso, tmp_path, *args, source=("--source", "rest")):
    server = local_bitso(Script.from_json({"books": {"btc_mxn": [{"at": 0, "spread": "0.7"}]}}))
    env = {
        "BITSO_API_URL": server.url,
        "BITSO_WS_URL": server.ws_url,
        "BITSO_LAKE": str(tmp_path / "lake"),
        "BITSO_WEBHOOKS": "",
    }
    common = ["spreads", *source, "--books", "btc_mxn", "--request-budget", "60"]
    return CliRunner().invoke(cli, [*common, "--window", "60", *args], env=env)


def failing_polls(monkeypatch, fails):
    """RestSource.poll raises RuntimeError on the calls for which `fails(n)` is true."""
    original = RestSource.poll
    calls = {"n": 0}

    def poll(self):
        calls["n"] += 1
        if fails(calls["n"]):
            raise RuntimeError(f"injected failure {calls['n']}")
        return original(self)

    monkeypatch.setattr(RestSource, "poll", poll)


def test_cli_a_source_that_raises_is_restarted_and_quotes_come_back(
    local_bitso, tmp_path, monkeypatch
):
    failing_polls(monkeypatch, lambda n: n == 2)
    result = run_cli(local_bitso, tmp_path, "--duration", "7")
    assert result.exit_code == 0, result.output
    assert "REST poller failed: RuntimeError: injected failure 2; restarting in 1 s" in (
        result.output
    )
    assert "Traceback" not in result.output
    lake_rows = [
        row
        for path in sorted((tmp_path / "lake").glob("spreads/book=*/date=*/*.csv"))
        for row in rows(path)
    ]
    assert len(lake_rows) == 7
    assert lake_rows[-1]["is_gap"] == "false"  # fresh quotes again after the restart


def test_cli_an_unrecoverable_part_exits_1_after_every_sink_was_flushed(
    local_bitso, tmp_path, monkeypatch, webhook_receiver
):
    failing_polls(monkeypatch, lambda n: n > 2)
    webhook_receiver.delay = 1.0  # the alerts are still queued when the part gives up
    result = run_cli(
        local_bitso,
        tmp_path,
        "--threshold",
        "0.5",
        "--threshold",
        "0.1",
        "--webhook",
        webhook_receiver.url,
        "--max-restarts",
        "2",
        "--restart-window",
        "60",
    )
    assert result.exit_code == 1, result.output
    assert "error: the REST poller failed 3 times within 60 s" in result.output
    assert "every sink closed" in result.output
    assert "Traceback" not in result.output
    assert sorted(body["threshold"] for body in webhook_receiver.bodies) == ["0.1", "0.5"]
    lake = tmp_path / "lake"
    (alert_log,) = (lake / "alerts").glob("date=*/alerts.jsonl")
    assert len(alert_log.read_text().splitlines()) == 2
    assert list(lake.glob("spreads/book=btc_mxn/date=*/*.csv"))  # the open window published
    assert not list(lake.glob("spreads/_partial/*.partial"))


def test_cli_a_failed_depth_sync_restarts_the_websocket_reader(local_bitso, tmp_path, monkeypatch):
    from ingest.spreads.monitor.depth import OrderBook

    original = OrderBook.from_snapshot.__func__
    calls = {"n": 0}

    def from_snapshot(cls, payload):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("injected depth failure")
        return original(cls, payload)

    monkeypatch.setattr(OrderBook, "from_snapshot", classmethod(from_snapshot))
    result = run_cli(
        local_bitso, tmp_path, "--duration", "6", source=("--source", "ws", "--depth", "book")
    )
    assert result.exit_code == 0, result.output
    assert (
        "depth sync of btc_mxn failed: RuntimeError: injected depth failure; restarting in 1 s"
        in result.output
    )
    assert "Traceback" not in result.output
    lake_rows = [
        row
        for path in sorted((tmp_path / "lake").glob("spreads/book=*/date=*/*.csv"))
        for row in rows(path)
    ]
    assert lake_rows[-1]["is_gap"] == "false" and lake_rows[-1]["sequence"]
