"""Development builds side by side in one PostgreSQL database: with BITSO_DEV_SCHEMA=alice every
schema dbt builds is `alice_<name>` (`alice_core`, `alice_reports`, ...) and the sources read
`alice_raw`, so alice and bob can build at once without touching each other's tables or
production's plain names (macros/generate_schema_name.sql)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from bitso_sandbox import sample
from ingest.batch import snapshots
from ingest.settings import Settings
from tests.python.conftest import BIN_DIR, REPO_ROOT, postgres_connection, postgres_server_env

pytestmark = [pytest.mark.dbt, pytest.mark.postgres]

DEVELOPERS = ("alice", "bob")
# Every custom schema of dbt_project.yml (seeds: reference).
LAYERS = ("staging", "intermediate", "core", "reports", "data_quality", "spreads", "reference")
RAW_TABLES = ("snapshot_loads", "deposits", "withdrawals", "events", "users")


def query(database: str, sql: str) -> list[tuple]:
    connection = postgres_connection(database)
    try:
        with connection, connection.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchall() if cursor.description else []
    finally:
        connection.close()


def start_dbt_build(
    developer: str, env: dict[str, str], profiles: Path, tmp: Path
) -> subprocess.Popen:
    target = tmp / f"dbt-target-{developer}"
    return subprocess.Popen(
        [
            str(BIN_DIR / "dbt"),
            "build",
            "--profiles-dir",
            str(profiles),
            "--target-path",
            str(target),
            "--log-path",
            str(target / "logs"),
        ],
        cwd=REPO_ROOT,
        env={**os.environ, **env, "BITSO_DEV_SCHEMA": developer, "DBT_USE_COLORS": "false"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def schemas(database: str) -> set[str]:
    rows = query(database, "select schema_name from information_schema.schemata")
    return {name for (name,) in rows}


def tables_in(database: str, schema: str) -> set[str]:
    rows = query(
        database,
        f"select table_name from information_schema.tables where table_schema = '{schema}'",
    )
    return {name for (name,) in rows}


def test_two_developers_build_at_once_into_their_own_schemas(
    postgres_database, dbt_profiles_dir, tmp_path, monkeypatch
):
    env = {
        **postgres_server_env(),
        "PGDATABASE": postgres_database,
        "BITSO_TARGET": "postgres",
        "BITSO_LAKE": str(tmp_path / "lake"),
    }
    for key in ("BITSO_DEV_SCHEMA", "DBT_TARGET_PATH", "DBT_LOG_PATH", "DBT_PROFILES_DIR"):
        monkeypatch.delenv(key, raising=False)
    # Each loads a snapshot of their own with `ingest snapshots`' loader, which writes into
    # `<dev>_raw`; bob's has fewer deposits, so each build must read its own raw schema.
    # Production's `raw` holds a third one, which no development build may touch.
    for developer, deposits in (("alice", 2_000), ("bob", 1_000), (None, 1_000)):
        folder = tmp_path / f"sample-{developer or 'production'}"
        sample.generate_sample(folder, deposits=deposits, seed=3)
        settings = Settings.from_env({**env, "BITSO_DEV_SCHEMA": developer or ""})
        snapshots.load_snapshots(settings, snapshots.resolve_files(folder))
    raw_counts = {t: query(postgres_database, f"select count(*) from raw.{t}") for t in RAW_TABLES}

    builds = {
        developer: start_dbt_build(developer, env, dbt_profiles_dir, tmp_path)
        for developer in DEVELOPERS
    }
    outputs = {developer: build.communicate(timeout=900)[0] for developer, build in builds.items()}

    for developer, build in builds.items():
        assert build.returncode == 0, f"{developer}'s build failed:\n{outputs[developer][-6000:]}"
        assert "ERROR=0" in outputs[developer]
    present = schemas(postgres_database)
    for developer in DEVELOPERS:
        assert {f"{developer}_{layer}" for layer in LAYERS} <= present, developer
    for layer in LAYERS:
        built = tables_in(postgres_database, f"alice_{layer}")
        assert built, layer
        assert built == tables_in(postgres_database, f"bob_{layer}"), layer
    # Production's names are untouched: no built schema, and `raw` as loaded.
    assert not set(LAYERS) & present
    assert {t: query(postgres_database, f"select count(*) from raw.{t}") for t in RAW_TABLES} == (
        raw_counts
    )
    for developer in DEVELOPERS:
        (delivered,) = query(
            postgres_database, f"select count(distinct id) from {developer}_raw.deposits"
        )
        assert query(postgres_database, f"select count(*) from {developer}_core.fct_deposits") == [
            delivered
        ], developer
    (alice_deposits,) = query(postgres_database, "select count(*) from alice_core.fct_deposits")
    (bob_deposits,) = query(postgres_database, "select count(*) from bob_core.fct_deposits")
    assert 0 < bob_deposits[0] < alice_deposits[0]
