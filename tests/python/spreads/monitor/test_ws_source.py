"""The WebSocket source against the local Bitso: quotes from frames, outages, bad frames."""

import contextlib
import logging
import threading
import time
from decimal import Decimal

import pytest
import requests

from ingest.spreads.monitor.bitso_rest import BitsoRestClient
from ingest.spreads.monitor.budget import RequestBudget
from ingest.spreads.monitor.clock import SystemClock
from ingest.spreads.monitor.quotes import QuoteBoard
from ingest.spreads.monitor.sampler import record_for
from ingest.spreads.monitor.ws_source import WsSource, reconnect_delays


@contextlib.contextmanager
def streaming(server, books=("btc_mxn", "usd_mxn"), **options):
    """A WsSource on its own thread, publishing to a fresh board, stopped on exit."""
    board = QuoteBoard(books)
    options = {"silence_timeout": 5.0, "first_retry": 0.1, **options}
    source = WsSource(
        server.ws_url,
        board,
        BitsoRestClient(server.url),
        RequestBudget(60),
        SystemClock(),
        **options,
    )
    stop = threading.Event()
    thread = threading.Thread(target=source.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield source, board
    finally:
        stop.set()
        thread.join(10)
        assert not thread.is_alive()


def wait_for(condition, timeout=5.0, what="the condition"):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)
    return value


def quote(board, book):
    status = board.snapshot()[book]
    return None if status.problem else status.quote


def problem(board, book):
    return board.snapshot()[book].problem


def post(server, route, body):
    requests.post(f"{server.url}/_local/{route}", json=body, timeout=5).raise_for_status()


def ticker(server, book):
    row = requests.get(f"{server.url}/v3/ticker/?book={book}", timeout=5).json()["payload"]
    return Decimal(row["bid"]), Decimal(row["ask"])


def test_quiet_books_get_a_first_quote_and_orders_frames_move_it(local_bitso):
    server = local_bitso()
    with streaming(server) as (source, board):
        first = wait_for(lambda: quote(board, "usd_mxn"), what="the first quote")
        assert (first.bid, first.ask) == ticker(server, "usd_mxn")
        assert first.source == "ws" and first.sequence is None
        post(server, "books", {"book": "btc_mxn", "spread": "0.7"})
        moved = wait_for(
            lambda: (q := quote(board, "btc_mxn")) and q.spread > Decimal("0.6") and q,
            what="the orders frame",
        )
        assert (moved.bid, moved.ask) == ticker(server, "btc_mxn")
        post(server, "books", {"book": "btc_mxn", "state": "crossed"})
        wait_for(lambda: "crossed book" in (problem(board, "btc_mxn") or ""), what="crossed")
    assert source.connections == 1 and source.skipped_frames == 0
    # The budget paid for the start-up ticker only.
    assert source.rest_requests == 1


def test_a_quiet_book_stays_current_while_keep_alives_vouch_for_the_stream(local_bitso):
    server = local_bitso(ka_interval=0.2)
    with streaming(server, books=("usd_mxn",)) as (_source, board):
        first = wait_for(lambda: quote(board, "usd_mxn"))
        time.sleep(1.0)
        now = time.time()
        record = record_for("usd_mxn", int(now), board.snapshot()["usd_mxn"], now, 0.5, "ws")
    assert record.quote_age_ms >= 1000 and not record.is_gap
    assert record.observed_at == first.observed_at


def test_a_dropped_connection_is_replaced_and_its_seconds_marked_as_down(local_bitso, caplog):
    server = local_bitso()
    caplog.set_level(logging.INFO, "ingest.spreads.monitor.ws_source")
    with streaming(server) as (source, board):
        wait_for(lambda: quote(board, "btc_mxn"))
        post(server, "faults", {"fault": "ws_drop", "for": 0.5})
        wait_for(lambda: "WebSocket down" in (problem(board, "btc_mxn") or ""), what="the drop")
        post(server, "books", {"book": "usd_mxn", "spread": "0.15"})
        back = wait_for(lambda: source.outages, what="the reconnection")
        assert (quote(board, "usd_mxn").bid, quote(board, "usd_mxn").ask) == ticker(
            server, "usd_mxn"
        )
    ((lost, resumed),) = back
    assert 0.4 < resumed - lost < 3.0
    assert source.connections == 2
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and r.name == "ingest.spreads.monitor.ws_source"
    ]
    assert len(warnings) == 1 and "connection closed" in warnings[0]


def test_a_silent_connection_is_declared_dead_after_the_timeout(local_bitso):
    server = local_bitso(ka_interval=0.1)
    with streaming(server, silence_timeout=0.5) as (source, board):
        wait_for(lambda: quote(board, "btc_mxn"))
        post(server, "faults", {"fault": "ws_silence", "for": 1.5})
        started = time.monotonic()
        reason = wait_for(lambda: problem(board, "btc_mxn"), what="the silence")
        assert 0.4 < time.monotonic() - started < 1.2
        assert "no frame for 0.5 s (limit 0.5 s)" in reason or "no frame for 0.6" in reason
        wait_for(lambda: source.outages, timeout=8, what="the stream to come back")
        assert quote(board, "btc_mxn") is not None
    assert source.connections >= 2


