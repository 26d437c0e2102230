"""Stale-feed alerts: `stale` after --stale-after seconds without a usable quote, `fresh` when
quotes return, through the same sinks as spread alerts and readable by the dbt models."""

import dataclasses
import json
import threading
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from ingest.cli import cli
from ingest.settings import Settings, SettingsError
from ingest.spreads.monitor.alert_state import OpenStale
from ingest.spreads.monitor.feed_alerts import FeedWatch
from ingest.spreads.monitor.quotes import Quote, QuoteBoard
from ingest.spreads.monitor.records import SpreadRecord
from ingest.spreads.monitor.runner import MonitorOptions, run_monitor
from ingest.spreads.monitor.webhooks import WebhookNotifier

from .conftest import T0
from .test_runner import IdleSource


def usable(second, book="btc_mxn", spread="0.05"):
    return SpreadRecord(
        T0 + second, book, "rest", bid=Decimal("99.95"), ask=Decimal("100"), spread=Decimal(spread)
    )


def gap(second, book="btc_mxn", reason="ticker request failed: HTTP 503 server error"):
    return SpreadRecord(T0 + second, book, "rest", gap_reason=reason)


def alerts_of(watch, records):
    return [
        (event.book, event.state, event.orderbook_timestamp, event.quiet_seconds)
        for record in records
        for event in watch.observe(record)
    ]


def stamp(second):
    return f"2026-11-29T10:{second // 60:02d}:{second % 60:02d}+00:00"


def test_a_book_without_a_usable_quote_for_stale_after_seconds_is_stale_once_then_fresh():
    watch = FeedWatch(stale_after=30)
    records = [usable(0)] + [gap(s) for s in range(1, 45)] + [usable(45), usable(46)]
    # Seconds 1..30 are the first 30 without a usable quote.
    assert alerts_of(watch, records) == [
        ("btc_mxn", "stale", stamp(30), 30),
        ("btc_mxn", "fresh", stamp(45), 44),
    ]
    assert watch.open_stale() == ()


def test_a_shorter_outage_alerts_nothing_and_books_are_counted_apart():
    watch = FeedWatch(stale_after=5)
    records = []
    for second in range(12):
        records.append(gap(second, "usd_mxn"))
        records.append(usable(second) if second in (0, 4, 8) else gap(second))
    assert alerts_of(watch, records) == [("usd_mxn", "stale", stamp(4), 5)]


def test_a_book_that_never_had_a_quote_is_stale_from_the_first_record():
    watch = FeedWatch(stale_after=3)
    assert alerts_of(watch, [gap(s) for s in range(5)]) == [("btc_mxn", "stale", stamp(2), 3)]


def test_a_book_an_earlier_run_left_stale_is_not_alerted_again_and_gets_its_fresh():
    watch = FeedWatch(stale_after=3, open_stale=[OpenStale("btc_mxn", T0 - 100)])
    records = [gap(s) for s in range(10)] + [usable(10)]
    assert alerts_of(watch, records) == [("btc_mxn", "fresh", stamp(10), 110)]


def test_stale_and_fresh_alerts_read_as_alert_log_rows():
    watch = FeedWatch(stale_after=2)
    [stale] = [e for r in [gap(0), gap(1)] for e in watch.observe(r)]
    [fresh] = watch.observe(usable(2, spread="0.05"))
    assert stale.as_json() == {
        "book": "btc_mxn",
        "threshold": "",
        "state": "stale",
        "spread": "",
        "bid": "",
        "ask": "",
        "orderbook_timestamp": stamp(1),
        "text": "btc_mxn has had no usable quote for 2 s (last: ticker request failed: HTTP 503 "
        "server error) at 2026-11-29T10:00:01+00:00",
        "alert_key": "btc_mxn/stale/2026-11-29T10:00:00+00:00",
        "silenced": False,
    }
    assert fresh.as_json()["threshold"] == "" and fresh.as_json()["spread"] == "0.05"
    # The stale alert and its fresh one are one episode to a receiver.
    assert fresh.alert_key == stale.alert_key
    assert fresh.text == (
        "btc_mxn has usable quotes again after 2 s without one, spread 0.05 % "
        "(bid 99.95, ask 100) at 2026-11-29T10:00:02+00:00"
    )


def test_stale_after_must_be_a_positive_whole_number_of_seconds():
    with pytest.raises(ValueError):
        FeedWatch(stale_after=0)
    assert Settings.from_env({"BITSO_STALE_AFTER": "45"}).stale_after == 45
    assert Settings.from_env({}).stale_after == 30
    for value in ("0", "ten", "-3", "1.5"):
        with pytest.raises(SettingsError, match="BITSO_STALE_AFTER"):
            Settings.from_env({"BITSO_STALE_AFTER": value})
    runner = CliRunner()
    help_text = runner.invoke(cli, ["spreads", "--help"]).output
    assert "--stale-after" in help_text and "[env: BITSO_STALE_AFTER; default: 30]" in help_text
    result = runner.invoke(cli, ["spreads", "--stale-after", "0"], env={"BITSO_WEBHOOKS": ""})
    assert result.exit_code == 2 and "--stale-after" in result.output


