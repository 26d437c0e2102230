"""`ingest daily --target` reaches dbt: the flag alone, with no BITSO_TARGET in the
environment, loads, builds and exports on the engine it names; and a failed build is judged
from dbt's own results, naming the failed node."""

from __future__ import annotations

import os
import subprocess
from datetime import date

import pytest

from bitso_sandbox import sample
from tests.python.conftest import BIN_DIR, REPO_ROOT, postgres_connection, postgres_server_env

pytestmark = [pytest.mark.dbt, pytest.mark.postgres]

DAY = date(2026, 11, 30)


def run_daily(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN_DIR / "ingest"), "daily", "--date", DAY.isoformat(), *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture
def day_env(tmp_path, dbt_profiles_dir, postgres_database) -> dict[str, str]:
    sample.generate_sample(tmp_path / "snapshots" / DAY.isoformat(), deposits=1000, seed=7)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("BITSO_", "PG"))}
    env.update(postgres_server_env())
    env.update(
        PGDATABASE=postgres_database,
        BITSO_SNAPSHOT_ROOT=str(tmp_path / "snapshots"),
        BITSO_LAKE=str(tmp_path / "lake"),
        BITSO_DUCKDB_PATH=str(tmp_path / "duckdb" / "bitso.duckdb"),
        DBT_PROFILES_DIR=str(dbt_profiles_dir),
        DBT_TARGET_PATH=str(tmp_path / "dbt-target"),
        DBT_LOG_PATH=str(tmp_path / "dbt-logs"),
    )
    return env


def count(env: dict[str, str], relation: str) -> int:
    connection = postgres_connection(env["PGDATABASE"])
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"select count(*) from {relation}")
            return cursor.fetchone()[0]
    finally:
        connection.close()


def test_the_target_flag_alone_runs_every_step_on_postgres(day_env, tmp_path):
    result = run_daily(day_env, "--target", "postgres")

    assert result.returncode == 0, result.stderr[-3000:]
    assert count(day_env, "core.fct_deposits") == 1000
    assert count(day_env, "reports.rpt_daily_active_users") > 0
    # Nothing went to the DuckDB default.
    assert not (tmp_path / "duckdb").exists()
    assert (tmp_path / "lake" / "batch_output" / "fct_deposits.csv").is_file()


def test_a_failed_build_names_the_node_from_dbts_results_and_exports_nothing(day_env, tmp_path):
    # A project whose one model cannot compile on any engine.
    project = tmp_path / "project"
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text(
        "name: broken\nversion: '1.0'\nconfig-version: 2\nprofile: bitso\n"
    )
    (project / "models" / "broken_model.sql").write_text("select * from no_such_table\n")

    result = run_daily(day_env, "--target", "postgres", "--project-dir", str(project))

    assert result.returncode == 1
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith(f"error: {DAY}: step 'build' failed: model.broken.broken_model")
    assert "nothing was exported" in last_line
    assert not (tmp_path / "lake" / "batch_output").exists()
    assert count(day_env, "raw.deposits") == 1000
