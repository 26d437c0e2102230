"""One observation per book per second, and its rendering as a lake row."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal

from ingest.spreads.monitor.quotes import format_decimal

# The first five are the columns the Markets team asked for, in their order.
COLUMNS = (
    "orderbook_timestamp",
    "book",
    "bid",
    "ask",
    "spread",
    "observed_at",
    "quote_age_ms",
    "sequence",
    "source",
    "is_gap",
    "gap_reason",
)


def utc_iso(epoch_seconds: float, timespec: str = "seconds") -> str:
    """ISO-8601 in UTC with a +00:00 offset, e.g. 2022-04-30T04:10:26+00:00."""
    return datetime.fromtimestamp(epoch_seconds, UTC).isoformat(timespec=timespec)


@dataclasses.dataclass(frozen=True)
class SpreadRecord:
    """The state of one book at one wall-clock second.

    `second` is the UTC epoch second the record stands for. A gap record has no prices and says why
    in `gap_reason`; a quote is never carried into a second where it is not usable.
    """

    second: int
    book: str
    source: str
    bid: Decimal | None = None
    ask: Decimal | None = None
    spread: Decimal | None = None
    observed_at: float | None = None
    quote_age_ms: int | None = None
    sequence: int | None = None
    gap_reason: str | None = None

    @property
    def is_gap(self) -> bool:
        return self.gap_reason is not None

    @property
    def orderbook_timestamp(self) -> str:
        return utc_iso(self.second)

    def as_row(self) -> list[str]:
        """The record as CSV fields in COLUMNS order; absent values are empty strings."""
        return [
            self.orderbook_timestamp,
            self.book,
            "" if self.bid is None else str(self.bid),
            "" if self.ask is None else str(self.ask),
            "" if self.spread is None else format_decimal(self.spread),
            "" if self.observed_at is None else utc_iso(self.observed_at, "milliseconds"),
            "" if self.quote_age_ms is None else str(self.quote_age_ms),
            "" if self.sequence is None else str(self.sequence),
            self.source,
            "true" if self.is_gap else "false",
            self.gap_reason or "",
        ]
