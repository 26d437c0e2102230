"""The documented alerting examples are what the code accepts: every rules file of the docs
loads, and exports to a thresholds seed from which the monitor reads the same rules back, and
the documented Alertmanager configuration passes Alertmanager's own `amtool check-config`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
import yaml

from ingest.spreads.monitor.alert_rules import default_rules, load_alert_rules, write_rules_seed
from tests.python.conftest import REPO_ROOT

DOCS = (REPO_ROOT / "docs" / "spread_monitor.md", REPO_ROOT / "docs" / "alerting.md")
# The variables the examples name; the URLs are placeholders, never contacted.
EXAMPLE_ENV = {"MARKETS_SLACK_URL": "https://hooks.slack.com/services/T000/B000/XXXX"}


def yaml_blocks(top_key: str) -> list[tuple[str, str]]:
    """(document name, text) of each fenced YAML block whose mapping has `top_key`."""
    blocks = []
    for path in DOCS:
        for text in re.findall(r"```yaml\n(.*?)```", path.read_text(), re.DOTALL):
            document = yaml.safe_load(text)
            if isinstance(document, dict) and top_key in document:
                blocks.append((path.name, text))
    return blocks


def test_every_documented_rules_file_loads_and_round_trips_through_the_seed(tmp_path):
    examples = yaml_blocks("rules")
    # The rules file's shape, the Slack example and the Alertmanager example, at least.
    assert {name for name, _ in examples} >= {"spread_monitor.md", "alerting.md"}
    assert len(examples) >= 3
    (tmp_path / "seeds").mkdir()
    for index, (name, text) in enumerate(examples):
        rules_file = tmp_path / f"rules_{index}.yml"
        rules_file.write_text(text)
        rules = load_alert_rules(rules_file, EXAMPLE_ENV)
        assert rules.rules, f"{name}: example {index} has no rules"
        write_rules_seed(rules, tmp_path / "seeds" / "spread_thresholds.csv")
        from_seed = default_rules(tmp_path).rules
        fields = ("threshold", "books", "for_seconds", "clear_for_seconds", "clear_below")
        assert [[getattr(rule, field) for field in fields] for rule in from_seed] == [
            [getattr(rule, field) for field in fields]
            for rule in sorted(rules.rules, key=lambda rule: rule.threshold, reverse=True)
        ], f"{name}: example {index}"


def test_the_documented_alertmanager_configuration_passes_amtool(tmp_path):
    amtool = shutil.which("amtool") or (
        "/usr/bin/amtool" if os.path.exists("/usr/bin/amtool") else None
    )
    if amtool is None:
        reason = "amtool is not installed (Debian package prometheus-alertmanager)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; Alertmanager tests must run under CI=true")
        pytest.skip(reason)
    configurations = yaml_blocks("route")
    assert configurations
    for index, (name, text) in enumerate(configurations):
        config = tmp_path / f"alertmanager_{index}.yml"
        config.write_text(text)
        checked = subprocess.run(
            [amtool, "check-config", str(config)], capture_output=True, text=True, timeout=60
        )
        assert checked.returncode == 0, f"{name}: {checked.stdout}{checked.stderr}"
        assert "1 inhibit rules" in checked.stdout, checked.stdout
