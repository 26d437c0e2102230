"""Best bid and ask per book, the spread arithmetic, and the board the sources publish to."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable
from decimal import (
    Decimal,
    InvalidOperation,
    localcontext,
)

# Spreads are stored and compared at this scale, so an alert and its record never disagree.
SPREAD_QUANTUM = Decimal("0.0000000001")


def spread_pct(bid: Decimal, ask: Decimal) -> Decimal:
    """(ask - bid) * 100 / ask in percent, rounded half-even to ten decimal places."""
    with localcontext() as context:
        context.prec = 60
        return ((ask - bid) * 100 / ask).quantize(SPREAD_QUANTUM)


def format_decimal(value: Decimal) -> str:
    """Plain notation without exponent or trailing zeros (0.2500000000 -> 0.25, 1E+2 -> 100)."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def parse_price(text: object) -> Decimal | None:
    """A price from the API (a decimal string); None when absent, empty or not a positive number."""
    if text is None or isinstance(text, bool):
        return None
    try:
        price = Decimal(str(text))
    except InvalidOperation:
        return None
    return price if price.is_finite() and price > 0 else None


def best_bid_ask(
    bid_prices: Iterable[Decimal], ask_prices: Iterable[Decimal]
) -> tuple[Decimal | None, Decimal | None]:
    """The highest bid and the lowest ask, whatever order the arrays come in."""
    return max(bid_prices, default=None), min(ask_prices, default=None)


def book_problem(bid: Decimal | None, ask: Decimal | None) -> str | None:
    """Why a top of book gives no usable spread, or None when it does."""
    if bid is None and ask is None:
        return "empty book (no bid and no ask)"
    if bid is None:
        return "empty book (no bid)"
    if ask is None:
        return "empty book (no ask)"
    # A matching engine never leaves bid >= ask standing; such a top is a broken snapshot.
    if bid >= ask:
        return f"crossed book (bid {bid} >= ask {ask})"
    return None


@dataclasses.dataclass(frozen=True)
class Quote:
    """A usable best bid and ask, as a source saw them at `observed_at` (epoch seconds).

    A streaming source that would have sent any change sets `vouched_at` to the last moment its
    feed was known live: the quote was still the book's state then, however old it is.
    """

    book: str
    bid: Decimal
    ask: Decimal
    observed_at: float
    source: str
    sequence: int | None = None
    vouched_at: float | None = None

    @property
    def current_at(self) -> float:
        """The latest moment the quote is known to have been the book's state."""
        return max(self.observed_at, self.vouched_at or self.observed_at)

    @property
    def spread(self) -> Decimal:
        return spread_pct(self.bid, self.ask)


@dataclasses.dataclass(frozen=True)
class BookStatus:
    """What the board knows of one book: its last usable quote and, if the latest look at the book
    gave none, why."""

    quote: Quote | None = None
    problem: str | None = None


class QuoteBoard:
    """Current best quotes per book. Sources write from their own threads; the sampler reads.

    `on_quote`, if set, is called with every published quote on the publishing thread (for
    alerts that fire per message rather than per second).
    """

    def __init__(self, books: Iterable[str]) -> None:
        self._lock = threading.Lock()
        self._status = {book: BookStatus(problem="no quote received yet") for book in books}
        self._unseen = set(self._status)
        self._first_look = threading.Event()
        self.on_quote: Callable[[Quote], None] | None = None

    @property
    def books(self) -> tuple[str, ...]:
        return tuple(self._status)

    def publish(self, quote: Quote) -> None:
        with self._lock:
            if quote.book not in self._status:
                return
            self._status[quote.book] = BookStatus(quote=quote)
            self._seen(quote.book)
        if self.on_quote is not None:
            self.on_quote(quote)

    def vouch(self, source: str, at: float) -> None:
        """`source`'s feed was live at `at`: its usable quotes were still current then."""
        with self._lock:
            for book, status in self._status.items():
                quote = status.quote
                if status.problem is None and quote is not None and quote.source == source:
                    self._status[book] = BookStatus(dataclasses.replace(quote, vouched_at=at))

    def report_problem(self, book: str, problem: str) -> None:
        with self._lock:
            if book not in self._status:
                return
            self._status[book] = dataclasses.replace(self._status[book], problem=problem)
            self._seen(book)

    def _seen(self, book: str) -> None:
        """Called with the lock held."""
        if self._unseen:
            self._unseen.discard(book)
            if not self._unseen:
                self._first_look.set()

    def wait_first_look(self, timeout: float) -> bool:
        """Wait until a source has reported on every book (a quote or a problem), so the first
        second is not a needless gap."""
        return self._first_look.wait(timeout)

    def snapshot(self) -> dict[str, BookStatus]:
        with self._lock:
            return dict(self._status)
