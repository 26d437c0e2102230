"""`ingest report`: one picture of each book's spread over a period, from the warehouse's models.

For each book it writes `spread_<book>.png` and `spread_<book>.html`, a page that needs nothing
else (the PNG is embedded): the spread once a second, the alert thresholds as lines, the alert
episodes shaded, the seconds without a usable quote marked, and tables of the threshold
exposure and of the episodes. It reads `fct_spread_observations`, the `rpt_spread_*`
models and the `spread_thresholds` seed, on either engine.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from matplotlib import dates as mdates
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ingest.io.warehouse import Warehouse, connect
from ingest.settings import Settings
from ingest.spreads.monitor.quotes import format_decimal

ONE_SECOND = timedelta(seconds=1)


class ReportError(RuntimeError):
    """There is nothing to report on, or the spread models are missing."""


@dataclasses.dataclass(frozen=True)
class Episode:
    threshold_pct: Decimal
    start: datetime
    end: datetime | None  # None while unresolved at the end of the data
    duration_seconds: int | None
    last_second_above: datetime
    peak_spread_pct: Decimal


@dataclasses.dataclass(frozen=True)
class Gap:
    start: datetime
    end: datetime
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
class BookReport:
    book: str
    start: datetime
    end: datetime
    thresholds: tuple[Decimal, ...]
    # One point per recorded second; the spread is None on a gap second.
    series: list[tuple[datetime, Decimal | None]]
    episodes: list[Episode]
    gaps: list[Gap]
    exposure: list[Exposure]
    png_path: Path | None = None
    html_path: Path | None = None


def build_reports(
    settings: Settings,
    output: Path,
    *,
    hours: int,
    books: tuple[str, ...] = (),
    end: datetime | None = None,
) -> list[BookReport]:
    """Read the period (`hours` up to `end`, by default up to the newest observation) from the
    warehouse and write each book's PNG and HTML page into `output`."""
    with connect(settings) as warehouse:
        if "fct_spread_observations" not in warehouse.tables_in("spreads"):
            raise ReportError("the spread models are missing: run `dbt build` first")
        if end is None:
            # The last `hours` of data: a shorter history is drawn from its first second.
            end = _newest_second(warehouse)
            start = max(end - timedelta(hours=hours), _oldest_second(warehouse) - ONE_SECOND)
        else:
            start = end - timedelta(hours=hours)
        thresholds = tuple(
            value
            for (value,) in warehouse.execute(
                f"select threshold_pct from {warehouse.relation('reference', 'spread_thresholds')}"
                " order by threshold_pct"
            )
        )
        books = books or _books_between(warehouse, start, end)
        if not books:
            raise ReportError(f"no observations between {start} and {end}")
        reports = [_read_book(warehouse, book, start, end, thresholds) for book in books]
    output.mkdir(parents=True, exist_ok=True)
    return [_write(report, output) for report in reports]


def _spreads(warehouse: Warehouse, table: str) -> str:
    return warehouse.relation("spreads", table)


def _newest_second(warehouse: Warehouse) -> datetime:
    (newest,) = warehouse.execute(
        f"select max(orderbook_timestamp) from {_spreads(warehouse, 'fct_spread_observations')}"
    )[0]
    if newest is None:
        raise ReportError("no spread observations in the warehouse")
    return newest


def _oldest_second(warehouse: Warehouse) -> datetime:
    (oldest,) = warehouse.execute(
        f"select min(orderbook_timestamp) from {_spreads(warehouse, 'fct_spread_observations')}"
    )[0]
    return oldest


def _books_between(warehouse: Warehouse, start: datetime, end: datetime) -> tuple[str, ...]:
    rows = warehouse.execute(
        f"select distinct book from {_spreads(warehouse, 'fct_spread_observations')}"
        " where orderbook_timestamp > ? and orderbook_timestamp <= ? order by book",
        (start, end),
    )
    return tuple(book for (book,) in rows)


