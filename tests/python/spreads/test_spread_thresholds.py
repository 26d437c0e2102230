"""The monitor's default alert thresholds are the dbt seed the spread reports use, found through
the project-dir setting; outside a project, the built-in defaults equal that seed."""

from __future__ import annotations

import csv
from decimal import Decimal

import pytest

from ingest.spreads.monitor.alerts import DEFAULT_THRESHOLDS, ThresholdsError, project_thresholds
from tests.python.conftest import REPO_ROOT

SEED = REPO_ROOT / "seeds" / "spread_thresholds.csv"


def seeded() -> tuple[Decimal, ...]:
    with SEED.open(newline="") as handle:
        return tuple(Decimal(row["threshold_pct"]) for row in csv.DictReader(handle))


def test_the_built_in_defaults_are_the_thresholds_seed():
    assert seeded() and seeded() == DEFAULT_THRESHOLDS


def test_the_project_seed_gives_the_thresholds(tmp_path):
    assert project_thresholds(REPO_ROOT) == seeded()
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / "spread_thresholds.csv").write_text("threshold_pct\n2.5\n0.25\n")
    assert project_thresholds(tmp_path) == (Decimal("2.5"), Decimal("0.25"))


def test_outside_a_project_the_built_in_defaults_apply(tmp_path):
    assert project_thresholds(tmp_path) == DEFAULT_THRESHOLDS


@pytest.mark.parametrize(
    "content", ["threshold_pct\nabc\n", "pct\n1.0\n", "threshold_pct\n-1\n", "threshold_pct\n"]
)
def test_a_broken_seed_is_an_error_naming_the_file(tmp_path, content):
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / "spread_thresholds.csv").write_text(content)
    with pytest.raises(ThresholdsError, match="spread_thresholds.csv"):
        project_thresholds(tmp_path)
