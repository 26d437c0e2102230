"""The `lake-load` and `report` commands of the spread analysis; the logic is in `lake_load` and
`report`."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import click

from ingest.io.warehouse import WarehouseError, describe
from ingest.settings import TARGETS, Settings
from ingest.spreads import lake_load, report

_lake_option = click.option(
    "--lake",
    envvar="BITSO_LAKE",
    show_envvar=True,
    help="Data lake root, a folder or an s3:// URL.  [default: bucket]",
)
_target_option = click.option(
    "--target",
    type=click.Choice(TARGETS),
    envvar="BITSO_TARGET",
    show_envvar=True,
    help="Warehouse engine.  [default: duckdb]",
)


@click.command("lake-load")
@_lake_option
@_target_option
@click.pass_obj
def lake_load_command(settings: Settings, lake: str | None, target: str | None) -> None:
    """Copy the spread monitor's new or changed lake files into PostgreSQL's raw schema.

    Each closed window file and alert log is loaded once; a file that changed replaces its rows,
    and a half-written or unreadable one is skipped and tried again on the next run. Run it
    from cron before `dbt build`. On DuckDB there is nothing to do: dbt reads the lake in place.
    """
    settings = settings.replace(lake=lake, target=target)
    if settings.target == "duckdb":
        click.echo("nothing to load: dbt on DuckDB reads the lake files in place")
        return
    try:
        outcomes = lake_load.load_lake(settings, settings.lake)
    except WarehouseError as error:
        raise click.ClickException(str(error)) from error
    except OSError as error:
        raise click.ClickException(f"cannot list the lake {settings.lake}: {error}") from error
    counts = Counter(outcome.status for outcome in outcomes)
    rows = sum(outcome.rows for outcome in outcomes)
    click.echo(
        f"{counts[lake_load.LOADED]} files loaded, {counts[lake_load.RELOADED]} reloaded "
        f"({rows:,} rows), {counts[lake_load.UNCHANGED]} unchanged, "
        f"{counts[lake_load.SKIPPED]} skipped, into {describe(settings)}"
    )


def _utc_timestamp(_ctx, _param, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise click.BadParameter(f"not an ISO-8601 timestamp: {value!r}") from error
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


@click.command("report")
@click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("spread_report"),
    show_default=True,
    help="Directory for spread_<book>.html and spread_<book>.png.",
)
@click.option("--book", "books", multiple=True, help="Book to draw; repeatable.  [default: all]")
@click.option(
    "--end",
    callback=_utc_timestamp,
    metavar="TIMESTAMP",
    help="End of the period, ISO-8601 (UTC unless an offset is given).  [default: newest data]",
)
@click.option(
    "--hours",
    type=click.IntRange(min=1),
    default=report.DEFAULT_HOURS,
    show_default=True,
    help="Length of the period.",
)
@_target_option
@click.pass_obj
def report_command(
    settings: Settings,
    output: Path,
    books: tuple[str, ...],
    end: datetime | None,
    hours: int,
    target: str | None,
) -> None:
    """Draw each book's spread over a period, with thresholds, alert episodes and gaps.

    Writes a self-contained HTML page and a PNG per book, from the spread models of the
    warehouse (run `dbt build` first).
    """
    settings = settings.replace(target=target)
    try:
        reports = report.build_reports(settings, output, books=books, end=end, hours=hours)
    except (report.ReportError, WarehouseError) as error:
        raise click.ClickException(str(error)) from error
    for book_report in reports:
        click.echo(
            f"{book_report.book}: {len(book_report.series):,} seconds, "
            f"{len(book_report.episodes)} episodes, {len(book_report.gaps)} gaps  "
            f"{book_report.html_path}"
        )
