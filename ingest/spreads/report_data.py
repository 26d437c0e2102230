"""What the spread report shows, read from the warehouse's spread models on either engine.

One book at a time (a full day of 54 books at one row a second would not fit in memory at
once): its seconds from `fct_spread_observations`, its minutes from `rpt_spread_minutely`, its
episodes, gaps and daily exposure from the `rpt_spread_*` models, and the thresholds seed.
`summarize` reduces a book to the overview table's row, in exact decimals.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

from ingest.io.warehouse import Warehouse

ONE_SECOND = timedelta(seconds=1)


class ReportError(RuntimeError):
    """There is nothing to report on, or the spread models are missing."""


class Observation(NamedTuple):
    second: datetime
    bid: Decimal | None
    ask: Decimal | None
    spread_pct: Decimal | None  # None on a gap second


class Minute(NamedTuple):
    start: datetime
    min_spread_pct: Decimal | None  # None when the minute had no usable second
    max_spread_pct: Decimal | None
    last_bid: Decimal | None
    last_ask: Decimal | None


@dataclasses.dataclass(frozen=True)
class Episode:
    threshold_pct: Decimal
    start: datetime
    end: datetime | None  # None while unresolved at the end of the data
    duration_seconds: int | None
    last_second_above: datetime
    peak_spread_pct: Decimal

    @property
    def until(self) -> datetime:
        """The first second no longer above (an open episode ends after its last second)."""
        return self.end or self.last_second_above + ONE_SECOND


@dataclasses.dataclass(frozen=True)
class Gap:
    start: datetime
    end: datetime  # the last second of the gap
    seconds: int
    kind: str
    reason: str | None


@dataclasses.dataclass(frozen=True)
class Exposure:
    day: str
    threshold_pct: Decimal
    observed_seconds: int
    seconds_above: int
    share_above: Decimal | None


@dataclasses.dataclass(frozen=True)
class Period:
    start: datetime  # exclusive
    end: datetime  # inclusive, the last second drawn
    thresholds: tuple[Decimal, ...]


@dataclasses.dataclass(frozen=True)
class BookData:
    book: str
    period: Period
    series: list[Observation]  # one per recorded second, in order
    minutes: list[Minute]
    episodes: list[Episode]
    gaps: list[Gap]
    exposure: list[Exposure]


@dataclasses.dataclass(frozen=True)
class BookSummary:
    """One row of the overview table."""

    book: str
    recorded_seconds: int
    latest_spread_pct: Decimal | None
    median_spread_pct: Decimal | None
    p95_spread_pct: Decimal | None
    # (threshold, share of usable seconds strictly above it), thresholds ascending.
    share_above: tuple[tuple[Decimal, Decimal | None], ...]
    episodes: int
    gap_seconds: int
    last_quote: Observation | None


def read_period(
    warehouse: Warehouse, *, hours: int, books: tuple[str, ...] = (), end: datetime | None = None
) -> tuple[Period, tuple[str, ...]]:
    """The period (`hours` up to `end`, by default up to the newest observation) and its books
    (by default every book with data in it)."""
    if "fct_spread_observations" not in warehouse.tables_in("spreads"):
        raise ReportError("the spread models are missing: run `dbt build` first")
    if end is None:
        # The last `hours` of data: a shorter history is drawn from its first second.
        newest, oldest = warehouse.execute(
            "select max(orderbook_timestamp), min(orderbook_timestamp)"
            f" from {_spreads(warehouse, 'fct_spread_observations')}"
        )[0]
        if newest is None:
            raise ReportError("no spread observations in the warehouse")
        end = newest
        start = max(end - timedelta(hours=hours), oldest - ONE_SECOND)
    else:
        start = end - timedelta(hours=hours)
    thresholds = tuple(
        value
        for (value,) in warehouse.execute(
            f"select threshold_pct from {warehouse.relation('reference', 'spread_thresholds')}"
            " order by threshold_pct"
        )
    )
    if not books:
        books = tuple(
            book
            for (book,) in warehouse.execute(
                f"select distinct book from {_spreads(warehouse, 'fct_spread_observations')}"
                " where orderbook_timestamp > ? and orderbook_timestamp <= ? order by book",
                (start, end),
            )
        )
    if not books:
        raise ReportError(f"no observations between {start} and {end}")
    return Period(start, end, thresholds), books


def read_books(warehouse: Warehouse, period: Period, books: tuple[str, ...]) -> Iterator[BookData]:
    for book in books:
        yield read_book(warehouse, book, period)


def read_book(warehouse: Warehouse, book: str, period: Period) -> BookData:
    start, end = period.start, period.end
    series = warehouse.execute(
        "select orderbook_timestamp, bid, ask, spread_pct"
        f" from {_spreads(warehouse, 'fct_spread_observations')}"
        " where book = ? and orderbook_timestamp > ? and orderbook_timestamp <= ?"
        " order by orderbook_timestamp",
        (book, start, end),
    )
    minutes = warehouse.execute(
        "select minute_start, min_spread_pct, max_spread_pct, last_bid, last_ask"
        f" from {_spreads(warehouse, 'rpt_spread_minutely')}"
        " where book = ? and minute_start > ? and minute_start <= ?"
        " order by minute_start",
        # A minute that begins before the period's start still holds some of its seconds.
        (book, start - timedelta(minutes=1), end),
    )
    episodes = warehouse.execute(
        "select threshold_pct, episode_start, episode_end, duration_seconds, last_second_above,"
        f" peak_spread_pct from {_spreads(warehouse, 'rpt_spread_alert_episodes')}"
        " where book = ? and episode_start <= ? and coalesce(episode_end, last_second_above) > ?"
        " order by episode_start, threshold_pct",
        (book, end, start),
    )
    gaps = warehouse.execute(
        "select gap_start, gap_end, gap_seconds, gap_kind, first_gap_reason"
        f" from {_spreads(warehouse, 'rpt_spread_gaps')}"
        " where book = ? and gap_start <= ? and gap_end > ?"
        " order by gap_start",
        (book, end, start),
    )
    exposure = warehouse.execute(
        "select observation_date, threshold_pct, observed_seconds, seconds_above, share_above"
        f" from {_spreads(warehouse, 'rpt_spread_threshold_exposure')}"
        " where book = ? and observation_date between ? and ?"
        " order by observation_date, threshold_pct",
        (book, start.astimezone(UTC).date(), end.astimezone(UTC).date()),
    )
    return BookData(
        book=book,
        period=period,
        series=[Observation(*row) for row in series],
        minutes=[Minute(*row) for row in minutes],
        episodes=[Episode(*row) for row in episodes],
        gaps=[Gap(*row) for row in gaps],
        exposure=[Exposure(str(day), *rest) for day, *rest in exposure],
    )


def _spreads(warehouse: Warehouse, table: str) -> str:
    return warehouse.relation("spreads", table)


def summarize(data: BookData) -> BookSummary:
    usable = [row for row in data.series if row.spread_pct is not None]
    spreads = sorted(row.spread_pct for row in usable)
    median, p95 = _median_and_p95(spreads)
    share_above = tuple(
        (
            threshold,
            Decimal(sum(1 for spread in spreads if spread > threshold)) / len(spreads)
            if spreads
            else None,
        )
        for threshold in data.period.thresholds
    )
    return BookSummary(
        book=data.book,
        recorded_seconds=len(data.series),
        latest_spread_pct=usable[-1].spread_pct if usable else None,
        median_spread_pct=median,
        p95_spread_pct=p95,
        share_above=share_above,
        episodes=len(data.episodes),
        gap_seconds=sum(_seconds_within(gap, data.period) for gap in data.gaps),
        last_quote=usable[-1] if usable else None,
    )


def _median_and_p95(spreads: list[Decimal]) -> tuple[Decimal | None, Decimal | None]:
    """Continuous percentiles, as the models compute them (PERCENTILE_CONT, Hyndman and Fan's
    type 7), in exact decimal arithmetic."""
    if not spreads:
        return None, None
    if len(spreads) == 1:
        return spreads[0], spreads[0]
    # Cut points at 5 %, 10 %, ... 95 %: the 10th is the median, the 19th the p95.
    cuts = statistics.quantiles(spreads, n=20, method="inclusive")
    return cuts[9], cuts[18]


def _seconds_within(gap: Gap, period: Period) -> int:
    """The gap's seconds inside the period (its start is exclusive, its end inclusive)."""
    first = max(gap.start, period.start + ONE_SECOND)
    last = min(gap.end, period.end)
    return max(0, int((last - first).total_seconds()) + 1)
