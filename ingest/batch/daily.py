"""One day's batch job, end to end: load the day's snapshots, `dbt build`, export.

Every step is safe to repeat: a loaded file is skipped by checksum, the incremental models merge
by key, and the export is published by an atomic swap. So re-running a day, or a whole range of
days, converges to the same tables.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

from ingest.batch import export, snapshots
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
    project_dir: Path | None = None,
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

    project = project_dir or Path.cwd()
    build_command = [
        _dbt_executable(),
        "build",
        *PRODUCTION_BUILD_FLAGS,
        "--project-dir",
        str(project),
    ]
    if "DBT_PROFILES_DIR" not in os.environ and (project / "profiles.yml").exists():
        build_command += ["--profiles-dir", str(project)]
    if full_refresh:
        build_command.append("--full-refresh")
    returncode, failures = _run_dbt(build_command)
    if returncode != 0:
        detail = "; ".join(failures[-5:]) or f"dbt build exited with {returncode}"
        raise DailyRunError("build", f"{detail} (the load is kept, nothing was exported)")

    try:
        exported = export.export_marts(settings, file_format)
    except (export.ExportError, WarehouseError, OSError) as error:
        raise DailyRunError("export", f"{error}; the previous export is still published") from error
    return DailyRun(day, loads, exported)


def _run_dbt(command: list[str]) -> tuple[int, list[str]]:
    """Run dbt, relaying its progress to stderr (stdout carries only the command's result);
    returns its exit code and the lines that report a failure."""
    failures = []
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "DBT_USE_COLORS": "false"},
    ) as process:
        for line in process.stdout:
            sys.stderr.write(line)
            if " ERROR " in line or " FAIL " in line or "Encountered an error" in line:
                failures.append(line.strip())
    return process.returncode, failures


def _dbt_executable() -> str:
    """The dbt installed beside this Python, so a cron job needs no PATH set-up."""
    beside_python = Path(sys.executable).parent / "dbt"
    return str(beside_python) if beside_python.exists() else (shutil.which("dbt") or "dbt")
