"""The dbt episode model applies the monitor's rules: a monitor run with `books`, `for`,
`clear_for` and `clear_below` on two flapping spreads, and a warehouse whose thresholds seed holds
the same rule, agree on the one episode, on DuckDB and PostgreSQL."""

from __future__ import annotations

import csv
import threading
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner

from ingest.cli import cli
from ingest.spreads.monitor.alert_rules import parse_alert_rules, write_rules_seed
from ingest.spreads.monitor.quotes import Quote, QuoteBoard
from ingest.spreads.monitor.runner import MonitorOptions, run_monitor
from ingest.spreads.monitor.webhooks import WebhookNotifier

from ..book_patterns import SHOW_ARGS, check_shown_matches
from ..monitor.conftest import T0, ManualClock
from ..monitor.test_runner import IdleSource

RULE = {"threshold": 0.1, "books": ["btc_*"], "for": 3, "clear_for": 5, "clear_below": 0.08}
# The rule's book, and one it does not apply to that flaps the same way.
BOOKS = ("btc_mxn", "usd_mxn")
# Per second from T0: flapping (never 3 s above), above from 18 (triggers at 21), a dip and a
# second in the band that do not clear it, then calm from 32 (resolves at 37).
SPREADS = (
    ["0.05"] * 10
    + ["0.15", "0.15", "0.05", "0.05", "0.15", "0.15", "0.05", "0.05"]
    + ["0.15"] * 8
    + ["0.05", "0.05", "0.15", "0.15", "0.09", "0.09"]
    + ["0.05"] * 14
)


def at(second: int) -> datetime:
    return datetime.fromtimestamp(T0 + second, UTC)


def run_flapping_monitor(lake: Path) -> None:
    clock = ManualClock()
    board = QuoteBoard(BOOKS)

    def advance(now: float) -> None:
        spread = Decimal(SPREADS[min(int(now) - T0, len(SPREADS) - 1)])
        for book in BOOKS:
            board.publish(Quote(book, Decimal("100") - spread, Decimal("100"), now, "rest"))

    advance(clock.now)
    clock.on_advance = advance
    options = MonitorOptions(
        books=BOOKS,
        lake=lake,
        window_seconds=60,
        duration=len(SPREADS),
        rules=parse_alert_rules({"rules": [RULE]}, {}),
    )
    run_monitor(options, board, IdleSource(), clock, threading.Event(), WebhookNotifier([]))


def test_the_episode_model_agrees_with_the_alert_log_under_non_default_rules(
    tmp_path, engine, warehouse_env, settings, run_dbt
):
    from ingest.io.warehouse import connect

    lake = Path(warehouse_env["BITSO_LAKE"])
    run_flapping_monitor(lake)
    if engine == "duckdb":
        Path(warehouse_env["BITSO_DUCKDB_PATH"]).parent.mkdir(parents=True)
    else:
        loaded = CliRunner().invoke(cli, ["lake-load"])
        assert loaded.exit_code == 0 and "0 skipped" in loaded.output, loaded.output
    # A build with the committed seed, then the rule in its place (as `ingest alerts
    # export-rules` writes it) and the episode model and its checks built again.
    run_dbt("build", "--select", "stg_bitso_api__spread_alerts+", "+rpt_spread_alert_episodes")
    seed = tmp_path / "spread_thresholds.csv"
    write_rules_seed(parse_alert_rules({"rules": [RULE]}, None), seed)
    with seed.open(newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    values = ", ".join(f"'{value}'" if value else "null" for value in row.values())
    with connect(settings) as warehouse, warehouse.transaction():
        table = warehouse.relation("reference", "spread_thresholds")
        warehouse.execute(f"delete from {table}")
        warehouse.execute(f"insert into {table} ({', '.join(row)}) values ({values})")
    output = run_dbt("build", "--select", "rpt_spread_alert_episodes+").stdout
    assert "ERROR=0" in output and "WARN=0" in output
    assert "PASS agrees_with_alert_log_rpt_spread_alert_episodes" in output, output
    with connect(settings) as warehouse:
        episodes = warehouse.execute(
            "select book, episode_start, triggered_at, episode_end, seconds_above"
            " from spreads.rpt_spread_alert_episodes"
        )
    assert [tuple(row) for row in episodes] == [("btc_mxn", at(18), at(21), at(37), 10)]


def test_the_seed_book_patterns_match_the_books_the_monitor_matches(engine, warehouse_env, run_dbt):
    if engine == "duckdb":
        Path(warehouse_env["BITSO_DUCKDB_PATH"]).parent.mkdir(parents=True)
    check_shown_matches(run_dbt("--quiet", *SHOW_ARGS).stdout)
