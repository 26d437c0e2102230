"""The monitor's default alert thresholds are the dbt seed the spread reports use."""

from __future__ import annotations

import csv
import subprocess
import sys
from decimal import Decimal

from ingest.spreads.monitor.alerts import DEFAULT_THRESHOLDS
from tests.python.conftest import REPO_ROOT

SEED = REPO_ROOT / "seeds" / "spread_thresholds.csv"


def test_the_monitor_defaults_are_the_thresholds_seed():
    with SEED.open(newline="") as handle:
        seeded = [Decimal(row["threshold_pct"]) for row in csv.DictReader(handle)]
    assert seeded and tuple(seeded) == DEFAULT_THRESHOLDS


def test_the_seed_is_found_from_outside_the_checkout(tmp_path):
    # As an installed command runs: from any directory, through the package's own location.
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from ingest.spreads.monitor.alerts import DEFAULT_THRESHOLDS as d; print(*d)",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.split() == [str(value) for value in DEFAULT_THRESHOLDS]
