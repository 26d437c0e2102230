"""Duplicates within one delivery on both engines: when a file holds the same id on two rows,
the later row wins whatever its values, and dq_snapshot_duplicates lists both rows with their
place in the file. A warehouse loaded before the loader numbered the rows takes the change in
place: its raw tables gain the column, dq_snapshot_duplicates is built again in its new shape,
and the next build equals a full refresh."""

from __future__ import annotations

from datetime import date

import pytest

from ingest.batch import snapshots
from ingest.contracts import DEPOSITS_SNAPSHOT
from ingest.io.warehouse import connect
from tests.python.batch.test_daily_incremental import warehouse_contents
from tests.python.snapshot_files import write_snapshot_dir

pytestmark = pytest.mark.dbt

BUILD = ("build", "--exclude-resource-type", "unit_test")
DAY_ONE = date(2026, 11, 29)
DAY_TWO = date(2026, 11, 30)
# Deposit 1001 twice, alike but for the spelling of its id and its status: by value alone,
# `complete` would win (the statuses' order), so only the row order can make `cancelled` win.
FIRST = "1001,2020-01-10 14:11:05.63+00,aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa,10.0,mxn,complete"
SECOND = "01001,2020-01-10 14:11:05.63+00,aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa,10.0,mxn,cancelled"
OTHER_ROWS = (
    "1000,2020-01-10 18:26:02.853+00,aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa,,mxn,complete",
    "1004,2021-11-11 15:30:57.753682+00,bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb,0.1,btc,failed",
)


# The staging versions tables' indexes, once declared on DuckDB too.
OLD_DUCKDB_INDEXED_COLUMNS = ("id", "load_id")


def deposits_file(*rows: str) -> str:
    return "\n".join([DEPOSITS_SNAPSHOT.header, *rows]) + "\n"


def load_day(settings, tmp_path, day: date, deposits: str) -> None:
    directory = write_snapshot_dir(tmp_path / day.isoformat(), deposit_sample_data=deposits)
    snapshots.load_snapshots(settings, snapshots.resolve_files(directory), snapshot_date=day)


def deposit_1001(settings) -> tuple[list[tuple], list[tuple]]:
    with connect(settings) as warehouse:
        fact = warehouse.execute("select tx_status from core.fct_deposits where id = 1001")
        listed = warehouse.execute(
            "select load_id, file_row, raw_id from data_quality.dq_snapshot_duplicates"
            " where table_name = 'deposits' and record_id = 1001 order by load_id, file_row"
        )
    return fact, listed


def test_the_later_row_of_an_id_wins_and_both_rows_are_listed(settings, tmp_path, run_dbt):
    # Day one: the cancelled row is the file's fourth data row, after a blank line.
    load_day(
        settings, tmp_path, DAY_ONE, deposits_file(FIRST, OTHER_ROWS[0], "", OTHER_ROWS[1], SECOND)
    )
    run_dbt(*BUILD)
    assert deposit_1001(settings) == (
        [("cancelled",)],
        [(1, 1, "1001"), (1, 4, "01001")],
    )

    # Day two delivers the same rows the other way round: now the complete row is the later.
    load_day(settings, tmp_path, DAY_TWO, deposits_file(SECOND, *OTHER_ROWS, FIRST))
    run_dbt(*BUILD)
    fact, listed = deposit_1001(settings)
    assert fact == [("complete",)]
    day_two_load = listed[-1][0]
    assert listed == [
        (1, 1, "1001"),
        (1, 4, "01001"),
        (day_two_load, 1, "01001"),
        (day_two_load, 4, "1001"),
    ]


