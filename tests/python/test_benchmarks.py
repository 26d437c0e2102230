"""Every benchmark's documented command runs, at a small size, and prints its figures.

Figures are not judged here (they are benchmarks, recorded in the README and the docs); what is
checked is that the commands users are told to run still work and report what they promise.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def run_benchmark(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed


def test_every_documented_benchmark_command_is_run_here() -> None:
    """The docs name each benchmark as a module; each of them has its smoke run below."""
    documented = set()
    for document in DOCUMENTS:
        documented |= set(re.findall(r"python -m benchmarks\.(\w+)", document.read_text()))
    modules = {path.stem for path in (REPO / "benchmarks").glob("*_bench.py")}
    assert documented == modules == {"batch_bench", "monitor_bench", "ws_bench", "startup_bench"}


def test_startup_bench_prints_a_row_per_command() -> None:
    output = run_benchmark("benchmarks.startup_bench", "--runs", "1").stdout
    assert re.search(r"^ingest --help\s+\d+ ms", output, re.MULTILINE), output


def test_monitor_bench_reports_records_and_cost() -> None:
    report = json.loads(run_benchmark("benchmarks.monitor_bench", "--seconds", "3").stdout)
    assert report["books"] > 0
    assert report["cpu_per_observation_us"] > 0
    assert report["api_requests"] >= 1


def test_ws_bench_reports_frames_and_alert_latency() -> None:
    report = json.loads(run_benchmark("benchmarks.ws_bench", "--seconds", "4").stdout)
    assert report["frames"] > 0
    assert report["alerts"] > 0
    assert report["alert_latency_p99_ms"] >= 0
    assert report["cpu_per_frame_us"] > 0


@pytest.mark.dbt
def test_batch_bench_times_every_phase_on_duckdb() -> None:
    completed = run_benchmark(
        "benchmarks.batch_bench", "--deposits", "1000", "--engines", "duckdb", "--json"
    )
    (engine,) = json.loads(completed.stdout)["engines"]
    assert engine["engine"] == "duckdb"
    for phase in ("load_seconds", "build_seconds", "dbt_startup_seconds", "baseline_seconds"):
        assert engine[phase] > 0, phase
    assert engine["incremental_day_seconds"] > 0
    assert engine["full_refresh_seconds"] > 0
    assert engine["builds_agree"] is True
