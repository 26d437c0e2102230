"""The export's cleanup never deletes the export readers may still hold: the one published
before this one, even when a crashed export left a newer prefix (object storage) or folder
(a lake on disk) behind."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest.batch import export
from ingest.io.lake_storage import open_lake
from ingest.io.warehouse import connect


def a_stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


@pytest.fixture
def marts(settings):
    with connect(settings) as warehouse, warehouse.transaction():
        warehouse.execute("create schema if not exists core")
        warehouse.execute("create table core.dim_users as select 'u1' as user_id")
    return settings


def test_a_crashed_exports_leftover_prefix_never_costs_the_live_previous_export(marts, s3_lake):
    settings = marts.replace(lake=s3_lake)
    lake = open_lake(s3_lake)
    export.export_marts(settings)
    live = lake.read_bytes("batch_output/LATEST").decode().strip()
    # An export that crashed after its first upload, before it could clean up.
    leftover = a_stamp()
    lake.publish(f"batch_output/{leftover}/dim_users.csv", b"user_id\npartial\n")

    export.export_marts(settings)

    latest = lake.read_bytes("batch_output/LATEST").decode().strip()
    assert lake.children("batch_output") == [live, latest, "LATEST"]
    assert lake.read_bytes(f"batch_output/{live}/dim_users.csv") == b"user_id\nu1\n"


def test_a_folder_left_by_a_crash_never_costs_the_live_previous_export(marts, tmp_path):
    settings = marts.replace(lake=str(tmp_path / "lake"))
    versions = tmp_path / "lake" / export.VERSIONS_NAME
    export.export_marts(settings)
    live = (tmp_path / "lake" / export.OUTPUT_NAME).resolve().name
    # An export renamed into place by a run that crashed before swapping the link.
    leftover = versions / a_stamp()
    leftover.mkdir()

    export.export_marts(settings)

    latest = (tmp_path / "lake" / export.OUTPUT_NAME).resolve().name
    assert sorted(path.name for path in versions.iterdir()) == [live, latest]
    assert Path(versions / live / "dim_users.csv").read_text() == "user_id\nu1\n"
