"""The batch half's commands: `snapshots`, `daily` and `export`."""

from __future__ import annotations

import dataclasses
import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from ingest.cli.options import (
    RunFailed,
    failures_exit,
    format_option,
    json_option,
    lake_option,
    no_wait_option,
    project_dir_option,
    target_option,
)
from ingest.contracts import SNAPSHOT_TABLES
from ingest.settings import Settings

log = logging.getLogger("ingest")

_day = click.DateTime(formats=["%Y-%m-%d"])


def _snapshot_file_options(command):
    """`--<table>-file NAME` for each snapshot file, defaulting to its usual name."""
    for table in reversed(SNAPSHOT_TABLES):
        command = click.option(
            f"--{table.name}-file",
            f"{table.name}_file",
            metavar="NAME",
            help=f"The {table.name} file in DIRECTORY.  [default: {table.default_file}]",
        )(command)
    return command


@click.command("snapshots")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@_snapshot_file_options
@click.option(
    "--date", "snapshot_date", type=_day, help="The day the files describe.  [default: today, UTC]"
)
@click.option(
    "--delta",
    is_flag=True,
    help="The files hold only the day's new and changed rows, not the whole history.",
)
@click.option(
    "--allow-shrink",
    is_flag=True,
    help="Load a full snapshot even when it is much smaller than the previous one, or lacks "
    "ids already seen (a deliberate restatement).",
)
@click.option(
    "--max-shrink",
    type=click.FloatRange(0, 1),
    default=0.10,
    show_default=True,
    help="Refuse a full snapshot with more than this share fewer rows than the previous one.",
)
@click.option(
    "--max-missing-ids",
    type=click.FloatRange(0, 1),
    default=0.01,
    show_default=True,
    help="Refuse a full snapshot that lacks more than this share of the ids already seen.",
)
@no_wait_option
@target_option
@click.option("--quiet", is_flag=True, help="No progress lines on stderr.")
@json_option
@click.pass_obj
def snapshots_command(
    settings: Settings,
    directory: Path,
    snapshot_date: datetime | None,
    delta: bool,
    allow_shrink: bool,
    max_shrink: float,
    max_missing_ids: float,
    no_wait: bool,
    target: str | None,
    quiet: bool,
    as_json: bool,
    **file_options: str | None,
) -> None:
    """Load the four daily CSV snapshots in DIRECTORY into the warehouse's raw tables.

    All files load in one transaction or none do; a file already loaded (same checksum) is
    skipped.
    """
    from ingest.batch import snapshots
    from ingest.io.warehouse import WarehouseError, describe, run_lock

    settings = settings.replace(target=target)
    names = {table.name: file_options[f"{table.name}_file"] for table in SNAPSHOT_TABLES}

    def report_progress(table: str, rows: int, seconds: float) -> None:
        if not quiet:
            rate = rows / seconds if seconds > 0 else 0.0
            log.info("%s: %s rows (%s rows/s)", table, f"{rows:,}", f"{rate:,.0f}")

    with (
        failures_exit(snapshots.SnapshotError, WarehouseError, then=" (nothing was loaded)"),
        run_lock(settings, "snapshots", wait=not no_wait),
    ):
        files = snapshots.resolve_files(
            directory, {table: name for table, name in names.items() if name}
        )
        loads = snapshots.load_snapshots(
            settings,
            files,
            report_progress,
            snapshot_date=snapshot_date.date() if snapshot_date else None,
            kind="delta" if delta else "full",
            guard=snapshots.VolumeGuard(max_shrink, max_missing_ids, enabled=not allow_shrink),
        )
    if as_json:
        summary = {
            "warehouse": describe(settings),
            "files": [dataclasses.asdict(load) for load in loads],
        }
        click.echo(json.dumps(summary, indent=2))
        return
    first = loads[0]
    click.echo(f"{first.kind} snapshot of {first.snapshot_date} into {describe(settings)}:")
    for load in loads:
        blank = f", {load.blank_lines} blank line(s) skipped" if load.blank_lines else ""
        click.echo(
            f"  {load.table:<12} {load.status:<15} read {load.rows_read:>10,}"
            f"  loaded {load.rows_loaded:>10,}{blank}  ({Path(load.file).name})"
        )


