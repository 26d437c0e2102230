"""The spread report's page, `index.html`: an overview table and one interactive chart per book.

The page needs nothing else: plotly's JavaScript bundle is inlined once, and every chart is
drawn from data embedded in the page, so it opens offline and can be mailed as one file.

A day at one-second resolution is 86,400 points per book, too many for a page of 54 charts.
Each chart therefore carries two levels: every minute's lowest and highest spread over the
whole period (from `rpt_spread_minutely`, merged into coarser buckets past a day), drawn as a
band, and every second of the period's last hour, drawn as a line on top. A period of an hour
or less is drawn second by second only.
"""

from __future__ import annotations

import dataclasses
import html
import math
from datetime import datetime, timedelta
from decimal import Decimal

import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from ingest.spreads import report_format
from ingest.spreads.report_data import (
    ONE_SECOND,
    BookData,
    BookSummary,
    Minute,
    Observation,
    Period,
)

# Seconds drawn one by one at the end of the period; the rest of it is drawn minute by minute.
FULL_RESOLUTION = timedelta(hours=1)
# A period up to a day has a min/max bucket per minute; a longer one merges minutes so that it
# still has about 1,440 buckets.
BUCKETS = 1440
# Episodes listed under a chart: a flapping spread can have thousands in a day.
LISTED_EPISODES = 50
THRESHOLD_COLOURS = ("#d62728", "#ff7f0e", "#bcbd22", "#9467bd", "#8c564b")
SPREAD_COLOUR = "#1f77b4"
BAND_COLOUR = "#9ecae1"
GAP_COLOUR = "#7f7f7f"
# A number as drawn (None breaks a line).
Drawn = float | int | None
CHART_CONFIG = {"displaylogo": False, "responsive": True, "scrollZoom": True}


@dataclasses.dataclass(frozen=True)
class BookChart:
    """One book's chart, ready for the page (its data reduced to what the page embeds)."""

    book: str
    figure_html: str
    tables_html: str  # the episodes and the daily exposure, folded under the chart


def chart(data: BookData, index: int) -> BookChart:
    figure_html = pio.to_html(
        figure(data),
        full_html=False,
        include_plotlyjs=False,
        div_id=f"chart-{index}",
        config=CHART_CONFIG,
        default_height="380px",
    )
    tables = _episodes(data) + "\n" + _exposure(data)
    return BookChart(book=data.book, figure_html=figure_html, tables_html=tables)


def figure(data: BookData) -> go.Figure:
    """The book's chart: the spread, the thresholds, the episodes shaded and the gaps marked."""
    period = data.period
    detail_from = max(period.start, period.end - FULL_RESOLUTION)
    drawing = go.Figure()
    # The grids the data sits on: each minute (or wider bucket) before the last hour, and every
    # second of it.
    grids = [_second_grid(detail_from, period.end)]
    if detail_from > period.start:
        grids.insert(0, _bucket_grid(period))
        _add_band(drawing, grids[0], data.minutes)
    _add_spread(drawing, grids[-1], data.series, named_by_second=len(grids) == 2)
    for number, threshold in enumerate(sorted(period.thresholds, reverse=True)):
        colour = THRESHOLD_COLOURS[number % len(THRESHOLD_COLOURS)]
        label = report_format.threshold(threshold)
        drawing.add_trace(
            go.Scatter(
                name=f"threshold {label}",
                legendgroup=label,
                x=[_ms(period.start), _ms(period.end)],
                y=[float(threshold)] * 2,
                mode="lines",
                line={"color": colour, "dash": "dash", "width": 1},
                hovertemplate=f"threshold {label}<extra></extra>",
            )
        )
        episodes = [
            (episode.start, episode.until)
            for episode in data.episodes
            if episode.threshold_pct == threshold
        ]
        _add_shading(drawing, grids, episodes, f"above {label}", colour, opacity=0.15)
    for kind in sorted({gap.kind for gap in data.gaps}):
        gaps = [(gap.start, gap.end + ONE_SECOND) for gap in data.gaps if gap.kind == kind]
        _add_shading(drawing, grids, gaps, kind, GAP_COLOUR, opacity=0.45)
    drawing.update_layout(
        height=380,
        margin={"l": 60, "r": 20, "t": 30, "b": 40},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
        hovermode="closest",
        dragmode="zoom",
        plot_bgcolor="white",
        xaxis={
            "type": "date",
            "range": [_ms(period.start), _ms(period.end)],
            "title": {"text": "UTC"},
            "gridcolor": "#eee",
        },
        yaxis={
            "range": [0, _top(data)],
            "title": {"text": "spread (% of ask)"},
            "ticksuffix": " %",
            "gridcolor": "#eee",
        },
        # The shading's own axis: 1 fills the chart's height, whatever the zoom.
        yaxis2={"overlaying": "y", "range": [0, 1], "visible": False, "fixedrange": True},
    )
    return drawing


