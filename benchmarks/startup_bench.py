"""Start-up cost of the `ingest` commands: wall time of `--help` (median of several runs) and
the import time Python itself reports (`-X importtime`). Run from the repository root:

    .venv/bin/python -m benchmarks.startup_bench --runs 20
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = (["--help"], ["lake-load", "--help"], ["spreads", "--help"], ["snapshots", "--help"])


def ingest_command(args: list[str]) -> list[str]:
    ingest = Path(sys.executable).with_name("ingest")
    return [str(ingest), *args]


def wall_seconds(args: list[str], runs: int) -> float:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(ingest_command(args), check=True, stdout=subprocess.DEVNULL)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def import_seconds(args: list[str]) -> tuple[float, list[tuple[float, str]]]:
    """Total import time of the run, and its slowest top-level imports (cumulative)."""
    script = f"from ingest.cli import cli\ntry:\n    cli({args!r})\nexcept SystemExit:\n    pass\n"
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", script],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    top_level = []
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _self, cumulative, name = line.removeprefix("import time:").split("|")
        # Nested imports are indented under the module that imported them.
        if not name.startswith("  "):
            top_level.append((int(cumulative) / 1e6, name.strip()))
    total = sum(seconds for seconds, _ in top_level)
    return total, sorted(top_level, reverse=True)[:3]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="Runs per command for the median.")
    args = parser.parse_args()
    print(f"{'command':<28} {'wall (median)':>14} {'imports':>10}  slowest imports")
    for command in COMMANDS:
        wall = wall_seconds(command, args.runs)
        imports, slowest = import_seconds(command)
        named = ", ".join(f"{name} {seconds * 1000:.0f} ms" for seconds, name in slowest)
        label = "ingest " + " ".join(command)
        print(f"{label:<28} {wall * 1000:>11.0f} ms {imports * 1000:>7.0f} ms  {named}")


if __name__ == "__main__":
    main()
