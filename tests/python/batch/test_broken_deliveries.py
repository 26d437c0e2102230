"""Broken deliveries fail loud on both engines: a load whose values of one column fail to type
beyond the rejection budget fails the build and stops `ingest daily` before export, with the
previous export still published; a file cut off mid-line is refused before anything loads. The
damaged files are built from the generated sample."""

from __future__ import annotations

import json
import os
import shutil
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from bitso_sandbox import sample
from ingest.batch import snapshots
from ingest.cli import cli
from ingest.contracts import DEPOSITS_SNAPSHOT, EVENTS_SNAPSHOT
from ingest.io.warehouse import connect

DAY_ONE = date(2026, 11, 29)
DAY_TWO = date(2026, 11, 30)


def run_daily(day: date, *args: str):
    return CliRunner().invoke(
        cli, ["daily", "--date", day.isoformat(), *args], env=dict(os.environ)
    )


def rewrite_column(path: Path, column: int, rewrite) -> None:
    header, *lines = path.read_text().splitlines()
    rows = [line.split(",") for line in lines if line]
    for row in rows:
        row[column] = rewrite(row[column])
    path.write_text("\n".join([header, *(",".join(row) for row in rows)]) + "\n")


def published(lake: Path) -> dict[str, bytes]:
    output = lake / "batch_output"
    return {path.name: path.read_bytes() for path in sorted(output.iterdir())}


@pytest.mark.dbt
def test_a_load_beyond_the_rejection_budget_fails_the_day_before_export(
    settings, daily_env, tmp_path
):
    # Day one: the sample as generated, whose few empty amounts stay within the budget.
    sample.generate_sample(daily_env / DAY_ONE.isoformat(), deposits=1000, seed=5)
    first = run_daily(DAY_ONE)
    assert first.exit_code == 0, first.output
    # The day's data-quality summary: every id is new on the first day.
    deposits_line = next(
        line for line in first.stdout.splitlines() if line.strip().startswith("deposits ")
    )
    assert "read      1,000  loaded      1,000" in deposits_line
    assert "ids: 1,000 new, 0 changed, 0 missing" in deposits_line
    export_before = published(tmp_path / "lake")
    with connect(settings) as warehouse:
        facts_before = warehouse.execute("select id, amount from core.fct_deposits order by id")

    # Day two: the same deposits, every amount with a decimal comma, quoted as a spreadsheet
    # writes it.
    day_two = daily_env / DAY_TWO.isoformat()
    shutil.copytree(daily_env / DAY_ONE.isoformat(), day_two)
    amount = DEPOSITS_SNAPSHOT.columns.index("amount")
    rewrite_column(
        day_two / DEPOSITS_SNAPSHOT.default_file, amount, lambda v: f'"{v.replace(".", ",")}"'
    )

    second = run_daily(DAY_TWO)

    assert second.exit_code == 1
    last_line = second.output.strip().splitlines()[-1]
    assert last_line.startswith(f"error: {DAY_TWO}: step 'build' failed: rejection budget exceeded")
    assert "deposits.amount: 1,000 of 1,000 values (100.0%)" in last_line
    assert "failed to type, e.g. '" in last_line and "," in last_line.split("e.g.")[1]
    assert "the previous export is still published" in last_line
    # Nothing downstream of staging was rebuilt, and the previous export is intact.
    assert published(tmp_path / "lake") == export_before
    with connect(settings) as warehouse:
        assert warehouse.execute("select id, amount from core.fct_deposits order by id") == (
            facts_before
        )

    # A deliberate override of the budget lets the same day through; --json carries the
    # summary of the day's loads (this one already loaded by the failed run): every amount
    # rejected, every deposit that had one changed, none new or missing.
    overridden = run_daily(DAY_TWO, "--vars", "{rejection_budget_share: 1.0}", "--json")
    assert overridden.exit_code == 0, overridden.output
    assert published(tmp_path / "lake") != export_before
    (day,) = json.loads(overridden.stdout)["days"]
    deposits = next(table for table in day["quality"] if table["table"] == "deposits")
    lines = (daily_env / DAY_ONE.isoformat() / DEPOSITS_SNAPSHOT.default_file).read_text()
    with_amount = sum(1 for line in lines.splitlines()[1:] if line.split(",")[amount])
    assert deposits == {
        "table": "deposits",
        "load_id": deposits["load_id"],
        "status": "already loaded",
        "rows_read": 1000,
        "rows_loaded": 0,
        "rejected": {"id": 0, "event_timestamp": 0, "amount": 1000},
        "ids_new": 0,
        "ids_changed": with_amount,
        "ids_missing": 0,
    }


def test_a_file_cut_off_mid_line_is_refused_as_truncated(settings, tmp_path):
    directory = tmp_path / "day"
    sample.generate_sample(directory, deposits=1000, seed=5)
    events = directory / EVENTS_SNAPSHOT.default_file
    data = events.read_bytes()
    events.write_bytes(data[: data.rindex(b",", 0, len(data) - 1)])  # the last line loses a field
    lines = data.count(b"\n")

    with pytest.raises(snapshots.SnapshotError) as refused:
        snapshots.load_snapshots(settings, snapshots.resolve_files(directory))

    assert str(refused.value) == (
        f"events: {events}: line {lines}: the last line has no line break and 3 of 4 columns:"
        " the file looks truncated"
    )
    with connect(settings) as warehouse:
        snapshots.ensure_raw_schema(warehouse)
        assert warehouse.execute("select count(*) from raw.deposits") == [(0,)]


def test_a_last_line_without_a_line_break_but_every_column_loads(tmp_path):
    path = tmp_path / "events.csv"
    path.write_bytes(f"{EVENTS_SNAPSHOT.header}\n1,2020-01-02 18:40:33,u1,login".encode())

    scanned = snapshots.scan_file(snapshots.TABLES_BY_NAME["events"], path)

    assert scanned.rows_read == 1
