"""Running dbt for the daily job, and judging each run by dbt's own record of it
(`run_results.json`), not by its console output."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from collections import deque
from pathlib import Path

from ingest.settings import Settings

# Node statuses that mean the node did not do its job (a data test at error severity fails).
FAILED_STATUSES = frozenset({"error", "fail", "runtime error"})
# Console lines kept to explain a run that failed before it ran any node (a parse error).
_TAIL_LINES = 5


@dataclasses.dataclass(frozen=True)
class DbtOutcome:
    returncode: int
    # One line per failed node: `<unique_id>: <status>: <message>`.
    failures: tuple[str, ...]
    # The last console lines, for a run that wrote no results.
    tail: tuple[str, ...]
    # Each failed test that stored its failing rows: its unique_id and the stored relation.
    stored_failures: tuple[tuple[str, str], ...] = ()

    @property
    def succeeded(self) -> bool:
        return self.returncode == 0 and not self.failures

    def explanation(self) -> str:
        if self.failures:
            shown = "; ".join(self.failures[:5])
            more = len(self.failures) - 5
            return shown + (f"; and {more} more" if more > 0 else "")
        return "; ".join(self.tail) or f"dbt exited with {self.returncode}"


def run_results_path(settings: Settings) -> Path:
    target = settings.dbt_target_path or Path("target")
    return target if target.is_absolute() else settings.project_dir / target


def dbt_command(settings: Settings, *args: str) -> list[str]:
    command = [_dbt_executable(), *args, "--project-dir", str(settings.project_dir)]
    profiles = settings.profiles_dir
    if profiles is None and (settings.project_dir / "profiles.yml").exists():
        profiles = settings.project_dir
    if profiles is not None:
        command += ["--profiles-dir", str(profiles)]
    return command


def run_dbt(settings: Settings, *args: str) -> DbtOutcome:
    """Run one dbt command against the settings' warehouse, relaying its progress to stderr
    (stdout carries only the calling command's result)."""
    results_file = run_results_path(settings) / "run_results.json"
    # A results file left by an earlier run must never be taken for this one's.
    results_file.unlink(missing_ok=True)
    tail: deque[str] = deque(maxlen=_TAIL_LINES)
    env = settings.child_environment()
    env["DBT_USE_COLORS"] = "false"
    with subprocess.Popen(
        dbt_command(settings, *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    ) as process:
        for line in process.stdout:
            sys.stderr.write(line)
            if line.strip():
                tail.append(line.strip())
    failed = _failed_results(results_file)
    return DbtOutcome(
        process.returncode,
        tuple(
            f"{result['unique_id']}: {result['status']}: {_one_line(result.get('message'))}"
            for result in failed
        ),
        tuple(tail),
        tuple(
            (result["unique_id"], result["relation_name"])
            for result in failed
            if result.get("relation_name")
        ),
    )


def _failed_results(results_file: Path) -> list[dict]:
    try:
        results = json.loads(results_file.read_text())["results"]
    except (OSError, ValueError, KeyError):
        return []
    return [result for result in results if result.get("status") in FAILED_STATUSES]


def _one_line(message: object) -> str:
    return " ".join(str(message or "").split())


def _dbt_executable() -> str:
    """The dbt installed beside this Python, so a cron job needs no PATH set-up."""
    beside_python = Path(sys.executable).parent / "dbt"
    return str(beside_python) if beside_python.exists() else (shutil.which("dbt") or "dbt")
