import json
import random
from decimal import Decimal

import pytest

from ingest.spreads.monitor.alert_rules import EpisodeMachine, parse_alert_rules
from ingest.spreads.monitor.alerts import DEFAULT_THRESHOLDS, AlertFile, AlertTracker
from ingest.spreads.monitor.quotes import Quote
from ingest.spreads.monitor.records import SpreadRecord

from .conftest import T0


def observation(second, spread, bid="100", ask="101"):
    return SpreadRecord(
        T0 + second, "btc_mxn", "rest", bid=Decimal(bid), ask=Decimal(ask), spread=Decimal(spread)
    )


def gap(second):
    return SpreadRecord(T0 + second, "btc_mxn", "rest", gap_reason="ticker request failed")


def states(tracker, records):
    return [
        (record.second - T0, event.state, str(event.threshold))
        for record in records
        for event in tracker.observe(record)
    ]


def test_one_alert_per_episode_not_per_second():
    tracker = AlertTracker(DEFAULT_THRESHOLDS)
    spreads = ["0.05", "0.3", "0.3", "0.7", "1.2", "1.5", "0.3", "0.3", "0.05", "0.05"]
    assert states(tracker, [observation(i, s) for i, s in enumerate(spreads)]) == [
        (1, "triggered", "0.1"),
        (3, "triggered", "0.5"),
        (4, "triggered", "1.0"),
        (6, "resolved", "1.0"),
        (6, "resolved", "0.5"),
        (8, "resolved", "0.1"),
    ]


def test_a_spread_equal_to_the_threshold_is_not_above_it():
    tracker = AlertTracker([Decimal("0.5")])
    assert states(tracker, [observation(0, "0.5"), observation(1, "0.5000000001")]) == [
        (1, "triggered", "0.5")
    ]
    assert states(tracker, [observation(2, "0.5")]) == [(2, "resolved", "0.5")]


def test_gaps_neither_open_nor_close_an_episode():
    tracker = AlertTracker([Decimal("0.1")])
    records = [observation(0, "0.2"), gap(1), gap(2), observation(3, "0.2"), gap(4)]
    assert states(tracker, records) == [(0, "triggered", "0.1")]


def test_books_and_thresholds_have_their_own_episodes():
    tracker = AlertTracker([Decimal("0.1"), Decimal("0.1"), Decimal("2")])
    other = SpreadRecord(T0, "usd_mxn", "rest", Decimal("1"), Decimal("2"), Decimal("50"))
    events = tracker.observe(observation(0, "0.2")) + tracker.observe(other)
    assert [(e.book, str(e.threshold)) for e in events] == [
        ("btc_mxn", "0.1"),
        ("usd_mxn", "2"),
        ("usd_mxn", "0.1"),
    ]


def test_threshold_must_be_positive():
    with pytest.raises(ValueError):
        AlertTracker([Decimal("0")])


def test_alert_body_has_the_fields_and_a_readable_text(tmp_path):
    [event] = AlertTracker([Decimal("1.0")]).observe(
        observation(26, "1.2345", bid="1481500", ask="1500000")
    )
    assert event.as_json() == {
        "book": "btc_mxn",
        "threshold": "1.0",
        "state": "triggered",
        "spread": "1.2345",
        "bid": "1481500",
        "ask": "1500000",
        "orderbook_timestamp": "2026-11-29T10:00:26+00:00",
        "text": "btc_mxn spread 1.2345 % is above 1.0 % (bid 1481500, ask 1500000) "
        "at 2026-11-29T10:00:26+00:00",
        "alert_key": "btc_mxn/1.0/2026-11-29T10:00:26+00:00",
        "silenced": False,
    }
    sink = AlertFile(tmp_path)
    sink.write(event)
    assert sink.path_for(event) == tmp_path / "alerts/date=2026-11-29/alerts.jsonl"


def test_the_alert_log_on_object_storage_survives_a_restart_without_the_journal(s3_lake, tmp_path):
    import s3fs

    first, second = AlertTracker([Decimal("1.0")]).observe(
        observation(26, "1.2345", bid="1481500", ask="1500000")
    ) + AlertTracker([Decimal("1.0")]).observe(observation(27, "1.5", bid="1477500", ask="1500000"))
    AlertFile(s3_lake, tmp_path / "journal-1").write(first)
    # A new host or a wiped journal folder: the day's log is taken from the lake first.
    restarted = AlertFile(s3_lake, tmp_path / "journal-2")
    restarted.write(second)
    key = "alerts/date=2026-11-29/alerts.jsonl"
    content = s3fs.S3FileSystem(skip_instance_cache=True).cat_file(
        f"{s3_lake.removeprefix('s3://')}/{key}"
    )
    assert [json.loads(line)["spread"] for line in content.decode().splitlines()] == [
        "1.2345",
        "1.5",
    ]
    assert restarted.path_for(second).read_bytes() == content


def rules(*entries):
    return parse_alert_rules({"rules": list(entries)}, {})


