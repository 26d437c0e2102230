"""The lake on S3-compatible object storage (the local server of `s3_lake`): a monitor run
writing to it, dbt on DuckDB reading it in place, `ingest lake-load` and `ingest export`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import pytest
import s3fs
from click.testing import CliRunner

from ingest.cli import cli
from ingest.io.lake_storage import ObjectStoreLake, open_lake
from ingest.io.warehouse import connect
from ingest.settings import Settings
from tests.python.spreads.monitor.test_end_to_end import Server, finish, start_monitor
from tests.python.spreads.test_spread_analysis import (
    RUN_SECONDS,
    SCRIPT,
    SPREAD_MARTS,
    T0,
    WINDOW,
    expected_episodes,
    expected_exposure,
    lake_records,
    logged_alerts,
    raw_rows,
    scripted_spreads,
    window_csv,
)


def object_store() -> s3fs.S3FileSystem:
    return s3fs.S3FileSystem(skip_instance_cache=True)


def spread_marts(settings: Settings) -> dict[str, set[tuple]]:
    with connect(settings) as warehouse:
        return {
            model: set(warehouse.execute(f"select * from spreads.{model}"))
            for model in SPREAD_MARTS
        }


@pytest.mark.dbt
@pytest.mark.parametrize("engine", ["duckdb"])
def test_a_monitor_run_on_object_storage_gives_the_figures_of_the_same_lake_on_disk(
    s3_lake, warehouse_env, run_dbt, monkeypatch, tmp_path
):
    server = Server(tmp_path, SCRIPT)
    try:
        monitor = start_monitor(
            s3_lake,
            server,
            *("--source", "rest", "--window", "10", "--duration", str(RUN_SECONDS)),
            *("--journal-dir", str(tmp_path / "journal")),
        )
        out, err = finish(monitor, timeout=RUN_SECONDS + 30)
    finally:
        server.stop()
    assert f"files published under {s3_lake}/spreads" in out
    assert os.environ["AWS_SECRET_ACCESS_KEY"] not in out + err
    assert not list((tmp_path / "journal").glob("*.partial"))

    # The same files, copied to disk.
    on_disk = tmp_path / "lake_on_disk"
    object_store().get(s3_lake.removeprefix("s3://") + "/", str(on_disk), recursive=True)
    records = lake_records(on_disk)
    for book, rows in records.items():
        assert len(rows) == RUN_SECONDS
        assert {spread for _, spread in rows if spread is not None} == scripted_spreads(book)
    assert logged_alerts(on_disk), "the run crossed thresholds, so the alert log has lines"

    figures = {}
    for name, lake in (("object storage", s3_lake), ("disk", str(on_disk))):
        warehouse = tmp_path / name / "bitso.duckdb"
        warehouse.parent.mkdir()
        for key, value in {"BITSO_LAKE": lake, "BITSO_DUCKDB_PATH": str(warehouse)}.items():
            warehouse_env[key] = value
            monkeypatch.setenv(key, value)
        output = run_dbt("build", "--select", "+tag:spreads+", "+tag:bitso_api").stdout
        assert "ERROR=0" in output and "WARN=0" in output
        assert "PASS agrees_with_alert_log_rpt_spread_alert_episodes" in output
        figures[name] = spread_marts(Settings.from_env(warehouse_env))
        # The run just ended, so the lake is fresh by its own timestamps.
        freshness = run_dbt("source", "freshness", "--select", "source:bitso_api").stdout
        assert "PASS freshness of bitso_api.spread_observations" in freshness

    assert figures["object storage"] == figures["disk"]
    marts = figures["object storage"]
    assert len(marts["fct_spread_observations"]) == 2 * RUN_SECONDS
    assert {row[:7] for row in marts["rpt_spread_threshold_exposure"]} == {
        row[:7] for row in expected_exposure(records)
    }
    episodes = {
        (row[0], row[1], row[2], row[3], row[4], row[5])
        for row in duckdb_rows(
            tmp_path / "object storage" / "bitso.duckdb",
            "select book, threshold_pct, episode_start, episode_end, duration_seconds,"
            " peak_spread_pct from spreads.rpt_spread_alert_episodes",
        )
    }
    assert episodes == expected_episodes(records)


def duckdb_rows(path: Path, query: str) -> set[tuple]:
    with duckdb.connect(str(path), read_only=True) as connection:
        connection.execute("set TimeZone = 'UTC'")
        return set(connection.execute(query).fetchall())


@pytest.mark.parametrize("engine", ["postgres"])
def test_lake_load_reads_an_object_storage_lake_once_per_file_version(
    s3_lake, settings, monkeypatch
):
    reads = []
    read_bytes = ObjectStoreLake.read_bytes

    def counted_read(self, key):
        reads.append(key)
        return read_bytes(self, key)

    monkeypatch.setattr(ObjectStoreLake, "read_bytes", counted_read)
    lake = open_lake(s3_lake)
    lake.publish(WINDOW, window_csv(T0, ["0.1", "0.2", None]).encode())
    alert = {
        "book": "btc_mxn",
        "threshold": "0.1",
        "state": "triggered",
        "spread": "0.2",
        "bid": "100",
        "ask": "101",
        "orderbook_timestamp": "2026-11-29T10:00:01+00:00",
        "text": "t",
    }
    lake.publish("alerts/date=2026-11-29/alerts.jsonl", (json.dumps(alert) + "\n").encode())
    lake.publish(".staging/" + WINDOW, window_csv(T0, ["0.3"]).encode())

    def lake_load() -> str:
        result = CliRunner().invoke(cli, ["lake-load", "--lake", s3_lake])
        assert result.exit_code == 0, result.output
        return result.output

    assert "2 files loaded, 0 reloaded (4 rows), 0 unchanged, 0 skipped" in lake_load()
    assert len(reads) == 2
    # Unchanged objects are told by their ETag, without a download.
    assert "0 files loaded, 0 reloaded (0 rows), 2 unchanged" in lake_load()
    assert len(reads) == 2
    lake.publish(WINDOW, window_csv(T0, ["0.1", "0.2", None, "0.4"]).encode())
    assert "0 files loaded, 1 reloaded (4 rows), 1 unchanged" in lake_load()
    assert reads[2:] == [WINDOW]
    assert raw_rows(settings, "spread_observations") == [(WINDOW, 4)]
    assert raw_rows(settings, "spread_alerts") == [("alerts/date=2026-11-29/alerts.jsonl", 1)]


@pytest.mark.parametrize("engine", ["duckdb"])
def test_exports_to_object_storage_are_published_by_a_latest_pointer(s3_lake, settings):
    Path(settings.duckdb_path).parent.mkdir(parents=True)
    with duckdb.connect(str(settings.duckdb_path)) as connection:
        connection.execute("create schema core; create schema reports")
        connection.execute(
            "create table core.dim_users as select 'u' || range as user_id from range(3)"
        )
        connection.execute(
            "create table reports.rpt_totals as"
            " select 'MXN' as currency, 12.50::decimal(38, 2) as total"
        )

    def export() -> list[str]:
        result = CliRunner().invoke(cli, ["export", "--lake", s3_lake])
        assert result.exit_code == 0, result.output
        return result.output.splitlines()

    lake = open_lake(s3_lake)
    stamps = []
    for _ in range(3):
        lines = export()
        stamps.append(lake.read_bytes("batch_output/LATEST").decode().strip())
        assert [line.split()[-1] for line in lines] == [
            f"{s3_lake}/batch_output/{stamps[-1]}/dim_users.csv",
            f"{s3_lake}/batch_output/{stamps[-1]}/rpt_totals.csv",
        ]
    # The latest and the one before are kept; older ones are deleted.
    assert lake.children("batch_output") == [*stamps[1:], "LATEST"]
    assert lake.read_bytes(f"batch_output/{stamps[2]}/rpt_totals.csv") == (
        b"currency,total\nMXN,12.50\n"
    )

    # A failed export leaves the published one alone and no partial export behind.
    with duckdb.connect(str(settings.duckdb_path)) as connection:
        connection.execute("drop schema core cascade; drop schema reports cascade")
    result = CliRunner().invoke(cli, ["export", "--lake", s3_lake])
    assert result.exit_code != 0 and "run `dbt build` first" in result.output
    assert lake.read_bytes("batch_output/LATEST").decode().strip() == stamps[2]
    assert lake.children("batch_output") == [*stamps[1:], "LATEST"]
