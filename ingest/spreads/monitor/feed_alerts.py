"""Stale-feed alerts: one `stale` when a book has had no usable quote for `--stale-after` seconds,
one `fresh` at its next usable second, so the Markets team hears that the monitor is blind
instead of hearing nothing."""

from __future__ import annotations

from collections.abc import Iterable

from ingest.spreads.monitor.alert_state import OpenStale
from ingest.spreads.monitor.alerts import FRESH, STALE, AlertEvent
from ingest.spreads.monitor.records import SpreadRecord, utc_iso


class FeedWatch:
    """Counts, per book, the gap seconds since its last usable one (from the one-second records,
    whatever the alert timing).

    `open_stale` are the books a previous run had alerted as stale: they are not alerted again,
    and their first usable second sends `fresh`.
    """

    def __init__(self, stale_after: int, open_stale: Iterable[OpenStale] = ()) -> None:
        if stale_after < 1:
            raise ValueError("stale_after must be at least one second")
        self.stale_after = stale_after
        self._stale: dict[str, OpenStale] = {stale.book: stale for stale in open_stale}
        # Per book, the first second of its current run of gap seconds.
        self._quiet_since: dict[str, int] = {}

    def open_stale(self) -> tuple[OpenStale, ...]:
        return tuple(self._stale.values())

    def observe(self, record: SpreadRecord) -> list[AlertEvent]:
        book = record.book
        if not record.is_gap:
            self._quiet_since.pop(book, None)
            stale = self._stale.pop(book, None)
            if stale is None:
                return []
            return [
                AlertEvent(
                    book=book,
                    threshold=None,
                    state=FRESH,
                    spread=record.spread,
                    bid=record.bid,
                    ask=record.ask,
                    orderbook_timestamp=record.orderbook_timestamp,
                    quiet_seconds=record.second - stale.since,
                    episode_start=utc_iso(stale.since),
                )
            ]
        since = self._quiet_since.setdefault(book, record.second)
        quiet = record.second - since + 1
        if book in self._stale or quiet < self.stale_after:
            return []
        self._stale[book] = OpenStale(book, since)
        return [
            AlertEvent(
                book=book,
                threshold=None,
                state=STALE,
                spread=None,
                bid=None,
                ask=None,
                orderbook_timestamp=record.orderbook_timestamp,
                quiet_seconds=quiet,
                reason=record.gap_reason,
                episode_start=utc_iso(since),
            )
        ]
