"""One day's batch job, end to end: load the day's snapshots, `dbt build`, export.

Every step is safe to repeat: a loaded file is skipped by checksum, the incremental models merge
by key, and the export is published by an atomic swap. So re-running a day, or a whole range of
days, converges to the same tables.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

from ingest.batch import export, quality, snapshots
from ingest.batch.dbt import DbtOutcome, run_dbt
from ingest.io.warehouse import WarehouseError, connect
from ingest.settings import Settings

# Unit tests check the models' logic on fixed inputs: they run in CI and in `dbt build` by hand,
# and would only repeat the same answer on every day's run.
PRODUCTION_BUILD_FLAGS = ("--exclude-resource-type", "unit_test")
# The data test that fails the build when too many of a load's values fail to type.
BUDGET_TEST = "assert_rejection_budget_kept"


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
    quality: list[quality.TableQuality]


def day_directory(snapshot_root: Path, day: date) -> Path:
    """Where a day's files arrive: `<root>/<YYYY-MM-DD>/`."""
    return snapshot_root / day.isoformat()


def _rejection_budget_explanation(settings: Settings, outcome: DbtOutcome) -> str | None:
    """What exceeded the rejection budget, from the rows the failed budget test stored."""
    relation = next(
        (name for node, name in outcome.stored_failures if node.endswith(f".{BUDGET_TEST}")),
        None,
    )
    if relation is None:
        return None
    try:
        with connect(settings) as warehouse:
            rows = warehouse.execute(
                "select table_name, column_name, load_id, values_delivered, values_rejected,"
                f" first_sample, last_sample from {relation} order by table_name, column_name"
            )
    except Exception:  # noqa: BLE001 - any engine's error: dbt's own explanation stands instead
        return None
    findings = []
    for table, column, load_id, delivered, rejected, first, last in rows:
        samples = ", ".join(repr(value) for value in dict.fromkeys([first, last]))
        findings.append(
            f"{table}.{column}: {rejected:,} of {delivered:,} values ({rejected / delivered:.1%})"
            f" in load {load_id} failed to type, e.g. {samples}"
        )
    return "rejection budget exceeded: " + "; ".join(findings) if findings else None


def run_day(
    settings: Settings,
    day: date,
    *,
    kind: str = "full",
    full_refresh: bool = False,
    file_format: str = "csv",
    dbt_vars: str | None = None,
    allow_shrink: bool = False,
) -> DailyRun:
    directory = day_directory(settings.snapshot_root, day)
    if not directory.is_dir():
        raise DailyRunError("load", f"no snapshot folder for {day}: {directory}")
    try:
        loads = snapshots.load_snapshots(
            settings,
            snapshots.resolve_files(directory),
            snapshot_date=day,
            kind=kind,
            guard=snapshots.VolumeGuard(enabled=not allow_shrink),
        )
    except snapshots.SnapshotError as error:
        raise DailyRunError("load", f"{error} (nothing was loaded)") from error

    build_args = ["build", *PRODUCTION_BUILD_FLAGS]
    if full_refresh:
        build_args.append("--full-refresh")
    if dbt_vars:
        build_args += ["--vars", dbt_vars]
    outcome = run_dbt(settings, *build_args)
    if not outcome.succeeded:
        explanation = _rejection_budget_explanation(settings, outcome) or outcome.explanation()
        raise DailyRunError(
            "build",
            f"{explanation} (the load is kept, nothing was exported; the previous export is "
            "still published)",
        )

    try:
        summary = quality.summarize(settings, loads)
    except WarehouseError as error:
        raise DailyRunError(
            "summary", f"{error} (loaded and built, nothing was exported)"
        ) from error

    try:
        exported = export.export_marts(settings, file_format)
    except (export.ExportError, WarehouseError, OSError) as error:
        raise DailyRunError("export", f"{error}; the previous export is still published") from error
    return DailyRun(day, loads, exported, summary)
