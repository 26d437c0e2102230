"""One observation per book per second, and its rendering as a lake row."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal

from ingest.contracts import LAKE_WINDOW_COLUMNS
from ingest.spreads.monitor.quotes import format_decimal


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
        """The record as CSV fields in the lake's column order; absent values are empty strings."""
        return [self._field(column) for column in LAKE_WINDOW_COLUMNS]

    def _field(self, column: str) -> str:
        value = getattr(self, column)
        if value is None:
            return ""
        if column == "spread":
            return format_decimal(value)
        if column == "observed_at":
            return utc_iso(value, "milliseconds")
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)
