"""Anything from the network is untrusted: every class of bad REST reply and WebSocket frame is
skipped or backed off, counted by kind, logged once, and the next good one is used at once."""

from __future__ import annotations

import json
import logging
from decimal import Decimal

import pytest
import requests

from ingest.spreads.monitor.bitso_rest import (
    MAX_RETRY_AFTER_SECONDS,
    BitsoError,
    BitsoRestClient,
    retry_after_seconds,
)
from ingest.spreads.monitor.budget import RequestBudget
from ingest.spreads.monitor.orders_frame import read_orders
from ingest.spreads.monitor.quotes import QuoteBoard, best_bid_ask, parse_price
from ingest.spreads.monitor.rest_source import RestSource
from ingest.spreads.monitor.ws_source import WsSource, _Session

from .conftest import T0

GOOD_ROWS = [
    {"book": "btc_mxn", "bid": "1547000", "ask": "1548000"},
    {"book": "usd_mxn", "bid": "17.99", "ask": "18.00"},
]


class RaisingSession:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def get(self, url, timeout):
        raise self.error

    def close(self):
        pass


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (
            requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead"),
            "transport",
        ),
        (requests.exceptions.ContentDecodingError("not gzip"), "transport"),
        (requests.exceptions.TooManyRedirects("Exceeded 30 redirects"), "transport"),
        (requests.exceptions.InvalidHeader("bad header"), "transport"),
        (requests.exceptions.RetryError("too many retries"), "transport"),
        (requests.exceptions.StreamConsumedError(), "transport"),
        (requests.exceptions.RequestException("anything else"), "transport"),
        (requests.exceptions.SSLError("certificate verify failed"), "tls"),
        (requests.exceptions.ConnectionError("Connection reset by peer"), "unreachable"),
        (requests.exceptions.ProxyError("proxy"), "unreachable"),
        (requests.exceptions.ReadTimeout("read timed out"), "timeout"),
        (requests.exceptions.ConnectTimeout("connect timed out"), "timeout"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else value,
)
def test_every_requests_exception_is_a_bitso_error_of_a_kind(error, kind):
    client = BitsoRestClient("http://bitso.invalid", session=RaisingSession(error))
    with pytest.raises(BitsoError) as raised:
        client.tickers()
    assert raised.value.kind == kind
    assert raised.value.url == "http://bitso.invalid/v3/ticker/"


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("30", 30.0),
        ("0", 0.0),
        ("-5", 0.0),
        ("1.5", 1.5),
        ("Sun, 29 Nov 2026 10:01:00 GMT", 60.0),  # an HTTP date, a minute after T0
        ("Sun, 29 Nov 2026 09:00:00 GMT", 0.0),  # in the past
        ("99999999", MAX_RETRY_AFTER_SECONDS),
        ("inf", MAX_RETRY_AFTER_SECONDS),
        ("nan", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_in_seconds_or_as_an_http_date(header, seconds):
    assert retry_after_seconds(header, now=T0) == seconds


class StubClient:
    def __init__(self, replies):
        self.replies = list(replies)

    def tickers(self):
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply


def rest_source(clock, replies):
    board = QuoteBoard(["btc_mxn", "usd_mxn"])
    return RestSource(StubClient(replies), board, RequestBudget(60), clock), board


HOSTILE_ROWS = {
    "book-a-list": [{"book": ["btc_mxn"], "bid": "1", "ask": "2"}, *GOOD_ROWS[1:]],
    "book-an-object": [{"book": {"name": "btc_mxn"}}, *GOOD_ROWS[1:]],
    "book-null": [{"book": None}, *GOOD_ROWS[1:]],
    "book-a-number": [{"book": 7}, *GOOD_ROWS[1:]],
    "row-not-an-object": [5, "btc_mxn", None, [1], *GOOD_ROWS[1:]],
    "book-missing": GOOD_ROWS[1:],
    "bid-not-a-number": [{"book": "btc_mxn", "bid": "abc", "ask": "2"}, *GOOD_ROWS[1:]],
    "bid-nan": [{"book": "btc_mxn", "bid": "NaN", "ask": "2"}, *GOOD_ROWS[1:]],
    "ask-infinity": [{"book": "btc_mxn", "bid": "1", "ask": "Infinity"}, *GOOD_ROWS[1:]],
    "bid-zero": [{"book": "btc_mxn", "bid": "0", "ask": "2"}, *GOOD_ROWS[1:]],
    "ask-negative": [{"book": "btc_mxn", "bid": "1", "ask": "-2"}, *GOOD_ROWS[1:]],
    "bid-null": [{"book": "btc_mxn", "bid": None, "ask": "2"}, *GOOD_ROWS[1:]],
    "bid-a-list": [{"book": "btc_mxn", "bid": ["1"], "ask": "2"}, *GOOD_ROWS[1:]],
    "ask-an-object": [{"book": "btc_mxn", "bid": "1", "ask": {"v": "2"}}, *GOOD_ROWS[1:]],
    "bid-true": [{"book": "btc_mxn", "bid": True, "ask": "2"}, *GOOD_ROWS[1:]],
    "crossed": [{"book": "btc_mxn", "bid": "3", "ask": "2"}, *GOOD_ROWS[1:]],
    "empty": [{"book": "btc_mxn", "bid": None, "ask": None}, *GOOD_ROWS[1:]],
}


@pytest.mark.parametrize("case", HOSTILE_ROWS)
def test_a_hostile_ticker_row_is_a_gap_for_its_book_and_the_next_good_reply_is_used(clock, case):
    source, board = rest_source(clock, [HOSTILE_ROWS[case], GOOD_ROWS])
    source.poll()
    status = board.snapshot()
    assert status["btc_mxn"].quote is None and status["btc_mxn"].problem
    assert status["usd_mxn"].problem is None and status["usd_mxn"].quote.bid == Decimal("17.99")
    clock.now += 1.2
    source.poll()
    fresh = board.snapshot()["btc_mxn"]
    assert fresh.problem is None and fresh.quote.observed_at == clock.now


def test_rows_without_a_book_name_are_counted_by_kind_and_logged_once(clock, caplog):
    bad = [{"book": ["x"]}, 5, *GOOD_ROWS]
    source, _board = rest_source(clock, [bad, bad, bad])
    caplog.set_level(logging.WARNING)
    for _ in range(3):
        source.poll()
        clock.now += 1.2
    assert source.problems.counts == {"bad-row": 6}
    assert sum("ticker row without a book name" in r.getMessage() for r in caplog.records) == 1


@pytest.mark.parametrize(
    "error",
    [
        BitsoError("transport", "request failed (ChunkedEncodingError)", "u"),
        BitsoError("tls", "TLS error (SSLError)", "u"),
        BitsoError("server_error", "HTTP 502 server error", "u", 502),
        BitsoError("not_json", "HTTP 200 body is not JSON", "u", 200),
        BitsoError("api_error", "HTTP 200 success is not true", "u", 200),
        BitsoError("bad_payload", "payload is not a list", "u"),
        BitsoError("rate_limited", "HTTP 429 rate limited", "u", 429, 2.0),
    ],
    ids=lambda error: error.kind,
)
def test_a_failed_request_backs_off_is_counted_and_the_next_reply_is_used(clock, error):
    source, board = rest_source(clock, [error, GOOD_ROWS])
    source.poll()
    assert source.errors == {error.kind: 1}
    assert all(status.problem for status in board.snapshot().values())
    assert source._resume_at > clock.now
    clock.now = source._resume_at
    source.poll()
    assert all(status.problem is None for status in board.snapshot().values())


def ws_source(clock, depth="top"):
    board = QuoteBoard(["btc_mxn", "usd_mxn"])
    source = WsSource("ws://x", board, None, RequestBudget(60), clock, depth=depth)
    return source, board, _Session(board.books)


GOOD_ORDERS = {
    "type": "orders",
    "book": "btc_mxn",
    "payload": {
        "bids": [{"r": "1547000", "a": "0.1", "t": 0}],
        "asks": [{"r": "1548000", "a": "0.1", "t": 1}],
    },
}


def orders(**payload):
    return json.dumps({**GOOD_ORDERS, "payload": {**GOOD_ORDERS["payload"], **payload}})


HOSTILE_FRAMES = {
    "not-json": "this is not JSON {",
    "deeply-nested": "[" * 100_000,
    "binary": b"\x00\x01",
    "array": "[1, 2]",
    "number": "42",
    "string": '"orders"',
    "null": "null",
    "true": "true",
    "book-a-list": json.dumps({**GOOD_ORDERS, "book": ["btc_mxn"]}),
    "book-an-object": json.dumps({**GOOD_ORDERS, "book": {"b": 1}}),
    "book-a-number": json.dumps({**GOOD_ORDERS, "book": 1}),
    "book-null": json.dumps({**GOOD_ORDERS, "book": None}),
    "book-missing": json.dumps({"type": "orders", "payload": GOOD_ORDERS["payload"]}),
    "type-a-list": json.dumps({**GOOD_ORDERS, "type": ["orders"]}),
    "type-an-object": json.dumps({**GOOD_ORDERS, "type": {"t": "orders"}}),
    "type-a-number": json.dumps({**GOOD_ORDERS, "type": 3}),
    "type-null": json.dumps({**GOOD_ORDERS, "type": None}),
    "type-missing": json.dumps({"book": "btc_mxn", "payload": GOOD_ORDERS["payload"]}),
    "payload-null": json.dumps({**GOOD_ORDERS, "payload": None}),
    "payload-missing": json.dumps({"type": "orders", "book": "btc_mxn"}),
    "payload-a-list": json.dumps({**GOOD_ORDERS, "payload": [1]}),
    "bids-a-string": orders(bids="no"),
    "bids-an-object": orders(bids={"r": "1"}),
    "entry-a-number": orders(bids=[5]),
    "entry-without-r": orders(bids=[{"a": "1", "t": 0}]),
    "entry-without-a": orders(bids=[{"r": "1547000", "t": 0}]),
    "entry-without-t": orders(bids=[{"r": "1547000", "a": "1"}]),
    "rate-not-numeric": orders(bids=[{"r": "abc", "a": "1", "t": 0}]),
    "rate-nan": orders(bids=[{"r": "NaN", "a": "1", "t": 0}]),
    "rate-infinity": orders(asks=[{"r": "Infinity", "a": "1", "t": 1}]),
    "rate-a-list": orders(asks=[{"r": ["1"], "a": "1", "t": 1}]),
    "rate-zero": orders(bids=[{"r": "0", "a": "1", "t": 0}]),
    "unsubscribed-book": json.dumps({**GOOD_ORDERS, "book": "eth_mxn"}),
    "orders-with-an-error": json.dumps({**GOOD_ORDERS, "error": "book halted"}),
    "error-a-list": json.dumps({"action": "subscribe", "error": ["x"], "book": ["btc_mxn"]}),
    "answer-book-a-list": json.dumps({"action": "subscribe", "response": "ok", "book": [1]}),
    "answer-book-an-object": json.dumps({"action": "subscribe", "response": "ok", "book": {}}),
}


@pytest.mark.parametrize("case", HOSTILE_FRAMES)
def test_a_hostile_frame_is_skipped_and_counted_and_the_next_good_frame_is_used(clock, case):
    source, board, session = ws_source(clock)
    source._on_frame(session, HOSTILE_FRAMES[case], clock.now)
    assert board.snapshot()["btc_mxn"].quote is None
    if not case.startswith("answer-"):
        assert source.skipped_frames == 1, source.problems.counts
    assert not session.answered
    clock.now += 0.1
    source._on_frame(session, json.dumps(GOOD_ORDERS), clock.now)
    quote = board.snapshot()["btc_mxn"].quote
    assert quote.bid == Decimal("1547000") and quote.observed_at == clock.now


@pytest.mark.parametrize(
    "case", [case for case, frame in HOSTILE_FRAMES.items() if isinstance(frame, str)]
)
def test_the_fast_orders_reader_leaves_every_hostile_frame_to_the_general_reader(case):
    read = read_orders(HOSTILE_FRAMES[case])
    # The one well-formed frame among them is for a book the source did not subscribe to.
    assert read is None or (case == "unsubscribed-book" and read[0] == "eth_mxn")


def test_an_orders_frame_outside_the_fast_path_is_read_as_the_general_reader_always_did(clock):
    # Bitso sends rates as strings; a rate sent as a JSON number is still a price.
    source, board, session = ws_source(clock)
    frame = {**GOOD_ORDERS, "payload": {"bids": [{"r": 1547000, "a": "1", "t": 0}], "asks": []}}
    frame["payload"]["asks"] = [{"r": 1548000.5, "a": "1", "t": 1}]
    assert read_orders(json.dumps(frame)) is None
    source._on_frame(session, json.dumps(frame), clock.now)
    quote = board.snapshot()["btc_mxn"].quote
    assert (quote.bid, quote.ask) == (Decimal("1547000"), Decimal("1548000.5"))
    assert source.skipped_frames == 0


def test_the_fast_orders_reader_finds_the_top_the_general_reader_finds(clock):
    """Frames shaped as Bitso sends them (every field of each order, rates in any order, sides
    empty, rates that differ only past a float's precision) give the same book and top."""
    import random

    generator = random.Random(15)
    rates = ["1547000", "1547000.5", "0.00000001", "17.99", "18.00", "18.0000000000000000001"]
    for _ in range(200):
        sides = {}
        for side, name in ((0, "bids"), (1, "asks")):
            sides[name] = [
                {
                    "a": "0.0065",
                    "d": 1796175448264,
                    "o": f"o{generator.getrandbits(32):x}",
                    "r": generator.choice(rates),
                    "s": "undefined",
                    "t": side,
                    "v": "10134.3565",
                }
                for _ in range(generator.randint(0, 20))
            ]
        frame = {"type": "orders", "book": "usd_mxn", "payload": sides, "sent": 1796175448265}
        expected = best_bid_ask(
            [parse_price(order["r"]) for order in sides["bids"]],
            [parse_price(order["r"]) for order in sides["asks"]],
        )
        assert read_orders(json.dumps(frame)) == ("usd_mxn", *expected)


def test_skipped_frames_are_logged_once_per_kind_then_as_a_periodic_count(clock, caplog):
    source, _board, session = ws_source(clock)
    caplog.set_level(logging.WARNING)
    for _ in range(70):
        source._on_frame(session, json.dumps({**GOOD_ORDERS, "book": ["x"]}), clock.now)
        source._on_frame(session, b"\x00", clock.now)
        clock.now += 1.0
    messages = [r.getMessage() for r in caplog.records]
    assert sum("unexpected type" in m for m in messages) == 1
    assert sum("a binary frame" in m for m in messages) == 1
    # After a minute, one line with the counts since the first ones (60 seconds, 2 a second).
    assert "skipped 119 more WebSocket frames: 59 binary, 60 type-orders" in messages, messages
    assert source.problems.counts == {"type-orders": 70, "binary": 70}
    assert len(messages) == 3


def diff(sequence, price="1547000"):
    entry = {"o": f"o{sequence}", "r": price, "a": "1", "t": 0, "s": "open"}
    return json.dumps(
        {"type": "diff-orders", "book": "btc_mxn", "sequence": sequence, "payload": [entry]}
    )


def test_diff_orders_repeats_and_regressions_are_skipped_and_counted(clock):
    from ingest.spreads.monitor.depth import OrderBook

    source, board, session = ws_source(clock, depth="book")
    snapshot = {
        "sequence": "10",
        "bids": [{"price": "1546000", "amount": "1", "oid": "b"}],
        "asks": [{"price": "1548000", "amount": "1", "oid": "a"}],
    }
    session.syncs["btc_mxn"].on_snapshot(OrderBook.from_snapshot(snapshot))
    source._on_frame(session, diff(11), clock.now)
    source._on_frame(session, diff(11, "1547500"), clock.now)  # a repeat
    source._on_frame(session, diff(9, "1547900"), clock.now)  # a regression
    assert source.problems.counts == {"sequence-not-new": 2}
    assert board.snapshot()["btc_mxn"].quote.bid == Decimal("1547000")
    source._on_frame(session, diff(12, "1547100"), clock.now)
    assert board.snapshot()["btc_mxn"].quote.bid == Decimal("1547100")
