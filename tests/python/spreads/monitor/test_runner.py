import csv
import json
import threading
from decimal import Decimal

from ingest.spreads.monitor.lake import window_key
from ingest.spreads.monitor.quotes import Quote, QuoteBoard
from ingest.spreads.monitor.runner import MonitorOptions, run_monitor
from ingest.spreads.monitor.webhooks import WebhookNotifier

from .conftest import T0


class IdleSource:
    """The tests drive the board from the clock instead; like every source, it runs until
    stopped (a source that returns by itself is a dead part and is restarted)."""

    name = "rest"

    def run(self, stop: threading.Event) -> None:
        stop.wait()


def rows(path):
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_a_600_second_window_holds_exactly_600_records_per_book(tmp_path, clock):
    board = QuoteBoard(["btc_mxn", "usd_mxn"])
    clock.latency = 0.3

    def fresh_quotes(now):
        for book in board.books:
            board.publish(Quote(book, Decimal("17.9910"), Decimal("18.0000"), now - 0.1, "rest"))

    fresh_quotes(clock.now)
    clock.on_advance = fresh_quotes
    options = MonitorOptions(books=board.books, lake=tmp_path, window_seconds=600, duration=1800)
    summary = run_monitor(
        options, board, IdleSource(), clock, threading.Event(), WebhookNotifier([])
    )
    # Started at T0 + 0.25: the first window misses second T0, the last holds second T0 + 1800.
    assert summary.seconds == 1800 and summary.gaps == 0
    for book in board.books:
        counts = [len(rows(tmp_path / window_key(book, T0 + 600 * i, "csv"))) for i in range(4)]
        assert counts == [599, 600, 600, 1]
        full = rows(tmp_path / window_key(book, T0 + 600, "csv"))
        assert full[0]["orderbook_timestamp"] == "2026-11-29T10:10:00+00:00"
        assert full[-1]["orderbook_timestamp"] == "2026-11-29T10:19:59+00:00"
        assert {row["spread"] for row in full} == {"0.05"}


def test_alerts_go_to_the_log_and_the_alerts_file_once_per_episode(tmp_path, clock, caplog):
    board = QuoteBoard(["btc_mxn"])
    spreads = {5: "1496250", 8: "1500000"}  # from second 5 a 0.25 % spread; from 8, crossed
    bid = {"value": "1499000"}  # 0.0666... %

    def advance(now):
        bid["value"] = spreads.get(int(now) - T0, bid["value"])
        ask = Decimal("1500000")
        if Decimal(bid["value"]) >= ask:
            board.report_problem("btc_mxn", "crossed book")
        else:
            board.publish(Quote("btc_mxn", Decimal(bid["value"]), ask, now, "rest"))

    advance(clock.now)
    clock.on_advance = advance
    options = MonitorOptions(books=("btc_mxn",), lake=tmp_path, window_seconds=10, duration=12)
    caplog.set_level("INFO")
    summary = run_monitor(
        options, board, IdleSource(), clock, threading.Event(), WebhookNotifier([])
    )
    lines = (tmp_path / "alerts/date=2026-11-29/alerts.jsonl").read_text().splitlines()
    alerts = [json.loads(line) for line in lines]
    # Above 0.1 from second 5; the crossed book from second 8 is a gap and resolves nothing.
    assert [(a["state"], a["threshold"], a["orderbook_timestamp"]) for a in alerts] == [
        ("triggered", "0.1", "2026-11-29T10:00:05+00:00")
    ]
    assert summary.alerts == 1 and summary.gaps == 5
    assert [r.getMessage() for r in caplog.records if "ALERT" in r.getMessage()] == [
        "ALERT triggered: btc_mxn spread 0.25 % is above 0.1 % (bid 1496250, ask 1500000) at "
        "2026-11-29T10:00:05+00:00"
    ]
