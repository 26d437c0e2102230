"""The local Bitso's WebSocket API answers like the live one, and its sequence is REST's."""

import json
import time
from decimal import Decimal

import pytest
import requests
from websockets.exceptions import ConnectionClosedError, InvalidStatus
from websockets.sync.client import connect

from ingest.spreads.monitor.depth import BookSync, OrderBook


def subscribe(ws, book, channel="orders"):
    ws.send(json.dumps({"action": "subscribe", "book": book, "type": channel}))


def frames(ws, count, timeout=5.0, kind=None):
    """The next `count` JSON frames (of `kind`, if given), skipping keep-alives."""
    found, deadline = [], time.monotonic() + timeout
    while len(found) < count:
        frame = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
        if frame.get("type") != "ka" and kind in (None, frame.get("type")):
            found.append(frame)
    return found


def post(server, route, body):
    requests.post(f"{server.url}/_local/{route}", json=body, timeout=5).raise_for_status()


def test_subscriptions_are_acknowledged_with_the_book_and_bad_requests_get_bitsos_errors(
    local_bitso,
):
    server = local_bitso()
    with connect(server.ws_url) as ws:
        subscribe(ws, "btc_mxn")
        subscribe(ws, "nope_usd")
        subscribe(ws, "btc_mxn", "nope")
        ws.send(json.dumps({"action": "nope", "book": "btc_mxn", "type": "orders"}))
        ws.send("not json")
        subscribe(ws, "btc_mxn")
        replies = frames(ws, 6)
    for reply in replies:
        assert isinstance(reply.pop("time"), int)
    assert replies == [
        {"action": "subscribe", "response": "ok", "type": "orders", "book": "btc_mxn"},
        {"action": "subscribe", "type": "orders", "error": "This book is not supported - nope_usd"},
        {
            "action": "subscribe",
            "type": "nope",
            "error": "This type of channel is not supported - nope",
        },
        {"action": "nope", "type": "orders", "error": "unknown subscription"},
        {"error": "invalid message"},
        {
            "action": "subscribe",
            "response": "Already subscribed to channel: orders:btc_mxn",
            "type": "orders",
            "book": "btc_mxn",
        },
    ]


def test_a_subscription_without_a_book_is_closed_with_1011(local_bitso):
    server = local_bitso()
    with connect(server.ws_url) as ws:
        ws.send(json.dumps({"action": "subscribe", "type": "orders"}))
        with pytest.raises(ConnectionClosedError) as closed:
            ws.recv(timeout=5)
    assert closed.value.rcvd.code == 1011


def test_keep_alives_come_every_interval_even_without_subscriptions(local_bitso):
    server = local_bitso(ka_interval=0.2)
    with connect(server.ws_url) as ws:
        started = time.monotonic()
        assert [json.loads(ws.recv(timeout=2)) for _ in range(3)] == [{"type": "ka"}] * 3
        assert 0.5 < time.monotonic() - started < 1.5


def test_orders_frames_hold_the_top_20_orders_best_first_and_match_the_ticker(local_bitso):
    server = local_bitso()
    with connect(server.ws_url) as ws:
        subscribe(ws, "btc_mxn")
        frames(ws, 1)
        post(server, "books", {"book": "btc_mxn", "spread": "0.7"})
        (frame,) = frames(ws, 1, kind="orders")
    payload = frame["payload"]
    assert frame["book"] == "btc_mxn" and isinstance(frame["sent"], int)
    assert len(payload["bids"]) == len(payload["asks"]) == 20
    bids = [Decimal(order["r"]) for order in payload["bids"]]
    asks = [Decimal(order["r"]) for order in payload["asks"]]
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
    assert {order["s"] for order in payload["bids"] + payload["asks"]} == {"undefined"}
    assert {order["t"] for order in payload["bids"]} == {0}
    assert {order["t"] for order in payload["asks"]} == {1}
    ticker = requests.get(f"{server.url}/v3/ticker/?book=btc_mxn", timeout=5).json()["payload"]
    assert (payload["bids"][0]["r"], payload["asks"][0]["r"]) == (ticker["bid"], ticker["ask"])


def test_diff_orders_continue_the_rest_sequence_and_rebuild_the_rest_book(local_bitso):
    server = local_bitso(activity=20)
    with connect(server.ws_url) as ws:
        subscribe(ws, "btc_mxn", "diff-orders")
        frames(ws, 1)
        snapshot = requests.get(
            f"{server.url}/v3/order_book/?book=btc_mxn&aggregate=false", timeout=5
        ).json()["payload"]
        post(server, "books", {"book": "btc_mxn", "spread": "0.7"})
        diffs = frames(ws, 30, kind="diff-orders")
    sequences = [frame["sequence"] for frame in diffs]
    assert sequences == list(range(sequences[0], sequences[0] + 30))
    assert sequences[0] <= int(snapshot["sequence"]) + 1
    sync = BookSync()
    for frame in diffs:
        sync.on_diff(frame["sequence"], frame["payload"])
    sync.on_snapshot(OrderBook.from_snapshot(snapshot))
    assert sync.book.sequence == sequences[-1]
    later = requests.get(
        f"{server.url}/v3/order_book/?book=btc_mxn&aggregate=false", timeout=5
    ).json()["payload"]
    rebuilt = OrderBook.from_snapshot(later)
    assert (sync.book.best_bid, sync.book.best_ask) == (rebuilt.best_bid, rebuilt.best_ask)
    assert rebuilt.sequence >= sync.book.sequence


def test_a_drop_cuts_connections_and_refuses_handshakes_until_it_ends(local_bitso):
    server = local_bitso()
    with connect(server.ws_url) as ws:
        post(server, "faults", {"fault": "ws_drop", "for": 0.6})
        with pytest.raises(ConnectionClosedError):
            ws.recv(timeout=5)
    with pytest.raises(InvalidStatus) as refused:
        connect(server.ws_url)
    assert refused.value.response.status_code == 503
    time.sleep(0.8)
    with connect(server.ws_url) as ws:
        subscribe(ws, "btc_mxn")
        assert frames(ws, 1)[0]["response"] == "ok"


def test_a_silence_holds_every_frame_back_until_it_ends(local_bitso):
    server = local_bitso(ka_interval=0.1)
    with connect(server.ws_url) as ws:
        post(server, "faults", {"fault": "ws_silence", "for": 0.8})
        time.sleep(0.05)
        subscribe(ws, "btc_mxn")
        started = time.monotonic()
        assert frames(ws, 1)[0]["response"] == "ok"
        assert time.monotonic() - started > 0.5


def test_sequence_gaps_can_be_injected_into_diff_orders(local_bitso):
    server = local_bitso(activity=50)
    with connect(server.ws_url) as ws:
        subscribe(ws, "btc_mxn", "diff-orders")
        frames(ws, 1)
        first = frames(ws, 1, kind="diff-orders")[0]["sequence"]
        post(server, "faults", {"fault": "ws_sequence_gap", "for": 0.2})
        time.sleep(0.4)
        later = [frame["sequence"] for frame in frames(ws, 60, kind="diff-orders")]
    steps = {b - a for a, b in zip([first, *later], later, strict=False)}
    assert max(steps) > 1
