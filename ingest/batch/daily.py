"""One day's batch job, end to end: load the day's snapshots, `dbt build`, export.

Every step is safe to repeat: a loaded file is skipped by checksum, the incremental models merge
by key, and the export is published by an atomic swap. So re-running a day, or a whole range of
days, converges to the same tables.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

from ingest.batch import export, snapshots
from ingest.batch.dbt import run_dbt
from ingest.io.warehouse import WarehouseError
from ingest.settings import Settings

# Unit tests check the models' logic on fixed inputs: they run in CI and in `dbt build` by hand,
# and would only repeat the same answer on every day's run.
PRODUCTION_BUILD_FLAGS = ("--exclude-resource-type", "unit_test")


class DailyRunError(Exception):
    """A step failed; the steps before it completed and the steps after it did not run."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"step {step!r} failed: {message}")
        self.step = step


@dataclasses.dataclass(frozen=True)
class DailyRun:
    day: date
    loads: list[snapshots.FileLoad]
    exported: list[export.ExportedTable]


def day_directory(snapshot_root: Path, day: date) -> Path:
    """Where a day's files arrive: `<root>/<YYYY-MM-DD>/`."""
    return snapshot_root / day.isoformat()


def run_day(
    settings: Settings,
    day: date,
    *,
    kind: str = "full",
    full_refresh: bool = False,
    file_format: str = "csv",
) -> DailyRun:
    directory = day_directory(settings.snapshot_root, day)
    if not directory.is_dir():
        raise DailyRunError("load", f"no snapshot folder for {day}: {directory}")
    try:
        loads = snapshots.load_snapshots(
            settings, snapshots.resolve_files(directory), snapshot_date=day, kind=kind
        )
    except snapshots.SnapshotError as error:
        raise DailyRunError("load", f"{error} (nothing was loaded)") from error

    build_args = ["build", *PRODUCTION_BUILD_FLAGS]
    if full_refresh:
        build_args.append("--full-refresh")
    outcome = run_dbt(settings, *build_args)
    if not outcome.succeeded:
        raise DailyRunError(
            "build", f"{outcome.explanation()} (the load is kept, nothing was exported)"
        )

    try:
        exported = export.export_marts(settings, file_format)
    except (export.ExportError, WarehouseError, OSError) as error:
        raise DailyRunError("export", f"{error}; the previous export is still published") from error
    return DailyRun(day, loads, exported)
