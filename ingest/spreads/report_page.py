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
THRESHOLD_COLOURS = ("#d62728", "#ff7f0e", "#bcbd22", "#9467bd", "#8c564b")
SPREAD_COLOUR = "#1f77b4"
# A number as drawn (None breaks a line).
Drawn = float | int | None
CHART_CONFIG = {"displaylogo": False, "responsive": True, "scrollZoom": True}


@dataclasses.dataclass(frozen=True)
class BookChart:
    """One book's chart, ready for the page (its data reduced to what the page embeds)."""

    book: str
    figure_html: str
    episodes_html: str


def chart(data: BookData, index: int) -> BookChart:
    figure_html = pio.to_html(
        figure(data),
        full_html=False,
        include_plotlyjs=False,
        div_id=f"chart-{index}",
        config=CHART_CONFIG,
        default_height="380px",
    )
    return BookChart(book=data.book, figure_html=figure_html, episodes_html=_episodes(data))


def figure(data: BookData) -> go.Figure:
    """The book's chart: the spread, the thresholds, the episodes shaded and the gaps marked."""
    period = data.period
    detail_from = max(period.start, period.end - FULL_RESOLUTION)
    drawing = go.Figure()
    if detail_from > period.start:
        _add_band(drawing, _band(data.minutes, period))
    detail = _seconds(data.series, detail_from, period.end)
    drawing.add_trace(
        go.Scatter(
            name="spread, every second" if detail_from > period.start else "spread",
            x0=detail.x0,
            dx=detail.dx,
            y=detail.values,
            customdata=detail.quotes,
            mode="lines",
            line={"shape": "hv", "width": 1.2, "color": SPREAD_COLOUR},
            hovertemplate="%{x|%Y-%m-%d %H:%M:%S} UTC<br>bid %{customdata[0]}"
            "<br>ask %{customdata[1]}<br>spread %{y:.4r} %<extra></extra>",
        )
    )
    top = _top(data)
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
        episodes = [episode for episode in data.episodes if episode.threshold_pct == threshold]
        if episodes:
            drawing.add_trace(
                _spans(
                    f"above {label}",
                    [(episode.start, episode.until) for episode in episodes],
                    top,
                    colour,
                    opacity=0.15,
                    legendgroup=label,
                )
            )
    for kind in sorted({gap.kind for gap in data.gaps}):
        gaps = [gap for gap in data.gaps if gap.kind == kind]
        spans = [(gap.start, gap.end + ONE_SECOND) for gap in gaps]
        drawing.add_trace(_spans(kind, spans, top, "#7f7f7f", opacity=0.35, legendgroup=kind))
        # A gap of a few seconds is thinner than a pixel on a day: a marker keeps it visible.
        drawing.add_trace(
            go.Scatter(
                name=kind,
                legendgroup=kind,
                showlegend=False,
                x=[_ms(gap.start) for gap in gaps],
                y=[0] * len(gaps),
                customdata=[
                    (report_format.moment(gap.end), gap.seconds, gap.reason or "") for gap in gaps
                ],
                mode="markers",
                marker={"symbol": "triangle-up", "size": 9, "color": "#555"},
                hovertemplate=f"{html.escape(kind)} from %{{x|%Y-%m-%d %H:%M:%S}} UTC"
                "<br>to %{customdata[0]} (%{customdata[1]} s)<br>%{customdata[2]}<extra></extra>",
            )
        )
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
            "range": [0, top],
            "title": {"text": "spread (% of ask)"},
            "ticksuffix": " %",
            "gridcolor": "#eee",
            "rangemode": "tozero",
        },
    )
    return drawing


def _episodes(data: BookData) -> str:
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
        for episode in data.episodes
    )
    return (
        f"<details><summary>{len(data.episodes)} alert episodes</summary><table><thead><tr>"
        "<th>threshold</th><th>start</th><th>end</th><th>duration</th><th>peak spread</th>"
        f"</tr></thead><tbody>{rows}</tbody></table></details>"
    )


@dataclasses.dataclass(frozen=True)
class Grid:
    """Values on a regular time grid (plotly's x0 and dx), so that the page carries no x
    values at all; a step without data is None, which breaks the line."""

    x0: int  # milliseconds since the epoch
    dx: int  # milliseconds
    values: list[Drawn]
    quotes: list[tuple[Drawn, Drawn]]  # (bid, ask) per step, for the hover


