"""Alert episodes across restarts: whatever the number of restarts, clean or `kill -9`, each
episode gives one `triggered` and one `resolved`, in the alert log and at the webhooks."""

import json
import signal
import threading
from decimal import Decimal

import pytest

from ingest.spreads.monitor import alert_state
from ingest.spreads.monitor.alert_state import (
    AlertStateError,
    OpenAlerts,
    OpenEpisode,
    OpenStale,
)
from ingest.spreads.monitor.quotes import Quote, QuoteBoard
from ingest.spreads.monitor.runner import MonitorOptions, run_monitor
from ingest.spreads.monitor.webhooks import WebhookNotifier

from .conftest import T0
from .test_end_to_end import Server, finish, start_monitor, wait_until
from .test_runner import IdleSource

THRESHOLDS = (Decimal("1.0"), Decimal("0.5"), Decimal("0.1"))


def filed_alerts(lake):
    return [
        json.loads(line)
        for path in sorted(lake.glob("alerts/date=*/alerts.jsonl"))
        for line in path.read_text().splitlines()
    ]


def states(alerts):
    return [(alert["state"], alert["threshold"]) for alert in alerts]


def run_with_spreads(lake, clock, spreads, seconds, books=("btc_mxn",), thresholds=THRESHOLDS):
    """One run of `seconds` seconds; btc_mxn's spread is `spreads(second)` percent (ask 100)."""
    board = QuoteBoard(list(books))

    def advance(now):
        spread = Decimal(spreads(int(now) - T0))
        for book in books:
            board.publish(Quote(book, 100 - spread, Decimal("100"), now, "rest"))

    advance(clock.now)
    clock.on_advance = advance
    options = MonitorOptions(
        books=books, lake=lake, window_seconds=60, duration=seconds, thresholds=thresholds
    )
    run_monitor(options, board, IdleSource(), clock, threading.Event(), WebhookNotifier([]))


def test_an_episode_still_open_at_a_restart_is_not_triggered_again_and_resolves_once(
    tmp_path, clock
):
    run_with_spreads(tmp_path, clock, lambda s: "0.7" if s >= 3 else "0.05", 6)
    opened = alert_state.status(tmp_path / "spreads" / "_partial")
    assert opened == OpenAlerts(
        episodes=(
            OpenEpisode("btc_mxn", Decimal("0.5"), "2026-11-29T10:00:03+00:00", Decimal("0.7")),
            OpenEpisode("btc_mxn", Decimal("0.1"), "2026-11-29T10:00:03+00:00", Decimal("0.7")),
        )
    )
    # Two more restarts while above, the peak rising in the second, then back below.
    run_with_spreads(tmp_path, clock, lambda s: "0.9", 4)
    peaks = {e.peak for e in alert_state.status(tmp_path / "spreads" / "_partial").episodes}
    assert peaks == {Decimal("0.9")}
    run_with_spreads(tmp_path, clock, lambda s: "0.8" if s < 14 else "0.05", 6)
    assert states(filed_alerts(tmp_path)) == [
        ("triggered", "0.5"),
        ("triggered", "0.1"),
        ("resolved", "0.5"),
        ("resolved", "0.1"),
    ]
    assert filed_alerts(tmp_path)[2]["orderbook_timestamp"] == "2026-11-29T10:00:14+00:00"
    assert alert_state.status(tmp_path / "spreads" / "_partial") == OpenAlerts()


def test_an_episode_that_ended_while_the_monitor_was_down_is_resolved_at_its_first_record(
    tmp_path, clock
):
    run_with_spreads(tmp_path, clock, lambda s: "1.5", 3)
    clock.now += 120  # down two minutes; the spread came back to 0.3 % meanwhile
    run_with_spreads(tmp_path, clock, lambda s: "0.3", 3)
    alerts = filed_alerts(tmp_path)
    assert states(alerts) == [
        ("triggered", "1.0"),
        ("triggered", "0.5"),
        ("triggered", "0.1"),
        ("resolved", "1.0"),
        ("resolved", "0.5"),
    ]
    first_second_after_restart = "2026-11-29T10:02:04+00:00"
    assert {a["orderbook_timestamp"] for a in alerts[3:]} == {first_second_after_restart}
    [still_open] = alert_state.status(tmp_path / "spreads" / "_partial").episodes
    assert (still_open.threshold, still_open.started) == (
        Decimal("0.1"),
        "2026-11-29T10:00:01+00:00",
    )


def test_episodes_of_books_or_thresholds_a_run_does_not_watch_are_kept_for_a_later_run(
    tmp_path, clock
):
    run_with_spreads(tmp_path, clock, lambda s: "0.7", 2, books=("btc_mxn", "usd_mxn"))
    run_with_spreads(tmp_path, clock, lambda s: "0.05", 2, thresholds=(Decimal("0.5"),))
    kept = alert_state.status(tmp_path / "spreads" / "_partial").episodes
    assert sorted((e.book, str(e.threshold)) for e in kept) == [
        ("btc_mxn", "0.1"),
        ("usd_mxn", "0.1"),
        ("usd_mxn", "0.5"),
    ]
    run_with_spreads(tmp_path, clock, lambda s: "0.05", 2, books=("btc_mxn", "usd_mxn"))
    assert states(filed_alerts(tmp_path)).count(("resolved", "0.1")) == 2
    assert alert_state.status(tmp_path / "spreads" / "_partial") == OpenAlerts()