def forget_file_rows(settings) -> None:
    """Take the warehouse back to before the loader numbered the rows: no `_file_row` in raw,
    no `file_row` in the staging versions tables, which had indexes on DuckDB too, and
    dq_snapshot_duplicates in its shape of then."""
    with connect(settings) as warehouse, warehouse.transaction():
        postgres = warehouse.name == "postgres"
        # Views read the columns; the next build creates them again.
        for schema, view in warehouse.execute(
            "select table_schema, table_name from information_schema.tables where"
            " table_type = 'VIEW' and table_schema not in ('information_schema', 'pg_catalog')"
        ):
            warehouse.execute(f"drop view {schema}.{view}{' cascade' if postgres else ''}")
        for table in ("deposits", "withdrawals", "events", "users"):
            warehouse.execute(f"alter table raw.{table} drop column _file_row")
            if postgres:
                warehouse.execute(f"drop sequence raw.{table}_file_row_seq")
        for model in ("deposit", "withdrawal", "event"):
            versions = f"stg_bitso_db__{model}_versions"
            warehouse.execute(f"alter table staging.{versions} drop column file_row")
            # DuckDB had the indexes PostgreSQL has, which the next build must drop first.
            if not postgres:
                for column in OLD_DUCKDB_INDEXED_COLUMNS:
                    warehouse.execute(
                        f"create index {versions}_{column} on staging.{versions} ({column})"
                    )
        # dq_snapshot_duplicates then had one row per distinct raw id, with its count of rows.
        warehouse.execute(
            "create table data_quality.dq_snapshot_duplicates_before as"
            " select table_name, record_id, raw_id, load_id, count(*) as lines"
            " from data_quality.dq_snapshot_duplicates group by 1, 2, 3, 4"
        )
        warehouse.execute("drop table data_quality.dq_snapshot_duplicates")
        warehouse.execute(
            "alter table data_quality.dq_snapshot_duplicates_before"
            " rename to dq_snapshot_duplicates"
        )


def versions_indexes(settings) -> tuple[str, int]:
    """The engine, and how many indexes the staging versions tables have."""
    with connect(settings) as warehouse:
        if warehouse.name == "postgres":
            query = (
                "select count(*) from pg_indexes where schemaname = 'staging' and tablename like ?"
            )
        else:
            query = (
                "select count(*) from duckdb_indexes() where schema_name = 'staging'"
                " and table_name like ?"
            )
        ((count,),) = warehouse.execute(query, ("stg_bitso_db__%_versions",))
        return warehouse.name, count


def test_a_warehouse_loaded_before_file_rows_gains_them_and_builds_as_a_full_refresh(
    settings, tmp_path, run_dbt
):
    load_day(settings, tmp_path, DAY_ONE, deposits_file(FIRST, *OTHER_ROWS, SECOND))
    run_dbt(*BUILD)
    forget_file_rows(settings)

    load_day(settings, tmp_path, DAY_TWO, deposits_file(SECOND, *OTHER_ROWS, FIRST))
    run_dbt(*BUILD)
    incremental = warehouse_contents(settings)
    fact, listed = deposit_1001(settings)
    with connect(settings) as warehouse:
        numbered = warehouse.execute(
            "select _load_id, count(_file_row), count(*) from raw.deposits"
            " group by _load_id order by _load_id"
        )

    # The rows of the earlier load keep no row number; the new load's rows have theirs, and
    # its later row wins.
    assert numbered == [(1, 0, 4), (listed[-1][0], 4, 4)]
    # PostgreSQL keeps its lookup indexes (id and load_id of each table); DuckDB's old ones
    # were dropped before any thread could swap a table.
    engine, indexes = versions_indexes(settings)
    assert indexes == (6 if engine == "postgres" else 0)
    assert fact == [("complete",)]
    assert sorted(row[1:] for row in listed if row[1] is None) == [(None, "01001"), (None, "1001")]
    assert [row[1:] for row in listed if row[1] is not None] == [
        (1, "01001"),
        (4, "1001"),
    ]
    run_dbt(*BUILD, "--full-refresh")
    assert warehouse_contents(settings) == incremental
    assert deposit_1001(settings) == (fact, listed)
