"""The models on Spark: `dbt build --target spark` on a local PySpark session.

Needs the `spark` extra and Java. Without them the tests are skipped, except where
BITSO_REQUIRE_SPARK=true (`make test-spark`, which CI runs), where that is a failure. The tables
are read from the Parquet files Spark wrote, with DuckDB: the reports must equal the Python
oracle, and the spread models must equal, row for row, a DuckDB build on the same lake.

Spark starts slowly, so one full build serves every test, after a build of the spread sources
alone on a lake that has no files yet. Before each build `dbt run-operation declare_spark_sources`
declares the raw tables over the snapshot root and the lake that build reads.
"""

from __future__ import annotations

import csv
import dataclasses
import importlib.util
import io
import json
import os
import random
import shutil
import subprocess
from collections import Counter
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from bitso_sandbox import sample
from ingest.contracts import LAKE_WINDOW_COLUMNS
from ingest.spreads.monitor.alerts import DEFAULT_THRESHOLDS, AlertEvent, AlertFile, AlertTracker
from ingest.spreads.monitor.lake import LakeWriter
from ingest.spreads.monitor.quotes import spread_pct
from ingest.spreads.monitor.records import SpreadRecord
from tests.python.conftest import BIN_DIR, REPO_ROOT
from tests.python.expected_reports import expected_reports
from tests.python.spreads.book_patterns import SHOW_ARGS, check_shown_matches
from tests.python.spreads.test_spread_analysis import SPREAD_MARTS

pytestmark = [pytest.mark.dbt, pytest.mark.spark]

SNAPSHOT_DAY = date(2024, 5, 1)
SPREAD_SELECTION = ("--select", "+tag:spreads+", "+tag:bitso_api")


def require_spark() -> None:
    missing = [
        name for name in ("pyspark", "dbt.adapters.spark") if importlib.util.find_spec(name) is None
    ]
    if shutil.which("java") is None:
        missing.append("java")
    if not missing:
        return
    reason = f"Spark cannot run here, missing: {', '.join(missing)} (pip install '.[spark]')"
    if os.environ.get("BITSO_REQUIRE_SPARK") == "true":
        pytest.fail(f"{reason}; BITSO_REQUIRE_SPARK=true demands the Spark tests")
    pytest.skip(reason)


def read_parquet_table(tables: Path, schema: str, table: str, columns: str = "*") -> set[tuple]:
    files = str(tables / f"{schema}.db" / table / "*.parquet")
    with duckdb.connect() as connection:
        connection.execute("set TimeZone = 'UTC'")
        return set(connection.execute(f"select {columns} from read_parquet(?)", [files]).fetchall())


def parquet_columns(tables: Path, schema: str, table: str) -> list[str]:
    files = str(tables / f"{schema}.db" / table / "*.parquet")
    with duckdb.connect() as connection:
        return [
            row[0]
            for row in connection.execute(
                "describe select * from read_parquet(?)", [files]
            ).fetchall()
        ]


# A lake written by the monitor's own writer and alert tracker: three books over six one-minute
# windows across UTC midnight, CSV and Parquet in turn (one window in both), spreads that cross
# every threshold of the seed and sit exactly on some, gap seconds, and seconds not recorded.

LAKE_START = int(datetime(2026, 11, 29, 23, 57, tzinfo=UTC).timestamp())
WINDOW_SECONDS = 60
WINDOWS = 6
ASKS = {"btc_mxn": Decimal("1548000"), "usd_mxn": Decimal("17.20"), "eth_mxn": Decimal("61234.5")}
TICKS = {"btc_mxn": Decimal("0.01"), "usd_mxn": Decimal("0.0001"), "eth_mxn": Decimal("0.001")}
# Percent below the ask the bid is set at; 0.1, 0.5 and 1.0 are the thresholds themselves.
LEVELS = ("0.02", "0.05", "0.1", "0.3", "0.5", "0.7", "1.0", "1.3")
GAP_REASONS = (
    "ticker request failed: HTTP 503 server error",
    "stale quote (6.2 s old, limit 5 s)",
    'ticker request failed: "bad gateway"',
)
GAP_RUN = range(100, 104)  # seconds after LAKE_START with no usable quote in any book
NOT_RECORDED = range(200, 215)  # seconds after LAKE_START the monitor was not running


