"""The one-second sampler: on every wall-clock second, one record per book from the board."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Sequence

from ingest.spreads.monitor.clock import STEP_TOLERANCE, Clock
from ingest.spreads.monitor.quotes import BookStatus, QuoteBoard
from ingest.spreads.monitor.records import SpreadRecord, utc_iso

log = logging.getLogger(__name__)

MISSED_SECOND = "monitor missed this second (it was paused or overloaded)"


def clock_stepped_forward(step: float) -> str:
    """The gap reason of the seconds a forward step of the wall clock skipped."""
    # The details go in parentheses: metrics group gap reasons by what comes before them.
    return f"clock stepped forward (by {step:.1f} s, or the machine was suspended)"


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

    The wall clock is compared with the monotonic clock at each wake-up, so a step (NTP) is
    logged. The seconds a forward step skips are gaps, journaled in one batch. After a backward
    step, the seconds the new clock repeats were written already: the sampler waits for the
    first second it has not written, and says so.
    """

    def __init__(
        self,
        board: QuoteBoard,
        clock: Clock,
        source: str,
        quote_max_age: float,
    ) -> None:
        self.board = board
        self.clock = clock
        self.source = source
        self.quote_max_age = quote_max_age
        # Kept across calls of `run`, so a restarted sampler goes on where it stopped (the
        # seconds in between become gaps) and still ends after the same `seconds`.
        self._next_second: int | None = None
        self._last: int | None = None
        # Wall clock minus monotonic clock at the last wake-up: a change is a step.
        self._offset = 0.0

    def sample(self, second: int, now: float) -> list[SpreadRecord]:
        statuses = self.board.snapshot()
        return [
            record_for(book, second, statuses[book], now, self.quote_max_age, self.source)
            for book in self.board.books
        ]

    def gaps(self, second: int, reason: str) -> list[SpreadRecord]:
        return [
            SpreadRecord(second, book, self.source, gap_reason=reason) for book in self.board.books
        ]

    def run(
        self,
        emit: Callable[[int, Sequence[SpreadRecord], float], None],
        emit_missed: Callable[[list[tuple[int, list[SpreadRecord]]], float], None],
        stop: threading.Event,
        seconds: int | None = None,
    ) -> None:
        """Sample each coming second, `seconds` of them (or until `stop` is set).

        `emit(second, records, lateness)` is called in order, once per sampled second; `lateness`
        is how many seconds after the boundary the board was read. Seconds that passed unsampled
        go, before the next sampled one, to `emit_missed([(second, gap records), ...], now)`.
        Called again (after a failure), it goes on with the next second not emitted yet.
        """
        if self._next_second is None:
            now = self.clock.time()
            self._offset = now - self.clock.monotonic()
            self._next_second = math.floor(now) + 1
            self._last = None if seconds is None else self._next_second + seconds - 1
        last = self._last
        while last is None or self._next_second <= last:
            next_second = self._next_second
            # A step since the last wake-up (while the second was being written) counts too.
            before = self._clock_step(self.clock.time())
            if before < 0:
                self._stepped_back(before, next_second, self.clock.time())
            if not self.clock.sleep_until(next_second, stop):
                return
            now = self.clock.time()
            during = self._clock_step(now)
            if now < next_second:
                # Woken early by a step back: the deadline is further away on the new clock.
                if during < 0:
                    self._stepped_back(during, next_second, now)
                continue
            current = max(next_second, math.floor(now))
            if last is not None:
                current = min(current, last)
            forward = max(before, 0.0) + max(during, 0.0)
            if forward:
                log.warning(
                    "the wall clock stepped forward %.1f s: %d seconds skipped, recorded as gaps",
                    forward,
                    current - next_second,
                )
            if current > next_second:
                reason = clock_stepped_forward(forward) if forward else MISSED_SECOND
                emit_missed(
                    [(missed, self.gaps(missed, reason)) for missed in range(next_second, current)],
                    now,
                )
                self._next_second = current
            emit(current, self.sample(current, now), now - current)
            self._next_second = current + 1

    @staticmethod
    def _stepped_back(step: float, next_second: int, now: float) -> None:
        log.warning(
            "the wall clock stepped back %.1f s: the seconds up to %s were recorded already and "
            "are not recorded again; recording resumes at %s, in %.0f s",
            -step,
            utc_iso(next_second - 1),
            utc_iso(next_second),
            max(0.0, next_second - now),
        )

    def _clock_step(self, now: float) -> float:
        """How far the wall clock jumped against the monotonic clock since the last reading (0
        within the tolerance)."""
        offset = now - self.clock.monotonic()
        step, self._offset = offset - self._offset, offset
        return step if abs(step) >= STEP_TOLERANCE else 0.0
