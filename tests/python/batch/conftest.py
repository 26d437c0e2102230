"""Fixtures of the batch tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def daily_env(warehouse_env, dbt_profiles_dir, tmp_path, monkeypatch) -> Path:
    """`ingest daily` against the test's warehouse, with the snapshot root it returns and dbt's
    files in the test's folder."""
    monkeypatch.setenv("BITSO_SNAPSHOT_ROOT", str(tmp_path / "snapshots"))
    monkeypatch.setenv("DBT_PROFILES_DIR", str(dbt_profiles_dir))
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "dbt-target"))
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "dbt-logs"))
    return tmp_path / "snapshots"