def spread_records() -> list[SpreadRecord]:
    rng = random.Random(7)
    records = []
    for book, ask in ASKS.items():
        level = Decimal(LEVELS[0])
        for offset in range(WINDOWS * WINDOW_SECONDS):
            if offset in NOT_RECORDED or (book == "eth_mxn" and offset < 40):
                continue
            second = LAKE_START + offset
            if offset % 15 == 0:
                level = Decimal(rng.choice(LEVELS))
            if rng.random() < 0.04 or offset in GAP_RUN:
                records.append(
                    SpreadRecord(second, book, "rest", gap_reason=rng.choice(GAP_REASONS))
                )
                continue
            # Mostly exactly on the level, otherwise some ticks wider: full ten-place spreads.
            ticks = rng.randint(1, 999) if rng.random() < 0.3 else 0
            bid = ask - ask * level / 100 - ticks * TICKS[book]
            age = rng.randint(0, 900)
            records.append(
                SpreadRecord(
                    second,
                    book,
                    "rest",
                    bid=bid,
                    ask=ask,
                    spread=spread_pct(bid, ask),
                    observed_at=second + 0.4 - age / 1000,
                    quote_age_ms=age,
                    sequence=second - LAKE_START + 1000 if book == "btc_mxn" else None,
                )
            )
    return records


