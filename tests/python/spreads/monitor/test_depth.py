"""Full books from diff-orders on a REST snapshot: queueing, replay, gaps, the best prices."""

from decimal import Decimal

import pytest

from ingest.spreads.monitor.depth import BookSync, OrderBook, OutOfSync


def snapshot(sequence, bids, asks):
    def rows(orders):
        return [{"book": "btc_mxn", "price": p, "amount": a, "oid": o} for o, p, a in orders]

    return {"sequence": str(sequence), "bids": rows(bids), "asks": rows(asks)}


def opened(oid, side, price, amount="0.5"):
    return {"o": oid, "t": side, "r": price, "a": amount, "v": "1", "s": "open", "d": 1}


def closed(oid, status="cancelled"):
    return {"o": oid, "s": status, "d": 1, "t": 0, "r": "1"}


BOOK = snapshot(10, [("b1", "100", "1"), ("b2", "99", "1")], [("a1", "101", "1")])


def test_queued_messages_up_to_the_snapshot_are_dropped_and_later_ones_applied():
    sync = BookSync()
    assert not sync.on_diff(9, [opened("b9", 0, "100.5")])
    assert not sync.on_diff(11, [opened("b3", 0, "100.5")])
    sync.on_snapshot(OrderBook.from_snapshot(BOOK))
    assert (sync.book.sequence, sync.book.best_bid, sync.book.best_ask) == (
        11,
        Decimal("100.5"),
        Decimal("101"),
    )


def test_removing_the_best_order_finds_the_next_best_price():
    sync = BookSync()
    sync.on_snapshot(OrderBook.from_snapshot(BOOK))
    assert sync.on_diff(11, [closed("b1"), closed("a1", "completed"), opened("a2", 1, "102")])
    assert (sync.book.best_bid, sync.book.best_ask) == (Decimal("99"), Decimal("102"))
    # A changed order replaces itself: the same id at a new price.
    assert sync.on_diff(12, [opened("b2", 0, "98")])
    assert sync.book.best_bid == Decimal("98")
    assert not sync.on_diff(12, [opened("b2", 0, "1")]), "a repeated sequence changes nothing"


def test_a_sequence_gap_forgets_the_book_and_the_next_snapshot_continues_it():
    sync = BookSync()
    sync.on_snapshot(OrderBook.from_snapshot(BOOK))
    with pytest.raises(OutOfSync, match="jumped from 10 to 12"):
        sync.on_diff(12, [opened("b3", 0, "100.5")])
    assert sync.book is None
    sync.on_diff(13, [closed("b3")])
    with pytest.raises(OutOfSync):
        sync.on_snapshot(OrderBook.from_snapshot(BOOK))  # still older than message 12
    sync.on_snapshot(OrderBook.from_snapshot(snapshot(12, [("b3", "100.5", "1")], [])))
    assert (sync.book.sequence, sync.book.best_bid, sync.book.best_ask) == (13, None, None)


@pytest.mark.parametrize(
    "entries",
    [
        {"o": "x"},
        [{"s": "open", "t": 0, "r": "1", "a": "1"}],
        [opened("b3", 2, "100")],
        [opened("b3", 0, "abc")],
        [opened("b3", 0, "100", "-1")],
        [{"o": "b3", "s": "moved"}],
    ],
)
def test_an_unusable_message_at_the_next_sequence_forces_a_resync(entries):
    sync = BookSync()
    sync.on_snapshot(OrderBook.from_snapshot(BOOK))
    with pytest.raises(OutOfSync, match="unusable diff-orders message 11"):
        sync.on_diff(11, entries)
    assert sync.book is None


@pytest.mark.parametrize(
    "payload",
    [
        {"bids": [], "asks": []},
        {**BOOK, "bids": [{"price": "1", "amount": "1"}]},
        {**BOOK, "sequence": "x"},
    ],
)
def test_a_snapshot_that_is_not_an_order_book_is_refused(payload):
    with pytest.raises(ValueError):
        OrderBook.from_snapshot(payload)
