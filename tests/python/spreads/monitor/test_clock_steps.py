"""Wall-clock steps (NTP) against the monotonic clock: logged; the seconds a forward step skips
are gaps journaled in one write; after a backward step no second is written twice and the
sampler resumes on the new clock, saying so."""

import csv
import os
import threading
import time
from decimal import Decimal

import pytest

from ingest.spreads.monitor.clock import SystemClock
from ingest.spreads.monitor.lake import LakeWriter, window_key
from ingest.spreads.monitor.quotes import Quote, QuoteBoard
from ingest.spreads.monitor.records import SpreadRecord
from ingest.spreads.monitor.runner import MonitorOptions, run_monitor
from ingest.spreads.monitor.sampler import MISSED_SECOND, Sampler
from ingest.spreads.monitor.webhooks import WebhookNotifier

from .conftest import T0
from .test_runner import IdleSource


def fresh_board(clock, books=("btc_mxn", "usd_mxn")):
    board = QuoteBoard(list(books))

    def publish(now):
        for book in books:
            board.publish(Quote(book, Decimal("99.95"), Decimal("100"), now, "rest"))

    publish(clock.time())
    return board, publish


class Recorder:
    """What the sampler hands over: sampled seconds one by one, missed ones in batches."""

    def __init__(self) -> None:
        self.seconds: list[int] = []
        self.reasons: dict[int, str | None] = {}
        self.batches: list[list[int]] = []

    def emit(self, second, records, lateness) -> None:
        self.seconds.append(second)
        self.reasons[second] = records[0].gap_reason

    def emit_missed(self, batch, now) -> None:
        self.batches.append([second for second, _ in batch])
        for second, records in batch:
            self.emit(second, records, now - second)


def step_once_at(clock, publish, second, step):
    """On reaching `second` (since T0), the wall clock is stepped by `step` seconds, once."""
    stepped = []

    def advance(now):
        if int(now) - T0 == second and not stepped:
            stepped.append(now)
            clock.step(step)
        publish(clock.now)

    clock.on_advance = advance


def test_a_forward_step_is_logged_and_its_seconds_are_gaps_in_one_batch(clock, caplog):
    board, publish = fresh_board(clock)
    step_once_at(clock, publish, 5, 10.0)
    recorder = Recorder()
    caplog.set_level("WARNING")
    Sampler(board, clock, "rest", 5.0).run(
        recorder.emit, recorder.emit_missed, threading.Event(), 20
    )
    assert recorder.seconds == list(range(T0 + 1, T0 + 21))
    assert recorder.batches == [list(range(T0 + 5, T0 + 15))]
    assert {recorder.reasons[s] for s in range(T0 + 5, T0 + 15)} == {
        "clock stepped forward (by 10.0 s, or the machine was suspended)"
    }
    assert all(recorder.reasons[s] is None for s in recorder.seconds if s >= T0 + 15)
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings == [
        "the wall clock stepped forward 10.0 s: 10 seconds skipped, recorded as gaps"
    ]


def test_a_pause_without_a_step_still_says_the_monitor_missed_the_seconds(clock, caplog):
    board, publish = fresh_board(clock)

    def advance(now):
        publish(now)
        # The wake-up for T0+5 lands at T0+8.5: both clocks moved, nothing was stepped.
        clock.latency = 3.5 if T0 + 4 <= now < T0 + 5 else 0.0

    clock.on_advance = advance
    recorder = Recorder()
    caplog.set_level("WARNING")
    Sampler(board, clock, "rest", 5.0).run(
        recorder.emit, recorder.emit_missed, threading.Event(), 12
    )
    assert recorder.batches == [[T0 + 5, T0 + 6, T0 + 7]]
    assert recorder.reasons[T0 + 6] == MISSED_SECOND
    assert not caplog.records


def test_after_a_backward_step_no_second_is_written_twice_and_sampling_goes_on(clock, caplog):
    board, publish = fresh_board(clock)
    step_once_at(clock, publish, 8, -5.0)
    recorder = Recorder()
    caplog.set_level("WARNING")
    Sampler(board, clock, "rest", 5.0).run(
        recorder.emit, recorder.emit_missed, threading.Event(), 15
    )
    assert recorder.seconds == list(range(T0 + 1, T0 + 16))
    assert recorder.batches == []
    assert all(reason is None for reason in recorder.reasons.values())
    [warning] = [r.getMessage() for r in caplog.records]
    assert warning.startswith(
        "the wall clock stepped back 5.0 s: the seconds up to 2026-11-29T10:00:07+00:00 were "
        "recorded already and are not recorded again; recording resumes at "
        "2026-11-29T10:00:08+00:00"
    )