def csv_text(records: list[SpreadRecord]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(LAKE_WINDOW_COLUMNS)
    writer.writerows(record.as_row() for record in records)
    return buffer.getvalue()


def write_lake(lake: Path) -> list[SpreadRecord]:
    """Publishes the records and their alerts; returns the records."""
    records = spread_records()
    for window in range(WINDOWS):
        start = LAKE_START + window * WINDOW_SECONDS
        for fmt in ("csv", "parquet") if window == 2 else ("csv" if window % 2 else "parquet",):
            writer = LakeWriter(lake, WINDOW_SECONDS, fmt)
            writer.open(start)
            for second in range(start, start + WINDOW_SECONDS):
                if in_second := [r for r in records if r.second == second]:
                    writer.write(second, in_second)
            writer.close()
    tracker, alerts = AlertTracker(DEFAULT_THRESHOLDS), AlertFile(lake)
    for record in sorted(records, key=lambda r: (r.second, r.book)):
        for event in tracker.observe(record):
            alerts.write(event)

    # None of what follows may be read: an alert line torn by a crash (whole enough to look
    # like an alert no episode explains), the open window's journal and a file written aside,
    # both holding a second after every published one.
    torn = AlertEvent(
        "btc_mxn",
        DEFAULT_THRESHOLDS[-1],
        "triggered",
        Decimal("5"),
        Decimal("1"),
        Decimal("2"),
        datetime.fromtimestamp(LAKE_START + 90, UTC).isoformat(),
    )
    line = json.dumps(torn.as_json())
    with alerts.path_for(torn).open("a") as handle:
        handle.write(line[: line.index('"text"')])
    end = datetime.fromtimestamp(LAKE_START + WINDOWS * WINDOW_SECONDS, UTC)
    unpublished = [dataclasses.replace(records[0], second=int(end.timestamp()) + 5)]
    stamp, book = end.strftime("%Y%m%dT%H%M%SZ"), records[0].book
    (lake / "spreads" / "_partial" / f"{stamp}.partial").write_text(csv_text(unpublished))
    folder = lake / "spreads" / f"book={book}" / f"date={end.date().isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f".{book}_{stamp}.csv.tmp").write_text(csv_text(unpublished))
    return records


@dataclasses.dataclass(frozen=True)
class Builds:
    empty_lake: subprocess.CompletedProcess
    empty_lake_observations: int | None
    spark: subprocess.CompletedProcess
    duckdb: subprocess.CompletedProcess
    snapshot_folder: Path
    spark_dir: Path
    duckdb_path: Path
    records: list[SpreadRecord]


def dbt(
    command: str, target: str, *args: str, env: dict[str, str], tmp: Path, profiles: Path
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            str(BIN_DIR / "dbt"),
            command,
            "--target",
            target,
            *args,
            "--profiles-dir",
            str(profiles),
            # One per target, so each keeps its partial parse.
            "--target-path",
            str(tmp / f"dbt-target-{target}"),
            "--log-path",
            str(tmp / f"dbt-logs-{target}"),
        ],
        cwd=REPO_ROOT,
        env={**os.environ, **env, "DBT_USE_COLORS": "false"},
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture(scope="module")
def builds(dbt_profiles_dir, tmp_path_factory) -> Builds:
    require_spark()
    tmp = tmp_path_factory.mktemp("spark_builds")
    snapshot_root = tmp / "snapshots"
    snapshot_folder = snapshot_root / SNAPSHOT_DAY.isoformat()
    sample.generate_sample(snapshot_folder, deposits=4_000, seed=11, orphan_users=2)
    spark_dir, lake, duckdb_path = tmp / "spark", tmp / "lake", tmp / "duckdb" / "bitso.duckdb"
    env = {
        "BITSO_SNAPSHOT_ROOT": str(snapshot_root),
        "BITSO_SPARK_DIR": str(spark_dir),
        "BITSO_LAKE": str(lake),
        "BITSO_DUCKDB_PATH": str(duckdb_path),
    }

    def declare_sources(build_env: dict[str, str]) -> None:
        declared = dbt(
            "run-operation",
            "spark",
            "declare_spark_sources",
            env=build_env,
            tmp=tmp,
            profiles=dbt_profiles_dir,
        )
        assert declared.returncode == 0, f"declare_spark_sources failed:\n{declared.stdout[-6000:]}"

    # Neither the lake folder nor a snapshot folder exists yet. Only what reads the two lake
    # sources is built, with its tests; the rest is left to the full build.
    empty_env = {**env, "BITSO_SNAPSHOT_ROOT": str(tmp / "no_snapshots")}
    declare_sources(empty_env)
    empty_lake = dbt(
        "build",
        "spark",
        "--select",
        "+fct_spread_observations",
        "stg_bitso_api__spread_alerts",
        "--indirect-selection",
        "cautious",
        env=empty_env,
        tmp=tmp,
        profiles=dbt_profiles_dir,
    )
    empty_lake_observations = (
        len(read_parquet_table(spark_dir / "tables", "spreads", "fct_spread_observations"))
        if empty_lake.returncode == 0
        else None
    )

    records = write_lake(lake)
    declare_sources(env)  # the snapshot root changed; the lake's new files need no declaration
    spark = dbt("build", "spark", env=env, tmp=tmp, profiles=dbt_profiles_dir)
    duckdb_path.parent.mkdir()
    duckdb_build = dbt(
        "build", "duckdb", *SPREAD_SELECTION, env=env, tmp=tmp, profiles=dbt_profiles_dir
    )
    return Builds(
        empty_lake,
        empty_lake_observations,
        spark,
        duckdb_build,
        snapshot_folder,
        spark_dir,
        duckdb_path,
        records,
    )


def test_spark_build_gives_the_reports_of_the_python_oracle(builds):
    result = builds.spark
    assert result.returncode == 0, f"dbt build failed:\n{result.stdout[-6000:]}"
    assert "ERROR=0" in result.stdout
    for finding in (
        "accepted_values_dim_users_is_inferred__False",
        "assert_no_snapshot_value_rejected",
    ):
        assert f"WARN 1 {finding}" in result.stdout
    tables = builds.spark_dir / "tables"
    for report, rows in expected_reports(builds.snapshot_folder).items():
        columns = [
            name for name in parquet_columns(tables, "reports", report) if name != "last_load_id"
        ]
        actual = read_parquet_table(tables, "reports", report, ", ".join(columns))
        assert actual == rows, f"{report}: {len(actual ^ rows)} rows differ"
    assert read_parquet_table(
        tables, "core", "dim_users", "count(*) filter (where is_inferred)"
    ) == {(2,)}
    assert read_parquet_table(
        tables, "data_quality", "dq_snapshot_rejections", "table_name, column_name, reason"
    ) == {("deposits", "amount", "empty")}
    # The metastore, its log and the tables stay under BITSO_SPARK_DIR.
    assert not {"metastore_db", "spark-warehouse", "derby.log"} & {
        p.name for p in REPO_ROOT.iterdir()
    }
    assert {"metastore_db", "derby.log", "tables"} <= {p.name for p in builds.spark_dir.iterdir()}


def test_spark_reads_a_missing_lake_and_snapshot_root_as_empty_sources(builds):
    result = builds.empty_lake
    assert result.returncode == 0, f"dbt build failed:\n{result.stdout[-6000:]}"
    assert "ERROR=0" in result.stdout and "WARN=0" in result.stdout
    assert "PASS accepted_values_stg_bitso_api__spread_alerts_alert_state" in result.stdout
    assert builds.empty_lake_observations == 0


def exact_rows(connection: duckdb.DuckDBPyConnection, relation: str) -> tuple[list, Counter]:
    """Column names and types, and the rows with each decimal as its exact digits and scale and
    each timestamp as a UTC instant."""
    connection.execute("set TimeZone = 'UTC'")
    columns = connection.execute(f"describe select * from {relation}").fetchall()
    rows = Counter()
    for row in connection.execute(f"select * from {relation}").fetchall():
        values = []
        for value in row:
            if isinstance(value, Decimal):
                value = ("decimal", str(value))
            elif isinstance(value, datetime):
                assert value.tzinfo is not None, f"{relation}: zone-less timestamp {value}"
                value = value.astimezone(UTC)
            values.append(value)
        rows[tuple(values)] += 1
    return [(name, data_type) for name, data_type, *_ in columns], rows


def test_spark_spread_models_equal_duckdb_on_the_same_lake(builds):
    for engine, result in (("spark", builds.spark), ("duckdb", builds.duckdb)):
        assert result.returncode == 0, f"{engine} build failed:\n{result.stdout[-6000:]}"
        # The alert log agrees with the episodes: its torn line was read by neither engine.
        assert "PASS agrees_with_alert_log_rpt_spread_alert_episodes" in result.stdout, engine
    tables = builds.spark_dir / "tables"
    with duckdb.connect(str(builds.duckdb_path), read_only=True) as warehouse:
        for mart in SPREAD_MARTS:
            files = (tables / "spreads.db" / mart / "*.parquet").as_posix()
            with duckdb.connect() as reader:
                spark_columns, spark_rows = exact_rows(reader, f"read_parquet('{files}')")
            duckdb_columns, duckdb_rows = exact_rows(warehouse, f"spreads.{mart}")
            assert spark_columns == duckdb_columns, mart
            assert spark_rows, f"{mart} is empty"
            assert spark_rows == duckdb_rows, (
                f"{mart}: only on Spark {list((spark_rows - duckdb_rows).elements())[:3]},"
                f" only on DuckDB {list((duckdb_rows - spark_rows).elements())[:3]}"
            )
        # Every published second once (the window written in both formats too), and nothing
        # of the journal or the file written aside.
        assert warehouse.execute(
            "select count(*), max(orderbook_timestamp) from spreads.fct_spread_observations"
        ).fetchone() == (
            len(builds.records),
            datetime.fromtimestamp(max(r.second for r in builds.records), UTC),
        )
        kinds = warehouse.execute("select distinct gap_kind from spreads.rpt_spread_gaps")
        assert {kind for (kind,) in kinds.fetchall()} == {"no usable quote", "not recorded"}
        episodes = warehouse.execute(
            "select distinct threshold_pct from spreads.rpt_spread_alert_episodes"
        )
        assert {threshold for (threshold,) in episodes.fetchall()} == set(DEFAULT_THRESHOLDS)


def test_spark_matches_book_patterns_as_the_monitor(builds, dbt_profiles_dir):
    command, *args = SHOW_ARGS
    shown = dbt(
        command,
        "spark",
        "--quiet",
        *args,
        env={"BITSO_SPARK_DIR": str(builds.spark_dir)},
        tmp=builds.spark_dir.parent,
        profiles=dbt_profiles_dir,
    )
    assert shown.returncode == 0, shown.stdout[-6000:]
    check_shown_matches(shown.stdout)
