"""The alert rules file: loading and validation, the shorthands, and each control of the
episode state machine driven with explicit times."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from ingest.spreads.monitor.alert_rules import (
    REMINDER,
    RESOLVED,
    SHORTHAND_RECEIVER,
    TRIGGERED,
    AlertRule,
    AlertRules,
    AlertRulesError,
    EpisodeMachine,
    default_rules,
    load_alert_rules,
    parse_alert_rules,
    simple_rules,
)
from ingest.spreads.monitor.alerts import project_thresholds

REPO_ROOT = Path(__file__).resolve().parents[4]
SLACK_URL = "https://hooks.slack.com/services/T0/B0/SECRET"
ENV = {"MARKETS_SLACK_URL": SLACK_URL}

ISSUE_EXAMPLE = """
receivers:
  - name: markets-slack
    webhook_url_env: MARKETS_SLACK_URL
rules:
  - threshold: 0.1
    books: ["btc_*", "usd_mxn"]
    for: 3
    clear_for: 5
    clear_below: 0.08
    repeat_every: 3600
    severity: warning
    inhibit_lower: false
    receivers: [markets-slack]
"""


def rule_document(**fields: object) -> dict:
    return {
        "receivers": [{"name": "markets-slack", "webhook_url_env": "MARKETS_SLACK_URL"}],
        "rules": [{"threshold": 0.5, **fields}],
    }


def test_the_documented_example_loads_into_its_fields(tmp_path: Path) -> None:
    path = tmp_path / "rules.yml"
    path.write_text(ISSUE_EXAMPLE)
    rules = load_alert_rules(path, ENV)
    (rule,) = rules.rules
    assert rule == AlertRule(
        threshold=Decimal("0.1"),
        books=("btc_*", "usd_mxn"),
        for_seconds=3.0,
        clear_for_seconds=5.0,
        clear_below=Decimal("0.08"),
        repeat_every_seconds=3600.0,
        severity="warning",
        inhibit_lower=False,
        receivers=("markets-slack",),
    )
    assert rules.receiver("markets-slack").urls == (SLACK_URL,)
    assert rules.receiver("markets-slack").url_env == "MARKETS_SLACK_URL"
    # The URL is a credential: it stays out of the objects' repr.
    assert "SECRET" not in repr(rules)


def test_books_are_names_or_globs_and_default_to_every_book(tmp_path: Path) -> None:
    rules = parse_alert_rules(
        {"rules": [{"threshold": 1.0}, {"threshold": 0.1, "books": ["btc_*", "usd_mxn"]}]}, {}
    )
    assert [rule.threshold for rule in rules.rules_for("btc_mxn")] == [
        Decimal("1.0"),
        Decimal("0.1"),
    ]
    assert [rule.threshold for rule in rules.rules_for("usd_mxn")] == [
        Decimal("1.0"),
        Decimal("0.1"),
    ]
    assert [rule.threshold for rule in rules.rules_for("eth_mxn")] == [Decimal("1.0")]
    assert rules.rules[0].clear_level == Decimal("1.0")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"treshold_typo": 1}, "rules[0]: treshold_typo: unknown key"),
        ({"for": True}, "rules[0] (threshold 0.5): for (seconds): must be a number, not True"),
        ({"for": "3s"}, "rules[0] (threshold 0.5): for (seconds): must be a number"),
        ({"clear_for": -1}, "rules[0] (threshold 0.5): clear_for: must be 0 or more seconds"),
        ({"clear_below": 0.6}, "rules[0] (threshold 0.5): clear_below: must be between 0 and"),
        ({"books": "btc_mxn"}, "rules[0] (threshold 0.5): books: must be a list of non-empty"),
        ({"books": []}, "rules[0] (threshold 0.5): books: empty"),
        (
            {"receivers": ["ops-pager"]},
            "rules[0] (threshold 0.5): receivers: 'ops-pager' is not a defined receiver",
        ),
        ({"inhibit_lower": "yes"}, "rules[0] (threshold 0.5): inhibit_lower: must be true or"),
        ({"severity": 3}, "rules[0] (threshold 0.5): severity: must be a non-empty string"),
    ],
)
def test_a_bad_rule_is_an_error_naming_the_rule_and_the_field(fields: dict, message: str) -> None:
    with pytest.raises(AlertRulesError, match="^" + re.escape(message)):
        parse_alert_rules(rule_document(**fields), ENV)


@pytest.mark.parametrize(
    ("threshold", "message"),
    [
        (True, "rules[0]: threshold: must be a number, not True"),
        (0, "rules[0]: threshold: must be greater than 0"),
        (-0.5, "rules[0]: threshold: must be greater than 0"),
        (float("nan"), "rules[0]: threshold: must be a finite number"),
        ("0.5", "rules[0]: threshold: must be a number, not '0.5'"),
    ],
)
def test_a_threshold_must_be_a_positive_number(threshold: object, message: str) -> None:
    document = {"rules": [{"threshold": 1.0}, {"threshold": threshold}]}
    with pytest.raises(AlertRulesError, match=re.escape(message.replace("[0]", "[1]"))):
        parse_alert_rules(document, {})


def test_a_receiver_whose_variable_is_unset_is_an_error_naming_the_variable() -> None:
    with pytest.raises(
        AlertRulesError,
        match="receiver 'markets-slack': webhook_url_env: the variable MARKETS_SLACK_URL is not",
    ):
        parse_alert_rules(rule_document(receivers=["markets-slack"]), {})


def test_a_receiver_url_that_is_not_http_is_refused_without_repeating_it() -> None:
    with pytest.raises(AlertRulesError, match="MARKETS_SLACK_URL") as caught:
        parse_alert_rules(rule_document(), {"MARKETS_SLACK_URL": "ftp://hooks/SECRET"})
    assert "SECRET" not in str(caught.value)


def test_file_level_mistakes_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.yml"
    path.write_text("rules: [threshold: 1\n")
    with pytest.raises(AlertRulesError, match=f"alert rules {path}: not valid YAML"):
        load_alert_rules(path, {})
    path.write_text("receivers: []\n")
    with pytest.raises(AlertRulesError, match=f"alert rules {path}: rules: missing"):
        load_alert_rules(path, {})
    path.write_text("rules: []\nroutes: []\n")
    with pytest.raises(AlertRulesError, match="the file: routes: unknown key"):
        load_alert_rules(path, {})
    with pytest.raises(AlertRulesError, match="cannot be read"):
        load_alert_rules(tmp_path / "absent.yml", {})


def test_two_rules_of_one_threshold_may_not_share_a_book() -> None:
    rules = parse_alert_rules(
        {"rules": [{"threshold": 1, "books": ["btc_*"]}, {"threshold": 1, "books": ["*_mxn"]}]},
        {},
    )
    rules.check_books(["eth_usd", "usd_mxn"])
    with pytest.raises(AlertRulesError, match="book btc_mxn matches several rules of threshold 1"):
        rules.check_books(["btc_mxn"])


def test_default_rules_are_the_thresholds_seed_with_every_alert_to_every_webhook() -> None:
    rules = default_rules(REPO_ROOT, ["https://hooks.example/one", "https://hooks.example/two"])
    assert [rule.threshold for rule in rules.rules] == sorted(
        project_thresholds(REPO_ROOT), reverse=True
    )
    assert all(rule.receivers == (SHORTHAND_RECEIVER,) for rule in rules.rules)
    assert all(rule.books is None and rule.for_seconds == 0 for rule in rules.rules)
    assert rules.receiver(SHORTHAND_RECEIVER).urls == (
        "https://hooks.example/one",
        "https://hooks.example/two",
    )


def test_the_shorthand_without_webhooks_has_no_receivers_and_refuses_bad_input() -> None:
    rules = simple_rules([Decimal("0.5"), Decimal("2")])
    assert rules.receivers == ()
    assert [rule.threshold for rule in rules.rules] == [Decimal("2"), Decimal("0.5")]
    with pytest.raises(AlertRulesError, match="greater than 0"):
        simple_rules([Decimal("0")])
    with pytest.raises(AlertRulesError, match="not an http"):
        simple_rules([Decimal("1")], ["hooks.example/path"])


def run(machine: EpisodeMachine, series: list[tuple[float, str | None]]) -> list[tuple]:
    """Feed (time, spread) observations; returns (kind, at, episode_start) per transition."""
    transitions = []
    for now, spread in series:
        transition = machine.observe(now, None if spread is None else Decimal(spread))
        if transition is not None:
            transitions.append((transition.kind, transition.at, transition.episode_start))
    return transitions


def every_second(start: float, *spreads: str | None) -> list[tuple[float, str | None]]:
    return [(start + offset, spread) for offset, spread in enumerate(spreads)]


def test_without_controls_each_crossing_is_an_alert() -> None:
    machine = EpisodeMachine(AlertRule(Decimal("0.1")))
    series = every_second(0, "0.05", "0.11", "0.12", "0.1", "0.2", "0.05")
    assert run(machine, series) == [
        (TRIGGERED, 1, 1),
        (RESOLVED, 3, 1),
        (TRIGGERED, 4, 4),
        (RESOLVED, 5, 4),
    ]


def test_for_waits_that_many_seconds_above_and_a_dip_restarts_it() -> None:
    machine = EpisodeMachine(AlertRule(Decimal("0.1"), for_seconds=3))
    # Above at 0..2, a dip at 3, then above from 4: triggers at 7, the episode starting at 4.
    series = every_second(0, "0.2", "0.2", "0.2", "0.1", "0.2", "0.2", "0.2", "0.2", "0.2")
    assert run(machine, series) == [(TRIGGERED, 7, 4)]
    assert machine.state.open and machine.state.started_at == 4


def test_clear_for_waits_that_many_seconds_at_or_below_clear_below() -> None:
    rule = AlertRule(Decimal("0.1"), clear_for_seconds=2, clear_below=Decimal("0.08"))
    machine = EpisodeMachine(rule)
    series = every_second(
        0,
        "0.2",  # 0: triggers
        "0.09",  # 1: in the band (at or below 0.1, above 0.08): still open
        "0.08",  # 2: clearing starts
        "0.09",  # 3: back in the band: clearing restarts
        "0.07",  # 4: clearing starts again
        "0.07",  # 5
        "0.07",  # 6: two seconds at or below 0.08: resolved
    )
    assert run(machine, series) == [(TRIGGERED, 0, 0), (RESOLVED, 6, 0)]
    assert not machine.state.open


def test_a_flapping_spread_is_one_episode_with_for_3_and_clear_for_5() -> None:
    rule = AlertRule(
        Decimal("0.1"), for_seconds=3, clear_for_seconds=5, clear_below=Decimal("0.08")
    )
    machine = EpisodeMachine(rule)
    flapping = ["0.15", "0.05"] * 10
    series = every_second(
        100,
        *flapping,  # 100..119: never 3 s above: nothing
        "0.15",
        "0.15",
        "0.15",
        "0.15",  # 120..123: triggers at 123, started at 120
        *flapping,  # 124..143: never 5 s at or below 0.08: stays open
        *["0.05"] * 6,  # 143 (the last flap) to 149: 5 s at or below 0.08 at 148
        *flapping,  # 150..169: nothing again
    )
    assert run(machine, series) == [(TRIGGERED, 123, 120), (RESOLVED, 148, 120)]


def test_repeat_every_reminds_while_open_and_not_after() -> None:
    machine = EpisodeMachine(AlertRule(Decimal("1"), repeat_every_seconds=10))
    series = [(0, "2"), (5, "2"), (10, "1.5"), (15, "2"), (19, "2"), (20, "2"), (25, "0.5")]
    series += [(40, "0.5")]
    assert run(machine, series) == [
        (TRIGGERED, 0, 0),
        (REMINDER, 10, 0),
        (REMINDER, 20, 0),
        (RESOLVED, 25, 0),
    ]


def test_seconds_without_a_quote_neither_open_nor_close_nor_interrupt() -> None:
    rule = AlertRule(Decimal("0.1"), for_seconds=2, clear_for_seconds=2)
    machine = EpisodeMachine(rule)
    series = every_second(0, "0.2", None, "0.2", None, None, "0.05", None, "0.05", None)
    assert run(machine, series) == [(TRIGGERED, 2, 0), (RESOLVED, 7, 0)]


def test_a_restored_state_continues_its_episode() -> None:
    rule = AlertRule(Decimal("0.1"), clear_for_seconds=3)
    first = EpisodeMachine(rule)
    run(first, every_second(0, "0.2", "0.05"))
    restored = EpisodeMachine(rule, first.state)
    # Clearing began at 1 before the restart: 3 s at or below the threshold at 4.
    assert run(restored, every_second(2, "0.05", "0.05", "0.05")) == [(RESOLVED, 4, 0)]


def test_inhibit_lower_holds_back_the_lower_thresholds_of_the_same_book_only() -> None:
    rules = AlertRules(
        (),
        (
            AlertRule(Decimal("1.0"), inhibit_lower=True),
            AlertRule(Decimal("0.5"), books=("btc_*",)),
            AlertRule(Decimal("0.1")),
            AlertRule(Decimal("2.0")),
        ),
    )
    assert rules.inhibited("btc_mxn", [Decimal("1.0"), Decimal("0.5")]) == {
        Decimal("0.5"),
        Decimal("0.1"),
    }
    assert rules.inhibited("eth_mxn", [Decimal("1.0")]) == {Decimal("0.1")}
    # An open rule without inhibit_lower holds nothing back, and nothing holds back higher ones.
    assert rules.inhibited("btc_mxn", [Decimal("2.0"), Decimal("0.5")]) == set()
    assert rules.inhibited("btc_mxn", []) == set()