def _read_book(
    warehouse: Warehouse,
    book: str,
    start: datetime,
    end: datetime,
    thresholds: tuple[Decimal, ...],
) -> BookReport:
    series = warehouse.execute(
        "select orderbook_timestamp, spread_pct"
        f" from {_spreads(warehouse, 'fct_spread_observations')}"
        " where book = ? and orderbook_timestamp > ? and orderbook_timestamp <= ?"
        " order by orderbook_timestamp",
        (book, start, end),
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
    return BookReport(
        book=book,
        start=start,
        end=end,
        thresholds=thresholds,
        series=[(second, spread) for second, spread in series],
        episodes=[Episode(*row) for row in episodes],
        gaps=[Gap(*row) for row in gaps],
        exposure=[Exposure(str(day), *rest) for day, *rest in exposure],
    )


def _write(report: BookReport, output: Path) -> BookReport:
    png = _plot(report)
    png_path = output / f"spread_{report.book}.png"
    html_path = output / f"spread_{report.book}.html"
    _write_atomically(png_path, png)
    _write_atomically(html_path, _page(report, png).encode())
    return dataclasses.replace(report, png_path=png_path, html_path=html_path)


def _write_atomically(path: Path, content: bytes) -> None:
    aside = path.with_name(f".{path.name}.tmp")
    aside.write_bytes(content)
    aside.replace(path)


def _plot(report: BookReport) -> bytes:
    figure = Figure(figsize=(12, 5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    # Floats are for drawing only: the tables carry the exact figures.
    seconds = [second for second, _ in report.series]
    spreads = [float("nan") if spread is None else float(spread) for _, spread in report.series]
    axes.step(seconds, spreads, where="post", color="tab:blue", linewidth=1, label="spread")
    colours = ("tab:red", "tab:orange", "tab:olive", "tab:purple", "tab:brown")
    for index, threshold in enumerate(sorted(report.thresholds, reverse=True)):
        colour = colours[index % len(colours)]
        axes.axhline(float(threshold), color=colour, linestyle="--", linewidth=1,
                     label=f"threshold {format_decimal(threshold)} %")  # fmt: skip
        for episode in report.episodes:
            if episode.threshold_pct == threshold:
                until = episode.end or episode.last_second_above + ONE_SECOND
                axes.axvspan(episode.start, until, color=colour, alpha=0.12, linewidth=0)
    for index, gap in enumerate(report.gaps):
        axes.axvspan(gap.start, gap.end + ONE_SECOND, color="grey", alpha=0.35, hatch="//",
                     linewidth=0, label="no usable quote" if index == 0 else None)  # fmt: skip
    axes.set_xlim(report.start, report.end)
    axes.set_ylim(bottom=0)
    axes.set_ylabel("spread (% of ask)")
    axes.set_title(f"{report.book}: bid-ask spread, {_stamp(report.start)} to {_stamp(report.end)}")
    locator = mdates.AutoDateLocator(tz=UTC)
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=UTC))
    axes.set_xlabel("UTC")
    axes.grid(True, alpha=0.3)
    axes.legend(loc="upper left", fontsize="small")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _table(headers: tuple[str, ...], rows: list[tuple[object, ...]]) -> str:
    head = "".join(f"<th>{html.escape(header)}</th>" for header in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(value))}</td>" for value in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, datetime):
        return _stamp(value)
    return str(value)


def _page(report: BookReport, png: bytes) -> str:
    title = f"Spread of {report.book}"
    image = base64.b64encode(png).decode()
    exposure = _table(
        ("UTC day", "threshold %", "seconds observed", "seconds above", "share above"),
        [
            (row.day, row.threshold_pct, row.observed_seconds, row.seconds_above, row.share_above)
            for row in report.exposure
        ],
    )
    episodes = _table(
        ("threshold %", "start", "end", "duration s", "peak spread %"),
        [
            (row.threshold_pct, row.start, row.end, row.duration_seconds, row.peak_spread_pct)
            for row in report.episodes
        ],
    )
    gap_seconds = sum(gap.seconds for gap in report.gaps)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin-bottom: 1.5em; }}
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }}
th {{ background: #f3f3f3; }}
img {{ max-width: 100%; }}
</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
<p>{_stamp(report.start)} to {_stamp(report.end)}: {len(report.series)} seconds recorded,
{gap_seconds} seconds without a usable quote in {len(report.gaps)} intervals.</p>
<img alt="{html.escape(report.book)} spread over time" src="data:image/png;base64,{image}">
<h2>Time above each threshold (whole UTC days)</h2>
{exposure}
<h2>Alert episodes</h2>
{episodes}
</body>
</html>
"""