@click.command("daily")
@click.option("--date", "day", type=_day, help="The day to run.  [default: today, UTC]")
@click.option(
    "--through",
    "last_day",
    type=_day,
    help="Backfill: run every day from --date through this day, in order.",
)
@click.option(
    "--snapshots",
    "snapshot_root",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder holding one sub-folder of files per day, named YYYY-MM-DD.  "
    "[env: BITSO_SNAPSHOT_ROOT; default: snapshots]",
)
@click.option("--delta", is_flag=True, help="The day's files hold only new and changed rows.")
@click.option("--full-refresh", is_flag=True, help="Rebuild every incremental model from scratch.")
@click.option(
    "--allow-shrink",
    is_flag=True,
    help="Load full snapshots past the volume guard (see `ingest snapshots --help`).",
)
@format_option("Export file format.")
@click.option(
    "--vars",
    "dbt_vars",
    metavar="YAML",
    help="dbt vars for the build, such as '{rejection_budget_share: 0.05}'.",
)
@project_dir_option("The dbt project.")
@no_wait_option
@json_option
@target_option
@lake_option
@click.pass_obj
def daily_command(
    settings: Settings,
    day: datetime | None,
    last_day: datetime | None,
    snapshot_root: Path | None,
    delta: bool,
    full_refresh: bool,
    allow_shrink: bool,
    file_format: str,
    dbt_vars: str | None,
    project_dir: Path | None,
    no_wait: bool,
    as_json: bool,
    target: str | None,
    lake: str | None,
) -> None:
    """Run one day's batch: load its snapshots, dbt build (with tests), export.

    Safe to re-run: loaded files are skipped, models merge by key, exports swap atomically.
    """
    from ingest.batch import daily, export, quality
    from ingest.io.warehouse import WarehouseError, run_lock

    settings = settings.replace(
        target=target, snapshot_root=snapshot_root, project_dir=project_dir, lake=lake
    )
    first = day.date() if day else datetime.now(UTC).date()
    last = last_day.date() if last_day else first
    if last < first:
        raise click.BadParameter("must not be before --date", param_hint="--through")
    days: list[dict] = []
    # A lost or unreachable warehouse is a failed run too: one line, no traceback.
    with failures_exit(WarehouseError), run_lock(settings, "daily", wait=not no_wait):
        for offset in range((last - first).days + 1):
            run_date = first + timedelta(days=offset)
            with failures_exit(daily.DailyRunError, context=f"{run_date}: "):
                run = daily.run_day(
                    settings,
                    run_date,
                    kind="delta" if delta else "full",
                    full_refresh=full_refresh and offset == 0,
                    file_format=file_format,
                    dbt_vars=dbt_vars,
                    allow_shrink=allow_shrink,
                )
            if as_json:
                days.append(dataclasses.asdict(run) | {"day": run.day.isoformat()})
                continue
            loaded = sum(load.rows_loaded for load in run.loads)
            click.echo(
                f"{run.day}: loaded {loaded:,} rows from {len(run.loads)} files, built, "
                f"exported {len(run.exported)} tables to {export.output_location(settings.lake)}"
            )
            click.echo("  data quality:")
            for table in run.quality:
                click.echo(quality.describe(table))
    if as_json:
        click.echo(json.dumps({"days": days}, indent=2))


@click.command("export")
@lake_option
@format_option("Export file format.")
@target_option
@click.pass_obj
def export_command(
    settings: Settings, lake: str | None, file_format: str, target: str | None
) -> None:
    """Write every core mart and insight report to LAKE/batch_output/, one file per table.

    On a folder, batch_output is a link swapped atomically to the new export; on s3://, each
    export goes to batch_output/<stamp>/ and batch_output/LATEST names the latest one.
    """
    from ingest.batch import export
    from ingest.io.warehouse import WarehouseError

    settings = settings.replace(lake=lake, target=target)
    with failures_exit(export.ExportError, WarehouseError):
        try:
            tables = export.export_marts(settings, file_format)
        except OSError as error:
            raise RunFailed(f"cannot write the export to {settings.lake}: {error}") from error
    for table in tables:
        click.echo(f"{table.rows:>10,} rows  {table.path}")


COMMANDS = (snapshots_command, daily_command, export_command)