def _episodes(data: BookData) -> str:
    """The table of the book's latest episodes (all of them are in rpt_spread_alert_episodes)."""
    listed = data.episodes[-LISTED_EPISODES:]
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(cell)}</td>"
            for cell in (
                report_format.threshold(episode.threshold_pct),
                report_format.moment(episode.start),
                report_format.moment(episode.end) if episode.end else "still above",
                report_format.duration(episode.duration_seconds)
                if episode.duration_seconds is not None
                else report_format.MISSING,
                report_format.spread(episode.peak_spread_pct),
            )
        )
        + "</tr>"
        for episode in listed
    )
    summary = f"{len(data.episodes)} alert episodes"
    if len(listed) < len(data.episodes):
        summary += f", the latest {len(listed)} listed (all in spreads.rpt_spread_alert_episodes)"
    return (
        f"<details><summary>{summary}</summary><table><thead><tr>"
        "<th>threshold</th><th>start</th><th>end</th><th>duration</th><th>peak spread</th>"
        f"</tr></thead><tbody>{rows}</tbody></table></details>"
    )


def _exposure(data: BookData) -> str:
    """Time above each threshold per whole UTC day, as rpt_spread_threshold_exposure has it."""
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(cell)}</td>"
            for cell in (
                row.day,
                report_format.threshold(row.threshold_pct),
                report_format.duration(row.observed_seconds),
                report_format.duration(row.seconds_above),
                report_format.share(row.share_above),
            )
        )
        + "</tr>"
        for row in data.exposure
    )
    return (
        "<details><summary>Time above each threshold, per whole UTC day</summary><table><thead>"
        "<tr><th>UTC day</th><th>threshold</th><th>observed</th><th>above</th><th>share</th>"
        f"</tr></thead><tbody>{rows}</tbody></table></details>"
    )


