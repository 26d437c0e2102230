"""The report page: what each chart embeds at each resolution, the overview's numbers, and the
size bound of a full day of 54 books (docs/spread_analysis.md, "`ingest report`")."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from ingest.spreads import report_data, report_page
from ingest.spreads.report_data import Episode, Gap, Minute, Observation, Period
from tests.python.spreads.report_fixtures import END, THRESHOLDS, book_data

# The bound stated in docs/spread_analysis.md: plotly's bundle once, then under 280 KB a book.
PAGE_BOUND_BYTES = 20_000_000
DAY = 86_400


def traces(figure, name_start: str):
    return [trace for trace in figure.data if trace.name.startswith(name_start)]


def drawn(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def render(datas) -> str:
    charts = [report_page.chart(data, index) for index, data in enumerate(datas)]
    summaries = [report_data.summarize(data) for data in datas]
    return report_page.page(datas[0].period, summaries, charts)


def test_an_hour_or_less_is_drawn_second_by_second_with_bid_and_ask():
    data = book_data("btc_mxn", 1800)
    figure = report_page.figure(data)
    assert not traces(figure, "lowest")
    (spread,) = traces(figure, "spread")
    first = data.series[0].second
    assert spread.x0 == first.timestamp() * 1000 and spread.dx == 1000
    assert list(spread.y) == [drawn(row.spread_pct) for row in data.series]
    assert [tuple(pair) for pair in spread.customdata] == [
        (None, None) if row.bid is None else (float(row.bid), int(row.ask)) for row in data.series
    ]


def test_a_longer_period_embeds_each_minutes_range_and_only_its_last_hour_by_second():
    data = book_data("btc_mxn", 3 * 3600)
    figure = report_page.figure(data)
    (spread,) = traces(figure, "spread, every second")
    last_hour = data.series[-3600:]
    assert spread.x0 == last_hour[0].second.timestamp() * 1000
    assert list(spread.y) == [drawn(row.spread_pct) for row in last_hour]
    (lows,) = traces(figure, "lowest in bucket")
    (highs,) = traces(figure, "lowest to highest, per minute")
    assert lows.dx == highs.dx == 60_000
    assert lows.x0 == data.minutes[0].start.timestamp() * 1000
    assert list(lows.y) == [drawn(minute.min_spread_pct) for minute in data.minutes]
    assert list(highs.y) == [drawn(minute.max_spread_pct) for minute in data.minutes]
    # The scripted climb to 1.2 % shows in the band of every hour, not only the last one.
    assert sum(1 for value in highs.y if value == 1.2) == 3


def test_past_a_day_minutes_merge_into_about_1440_buckets_keeping_the_extremes():
    start = END - timedelta(days=7)
    minutes = [
        Minute(start + timedelta(minutes=offset), Decimal("0.05"), Decimal("0.2"), None, None)
        for offset in range(7 * 1440)
    ]
    minutes[5000] = minutes[5000]._replace(min_spread_pct=Decimal("0.01"))
    minutes[5001] = minutes[5001]._replace(max_spread_pct=Decimal("3.5"))
    data = dataclasses.replace(
        book_data("btc_mxn", 60), period=Period(start, END, THRESHOLDS), minutes=minutes
    )
    figure = report_page.figure(data)
    (lows,) = traces(figure, "lowest in bucket")
    (highs,) = traces(figure, "lowest to highest, per 7 minutes")
    # A bucket per 7 minutes, and one for the end's own minute.
    assert len(lows.y) == len(highs.y) == 1441
    assert lows.y[-1] is highs.y[-1] is None  # the end's minute has no data here
    assert min(lows.y[:-1]) == 0.01 and max(highs.y[:-1]) == 3.5
    assert lows.y.index(0.01) == highs.y.index(3.5) == 5000 // 7


def shaded(trace) -> list:
    """The starts of the steps a shading trace fills, as datetimes."""
    start = datetime.fromtimestamp(trace.x0 / 1000, UTC)
    step = timedelta(milliseconds=trace.dx)
    return [start + step * index for index, flag in enumerate(trace.y) if flag]


def test_thresholds_are_lines_and_episodes_and_gaps_are_shaded_at_each_resolution():
    data = book_data("btc_mxn", 3 * 3600)
    figure = report_page.figure(data)
    handover = data.series[-3600].second
    spans = {
        f"above {label} %": [
            (episode.start, episode.until)
            for episode in data.episodes
            if episode.threshold_pct == Decimal(label)
        ]
        for label in ("0.1", "0.5", "1.0")
    }
    spans["no usable quote"] = [(gap.start, gap.end + timedelta(seconds=1)) for gap in data.gaps]
    for threshold in ("0.1 %", "0.5 %", "1 %"):
        (line,) = traces(figure, f"threshold {threshold}")
        assert set(line.y) == {float(threshold.removesuffix(" %"))}
    for name, intervals in spans.items():
        name = name.replace("1.0 %", "1 %")
        by_bucket, by_second = traces(figure, name)
        assert by_second.showlegend and not by_bucket.showlegend
        # Every second of the last hour inside an interval, and no other.
        assert shaded(by_second) == [
            second
            for second in (row.second for row in data.series[-3600:])
            if any(start <= second < end for start, end in intervals)
        ]
        # Before it, every minute an interval touches.
        assert shaded(by_bucket) == sorted(
            {
                minute.start
                for minute in data.minutes
                if minute.start < handover
                and any(
                    start < minute.start + timedelta(minutes=1)
                    and minute.start < min(end, handover)
                    for start, end in intervals
                )
            }
        )


def test_a_flapping_spread_weighs_what_a_calm_one_does():
    calm = book_data("btc_mxn", 3 * 3600)
    seconds = [row.second for row in calm.series]
    # An episode above 0.1 % every other second: 5,400 of them.
    flapping = dataclasses.replace(
        calm,
        episodes=[
            Episode(
                Decimal("0.1"), second, second + timedelta(seconds=1), 1, second, Decimal("0.2")
            )
            for second in seconds[::2]
        ],
    )
    calm_chart, flapping_chart = report_page.chart(calm, 0), report_page.chart(flapping, 0)
    assert len(flapping_chart.figure_html) < len(calm_chart.figure_html) * 1.05
    assert len(flapping_chart.tables_html) < len(calm_chart.tables_html) * 10
    assert "5400 alert episodes, the latest 50 listed" in flapping_chart.tables_html


def test_the_overview_reads_exact_figures_for_people():
    end = END
    period = Period(end - timedelta(seconds=10), end, THRESHOLDS)
    spreads = ["0.1", "0.2", "0.3", "0.4", "0.5", None, "0.05", "0.08", None, "0.6"]
    series = [
        Observation(
            end - timedelta(seconds=9 - offset),
            None if spread is None else Decimal("99.9"),
            None if spread is None else Decimal("100"),
            None if spread is None else Decimal(spread),
        )
        for offset, spread in enumerate(spreads)
    ]
    # The gap began before the period: only its seconds inside count.
    gaps = [
        Gap(end - timedelta(seconds=20), end - timedelta(seconds=4), 17, "no usable quote", "x"),
        Gap(end - timedelta(seconds=1), end - timedelta(seconds=1), 1, "no usable quote", "x"),
    ]
    data = book_data("btc_mxn", 10)
    data = dataclasses.replace(data, period=period, series=series, gaps=gaps)
    summary = report_data.summarize(data)
    # Type-7 percentiles of 0.05, 0.08, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6.
    assert summary.median_spread_pct == Decimal("0.25")
    assert summary.p95_spread_pct == Decimal("0.565")
    assert summary.share_above == (
        (Decimal("0.1"), Decimal(5) / 8),
        (Decimal("0.5"), Decimal(1) / 8),
        (Decimal("1.0"), Decimal(0)),
    )
    assert summary.gap_seconds == 6 + 1
    assert summary.latest_spread_pct == Decimal("0.6")
    assert summary.last_quote == series[-1]
    page = render([data])
    overview = page[page.index('<table id="overview">') : page.index("</table>")]
    cells = re.findall(r"<td>(.*?)</td>", overview)
    assert cells[1:] == [
        "0.6000 %",
        "0.2500 %",
        "0.5650 %",
        "62.5 %",
        "12.5 %",
        "0.0 %",
        str(len(data.episodes)),
        "7 s",
        "99.9 / 100",
        "2026-03-02 00:00:00 UTC",
    ]


def test_the_page_is_self_contained_and_escapes_book_names():
    hostile = "<img src=x onerror=alert(1)>"
    page = render([book_data(hostile, 600)])
    assert hostile not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert page.count("<script>") >= 2  # the bundle, then the chart
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=", page)
    # plotly's bundle, inlined once.
    assert page.count("plotly.js v") == 1


def test_a_full_day_of_54_books_stays_within_the_size_bound():
    day = book_data("btc_mxn", DAY, gap_every=600)
    charts, summaries = [], []
    for number in range(54):
        data = dataclasses.replace(day, book=f"book{number:02d}_mxn")
        charts.append(report_page.chart(data, number))
        summaries.append(report_data.summarize(data))
    page = report_page.page(day.period, summaries, charts).encode()
    assert page.count(b'class="plotly-graph-div"') == 54
    assert len(page) <= PAGE_BOUND_BYTES, f"{len(page):,} bytes"


@pytest.mark.parametrize("seconds", [1, 59, 3601])
def test_every_recorded_second_of_a_short_history_is_drawn(seconds):
    data = book_data("btc_mxn", seconds, gap_every=10**9)
    (spread,) = traces(report_page.figure(data), "spread")
    assert spread.y[-1] == float(data.series[-1].spread_pct)
    assert len(spread.y) == min(seconds, 3600)