def test_bad_frames_are_logged_and_skipped_without_touching_quotes(local_bitso, caplog):
    server = local_bitso()
    with streaming(server) as (source, board):
        before = wait_for(lambda: quote(board, "btc_mxn"))
        post(server, "faults", {"fault": "ws_bad_frames", "for": 1})
        wait_for(lambda: source.skipped_frames >= 7, what="the bad frames")
        time.sleep(0.3)
        after = quote(board, "btc_mxn")
    assert (after.bid, after.ask) == (before.bid, before.ask)
    assert source.connections == 1
    logged = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    for marker in ("binary frame", "not JSON", "not an object", "'surprise'", "malformed orders"):
        assert marker in logged
    assert "malformed diff-orders" not in logged  # not our channel: only an unexpected type


def test_a_refused_subscription_is_a_gap_for_that_book_only(local_bitso):
    server = local_bitso()
    with streaming(server, books=("btc_mxn", "nope_mxn")) as (_source, board):
        wait_for(lambda: quote(board, "btc_mxn"))
        assert problem(board, "nope_mxn") == (
            "subscription refused: This book is not supported - nope_mxn"
        )


def test_full_books_follow_diff_orders_with_rest_sequences_and_resync_on_a_gap(local_bitso, caplog):
    server = local_bitso(activity=20)
    with streaming(server, books=("btc_mxn",), depth="book") as (source, board):
        first = wait_for(lambda: quote(board, "btc_mxn"), what="the synced book")
        later = wait_for(
            lambda: (q := quote(board, "btc_mxn")) and q.sequence > first.sequence + 5 and q
        )
        assert (later.bid, later.ask) == ticker(server, "btc_mxn")
        requests_before = source.rest_requests
        post(server, "faults", {"fault": "ws_sequence_gap", "for": 0.3})
        wait_for(lambda: problem(board, "btc_mxn"), what="the gap")
        resynced = wait_for(
            lambda: (q := quote(board, "btc_mxn")) and q.sequence > later.sequence + 10 and q,
            what="the resync",
        )
        rest = requests.get(
            f"{server.url}/v3/order_book/?book=btc_mxn&aggregate=false", timeout=5
        ).json()["payload"]
    assert (resynced.bid, resynced.ask) == ticker(server, "btc_mxn")
    assert int(rest["sequence"]) >= resynced.sequence
    assert source.rest_requests > requests_before
    assert "diff-orders sequence jumped" in caplog.text
    assert source.connections == 1


def test_the_rest_fallback_keeps_quotes_while_the_websocket_is_down(local_bitso):
    server = local_bitso(rate_limit=1000)
    with streaming(server, rest_fallback=True) as (source, board):
        wait_for(lambda: quote(board, "btc_mxn"))
        post(server, "faults", {"fault": "ws_drop", "for": 2.5})
        fallback = wait_for(
            lambda: (q := quote(board, "btc_mxn")) and q.source == "rest" and q,
            what="a REST quote",
        )
        assert (fallback.bid, fallback.ask) == ticker(server, "btc_mxn")
        wait_for(lambda: (q := quote(board, "btc_mxn")) and q.source == "ws", timeout=8)
    assert source.rest_requests >= 3


def test_reconnect_delays_grow_exponentially_with_jitter_up_to_the_cap():
    delays = reconnect_delays(0.5, 4.0)
    waits = [next(delays) for _ in range(8)]
    for attempt, wait in enumerate(waits):
        ceiling = min(4.0, 0.5 * 2**attempt)
        assert ceiling / 2 <= wait <= ceiling
    assert len(set(waits)) == len(waits)


@pytest.mark.parametrize("depth", ["top", "book"])
def test_the_source_stops_promptly_when_asked(local_bitso, depth):
    server = local_bitso()
    started = time.monotonic()
    with streaming(server, depth=depth) as (_source, board):
        wait_for(lambda: quote(board, "btc_mxn"))
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("depth", ["top", "book"])
def test_a_book_whose_frames_stop_while_keep_alives_go_on_is_caught_per_book(
    local_bitso, caplog, depth
):
    server = local_bitso(ka_interval=0.2)
    with streaming(server, depth=depth, book_timeout=1.5) as (source, board):
        wait_for(lambda: quote(board, "btc_mxn") and quote(board, "usd_mxn"))
        # A quiet book still matches the ticker: checked, kept, no reconnection.
        wait_for(lambda: source.book_checks >= 1, what="a check of the quiet books")
        time.sleep(0.3)
        assert source.connections == 1 and quote(board, "usd_mxn")
        post(server, "faults", {"fault": "ws_book_silence", "book": "btc_mxn", "for": 30})
        post(server, "books", {"book": "btc_mxn", "spread": "0.7"})
        # Within the timeout plus a check, the lost book is noticed and the connection replaced.
        wait_for(lambda: source.connections >= 2, timeout=10, what="a new connection")
        # The new connection's first quote (ticker or snapshot) has the book's real state.
        wait_for(
            lambda: (q := quote(board, "btc_mxn")) and q.spread > Decimal("0.5"),
            what="btc_mxn's real top of book",
        )
    logged = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert "btc_mxn sent no frame for" in logged and "while the ticker moved" in logged
