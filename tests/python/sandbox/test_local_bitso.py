"""The local Bitso answers like the documented API, and the client reads it right."""

import json
import time

import pytest
import requests

from bitso_sandbox.local_bitso.catalog import default_listings
from bitso_sandbox.local_bitso.exchange import Script, ScriptError, SimulatedExchange
from ingest.spreads.monitor.bitso_rest import BitsoError, BitsoRestClient


def get(server, path):
    return requests.get(server.url + path, timeout=5)


def inject(server, fault, seconds=30.0, delay=0.0):
    body = {"fault": fault, "for": seconds, "delay": delay}
    requests.post(f"{server.url}/_local/faults", json=body, timeout=5).raise_for_status()


@pytest.mark.parametrize(
    "path", ["/v3/ticker", "/v3/ticker/", "/api/v3/ticker", "/api/v3/ticker/?book=btc_mxn"]
)
def test_routes_answer_with_and_without_api_prefix_and_trailing_slash(local_bitso, path):
    reply = get(local_bitso(), path)
    assert reply.status_code == 200 and reply.json()["success"] is True


def test_unknown_routes_are_404_with_an_empty_body(local_bitso):
    reply = get(local_bitso(), "/v3/nope/")
    assert (reply.status_code, reply.content) == (404, b"")


def test_ticker_without_book_lists_every_book_with_decimal_strings(local_bitso):
    server = local_bitso()
    payload = get(server, "/v3/ticker/").json()["payload"]
    assert len(payload) == 54
    btc = next(row for row in payload if row["book"] == "btc_mxn")
    assert (btc["bid"], btc["ask"]) == ("1547230", "1548000")
    assert btc["created_at"].endswith("+00:00")
    client = BitsoRestClient(server.url)
    assert len(client.available_books()) == 54 and len(client.tickers()) == 54


def test_unknown_books_get_the_error_shapes_bitso_sends(local_bitso):
    server = local_bitso()
    ticker = get(server, "/v3/ticker/?book=nope_usd")
    assert ticker.status_code == 400
    assert ticker.json() == {"error": {"code": 20, "message": "Unknown OrderBook nope_usd"}}
    book = get(server, "/v3/order_book/")
    assert book.status_code == 400
    assert book.json() == {
        "error": {"code": "0301", "details": [], "message": "Unknown order book missing"},
        "success": False,
    }


def test_order_book_levels_are_best_first_and_unaggregated_orders_carry_ids(local_bitso):
    server = local_bitso()
    book = get(server, "/v3/order_book/?book=btc_mxn").json()["payload"]
    bids = [float(level["price"]) for level in book["bids"]]
    asks = [float(level["price"]) for level in book["asks"]]
    assert len(bids) == len(asks) == 50
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
    assert isinstance(book["sequence"], str)
    orders = get(server, "/api/v3/order_book?book=btc_mxn&aggregate=False").json()["payload"]
    assert len(orders["bids"]) == 100 and len(orders["bids"][0]["oid"]) == 16


def test_over_the_rate_limit_the_client_is_locked_out_with_420_and_0801(local_bitso):
    server = local_bitso(rate_limit=3)
    statuses = [get(server, "/v3/ticker/").status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 420, 420]
    assert get(server, "/v3/ticker/").json()["error"]["code"] == "0801"
    with pytest.raises(BitsoError) as caught:
        BitsoRestClient(server.url).tickers()
    assert (caught.value.kind, caught.value.status, caught.value.retry_after) == (
        "rate_limited",
        420,
        None,
    )


@pytest.mark.parametrize(
    ("fault", "kind", "message"),
    [
        ("http_500", "server_error", "HTTP 500 server error"),
        ("http_503", "server_error", "HTTP 503 server error"),
        ("rate_limit_420", "rate_limited", "HTTP 420 rate limited (error 0801"),
        ("rate_limit_429", "rate_limited", "HTTP 429 rate limited"),
        ("html", "not_json", "HTTP 403 body is not JSON (text/html)"),
        ("success_false", "api_error", "success is not true (error 1000: API temporarily"),
        ("truncated", "transport", "request failed (ChunkedEncodingError)"),
        ("reset", "unreachable", "connection failed or refused"),
        ("redirect_loop", "transport", "request failed (TooManyRedirects)"),
        ("bad_encoding", "transport", "request failed (ContentDecodingError)"),
        ("retry_after_date", "rate_limited", "HTTP 429 rate limited"),
    ],
)
def test_each_http_fault_becomes_a_clear_client_error(local_bitso, fault, kind, message):
    server = local_bitso()
    inject(server, fault)
    with pytest.raises(BitsoError) as caught:
        BitsoRestClient(server.url).tickers()
    assert caught.value.kind == kind and message in str(caught.value)
    if fault in ("rate_limit_429", "retry_after_date"):
        assert 28 <= caught.value.retry_after <= 32


def test_hostile_ticker_replies_take_every_wrong_shape_in_turn_and_none_breaks_the_client(
    local_bitso,
):
    from bitso_sandbox.local_bitso.http_api import HOSTILE_VARIANTS

    server = local_bitso()
    inject(server, "hostile_json")
    client = BitsoRestClient(server.url)
    outcomes = []
    for _ in range(HOSTILE_VARIANTS):
        try:
            rows = client.tickers()
        except BitsoError as error:
            outcomes.append(error.kind)
        else:
            outcomes.append(len(rows))
    # Bad prices, crossed and empty books keep the rows; the wrong envelopes are errors.
    assert outcomes[:13] == [54] * 13
    assert outcomes[13:] == [*["bad_payload"] * 4, *["api_error"] * 3, 0, 2]
    assert get(server, "/v3/available_books/").json()["success"] is True  # ticker only


