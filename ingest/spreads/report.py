"""`ingest report`: the spread of each book over a period, from the warehouse's spread models.

It writes `index.html` (the overview table and one interactive chart per book, see
`report_page`) and, for e-mail, one still picture per book, `spread_<book>.png` (`report_png`).
The books are read one at a time (`report_data`), so a long period of many books never sits
in memory whole. Every file replaces the previous one whole and durably (a reader sees the old
file or the new one).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path

from ingest.io.lake_storage import replace_file_bytes
from ingest.io.warehouse import connect
from ingest.settings import Settings
from ingest.spreads import report_data, report_page, report_png
from ingest.spreads.report_data import BookSummary, Episode, Gap, Period, ReportError

__all__ = ["BookReport", "Report", "ReportError", "build_reports"]

PAGE_NAME = "index.html"


@dataclasses.dataclass(frozen=True)
class BookReport:
    summary: BookSummary
    episodes: list[Episode]
    gaps: list[Gap]
    png_path: Path

    @property
    def book(self) -> str:
        return self.summary.book


@dataclasses.dataclass(frozen=True)
class Report:
    period: Period
    books: list[BookReport]
    page_path: Path


def build_reports(
    settings: Settings,
    output: Path,
    *,
    hours: int,
    books: tuple[str, ...] = (),
    end: datetime | None = None,
) -> Report:
    """Read the period (`hours` up to `end`, by default up to the newest observation) and write
    the page and each book's PNG into `output`."""
    written: list[BookReport] = []
    summaries: list[BookSummary] = []
    charts: list[report_page.BookChart] = []
    with connect(settings) as warehouse:
        period, books = report_data.read_period(warehouse, hours=hours, books=books, end=end)
        output.mkdir(parents=True, exist_ok=True)
        for index, data in enumerate(report_data.read_books(warehouse, period, books)):
            png_path = output / f"spread_{data.book}.png"
            replace_file_bytes(png_path, report_png.render(data))
            summary = report_data.summarize(data)
            summaries.append(summary)
            charts.append(report_page.chart(data, index))
            written.append(BookReport(summary, data.episodes, data.gaps, png_path))
    page_path = output / PAGE_NAME
    replace_file_bytes(page_path, report_page.page(period, summaries, charts).encode())
    return Report(period=period, books=written, page_path=page_path)