def test_the_state_file_is_replaced_whole_and_a_hostile_one_is_refused_loudly(
    tmp_path, clock, caplog
):
    journal = tmp_path / "spreads" / "_partial"
    journal.mkdir(parents=True)
    state = OpenAlerts(
        (OpenEpisode("btc_mxn", Decimal("0.5"), "2026-11-29T10:00:03+00:00", Decimal("0.7")),),
        (OpenStale("usd_mxn", T0 - 40),),
    )
    alert_state.save(journal, state)
    assert alert_state.status(journal) == state
    assert [path.name for path in journal.iterdir()] == ["open_alerts.json"]
    for hostile in (
        "{not json",
        "[]",
        '{"episodes": {}, "stale": []}',
        '{"episodes": [{"book": "btc_mxn", "threshold": "NaN", "started": "x", "peak": "1"}],'
        ' "stale": []}',
        '{"episodes": [], "stale": [{"book": "usd_mxn", "since": "yesterday"}]}',
        '{"episodes": [], "stale": [{"book": "usd_mxn", "since": true}]}',
        b"\xff\xfe".decode("latin-1"),
    ):
        (journal / "open_alerts.json").write_text(hostile, encoding="latin-1")
        with pytest.raises(AlertStateError, match="open_alerts.json"):
            alert_state.status(journal)
    # A run on an unreadable file says so and starts with nothing open: an episode still going
    # on is triggered again (loud) rather than never.
    caplog.set_level("INFO")
    run_with_spreads(tmp_path, clock, lambda s: "0.7", 2)
    assert any(
        r.levelname == "ERROR" and "alert state ignored" in r.getMessage() for r in caplog.records
    )
    assert states(filed_alerts(tmp_path)) == [("triggered", "0.5"), ("triggered", "0.1")]


def test_kill_9_mid_episode_and_restarts_give_one_triggered_and_one_resolved_per_episode(
    tmp_path, webhook_receiver
):
    server = Server(tmp_path)
    try:
        kill_9_and_restart_through_three_episodes(tmp_path / "lake", server, webhook_receiver)
    finally:
        server.stop()


def kill_9_and_restart_through_three_episodes(lake, server, webhook_receiver):
    journal = lake / "spreads" / "_partial"
    args = ("--source", "rest", "--window", "5", "--webhook", webhook_receiver.url)

    def filed_states():
        return states(filed_alerts(lake))

    def kill_9(monitor):
        monitor.send_signal(signal.SIGKILL)
        monitor.wait(10)

    def open_thresholds():
        return {str(episode.threshold) for episode in alert_state.status(journal).episodes}

    first = start_monitor(lake, server, *args)
    server.post("books", {"book": "btc_mxn", "spread": "0.7"})
    wait_until(lambda: open_thresholds() == {"0.5", "0.1"}, 20, "the 0.5 and 0.1 episodes")
    assert filed_states() == [("triggered", "0.5"), ("triggered", "0.1")]
    webhook_receiver.wait_for(2)
    kill_9(first)

    # Restarted while still above: nothing again; a new episode above 1.0, then killed again.
    second = start_monitor(lake, server, *args)
    before = len(recorded_seconds(lake))
    wait_until(lambda: len(recorded_seconds(lake)) >= before + 3, 20, "three seconds recorded")
    assert len(filed_states()) == 2
    server.post("books", {"book": "btc_mxn", "spread": "1.5"})
    wait_until(lambda: open_thresholds() == {"1.0", "0.5", "0.1"}, 20, "the 1.0 episode")
    webhook_receiver.wait_for(3)
    kill_9(second)

    # While the monitor is down, the spread falls to 0.3 %: the 1.0 and 0.5 episodes end then.
    server.post("books", {"book": "btc_mxn", "spread": "0.3"})
    third = start_monitor(lake, server, *args)
    wait_until(lambda: len(filed_states()) == 5, 20, "the resolutions at start")
    server.post("books", {"book": "btc_mxn", "spread": "0.05"})
    wait_until(lambda: len(filed_states()) == 6, 20, "the 0.1 resolution")
    webhook_receiver.wait_for(6)
    third.send_signal(signal.SIGTERM)
    _, err = finish(third, timeout=30)

    expected = [
        ("triggered", "0.5"),
        ("triggered", "0.1"),
        ("triggered", "1.0"),
        ("resolved", "1.0"),
        ("resolved", "0.5"),
        ("resolved", "0.1"),
    ]
    filed = filed_alerts(lake)
    assert states(filed) == expected
    assert {alert["book"] for alert in filed} == {"btc_mxn"}
    received = webhook_receiver.wait_for(7, timeout=2)
    assert sorted(map(json.dumps, received)) == sorted(map(json.dumps, filed))
    assert alert_state.status(journal) == OpenAlerts()
    assert "Traceback" not in err


def recorded_seconds(lake):
    """btc_mxn's seconds in the journal and in the published window files."""
    lines = [
        line
        for pattern in ("spreads/_partial/*.partial", "spreads/book=btc_mxn/date=*/*.csv")
        for path in lake.glob(pattern)
        for line in path.read_text().splitlines()
    ]
    return {line.split(",")[0] for line in lines if ",btc_mxn," in line}
