"""The `ingest` command line: parses options, calls the services, maps failures to exit codes."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from bitso_sandbox import sample
from ingest.batch import daily, export, snapshots
from ingest.io.warehouse import WarehouseError, describe
from ingest.settings import Settings, SettingsError

log = logging.getLogger("ingest")


class _StderrHandler(logging.Handler):
    """Logs to whatever stderr is when the record is emitted (click swaps it in tests)."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(self.format(record), err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail to stderr.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """Load Bitso snapshots into the warehouse and monitor order-book spreads.

    The engine is chosen by BITSO_TARGET (duckdb or postgres); PostgreSQL is reached through
    the standard PG* variables.
    """
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, handlers=[handler], force=True
    )
    # The S3 client reports where it found credentials at INFO on every connection.
    for chatty in ("botocore", "aiobotocore", "s3fs"):
        logging.getLogger(chatty).setLevel(logging.DEBUG if verbose else logging.WARNING)
    try:
        ctx.obj = Settings.from_env(os.environ)
    except SettingsError as error:
        raise click.UsageError(str(error)) from error


def _target_option(command):
    return click.option(
        "--target",
        type=click.Choice(["duckdb", "postgres"]),
        envvar="BITSO_TARGET",
        show_envvar=True,
        help="Warehouse engine.  [default: duckdb]",
    )(command)


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    raise SystemExit(1)


@cli.command("snapshots")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--deposits-file",
    metavar="NAME",
    help="Deposits file in DIRECTORY.  [default: deposit_sample_data.csv]",
)
@click.option(
    "--withdrawals-file",
    metavar="NAME",
    help="Withdrawals file.  [default: withdrawals_sample_data.csv]",
)
@click.option(
    "--events-file", metavar="NAME", help="Events file.  [default: event_sample_data.csv]"
)
@click.option(
    "--users-file", metavar="NAME", help="Users file.  [default: user_id_sample_data.csv]"
)
@click.option(
    "--date",
    "snapshot_date",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="The day the files describe.  [default: today, UTC]",
)
@click.option(
    "--delta",
    is_flag=True,
    help="The files hold only the day's new and changed rows, not the whole history.",
)
@_target_option
@click.option("--quiet", is_flag=True, help="No progress lines on stderr.")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary on stdout.")
@click.pass_obj
def snapshots_command(
    settings: Settings,
    directory: Path,
    deposits_file: str | None,
    withdrawals_file: str | None,
    events_file: str | None,
    users_file: str | None,
    snapshot_date: datetime | None,
    delta: bool,
    target: str | None,
    quiet: bool,
    as_json: bool,
) -> None:
    """Load the four daily CSV snapshots in DIRECTORY into the warehouse's raw tables.

    All files load in one transaction or none do; a file already loaded (same checksum) is
    skipped.
    """
    settings = settings.replace(target=target)
    names = {
        "deposits": deposits_file,
        "withdrawals": withdrawals_file,
        "events": events_file,
        "users": users_file,
    }
    files = snapshots.resolve_files(
        directory, {table: name for table, name in names.items() if name}
    )

    def report_progress(table: str, rows: int, seconds: float) -> None:
        if not quiet:
            rate = rows / seconds if seconds > 0 else 0.0
            log.info("%s: %s rows (%s rows/s)", table, f"{rows:,}", f"{rate:,.0f}")

    try:
        loads = snapshots.load_snapshots(
            settings,
            files,
            report_progress,
            snapshot_date=snapshot_date.date() if snapshot_date else None,
            kind="delta" if delta else "full",
        )
    except snapshots.SnapshotError as error:
        _fail(f"{error} (nothing was loaded)")
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


@cli.command("generate-sample")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--deposits",
    type=click.IntRange(min=1),
    default=20_000,
    show_default=True,
    help="Deposit rows; the other files scale from the original ratios (1618271 is the "
    "original volume).",
)
@click.option("--seed", type=int, default=42, show_default=True, help="Same seed, same files.")
@click.option(
    "--users-from",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Draw the users from an existing users file instead of inventing them.",
)
@click.option(
    "--orphan-users",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Users who transact but are missing from the users file.",
)
def generate_sample_command(
    directory: Path, deposits: int, seed: int, users_from: Path | None, orphan_users: int
) -> None:
    """Write the four snapshot files, with the original formats and quirks, into DIRECTORY."""
    user_ids = sample.read_user_ids(users_from) if users_from else None
    written = sample.generate_sample(
        directory, deposits=deposits, seed=seed, user_ids=user_ids, orphan_users=orphan_users
    )
    for name, rows in written.items():
        click.echo(f"{rows:>10,} rows  {directory / name}")


@cli.command("daily")
@click.option(
    "--date",
    "day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="The day to run.  [default: today, UTC]",
)
@click.option(
    "--through",
    "last_day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Backfill: run every day from --date through this day, in order.",
)
@click.option(
    "--snapshots",
    "snapshot_root",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="BITSO_SNAPSHOT_ROOT",
    show_envvar=True,
    help="Folder holding one sub-folder of files per day, named YYYY-MM-DD.  [default: snapshots]",
)
@click.option("--delta", is_flag=True, help="The day's files hold only new and changed rows.")
@click.option("--full-refresh", is_flag=True, help="Rebuild every incremental model from scratch.")
@click.option(
    "--format", "file_format", type=click.Choice(export.FORMATS), default="csv", show_default=True
)
@click.option(
    "--project-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    envvar="DBT_PROJECT_DIR",
    show_envvar=True,
    help="The dbt project.  [default: the current folder]",
)
@_target_option
@click.pass_obj
def daily_command(
    settings: Settings,
    day: datetime | None,
    last_day: datetime | None,
    snapshot_root: Path | None,
    delta: bool,
    full_refresh: bool,
    file_format: str,
    project_dir: Path | None,
    target: str | None,
) -> None:
    """Run one day's batch: load its snapshots, dbt build (with tests), export.

    Safe to re-run: loaded files are skipped, models merge by key, exports swap atomically.
    """
    settings = settings.replace(target=target, snapshot_root=snapshot_root)
    first = day.date() if day else datetime.now(UTC).date()
    last = last_day.date() if last_day else first
    if last < first:
        raise click.BadParameter("must not be before --date", param_hint="--through")
    for offset in range((last - first).days + 1):
        run_date = first + timedelta(days=offset)
        try:
            run = daily.run_day(
                settings,
                run_date,
                kind="delta" if delta else "full",
                project_dir=project_dir,
                full_refresh=full_refresh and offset == 0,
                file_format=file_format,
            )
        except daily.DailyRunError as error:
            _fail(f"{run_date}: {error}")
        loaded = sum(load.rows_loaded for load in run.loads)
        click.echo(
            f"{run.day}: loaded {loaded:,} rows from {len(run.loads)} files, built, "
            f"exported {len(run.exported)} tables to {export.output_location(settings.lake)}"
        )


@cli.command("export")
@click.option(
    "--lake",
    envvar="BITSO_LAKE",
    show_envvar=True,
    help="Data lake root, a folder or an s3:// URL.  [default: bucket]",
)
@click.option(
    "--format", "file_format", type=click.Choice(export.FORMATS), default="csv", show_default=True
)
@_target_option
@click.pass_obj
def export_command(
    settings: Settings, lake: str | None, file_format: str, target: str | None
) -> None:
    """Write every core mart and insight report to LAKE/batch_output/, one file per table.

    On a folder, batch_output is a link swapped atomically to the new export; on s3://, each
    export goes to batch_output/<stamp>/ and batch_output/LATEST names the latest one.
    """
    settings = settings.replace(lake=lake, target=target)
    try:
        tables = export.export_marts(settings, file_format)
    except (export.ExportError, WarehouseError) as error:
        _fail(str(error))
    except OSError as error:
        _fail(f"cannot write the export to {settings.lake}: {error}")
    for table in tables:
        click.echo(f"{table.rows:>10,} rows  {table.path}")


# Commands of the spread monitor are registered below this line.
from ingest.cli.monitor_tmp import serve_bitso, spreads  # noqa: E402

cli.add_command(spreads)
cli.add_command(serve_bitso)

# Commands of the spread analysis are registered below this line.
from ingest.cli.spreads import lake_load_command, report_command  # noqa: E402

cli.add_command(lake_load_command)
cli.add_command(report_command)
