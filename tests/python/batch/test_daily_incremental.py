"""Daily batches: a history loaded day by day, as full snapshots and deltas with late changes,
builds exactly the same marts and reports as the same history loaded once in full."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from bitso_sandbox import sample
from ingest.batch import snapshots
from ingest.cli import cli
from ingest.contracts import (
    DEPOSITS_SNAPSHOT,
    EVENTS_SNAPSHOT,
    USERS_SNAPSHOT,
    WITHDRAWALS_SNAPSHOT,
)
from ingest.io.warehouse import connect
from tests.python.snapshot_files import DEPOSITS, write_snapshot_dir

pytestmark = pytest.mark.dbt

TRANSACTION_FILES = (DEPOSITS_SNAPSHOT.default_file, WITHDRAWALS_SNAPSHOT.default_file)
EVENTS_FILE = EVENTS_SNAPSHOT.default_file
USERS_FILE = USERS_SNAPSHOT.default_file
LINEAGE_COLUMNS = {"load_id", "last_load_id"}
# Day kinds of the replayed history: a full snapshot, deltas, and a full snapshot in between.
DAY_KINDS = ("full", "delta", "full", "delta")


@pytest.fixture
def dbt_env(monkeypatch, dbt_profiles_dir, tmp_path):
    monkeypatch.setenv("DBT_PROFILES_DIR", str(dbt_profiles_dir))
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "dbt-target"))
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "dbt-logs"))


def read_lines(path: Path) -> tuple[str, list[str]]:
    header, *lines = path.read_text().splitlines()
    return header, [line for line in lines if line]


def replay_as_days(source: Path, root: Path) -> list[date]:
    """Write the history in `source` as one folder of files per day under `root`.

    Rows arrive on the day of their event. Some transactions arrive first as `pending` and get
    their final status the next day; some arrive with a wrong day and are corrected the next
    day; some users are listed in the users file a day after their first transaction.
    """
    all_dates = sorted(
        line.split(",")[1][:10]
        for name in TRANSACTION_FILES
        for line in read_lines(source / name)[1]
    )
    cuts = [date.fromisoformat(all_dates[len(all_dates) * (i + 1) // 4 - 1]) for i in range(4)]

    def day_of(line: str) -> int:
        event_day = date.fromisoformat(line.split(",")[1][:10])
        return next(i for i, cut in enumerate(cuts) if event_day <= cut)

    versions: list[dict[str, list[str]]] = [{} for _ in cuts]  # day -> file -> lines
    first_activity: dict[str, int] = {}
    for name in (*TRANSACTION_FILES, EVENTS_FILE):
        header, lines = read_lines(source / name)
        for number, line in enumerate(lines):
            day = day_of(line)
            user = line.split(",")[2]
            first_activity[user] = min(day, first_activity.get(user, day))
            arrivals = [(day, line)]
            if name in TRANSACTION_FILES and day < len(cuts) - 1:
                if number % 7 == 0:
                    fields = line.split(",")
                    arrivals = [(day, ",".join([*fields[:-1], "pending"])), (day + 1, line)]
                elif number % 11 == 0:
                    fields = line.split(",")
                    wrong_day = date.fromisoformat(fields[1][:10]) - timedelta(days=1)
                    fields[1] = wrong_day.isoformat() + fields[1][10:]
                    arrivals = [(day, ",".join(fields)), (day + 1, line)]
            for arrival_day, text in arrivals:
                versions[arrival_day].setdefault(name, []).append(text)

    users_header, users = read_lines(source / USERS_FILE)
    listed_on = {}
    for number, user in enumerate(users):
        day = first_activity.get(user, 0)
        listed_on[user] = min(day + 1, len(cuts) - 1) if number % 5 == 0 else day

    headers = {name: read_lines(source / name)[0] for name in (*TRANSACTION_FILES, EVENTS_FILE)}
    for day, (cut, kind) in enumerate(zip(cuts, DAY_KINDS, strict=True)):
        folder = root / cut.isoformat()
        folder.mkdir(parents=True)
        for name, header in headers.items():
            if kind == "full":
                # The whole history as known that day: each record's latest version so far.
                latest = {}
                for earlier in range(day + 1):
                    for line in versions[earlier].get(name, []):
                        latest[line.split(",")[0]] = line
                lines = list(latest.values())
            else:
                lines = versions[day].get(name, [])
            (folder / name).write_text("\n".join([header, *lines]) + "\n")
        listed = [
            u for u in users if (listed_on[u] <= day if kind == "full" else listed_on[u] == day)
        ]
        (folder / USERS_FILE).write_text("\n".join([users_header, "", *listed]) + "\n")
    return cuts


def warehouse_contents(settings) -> dict[str, list[tuple]]:
    contents = {}
    with connect(settings) as warehouse:
        for schema in ("core", "reports"):
            for table in warehouse.tables_in(schema):
                columns = [
                    name
                    for (name,) in warehouse.execute(
                        "select column_name from information_schema.columns"
                        " where table_schema = ? and table_name = ? order by ordinal_position",
                        (schema, table),
                    )
                    if name not in LINEAGE_COLUMNS
                ]
                column_list = ", ".join(columns)
                contents[f"{schema}.{table}"] = warehouse.execute(
                    f"select {column_list} from {schema}.{table} order by {column_list}"
                )
    return contents


def reset_warehouse(settings) -> None:
    with connect(settings) as warehouse, warehouse.transaction():
        layers = ("raw", "staging", "intermediate", "core", "reports", "data_quality", "reference")
        for schema in layers:
            warehouse.execute(f"drop schema if exists {schema} cascade")


def test_day_by_day_loads_build_the_same_tables_as_one_full_load(
    settings, dbt_env, run_dbt, tmp_path
):
    source = tmp_path / "history"
    sample.generate_sample(source, deposits=2_000, seed=5, orphan_users=2)
    root = tmp_path / "snapshots"
    days = replay_as_days(source, root)
    runner = CliRunner()

    for day, kind in zip(days, DAY_KINDS, strict=True):
        arguments = ["daily", "--date", day.isoformat(), "--snapshots", str(root)]
        result = runner.invoke(cli, arguments + (["--delta"] if kind == "delta" else []))
        assert result.exit_code == 0, result.output
    day_by_day = warehouse_contents(settings)

    rerun = runner.invoke(
        cli, ["daily", "--date", days[-1].isoformat(), "--snapshots", str(root), "--delta"]
    )
    assert rerun.exit_code == 0, rerun.output
    assert warehouse_contents(settings) == day_by_day, "re-running a day changed the tables"
    # The daily build runs models and data tests; unit tests are for CI and builds by hand.
    nodes = json.loads((tmp_path / "dbt-target" / "run_results.json").read_text())["results"]
    kinds = {node["unique_id"].split(".")[0] for node in nodes}
    assert {"model", "test"} <= kinds and "unit_test" not in kinds
    published = Path(settings.lake) / "batch_output"
    assert published.is_symlink() and (published / "fct_deposits.csv").is_file()

    reset_warehouse(settings)
    snapshots.load_snapshots(settings, snapshots.resolve_files(source), snapshot_date=days[-1])
    run_dbt("build")
    in_one_load = warehouse_contents(settings)

    assert day_by_day.keys() == in_one_load.keys()
    for table, rows in in_one_load.items():
        assert day_by_day[table] == rows, f"{table} differs"


def test_a_day_without_its_folder_fails_in_the_load_step(warehouse_env, tmp_path):
    result = CliRunner().invoke(
        cli, ["daily", "--date", "2026-11-28", "--snapshots", str(tmp_path / "none")]
    )

    assert result.exit_code == 1
    assert "2026-11-28: step 'load' failed: no snapshot folder" in result.stderr


def test_a_failing_build_stops_the_day_before_the_export(warehouse_env, dbt_env, tmp_path):
    sample.generate_sample(tmp_path / "snapshots" / "2026-11-28", deposits=1_000)
    not_a_project = tmp_path / "empty"
    not_a_project.mkdir()

    result = CliRunner().invoke(
        cli,
        ["daily", "--date", "2026-11-28", "--snapshots", str(tmp_path / "snapshots"),
         "--project-dir", str(not_a_project)],
    )  # fmt: skip

    assert result.exit_code == 1
    assert "step 'build' failed" in result.stderr
    assert "nothing was exported" in result.stderr
    assert not (tmp_path / "lake" / "batch_output").exists()


def test_a_record_redelivered_with_its_id_spelled_otherwise_recomputes_its_old_day(
    settings, run_dbt, tmp_path
):
    # Deposit 1001 of 10 January comes back in the next day's delta as `01001`, moved to the
    # 15th: the 10th must lose it in an incremental run as in a full refresh.
    snapshots.load_snapshots(
        settings,
        snapshots.resolve_files(write_snapshot_dir(tmp_path / "day1")),
        snapshot_date=date(2026, 11, 29),
    )
    run_dbt("build", "--exclude-resource-type", "unit_test")
    moved = DEPOSITS.splitlines()[1].replace("1001,2020-01-10", "01001,2020-01-15")
    delta = write_snapshot_dir(
        tmp_path / "day2", deposit_sample_data=f"{DEPOSITS_SNAPSHOT.header}\n{moved}\n"
    )
    snapshots.load_snapshots(
        settings, snapshots.resolve_files(delta), snapshot_date=date(2026, 11, 30), kind="delta"
    )
    run_dbt("build", "--exclude-resource-type", "unit_test")
    incremental = warehouse_contents(settings)

    with connect(settings) as warehouse:
        deposit_days = warehouse.execute(
            "select event_date, count(*) from core.fct_deposits group by 1 order by 1"
        )
    # Deposit 1000 alone is left on the 10th; 1001 is on the 15th, once.
    assert [(day.isoformat(), count) for day, count in deposit_days] == [
        ("2020-01-10", 1),
        ("2020-01-15", 1),
        ("2020-08-05", 1),
        ("2021-11-11", 1),
    ]
    run_dbt("build", "--exclude-resource-type", "unit_test", "--full-refresh")
    assert warehouse_contents(settings) == incremental


def test_a_deposit_moved_to_another_user_leaves_the_high_volume_report_of_the_user_it_left(
    settings, run_dbt, tmp_path
):
    # User a makes six deposits on day one; the next day's delta moves one of them to user b,
    # leaving a with five: an incremental run must drop a from the report, as a full refresh.
    user_a, user_b = "a" * 32, "b" * 32
    rows = [
        f"{2000 + n},2020-02-0{n + 1} 10:00:00+00,{user_a},1.000000000000000000,mxn,complete"
        for n in range(6)
    ]
    snapshots.load_snapshots(
        settings,
        snapshots.resolve_files(
            write_snapshot_dir(
                tmp_path / "day1",
                deposit_sample_data="\n".join([DEPOSITS_SNAPSHOT.header, *rows]) + "\n",
            )
        ),
        snapshot_date=date(2026, 11, 29),
    )
    run_dbt("build", "--exclude-resource-type", "unit_test")
    report = "select user_id, sixth_deposit_date from reports.rpt_high_volume_depositors"
    with connect(settings) as warehouse:
        assert warehouse.execute(report) == [(user_a, date(2020, 2, 6))]

    moved = rows[0].replace(user_a, user_b)
    delta = write_snapshot_dir(
        tmp_path / "day2", deposit_sample_data=f"{DEPOSITS_SNAPSHOT.header}\n{moved}\n"
    )
    snapshots.load_snapshots(
        settings, snapshots.resolve_files(delta), snapshot_date=date(2026, 11, 30), kind="delta"
    )
    run_dbt("build", "--exclude-resource-type", "unit_test")
    incremental = warehouse_contents(settings)

    assert incremental["reports.rpt_high_volume_depositors"] == []
    run_dbt("build", "--exclude-resource-type", "unit_test", "--full-refresh")
    assert warehouse_contents(settings) == incremental