def test_rules_pending_and_clearing_periods_make_one_episode_keyed_by_its_start():
    tracker = AlertTracker(rules({"threshold": 0.1, "for": 3, "clear_for": 5, "clear_below": 0.08}))
    spreads = ["0.15", "0.05", "0.15", "0.15", "0.15", "0.15", "0.09", "0.05", "0.05"]
    spreads += ["0.05"] * 5
    events = [
        event
        for second, spread in enumerate(spreads)
        for event in tracker.observe(observation(second, spread))
    ]
    assert [(event.state, event.orderbook_timestamp[-14:-6]) for event in events] == [
        ("triggered", "10:00:05"),
        ("resolved", "10:00:12"),
    ]
    # Both messages of the episode carry its start (second 2, when the pending period began).
    assert {event.alert_key for event in events} == {"btc_mxn/0.1/2026-11-29T10:00:02+00:00"}


def test_a_restored_episode_continues_with_its_start_and_peak():
    first = AlertTracker(rules({"threshold": 0.5, "clear_for": 2}))
    first.observe(observation(0, "0.7"))
    first.observe(observation(1, "0.9"))
    [episode] = first.open_episodes()
    assert (episode.started, episode.peak) == ("2026-11-29T10:00:00+00:00", Decimal("0.9"))
    restarted = AlertTracker(rules({"threshold": 0.5, "clear_for": 2}), [episode])
    assert restarted.observe(observation(5, "0.8")) == []
    assert restarted.observe(observation(6, "0.1")) == []
    [resolved] = restarted.observe(observation(8, "0.1"))
    assert resolved.state == "resolved"
    assert resolved.alert_key == "btc_mxn/0.5/2026-11-29T10:00:00+00:00"
    assert restarted.open_episodes() == ()


def test_inhibit_lower_holds_back_the_lower_thresholds_messages_but_keeps_their_episodes():
    tracker = AlertTracker(rules({"threshold": 1.0, "inhibit_lower": True}, {"threshold": 0.1}))
    jump = tracker.observe(observation(0, "1.3"))
    assert [(str(e.threshold), e.state, e.silenced) for e in jump] == [
        ("1.0", "triggered", False),
        ("0.1", "triggered", True),
    ]
    assert [(str(e.threshold), e.silenced) for e in tracker.observe(observation(1, "0.5"))] == [
        ("1.0", False)
    ]
    # The 0.1 episode's trigger was held back, so its resolution is too.
    [resolved] = tracker.observe(observation(2, "0.05"))
    assert (str(resolved.threshold), resolved.state, resolved.silenced) == ("0.1", "resolved", True)
    assert resolved.as_json()["silenced"] is True


def test_reminders_repeat_while_open():
    tracker = AlertTracker(rules({"threshold": 0.5, "repeat_every": 10}))
    seen = states(tracker, [observation(second, "0.6") for second in range(0, 25)])
    assert seen == [(0, "triggered", "0.5"), (10, "reminder", "0.5"), (20, "reminder", "0.5")]


def quote(at, bid, ask="100", book="btc_mxn"):
    return Quote(book, Decimal(bid), Decimal(ask), T0 + at, "ws")


def quote_states(tracker, quotes):
    return [
        (round(q.observed_at - T0, 3), event.state, str(event.threshold))
        for q in quotes
        for event in tracker.observe_quote(q)
    ]


def test_an_unchanged_top_still_triggers_resolves_and_reminds_when_its_periods_end(monkeypatch):
    tracker = AlertTracker(
        rules({"threshold": 0.5, "for": 2, "clear_for": 3, "repeat_every": 4, "clear_below": 0.2})
    )
    looked = []
    original = EpisodeMachine.observe
    monkeypatch.setattr(
        EpisodeMachine, "observe", lambda self, *a: looked.append(a[0]) or original(self, *a)
    )
    # A message every 10 ms: the spread (0.6 %, then 0.1 %) moves only twice.
    above = [quote(i / 100, "99.4") for i in range(1000)]
    below = [quote(10 + i / 100, "99.9") for i in range(500)]
    assert quote_states(tracker, above + below) == [
        (2.0, "triggered", "0.5"),
        (6.0, "reminder", "0.5"),
        (13.0, "resolved", "0.5"),
    ]
    # The machine looked at the first message of each top and around each period's end, not at
    # the 1,500 messages.
    assert len(looked) < 20


def test_skipping_unchanged_tops_gives_exactly_the_machines_own_events():
    """Against each rule's EpisodeMachine fed every message: random tops that mostly repeat,
    random gaps between messages, pending, clearing and reminder periods of their own."""
    generator = random.Random(20261202)
    entries = [
        {"threshold": 1.0, "for": 0.5, "clear_for": 0.3, "inhibit_lower": True},
        {"threshold": 0.5, "for": 1.25, "clear_for": 0.7, "clear_below": 0.3, "repeat_every": 2},
        {"threshold": 0.1, "repeat_every": 0.75},
    ]
    bids = ["99.95", "99.7", "99.6", "99.2", "98.5"]
    for _ in range(20):
        tracker = AlertTracker(rules(*entries))
        machines = [EpisodeMachine(rule) for rule in tracker.rules.rules_for("btc_mxn")]
        bid, at, quotes = bids[0], 0.0, []
        for _ in range(2000):
            if generator.random() < 0.05:
                bid = generator.choice(bids)
            at += generator.choice([0.001, 0.01, 0.05, 0.25])
            quotes.append(quote(at, bid))
        expected = [
            (round(q.observed_at - T0, 3), transition.kind, str(machine.rule.threshold))
            for q in quotes
            for machine in machines
            if (transition := machine.observe(q.observed_at, q.spread)) is not None
        ]
        assert len(expected) > 20
        assert quote_states(tracker, quotes) == expected
