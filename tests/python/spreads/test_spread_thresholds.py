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


def test_the_committed_seed_is_the_default_rules_exported(tmp_path):
    from click.testing import CliRunner

    from ingest.cli import cli
    from ingest.spreads.monitor.alert_rules import default_rules, write_rules_seed

    exported = tmp_path / "spread_thresholds.csv"
    write_rules_seed(default_rules(REPO_ROOT), exported)
    assert exported.read_text() == SEED.read_text()
    # `ingest alerts export-rules` writes the same from a file of those rules.
    rules = tmp_path / "rules.yml"
    rules.write_text("rules:\n" + "".join(f"  - threshold: {t}\n" for t in DEFAULT_THRESHOLDS))
    from_file = tmp_path / "from_file.csv"
    result = CliRunner().invoke(
        cli, ["alerts", "export-rules", str(rules), "--seed", str(from_file)]
    )
    assert result.exit_code == 0, result.output
    assert from_file.read_text() == SEED.read_text()


def test_export_rules_writes_the_rule_columns_and_refuses_what_the_seed_cannot_hold(tmp_path):
    from click.testing import CliRunner

    from ingest.cli import cli

    rules = tmp_path / "rules.yml"
    # The receiver's URL variable need not be set: exporting sends nothing.
    rules.write_text(
        "receivers:\n  - name: slack\n    webhook_url_env: UNSET_URL\n"
        "rules:\n  - threshold: 0.1\n    books: [btc_*, 'usd_[!a]x[a-z]']\n    for: 3\n"
        "    clear_for: 5\n    clear_below: 0.08\n    receivers: [slack]\n"
        "  - threshold: 1.0\n    for: 1.5\n"
    )
    seed = tmp_path / "seed.csv"
    runner = CliRunner()
    result = runner.invoke(cli, ["alerts", "export-rules", str(rules), "--seed", str(seed)])
    assert result.exit_code == 0, result.output
    assert seed.read_text().splitlines() == [
        "threshold_pct,for_seconds,clear_for_seconds,clear_below_pct,books",
        "1.0,1.5,0,,",
        "0.1,3,5,0.08,btc_* usd_[!a]x[a-z]",
    ]
    rules.write_text("rules:\n  - threshold: 0.1\n  - threshold: 0.1\n    books: [usd_mxn]\n")
    result = runner.invoke(cli, ["alerts", "export-rules", str(rules), "--seed", str(seed)])
    assert result.exit_code == 2 and "one rule per threshold" in result.output

    rules.write_text("rules:\n  - threshold: 0.1\n    books: ['BTC_*']\n")
    result = runner.invoke(cli, ["alerts", "export-rules", str(rules), "--seed", str(seed)])
    assert result.exit_code == 2 and "'BTC_*' cannot be written to the seed" in result.output
    assert seed.read_text().splitlines()[2] == "0.1,3,5,0.08,btc_* usd_[!a]x[a-z]"


def test_without_a_rules_file_the_monitor_applies_the_rules_the_seed_holds(tmp_path):
    from ingest.spreads.monitor.alert_rules import (
        default_rules,
        parse_alert_rules,
        write_rules_seed,
    )

    rules = parse_alert_rules(
        {
            "rules": [
                {"threshold": 1.0},
                {"threshold": 0.1, "books": ["btc_*", "usd_mxn"], "for": 3, "clear_for": 5.5},
                {"threshold": 0.25, "clear_below": 0.2},
            ]
        },
        None,
    )
    (tmp_path / "seeds").mkdir()
    write_rules_seed(rules, tmp_path / "seeds" / "spread_thresholds.csv")
    from_seed = default_rules(tmp_path, ["https://hooks.example/one"])
    assert [
        (rule.threshold, rule.books, rule.for_seconds, rule.clear_for_seconds, rule.clear_below)
        for rule in from_seed.rules
    ] == [
        (Decimal("1.0"), None, 0, 0, None),
        (Decimal("0.25"), None, 0, 0, Decimal("0.2")),
        (Decimal("0.1"), ("btc_*", "usd_mxn"), 3, 5.5, None),
    ]
    assert all(rule.receivers == ("webhooks",) for rule in from_seed.rules)
    (tmp_path / "seeds" / "spread_thresholds.csv").write_text(
        "threshold_pct,for_seconds,clear_below_pct\n0.5,-1,\n"
    )
    with pytest.raises(ThresholdsError, match=r"spread_thresholds.csv, line 2: .*for: must be 0"):
        default_rules(tmp_path)