@dataclasses.dataclass(frozen=True)
class Grid:
    """A regular time grid (plotly's x0 and dx), so that the page carries no x values at all:
    step i covers [start + i * step, start + (i + 1) * step)."""

    start: datetime
    step: timedelta
    steps: int

    def index(self, moment: datetime) -> int:
        return (moment - self.start) // self.step

    def trace_x(self) -> dict[str, int]:
        return {"x0": _ms(self.start), "dx": self.step // timedelta(milliseconds=1)}


def _second_grid(after: datetime, until: datetime) -> Grid:
    """Every second in (after, until]."""
    return Grid(after + ONE_SECOND, ONE_SECOND, (until - after) // ONE_SECOND)


def _bucket_grid(period: Period) -> Grid:
    """Whole UTC minutes over the period, merged into wider buckets past a day."""
    origin = (period.start + ONE_SECOND).replace(second=0, microsecond=0)
    minutes_per_bucket = math.ceil((period.end - period.start) / timedelta(minutes=BUCKETS))
    width = timedelta(minutes=max(1, minutes_per_bucket))
    # One more bucket than a day has minutes when the period ends on the minute: its last
    # second opens a minute of its own.
    return Grid(origin, width, (period.end - origin) // width + 1)


def _add_spread(
    drawing: go.Figure, grid: Grid, series: list[Observation], *, named_by_second: bool
) -> None:
    """Every second of the grid: its spread, bid and ask (None, a break in the line, where
    the second is a gap or was not recorded)."""
    spreads: list[Drawn] = [None] * grid.steps
    quotes: list[tuple[Drawn, Drawn]] = [(None, None)] * grid.steps
    for row in series:
        step = grid.index(row.second)
        if 0 <= step < grid.steps:
            spreads[step] = _drawn(row.spread_pct)
            quotes[step] = (_price(row.bid), _price(row.ask))
    drawing.add_trace(
        go.Scatter(
            name="spread, every second" if named_by_second else "spread",
            **grid.trace_x(),
            y=spreads,
            customdata=quotes,
            mode="lines",
            line={"shape": "hv", "width": 1.2, "color": SPREAD_COLOUR},
            hovertemplate="%{x|%Y-%m-%d %H:%M:%S} UTC<br>bid %{customdata[0]}"
            "<br>ask %{customdata[1]}<br>spread %{y:.4r} %<extra></extra>",
        )
    )


def _add_band(drawing: go.Figure, grid: Grid, minutes: list[Minute]) -> None:
    """Each bucket's lowest and highest spread and its last quote, as a filled band."""
    lows: list[Decimal | None] = [None] * grid.steps
    highs: list[Decimal | None] = [None] * grid.steps
    quotes: list[tuple[Drawn, Drawn]] = [(None, None)] * grid.steps
    for minute in minutes:  # in order, so a bucket's last quote is its last minute's
        step = grid.index(minute.start)
        if not 0 <= step < grid.steps or minute.min_spread_pct is None:
            continue
        low, high = lows[step], highs[step]
        lows[step] = minute.min_spread_pct if low is None else min(low, minute.min_spread_pct)
        highs[step] = minute.max_spread_pct if high is None else max(high, minute.max_spread_pct)
        quotes[step] = (_price(minute.last_bid), _price(minute.last_ask))
    minutes_per_bucket = grid.step // timedelta(minutes=1)
    bucket = "minute" if minutes_per_bucket == 1 else f"{minutes_per_bucket} minutes"
    drawing.add_trace(
        go.Scatter(
            name="lowest in bucket",
            **grid.trace_x(),
            y=[_drawn(value) for value in lows],
            mode="lines",
            line={"width": 0.5, "color": BAND_COLOUR, "shape": "hv"},
            showlegend=False,
            hovertemplate="from %{x|%Y-%m-%d %H:%M} UTC<br>lowest %{y:.4r} %<extra></extra>",
        )
    )
    drawing.add_trace(
        go.Scatter(
            name=f"lowest to highest, per {bucket}",
            **grid.trace_x(),
            y=[_drawn(value) for value in highs],
            customdata=quotes,
            mode="lines",
            fill="tonexty",
            fillcolor="rgba(31, 119, 180, 0.25)",
            line={"width": 0.5, "color": BAND_COLOUR, "shape": "hv"},
            hovertemplate="from %{x|%Y-%m-%d %H:%M} UTC<br>highest %{y:.4r} %"
            "<br>last bid %{customdata[0]}<br>last ask %{customdata[1]}<extra></extra>",
        )
    )


def _add_shading(
    drawing: go.Figure,
    grids: list[Grid],
    spans: list[tuple[datetime, datetime]],
    name: str,
    colour: str,
    *,
    opacity: float,
) -> None:
    """Shade the intervals [start, end) over the chart's height, one trace per grid: a step of
    the grid is shaded when an interval touches it. A day with thousands of episodes or gaps
    weighs what a day without any does: one flag per step."""
    if not spans:
        return
    handover = grids[-1].start  # where the finest grid takes over
    for number, grid in enumerate(grids):
        flags = [0] * grid.steps
        coarse = number < len(grids) - 1
        for start, end in spans:
            if coarse:
                if start >= handover:
                    continue
                end = min(end, handover)
            first = max(0, grid.index(start))
            last = min(grid.steps - 1, grid.index(end - timedelta(microseconds=1)))
            if first <= last:
                flags[first : last + 1] = [1] * (last - first + 1)
        drawing.add_trace(
            go.Scatter(
                name=name,
                legendgroup=name,
                showlegend=number == len(grids) - 1,
                **grid.trace_x(),
                y=flags,
                yaxis="y2",
                mode="lines",
                line={"width": 0, "shape": "hv", "color": colour},
                fill="tozeroy",
                fillcolor=_translucent(colour, opacity),
                hoverinfo="skip",
            )
        )


def _translucent(colour: str, opacity: float) -> str:
    """A "#rrggbb" colour as "rgba(r, g, b, opacity)": the line under a shading stays visible."""
    red, green, blue = (int(colour[index : index + 2], 16) for index in (1, 3, 5))
    return f"rgba({red}, {green}, {blue}, {opacity})"


def _top(data: BookData) -> float:
    """The y-axis height: the highest spread or threshold, with some room above."""
    spreads = [row.spread_pct for row in data.series if row.spread_pct is not None]
    highest = max([*spreads, *data.period.thresholds], default=Decimal(1))
    return float(highest) * 1.15


def _ms(moment: datetime) -> int:
    # Plotly reads numbers on a date axis as milliseconds since the epoch, shown in UTC.
    return round(moment.timestamp() * 1000)


def _drawn(value: Decimal | None) -> Drawn:
    """A spread as the chart draws it: six significant digits are more than a pixel shows."""
    return None if value is None else _number(float(f"{value:.6g}"))


def _price(value: Decimal | None) -> Drawn:
    """A price for the hover, as quoted (a float keeps 15 significant digits)."""
    return None if value is None else _number(float(value))


def _number(value: float) -> float | int:
    # 1547200 rather than 1547200.0: shorter in the page, and how the exchange quotes it.
    return int(value) if value.is_integer() else value


def page(period: Period, summaries: list[BookSummary], charts: list[BookChart]) -> str:
    title = "Bid-ask spreads"
    first, last = period.start + ONE_SECOND, period.end
    span = f"{report_format.moment(first)} to {report_format.moment(last)}"
    note = (
        '<p class="note">Each chart shows every second of the period\'s last hour; before that,'
        " a band from the lowest to the highest spread of each minute (of wider buckets past a"
        " day).</p>\n"
        if period.end - period.start > FULL_RESOLUTION
        else ""
    )
    sections = "\n".join(_section(index, chart) for index, chart in enumerate(charts))
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}, {html.escape(span)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em 2em; color: #222; }}
table {{ border-collapse: collapse; margin-bottom: 1.5em; font-variant-numeric: tabular-nums;
        font-size: 0.9em; }}
th, td {{ border: 1px solid #ddd; padding: 0.2em 0.45em; text-align: right; white-space: nowrap; }}
th {{ background: #f3f3f3; white-space: normal; }}
td:first-child, th:first-child {{ text-align: left; }}
section {{ margin-bottom: 2em; }}
.note {{ color: #555; }}
</style>
<script>{get_plotlyjs()}</script>
</head>
<body>
<h1>{title}</h1>
<p>{html.escape(span)}. The spread is (ask &minus; bid) as a percentage of the ask. Drag to
zoom, double-click to zoom out; hover for the time, bid, ask and spread.</p>
{note}{_overview(period, summaries)}
{sections}
</body>
</html>
"""


def _overview(period: Period, summaries: list[BookSummary]) -> str:
    headers = [
        "book",
        "latest",
        "median",
        "p95",
        *(f"above {report_format.threshold(threshold)}" for threshold in period.thresholds),
        "episodes",
        "gap time",
        "last bid / ask",
        "at",
    ]
    head = "".join(f"<th>{html.escape(header)}</th>" for header in headers)
    rows = []
    for index, summary in enumerate(summaries):
        quote = summary.last_quote
        cells = [
            f'<a href="#book-{index}">{html.escape(summary.book)}</a>',
            *(
                html.escape(report_format.spread(value))
                for value in (
                    summary.latest_spread_pct,
                    summary.median_spread_pct,
                    summary.p95_spread_pct,
                )
            ),
            *(html.escape(report_format.share(share)) for _, share in summary.share_above),
            str(summary.episodes),
            html.escape(report_format.duration(summary.gap_seconds)),
            html.escape(
                f"{report_format.price(quote.bid)} / {report_format.price(quote.ask)}"
                if quote
                else report_format.MISSING
            ),
            html.escape(report_format.moment(quote.second if quote else None)),
        ]
        rows.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    return (
        '<table id="overview"><thead><tr>'
        + head
        + "</tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def _section(index: int, chart: BookChart) -> str:
    return (
        f'<section id="book-{index}" class="book">\n<h2>{html.escape(chart.book)}</h2>\n'
        f"{chart.figure_html}\n{chart.tables_html}\n</section>"
    )
