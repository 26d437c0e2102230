"""Full order books from Bitso's `diff-orders` channel on top of a REST `aggregate=false`
snapshot, joined by the book's `sequence` (the procedure in Bitso's "how to keep an order book").
"""

from __future__ import annotations

import dataclasses
from collections import Counter, deque
from decimal import Decimal, InvalidOperation

from ingest.spreads.monitor.quotes import parse_price

BID, ASK = 0, 1
# Messages held while a snapshot is fetched; older ones are dropped, and if that loses one the
# replay sees the gap and fetches again.
MAX_QUEUED = 10_000


class OutOfSync(Exception):
    """The book can no longer be trusted: a message is missing or unusable. Fetch a snapshot."""


@dataclasses.dataclass(frozen=True)
class Change:
    """One entry of a diff-orders payload."""

    oid: str
    open: bool
    side: int
    price: Decimal | None
    amount: Decimal | None


def parse_changes(entries: object) -> list[Change]:
    """The entries of a diff-orders payload; ValueError if any is unusable."""
    if not isinstance(entries, list):
        raise ValueError("payload is not a list")
    changes = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("o"), str):
            raise ValueError(f"entry without an order id: {entry!r}")
        status = entry.get("s")
        if status in ("cancelled", "completed"):
            # Only the id matters: `completed` entries carry no amount on the wire.
            changes.append(Change(entry["o"], False, -1, None, None))
            continue
        if status != "open" or entry.get("t") not in (BID, ASK):
            raise ValueError(f"entry with status {status!r} and side {entry.get('t')!r}")
        price = parse_price(entry.get("r"))
        amount = _amount(entry.get("a"))
        if price is None or amount is None:
            raise ValueError(f"open order {entry['o']} without a usable rate or amount")
        changes.append(Change(entry["o"], True, entry["t"], price, amount))
    return changes


def _amount(text: object) -> Decimal | None:
    try:
        amount = Decimal(str(text))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() and amount >= 0 else None


class OrderBook:
    """Resting orders by id, and how many rest at each price, so the best price of a side is
    found again only when its last order there goes."""

    def __init__(self, sequence: int) -> None:
        self.sequence = sequence
        self._orders: dict[str, tuple[int, Decimal, Decimal]] = {}
        self._prices: tuple[Counter[Decimal], Counter[Decimal]] = (Counter(), Counter())
        self._best: list[Decimal | None] = [None, None]

    @classmethod
    def from_snapshot(cls, payload: dict) -> OrderBook:
        """The book of a REST `order_book?aggregate=false` payload; ValueError if unusable."""
        try:
            book = cls(int(payload["sequence"]))
            for side, name in ((BID, "bids"), (ASK, "asks")):
                for row in payload[name]:
                    price, amount = parse_price(row["price"]), _amount(row["amount"])
                    if price is None or amount is None or not isinstance(row["oid"], str):
                        raise ValueError(f"unusable order in the snapshot: {row!r}")
                    book._open(row["oid"], side, price, amount)
        except (KeyError, TypeError) as error:
            raise ValueError(f"not an order-book payload ({error!r})") from error
        return book

    @property
    def best_bid(self) -> Decimal | None:
        return self._best_of(BID)

    @property
    def best_ask(self) -> Decimal | None:
        return self._best_of(ASK)

    def apply(self, sequence: int, changes: list[Change]) -> None:
        for change in changes:
            self._close(change.oid)
            if change.open:
                self._open(change.oid, change.side, change.price, change.amount)
        self.sequence = sequence

    def _open(self, oid: str, side: int, price: Decimal, amount: Decimal) -> None:
        self._close(oid)
        self._orders[oid] = (side, price, amount)
        self._prices[side][price] += 1
        best = self._best[side]
        if best is not None and (price > best if side == BID else price < best):
            self._best[side] = price

    def _close(self, oid: str) -> None:
        order = self._orders.pop(oid, None)
        if order is None:
            return
        side, price, _ = order
        prices = self._prices[side]
        prices[price] -= 1
        if not prices[price]:
            del prices[price]
            if price == self._best[side]:
                self._best[side] = None

    def _best_of(self, side: int) -> Decimal | None:
        if self._best[side] is None and self._prices[side]:
            choose = max if side == BID else min
            self._best[side] = choose(self._prices[side])
        return self._best[side]


class BookSync:
    """One book's state: messages queued until a snapshot arrives, then applied in sequence."""

    def __init__(self) -> None:
        self.book: OrderBook | None = None
        self._queue: deque[tuple[int, object]] = deque(maxlen=MAX_QUEUED)

    def on_diff(self, sequence: int, entries: object) -> bool:
        """Apply (or queue) one message; True when the book changed. Raises OutOfSync, and
        forgets the book, when a message is missing or unusable."""
        if self.book is None:
            self._queue.append((sequence, entries))
            return False
        if sequence <= self.book.sequence:
            return False
        expected = self.book.sequence + 1
        if sequence != expected:
            self._lose(sequence, entries)
            raise OutOfSync(f"diff-orders sequence jumped from {expected - 1} to {sequence}")
        try:
            changes = parse_changes(entries)
        except ValueError as error:
            self._lose(sequence, entries)
            raise OutOfSync(f"unusable diff-orders message {sequence}: {error}") from error
        self.book.apply(sequence, changes)
        return True

    def on_snapshot(self, book: OrderBook) -> None:
        """Start from a snapshot: drop queued messages it already holds, replay the rest."""
        queued = list(self._queue)
        self._queue.clear()
        self.book = book
        for index, (sequence, entries) in enumerate(queued):
            try:
                self.on_diff(sequence, entries)
            except OutOfSync:
                self._queue.extend(queued[index + 1 :])
                raise

    def _lose(self, sequence: int, entries: object) -> None:
        self.book = None
        self._queue.clear()
        self._queue.append((sequence, entries))
