"""Synthetic spread data for the report's page tests: a book's seconds, minutes, episodes and
gaps built from a spread pattern, as the spread models would hold them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from ingest.spreads.report_data import BookData, Episode, Gap, Minute, Observation, Period

THRESHOLDS = (Decimal("0.1"), Decimal("0.5"), Decimal("1.0"))
END = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
ASK = Decimal("1548000")


def spread_at(offset: int) -> Decimal:
    """A spread that stays low and climbs, once an hour, through every threshold and back."""
    phase = offset % 3600
    if 600 <= phase < 660:
        return Decimal("1.2")
    if 540 <= phase < 720:
        return Decimal("0.7")
    if 420 <= phase < 840:
        return Decimal("0.3")
    return Decimal("0.05") + Decimal(offset % 7) / 1000


def book_data(book: str, seconds: int, *, gap_every: int = 3600, end: datetime = END) -> BookData:
    """`seconds` recorded seconds up to `end`, with a 5-second gap every `gap_every` seconds."""
    start = end - timedelta(seconds=seconds)
    period = Period(start, end, THRESHOLDS)
    series = []
    gaps = []
    for offset in range(1, seconds + 1):
        second = start + timedelta(seconds=offset)
        if offset >= gap_every and offset % gap_every < 5:
            if offset % gap_every == 0:
                gaps.append(
                    Gap(second, second + timedelta(seconds=4), 5, "no usable quote", "timeout")
                )
            series.append(Observation(second, None, None, None))
            continue
        spread = spread_at(offset)
        bid = ASK - ASK * spread / 100
        series.append(Observation(second, bid, ASK, spread))
    return BookData(
        book=book,
        period=period,
        series=series,
        minutes=minutes_of(series),
        episodes=episodes_of(series),
        gaps=gaps,
        exposure=[],
    )


def minutes_of(series: list[Observation]) -> list[Minute]:
    minutes: dict[datetime, list[Observation]] = {}
    for row in series:
        minutes.setdefault(row.second.replace(second=0), []).append(row)
    result = []
    for start, rows in minutes.items():
        usable = [row for row in rows if row.spread_pct is not None]
        spreads = [row.spread_pct for row in usable]
        last = usable[-1] if usable else Observation(start, None, None, None)
        result.append(
            Minute(
                start, min(spreads, default=None), max(spreads, default=None), last.bid, last.ask
            )
        )
    return result


def episodes_of(series: list[Observation]) -> list[Episode]:
    episodes = []
    for threshold in THRESHOLDS:
        start = peak = last_above = None
        for row in series:
            if row.spread_pct is None:
                continue
            if row.spread_pct > threshold:
                start = start or row.second
                peak = max(peak or row.spread_pct, row.spread_pct)
                last_above = row.second
            elif start is not None:
                duration = int((row.second - start).total_seconds())
                episodes.append(Episode(threshold, start, row.second, duration, last_above, peak))
                start = peak = None
        if start is not None:
            episodes.append(Episode(threshold, start, None, None, last_above, peak))
    return sorted(episodes, key=lambda episode: (episode.start, episode.threshold_pct))