def test_a_forward_step_costs_the_journal_one_fsync_per_window_not_one_per_second(
    tmp_path, monkeypatch
):
    lake = LakeWriter(tmp_path, 600, "csv")
    lake.open(T0)
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    gaps = [
        (second, [SpreadRecord(second, "btc_mxn", "rest", gap_reason="clock stepped forward")])
        for second in range(T0 + 10, T0 + 310)
    ]
    lake.write_seconds(gaps)
    assert len(synced) == 1
    lake.close()
    with (tmp_path / window_key("btc_mxn", T0, "csv")).open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["orderbook_timestamp"] for row in rows][:2] == [
        "2026-11-29T10:00:10+00:00",
        "2026-11-29T10:00:11+00:00",
    ]
    assert len(rows) == 300 and {row["is_gap"] for row in rows} == {"true"}


def test_a_run_through_both_steps_keeps_one_row_per_second_in_the_lake(tmp_path, clock):
    board, publish = fresh_board(clock, books=("btc_mxn",))
    steps = {20: 30.0, 70: -12.0}
    done = set()

    def advance(now):
        second = int(now) - T0
        if second in steps and second not in done:
            done.add(second)
            clock.step(steps[second])
        publish(clock.now)

    clock.on_advance = advance
    options = MonitorOptions(books=("btc_mxn",), lake=tmp_path, window_seconds=60, duration=100)
    summary = run_monitor(
        options, board, IdleSource(), clock, threading.Event(), WebhookNotifier([])
    )
    rows = []
    for start in (T0, T0 + 60):
        with (tmp_path / window_key("btc_mxn", start, "csv")).open(newline="") as handle:
            rows += list(csv.DictReader(handle))
    stamps = [row["orderbook_timestamp"] for row in rows]
    assert len(stamps) == len(set(stamps)) == 100 == summary.seconds
    gaps = [row for row in rows if row["is_gap"] == "true"]
    assert len(gaps) == 30 and {row["gap_reason"][:21] for row in gaps} == {"clock stepped forward"}


class SteppableClock(SystemClock):
    """The system clock, plus `shift` seconds on the wall clock only."""

    def __init__(self) -> None:
        self.shift = 0.0

    def time(self) -> float:
        return time.time() + self.shift


def test_on_the_system_clock_a_backward_step_is_noticed_at_the_planned_wake_up(caplog):
    clock = SteppableClock()
    stop = threading.Event()
    started = time.monotonic()
    threading.Timer(0.1, lambda: setattr(clock, "shift", -30.0)).start()
    assert clock.sleep_until(clock.time() + 0.5, stop)
    # Not 30 s later: the caller is told at once, and decides.
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("when", ["while writing a second", "while sleeping"])
def test_on_the_system_clock_sampling_resumes_after_a_step_back_and_says_so_at_once(caplog, when):
    clock = SteppableClock()
    board, publish = fresh_board(clock)
    recorder = Recorder()

    def emit(second, records, lateness):
        recorder.emit(second, records, lateness)
        publish(clock.time())
        if len(recorder.seconds) == 2:
            if when == "while writing a second":
                clock.shift -= 2.5
            else:
                threading.Timer(0.3, lambda: setattr(clock, "shift", clock.shift - 2.5)).start()

    caplog.set_level("WARNING")
    began = time.time()
    Sampler(board, clock, "rest", 5.0).run(emit, recorder.emit_missed, threading.Event(), 4)
    elapsed = time.time() - began
    first = recorder.seconds[0]
    assert recorder.seconds == [first, first + 1, first + 2, first + 3]
    assert recorder.batches == []
    [warning] = [r for r in caplog.records if "stepped back 2.5 s" in r.getMessage()]
    assert "recording resumes at" in warning.getMessage()
    # Told within about a second of the step, not once the 2.5 s wait is over; the four seconds
    # then take their 4 s plus the 2.5 s the clock repeated.
    assert warning.created - began < 3.0
    assert 5.5 < elapsed < 8.5
