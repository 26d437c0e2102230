"""The spread report's still picture of one book (a PNG, for e-mail), drawn with matplotlib."""

from __future__ import annotations

import io
from datetime import UTC

from matplotlib import dates as mdates
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ingest.spreads import report_format
from ingest.spreads.report_data import ONE_SECOND, BookData

THRESHOLD_COLOURS = ("tab:red", "tab:orange", "tab:olive", "tab:purple", "tab:brown")


def render(data: BookData) -> bytes:
    """The spread once a second, thresholds as lines, episodes shaded, gaps hatched."""
    figure = Figure(figsize=(12, 5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    # Floats are for drawing only: the page's tables carry the exact figures.
    seconds = [row.second for row in data.series]
    spreads = [
        float("nan") if row.spread_pct is None else float(row.spread_pct) for row in data.series
    ]
    axes.step(seconds, spreads, where="post", color="tab:blue", linewidth=1, label="spread")
    for index, threshold in enumerate(sorted(data.period.thresholds, reverse=True)):
        colour = THRESHOLD_COLOURS[index % len(THRESHOLD_COLOURS)]
        axes.axhline(float(threshold), color=colour, linestyle="--", linewidth=1,
                     label=f"threshold {report_format.threshold(threshold)}")  # fmt: skip
        for episode in data.episodes:
            if episode.threshold_pct == threshold:
                axes.axvspan(episode.start, episode.until, color=colour, alpha=0.12, linewidth=0)
    for index, gap in enumerate(data.gaps):
        axes.axvspan(gap.start, gap.end + ONE_SECOND, color="grey", alpha=0.35, hatch="//",
                     linewidth=0, label="no usable quote" if index == 0 else None)  # fmt: skip
    axes.set_xlim(data.period.start, data.period.end)
    axes.set_ylim(bottom=0)
    axes.set_ylabel("spread (% of ask)")
    axes.set_title(
        f"{data.book}: bid-ask spread, {report_format.moment(data.period.start)}"
        f" to {report_format.moment(data.period.end)}"
    )
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