def _seconds(series: list[Observation], after: datetime, until: datetime) -> Grid:
    """Every second in (after, until]: its spread, bid and ask."""
    steps = int((until - after) / ONE_SECOND)
    spreads: list[Drawn] = [None] * steps
    quotes: list[tuple[Drawn, Drawn]] = [(None, None)] * steps
    for row in series:
        step = int((row.second - after) / ONE_SECOND) - 1
        if 0 <= step < steps:
            spreads[step] = _drawn(row.spread_pct)
            quotes[step] = (_price(row.bid), _price(row.ask))
    return Grid(_ms(after + ONE_SECOND), 1000, spreads, quotes)


def _band(minutes: list[Minute], period: Period) -> tuple[Grid, Grid]:
    """Each bucket's lowest and highest spread (and last quote) over the whole period; minutes
    are merged into wider buckets when the period is longer than a day."""
    origin = (period.start + ONE_SECOND).replace(second=0, microsecond=0)
    minutes_per_bucket = math.ceil((period.end - period.start) / timedelta(minutes=BUCKETS))
    width = timedelta(minutes=max(1, minutes_per_bucket))
    # One more bucket than a day has minutes when the period ends on the minute: its last
    # second opens a minute of its own.
    steps = (period.end - origin) // width + 1
    lows: list[Decimal | None] = [None] * steps
    highs: list[Decimal | None] = [None] * steps
    quotes: list[tuple[Drawn, Drawn]] = [(None, None)] * steps
    for minute in minutes:  # in order, so a bucket's last quote is its last minute's
        step = (minute.start - origin) // width
        if not 0 <= step < steps or minute.min_spread_pct is None:
            continue
        low, high = lows[step], highs[step]
        lows[step] = minute.min_spread_pct if low is None else min(low, minute.min_spread_pct)
        highs[step] = minute.max_spread_pct if high is None else max(high, minute.max_spread_pct)
        quotes[step] = (_price(minute.last_bid), _price(minute.last_ask))
    x0, dx = _ms(origin), int(width / timedelta(milliseconds=1))
    return (
        Grid(x0, dx, [_drawn(value) for value in lows], quotes),
        Grid(x0, dx, [_drawn(value) for value in highs], quotes),
    )


def _add_band(figure: go.Figure, band: tuple[Grid, Grid]) -> None:
    lows, highs = band
    minutes = highs.dx // 60_000
    bucket = "minute" if minutes == 1 else f"{minutes} minutes"
    figure.add_trace(
        go.Scatter(
            name="lowest in bucket",
            x0=lows.x0,
            dx=lows.dx,
            y=lows.values,
            mode="lines",
            line={"width": 0.5, "color": "#9ecae1", "shape": "hv"},
            showlegend=False,
            hovertemplate="from %{x|%Y-%m-%d %H:%M} UTC<br>lowest %{y:.4r} %<extra></extra>",
        )
    )
    figure.add_trace(
        go.Scatter(
            name=f"lowest to highest, per {bucket}",
            x0=highs.x0,
            dx=highs.dx,
            y=highs.values,
            customdata=highs.quotes,
            mode="lines",
            fill="tonexty",
            fillcolor="rgba(31, 119, 180, 0.25)",
            line={"width": 0.5, "color": "#9ecae1", "shape": "hv"},
            hovertemplate="from %{x|%Y-%m-%d %H:%M} UTC<br>highest %{y:.4r} %"
            "<br>last bid %{customdata[0]}<br>last ask %{customdata[1]}<extra></extra>",
        )
    )


def _spans(
    name: str,
    spans: list[tuple[datetime, datetime]],
    top: float,
    colour: str,
    *,
    opacity: float,
    legendgroup: str | None = None,
) -> go.Scatter:
    """Intervals shaded over the chart's height: one polygon each, all in one trace, so that a
    day with thousands of them stays one element of the page."""
    x: list[float | None] = []
    y: list[float | None] = []
    for start, end in spans:
        x += [_ms(start), _ms(start), _ms(end), _ms(end), _ms(start), None]
        y += [0, top, top, 0, 0, None]
    return go.Scatter(
        name=name,
        legendgroup=legendgroup,
        x=x,
        y=y,
        mode="lines",
        fill="toself",
        fillcolor=colour,
        opacity=opacity,
        line={"width": 0, "color": colour},
        hoveron="fills",
        hoverinfo="name",
    )


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
        f"{chart.figure_html}\n{chart.episodes_html}\n</section>"
    )