def test_a_slow_reply_times_out_in_the_client(local_bitso):
    server = local_bitso()
    inject(server, "slow", seconds=5, delay=1.0)
    with pytest.raises(BitsoError) as caught:
        BitsoRestClient(server.url, timeout=(1.0, 0.3)).tickers()
    assert caught.value.kind == "timeout"


def test_downtime_refuses_connections_then_the_server_comes_back(local_bitso):
    server = local_bitso()
    inject(server, "down", seconds=0.6)
    time.sleep(0.2)
    with pytest.raises(BitsoError) as caught:
        BitsoRestClient(server.url).tickers()
    assert caught.value.kind == "unreachable"
    time.sleep(0.8)
    assert len(BitsoRestClient(server.url).tickers()) == 54


def test_books_can_be_set_empty_or_crossed_over_http(local_bitso):
    server = local_bitso()
    for state in ("empty", "crossed"):
        body = {"book": "btc_mxn", "state": state}
        requests.post(f"{server.url}/_local/books", json=body, timeout=5).raise_for_status()
        row = get(server, "/v3/ticker/?book=btc_mxn").json()["payload"]
        if state == "empty":
            assert row["bid"] is None and row["ask"] is None
        else:
            assert float(row["bid"]) > float(row["ask"])


def test_a_script_moves_spreads_and_faults_over_time_and_repeats():
    script = Script.from_json(
        {
            "repeat_every": 30,
            "books": {
                "btc_mxn": [
                    {"at": 10, "spread": "0.25"},
                    {"at": 20, "bid": "1540000", "ask": "1548000"},
                    {"at": 25, "state": "empty"},
                ]
            },
            "faults": [{"at": 5, "for": 2, "fault": "http_503"}],
        }
    )
    now = {"t": 1000.0}
    exchange = SimulatedExchange(default_listings(), script, clock=lambda: now["t"])

    def at(elapsed):
        now["t"] = 1000.0 + elapsed
        view = exchange.view("btc_mxn")
        return view.best_bid, view.best_ask, view.sequence

    seen = [at(elapsed) for elapsed in (0, 1, 12, 21, 26, 31)]
    assert seen[0][:2] == (1547230, 1548000)  # the default 0.05 % spread
    assert seen[2][:2] == (1544130, 1548000)  # 0.25 % of 1548000 = 3870
    assert seen[3][:2] == (1540000, 1548000)
    assert seen[4][:2] == (None, None)
    assert seen[5][:2] == seen[1][:2]
    # Each change gets the next sequence; a still book keeps its own.
    assert [sequence for *_, sequence in seen] == [
        1_026_000,
        1_026_000,
        *range(1_026_001, 1_026_005),
    ]
    now["t"] = 1006.0
    assert exchange.active_fault().kind == "http_503"
    now["t"] = 1008.0
    assert exchange.active_fault() is None


@pytest.mark.parametrize(
    "bad",
    [
        {"books": {"nope_mxn": []}},
        {"books": {"btc_mxn": [{"at": 1, "bid": "1"}]}},
        {"books": {"btc_mxn": [{"at": 1, "state": "sideways"}]}},
        {"faults": [{"at": 1, "fault": "meteor"}]},
        {"repeat_every": 0},
    ],
)
def test_bad_scripts_are_rejected_with_a_reason(bad):
    with pytest.raises(ScriptError):
        SimulatedExchange(default_listings(), Script.from_json(json.loads(json.dumps(bad))))


def test_the_demo_script_triggers_and_resolves_every_default_threshold_within_a_minute():
    from pathlib import Path

    from ingest.spreads.monitor.alerts import DEFAULT_THRESHOLDS, AlertTracker
    from ingest.spreads.monitor.quotes import spread_pct
    from ingest.spreads.monitor.records import SpreadRecord

    demo = Path(__file__).resolve().parents[3] / "bitso_sandbox/scripts/demo.json"
    now = {"t": 0.0}
    exchange = SimulatedExchange(default_listings(), Script.load(demo), clock=lambda: now["t"])
    tracker, events = AlertTracker(DEFAULT_THRESHOLDS), []
    for second in range(60):
        now["t"] = float(second)
        for book in ("btc_mxn", "usd_mxn"):
            view = exchange.view(book)
            spread = spread_pct(view.best_bid, view.best_ask)
            record = SpreadRecord(second, book, "rest", view.best_bid, view.best_ask, spread)
            events += [(e.book, e.state, str(e.threshold)) for e in tracker.observe(record)]
    for threshold in ("1.0", "0.5", "0.1"):
        assert ("btc_mxn", "triggered", threshold) in events
        assert ("btc_mxn", "resolved", threshold) in events
    assert ("usd_mxn", "triggered", "0.1") in events and ("usd_mxn", "resolved", "0.1") in events
    assert exchange.active_fault() is None
    now["t"] = 51.0
    assert exchange.active_fault().kind == "http_503"
