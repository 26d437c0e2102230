from decimal import Decimal

import pytest

from ingest.spreads.monitor.quotes import (
    Quote,
    QuoteBoard,
    best_bid_ask,
    book_problem,
    format_decimal,
    parse_price,
    spread_pct,
)


def test_spread_is_exact_decimal_of_ask():
    assert spread_pct(Decimal("1496250"), Decimal("1500000")) == Decimal("0.25")
    # Binary floats give 0.30000000000000004-style noise here; decimals do not.
    assert spread_pct(Decimal("0.7"), Decimal("1.0")) == Decimal("30")
    assert format_decimal(spread_pct(Decimal("17.9910"), Decimal("18.0000"))) == "0.05"


def test_spread_rounds_half_even_at_ten_decimal_places():
    assert spread_pct(Decimal("2"), Decimal("3")) == Decimal("33.3333333333")
    assert spread_pct(Decimal("46850.01"), Decimal("46990.00")) == Decimal("0.2979144499")
    # Exactly half a unit of the tenth place: 0.00000000005 -> 0, 0.00000000015 -> 0.0000000002.
    assert spread_pct(Decimal("7.999999999996"), Decimal("8")) == 0
    assert spread_pct(Decimal("7.999999999988"), Decimal("8")) == Decimal("0.0000000002")


def test_best_bid_and_ask_do_not_trust_array_order():
    bids = [Decimal("46800.00"), Decimal("46850.01"), Decimal("46850.00")]
    asks = [Decimal("47100.00"), Decimal("46990.00"), Decimal("47118.91")]
    assert best_bid_ask(bids, asks) == (Decimal("46850.01"), Decimal("46990.00"))
    assert best_bid_ask(reversed(bids), reversed(asks)) == (
        Decimal("46850.01"),
        Decimal("46990.00"),
    )


def test_empty_and_crossed_tops_are_problems_and_a_normal_one_is_not():
    assert book_problem(None, None) == "empty book (no bid and no ask)"
    assert book_problem(Decimal("1"), None) == "empty book (no ask)"
    assert book_problem(Decimal("10"), Decimal("9")).startswith("crossed book")
    assert book_problem(Decimal("10"), Decimal("10")).startswith("crossed book")
    assert book_problem(Decimal("9"), Decimal("10")) is None


@pytest.mark.parametrize("text", [None, "", "abc", "0", "-1", "NaN", "Infinity", True])
def test_unusable_prices_parse_to_none(text):
    assert parse_price(text) is None


def test_prices_keep_their_exact_digits():
    assert str(parse_price("0.00000100")) == "0.00000100"
    assert str(parse_price("1500370")) == "1500370"


def test_board_keeps_last_quote_but_reports_the_latest_problem():
    from ingest.spreads.monitor.quotes import Quote

    board = QuoteBoard(["btc_mxn"])
    assert board.snapshot()["btc_mxn"].problem == "no quote received yet"
    quote = Quote("btc_mxn", Decimal("1"), Decimal("2"), 100.0, "rest")
    board.publish(quote)
    assert board.snapshot()["btc_mxn"].problem is None
    board.report_problem("btc_mxn", "crossed book")
    status = board.snapshot()["btc_mxn"]
    assert (status.quote, status.problem) == (quote, "crossed book")


def test_the_first_look_waits_until_every_book_has_a_quote_or_a_problem():
    board = QuoteBoard(["btc_mxn", "usd_mxn"])
    board.publish(Quote("btc_mxn", Decimal("1"), Decimal("2"), 0.0, "ws"))
    assert not board.wait_first_look(0.01)
    board.report_problem("usd_mxn", "subscription refused")
    assert board.wait_first_look(0.01)


def test_vouching_keeps_only_the_sources_usable_quotes_current():
    board = QuoteBoard(["btc_mxn", "usd_mxn", "eth_mxn"])
    board.publish(Quote("btc_mxn", Decimal("1"), Decimal("2"), 10.0, "ws"))
    board.publish(Quote("usd_mxn", Decimal("1"), Decimal("2"), 10.0, "rest"))
    board.publish(Quote("eth_mxn", Decimal("1"), Decimal("2"), 10.0, "ws"))
    board.report_problem("eth_mxn", "WebSocket down")
    board.vouch("ws", 50.0)
    current = {book: status.quote.current_at for book, status in board.snapshot().items()}
    assert current == {"btc_mxn": 50.0, "usd_mxn": 10.0, "eth_mxn": 10.0}
