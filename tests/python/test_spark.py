"""The batch models on Spark: `dbt build --target spark` on a local PySpark session.

Needs the `spark` extra and Java. Without them the test is skipped, except where
BITSO_REQUIRE_SPARK=true (`make test-spark`, which CI runs), where that is a failure. The reports
are read from the Parquet files Spark wrote, with DuckDB, and must equal the Python oracle.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from datetime import date
from pathlib import Path

import duckdb
import pytest

from ingest import sample
from tests.python.conftest import BIN_DIR, REPO_ROOT
from tests.python.expected_reports import expected_reports

pytestmark = [pytest.mark.dbt, pytest.mark.spark]

SNAPSHOT_DAY = date(2024, 5, 1)


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


def test_spark_build_gives_the_reports_of_the_python_oracle(dbt_profiles_dir, tmp_path):
    require_spark()
    snapshot_root = tmp_path / "snapshots"
    day_folder = snapshot_root / SNAPSHOT_DAY.isoformat()
    sample.generate_sample(day_folder, deposits=4_000, seed=11, orphan_users=2)
    spark_dir = tmp_path / "spark"
    env = {
        **os.environ,
        "BITSO_SNAPSHOT_ROOT": str(snapshot_root),
        "BITSO_SPARK_DIR": str(spark_dir),
        "DBT_USE_COLORS": "false",
    }

    result = subprocess.run(
        [
            str(BIN_DIR / "dbt"),
            "build",
            "--target",
            "spark",
            "--profiles-dir",
            str(dbt_profiles_dir),
            "--target-path",
            str(tmp_path / "dbt-target"),
            "--log-path",
            str(tmp_path / "dbt-logs"),
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )

    assert result.returncode == 0, f"dbt build failed:\n{result.stdout[-6000:]}"
    assert "ERROR=0" in result.stdout
    for finding in (
        "accepted_values_dim_users_is_inferred__False",
        "assert_no_snapshot_value_rejected",
    ):
        assert f"WARN 1 {finding}" in result.stdout
    tables = spark_dir / "tables"
    for report, rows in expected_reports(day_folder).items():
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
    assert {"metastore_db", "derby.log", "tables"} <= {p.name for p in spark_dir.iterdir()}
