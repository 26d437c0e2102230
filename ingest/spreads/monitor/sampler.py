"""The one-second sampler: on every wall-clock second, one record per book from the board."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence

from ingest.spreads.monitor.clock import Clock
from ingest.spreads.monitor.quotes import BookStatus, QuoteBoard
from ingest.spreads.monitor.records import SpreadRecord

MISSED_SECOND = "monitor missed this second (it was paused or overloaded)"


def record_for(
    book: str, second: int, status: BookStatus, now: float, stale_after: float, source: str
) -> SpreadRecord:
    """The record of `book` at `second`, read from its board status at time `now`."""
    quote = status.quote
    if status.problem is not None or quote is None:
        return SpreadRecord(second, book, source, gap_reason=status.problem or "no quote")
    age = max(0.0, now - quote.observed_at)
    unconfirmed = now - quote.current_at
    if unconfirmed > stale_after:
        return SpreadRecord(
            second,
            book,
            source,
            observed_at=quote.observed_at,
            quote_age_ms=round(age * 1000),
            gap_reason=f"stale quote ({unconfirmed:.1f} s old, limit {stale_after:g} s)",
        )
    return SpreadRecord(
        second,
        book,
        quote.source,
        bid=quote.bid,
        ask=quote.ask,
        spread=quote.spread,
        observed_at=quote.observed_at,
        quote_age_ms=round(age * 1000),
        sequence=quote.sequence,
    )


class Sampler:
    """Reads the board at each whole second and hands that second's records to `emit`.

    The next deadline is always the previous one plus one second, never "now + 1", so the cadence
    does not drift; a second that passes unsampled still gets its records, flagged as gaps.
    """

    def __init__(
        self,
        board: QuoteBoard,
        clock: Clock,
        source: str,
        stale_after: float,
    ) -> None:
        self.board = board
        self.clock = clock
        self.source = source
        self.stale_after = stale_after
        # Kept across calls of `run`, so a restarted sampler goes on where it stopped (the
        # seconds in between become gaps) and still ends after the same `seconds`.
        self._next_second: int | None = None
        self._last: int | None = None

    def sample(self, second: int, now: float) -> list[SpreadRecord]:
        statuses = self.board.snapshot()
        return [
            record_for(book, second, statuses[book], now, self.stale_after, self.source)
            for book in self.board.books
        ]

    def run(
        self,
        emit: Callable[[int, Sequence[SpreadRecord], float], None],
        stop: threading.Event,
        seconds: int | None = None,
    ) -> None:
        """Sample each coming second, `seconds` of them (or until `stop` is set).

        `emit(second, records, lateness)` is called in order, once per second; `lateness` is how
        many seconds after the boundary the board was read. Called again (after a failure),
        it goes on with the next second not emitted yet.
        """
        if self._next_second is None:
            self._next_second = math.floor(self.clock.time()) + 1
            self._last = None if seconds is None else self._next_second + seconds - 1
        last = self._last
        while last is None or self._next_second <= last:
            next_second = self._next_second
            if not self.clock.sleep_until(next_second, stop):
                return
            now = self.clock.time()
            current = max(next_second, math.floor(now))
            if last is not None:
                current = min(current, last)
            for missed in range(next_second, current):
                records = [
                    SpreadRecord(missed, book, self.source, gap_reason=MISSED_SECOND)
                    for book in self.board.books
                ]
                emit(missed, records, now - missed)
                self._next_second = missed + 1
            emit(current, self.sample(current, now), now - current)
            self._next_second = current + 1