def feed_that_fails_between(board, clock, first_failed, first_back, bid="99.95"):
    """btc_mxn quotes every second, except that the source reports a failure from second
    `first_failed` until `first_back`."""

    def advance(now):
        second = int(now) - T0
        if first_failed <= second < first_back:
            board.report_problem("btc_mxn", "ticker request failed: HTTP 503 server error")
        else:
            board.publish(Quote("btc_mxn", Decimal(bid), Decimal("100"), now, "rest"))

    advance(clock.now)
    clock.on_advance = advance


@pytest.mark.parametrize("alert_timing", ["second", "message"])
def test_a_run_sends_stale_and_fresh_to_the_log_the_alert_file_and_the_webhooks(
    tmp_path, clock, caplog, webhook_receiver, alert_timing
):
    board = QuoteBoard(["btc_mxn"])
    feed_that_fails_between(board, clock, 10, 50)
    options = MonitorOptions(
        books=("btc_mxn",),
        lake=tmp_path,
        window_seconds=60,
        duration=60,
        stale_after=30,
        alert_timing=alert_timing,
        thresholds=(Decimal("1.0"),),
    )
    caplog.set_level("INFO")
    notifier = WebhookNotifier([webhook_receiver.url])
    summary = run_monitor(options, board, IdleSource(), clock, threading.Event(), notifier)
    filed = [
        json.loads(line)
        for line in (tmp_path / "alerts/date=2026-11-29/alerts.jsonl").read_text().splitlines()
    ]
    assert [(a["state"], a["threshold"], a["orderbook_timestamp"]) for a in filed] == [
        ("stale", "", stamp(39)),
        ("fresh", "", stamp(50)),
    ]
    assert summary.alerts == 2
    assert webhook_receiver.wait_for(2) == filed
    logged = [(r.levelname, r.getMessage()) for r in caplog.records if "ALERT" in r.getMessage()]
    assert logged == [
        ("WARNING", f"ALERT stale: {filed[0]['text']}"),
        ("INFO", f"ALERT fresh: {filed[1]['text']}"),
    ]


def test_the_alert_models_read_stale_and_fresh_beside_the_spread_episodes(
    tmp_path, clock, engine, warehouse_env, settings, run_dbt
):
    from ingest.io.warehouse import connect

    lake = tmp_path / "lake"
    board = QuoteBoard(["btc_mxn"])
    # A 0.6 % spread (one episode above 0.5 and one above 0.1) that outlasts a 40 s outage.
    feed_that_fails_between(board, clock, 10, 50, bid="99.4")
    options = MonitorOptions(
        books=("btc_mxn",), lake=lake, window_seconds=60, duration=58, stale_after=30
    )
    run_monitor(options, board, IdleSource(), clock, threading.Event(), WebhookNotifier([]))
    # A restart, and the spread is back at 0.05 %: the episodes the first run left open end.
    clock.on_advance = lambda now: board.publish(
        Quote("btc_mxn", Decimal("99.95"), Decimal("100"), now, "rest")
    )
    run_monitor(
        dataclasses.replace(options, duration=3),
        board,
        IdleSource(),
        clock,
        threading.Event(),
        WebhookNotifier([]),
    )
    if engine == "duckdb":
        Path(warehouse_env["BITSO_DUCKDB_PATH"]).parent.mkdir(parents=True)
    else:
        loaded = CliRunner().invoke(cli, ["lake-load"])
        assert loaded.exit_code == 0 and "0 skipped" in loaded.output, loaded.output
    output = run_dbt(
        "build", "--select", "stg_bitso_api__spread_alerts+", "+rpt_spread_alert_episodes"
    ).stdout
    assert "ERROR=0" in output and "WARN=0" in output
    assert "PASS agrees_with_alert_log_rpt_spread_alert_episodes" in output
    with connect(settings) as warehouse:
        alerts = warehouse.execute(
            "select alert_state, threshold_pct, spread_pct"
            " from staging.stg_bitso_api__spread_alerts"
            " order by orderbook_timestamp, threshold_pct desc"
        )
        episodes = warehouse.execute(
            "select threshold_pct, is_resolved from spreads.rpt_spread_alert_episodes"
            " order by threshold_pct desc"
        )
    assert [(state, threshold) for state, threshold, _ in alerts] == [
        ("triggered", Decimal("0.5")),
        ("triggered", Decimal("0.1")),
        ("stale", None),
        ("fresh", None),
        ("resolved", Decimal("0.5")),
        ("resolved", Decimal("0.1")),
    ]
    assert [spread for state, _, spread in alerts if state == "stale"] == [None]
    assert episodes == [(Decimal("0.5"), True), (Decimal("0.1"), True)]
