import threading
from decimal import Decimal

from ingest.spreads.monitor.quotes import BookStatus, Quote, QuoteBoard
from ingest.spreads.monitor.sampler import MISSED_SECOND, Sampler, record_for

from .conftest import T0


def quote(book="btc_mxn", observed_at=T0 + 0.5, bid="1496250", ask="1500000"):
    return Quote(book, Decimal(bid), Decimal(ask), observed_at, "rest")


def test_fresh_quote_becomes_a_record_with_its_age():
    record = record_for("btc_mxn", T0 + 1, BookStatus(quote()), T0 + 1.02, 5.0, "rest")
    assert record.as_row() == [
        "2026-11-29T10:00:01+00:00",
        "btc_mxn",
        "1496250",
        "1500000",
        "0.25",
        "2026-11-29T10:00:00.500+00:00",
        "520",
        "",
        "rest",
        "false",
        "",
    ]


def test_stale_quote_is_a_gap_that_still_says_how_old_it_was():
    record = record_for("btc_mxn", T0 + 9, BookStatus(quote()), T0 + 9.0, 5.0, "rest")
    assert record.is_gap and record.bid is None and record.spread is None
    assert record.quote_age_ms == 8500
    assert record.gap_reason == "stale quote (8.5 s old, limit 5 s)"


def test_a_reported_problem_makes_a_gap_even_with_an_older_quote_at_hand():
    status = BookStatus(quote(), problem="crossed book (bid 10 >= ask 9)")
    record = record_for("btc_mxn", T0 + 1, status, T0 + 1.0, 5.0, "rest")
    assert record.is_gap and record.gap_reason == "crossed book (bid 10 >= ask 9)"
    assert record.as_row()[2:5] == ["", "", ""]


def run_sampler(clock, board, seconds):
    emitted = []
    sampler = Sampler(board, clock, "rest", quote_max_age=5.0)
    sampler.run(
        lambda second, records, lateness: emitted.append((second, records, lateness)),
        lambda batch, now: emitted.extend(
            (second, records, now - second) for second, records in batch
        ),
        threading.Event(),
        seconds,
    )
    return emitted


def test_sampler_emits_every_whole_second_without_drift_despite_late_wakeups(clock):
    board = QuoteBoard(["btc_mxn", "usd_mxn"])
    clock.latency = 0.4  # every wake-up 400 ms late: "now + 1" scheduling would drift
    clock.on_advance = lambda now: [board.publish(quote(book, now)) for book in board.books]
    emitted = run_sampler(clock, board, seconds=100)
    assert [second for second, _, _ in emitted] == list(range(T0 + 1, T0 + 101))
    assert all(
        len(records) == 2 and not any(r.is_gap for r in records) for _, records, _ in emitted
    )
    assert max(lateness for _, _, lateness in emitted) < 0.41


def test_seconds_the_sampler_slept_through_are_flagged_as_gaps(clock):
    board = QuoteBoard(["btc_mxn"])

    def advance(now):
        board.publish(quote("btc_mxn", now))
        # The wake-up for T0+5 lands at T0+8.5, as after a stop-the-world pause.
        clock.latency = 3.5 if T0 + 4 <= now < T0 + 5 else 0.0

    clock.on_advance = advance
    emitted = run_sampler(clock, board, seconds=12)
    seconds = [second for second, _, _ in emitted]
    assert seconds == list(range(T0 + 1, T0 + 13))
    reasons = {second: records[0].gap_reason for second, records, _ in emitted}
    assert [second for second, reason in reasons.items() if reason == MISSED_SECOND] == [
        T0 + 5,
        T0 + 6,
        T0 + 7,
    ]


def test_sampler_stops_when_asked(clock):
    board = QuoteBoard(["btc_mxn"])
    stop = threading.Event()
    emitted = []

    def emit(second, records, lateness):
        emitted.append(second)
        if len(emitted) == 3:
            stop.set()

    Sampler(board, clock, "rest", 5.0).run(emit, lambda batch, now: None, stop)
    assert emitted == [T0 + 1, T0 + 2, T0 + 3]
