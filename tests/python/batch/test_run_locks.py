"""Runs that would overlap on one warehouse: a second `ingest daily` or `ingest snapshots`
waits for the first and says so, or refuses with --no-wait (a PostgreSQL advisory lock, a file
lock beside the DuckDB file). And a PostgreSQL connection lost mid-load ends the run with one
line and exit 1, nothing of it applied."""

from __future__ import annotations

import contextlib
import os
import threading
import time

import pytest
from click.testing import CliRunner

from bitso_sandbox import sample
from ingest.batch import snapshots
from ingest.cli import cli
from ingest.io.warehouse import connect, run_lock
from tests.python.conftest import postgres_connection


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), env=dict(os.environ))


@pytest.fixture
def snapshot_dir(tmp_path):
    directory = tmp_path / "day"
    sample.generate_sample(directory, deposits=1000, seed=2)
    return directory


def test_a_second_run_refuses_with_no_wait_while_the_first_holds_the_warehouse(
    settings, snapshot_dir, tmp_path
):
    with run_lock(settings, "snapshots"):
        refused = invoke("snapshots", str(snapshot_dir), "--no-wait", "--quiet")
    with run_lock(settings, "daily"):
        daily_refused = invoke("daily", "--snapshots", str(tmp_path), "--no-wait")

    assert refused.exit_code == 1
    assert (
        refused.output.strip()
        .splitlines()[-1]
        .startswith("error: another ingest snapshots against ")
    )
    assert "is running (--no-wait: not waiting for it)" in refused.output
    assert daily_refused.exit_code == 1
    assert "error: another ingest daily against " in daily_refused.output
    with connect(settings) as warehouse:
        assert warehouse.tables_in("raw") == []  # the refused run wrote nothing


def test_a_second_run_waits_for_the_first_and_says_so(settings, snapshot_dir):
    held = threading.Event()

    def first_run() -> None:
        with run_lock(settings, "snapshots"):
            held.set()
            time.sleep(1.5)

    thread = threading.Thread(target=first_run)
    thread.start()
    held.wait()
    started = time.monotonic()
    second = invoke("snapshots", str(snapshot_dir), "--quiet")
    waited = time.monotonic() - started
    thread.join()

    assert second.exit_code == 0, second.output
    assert "is running: waiting for it to finish" in second.output
    assert waited >= 1.0


@pytest.mark.parametrize("engine", ["postgres"])
def test_a_connection_lost_mid_load_is_one_line_exit_1_and_nothing_applied(
    settings, snapshot_dir, monkeypatch
):
    load_one = snapshots._load_one
    database = settings.postgres.database

    def load_then_lose_the_connection(*args, **kwargs):
        result = load_one(*args, **kwargs)
        with contextlib.closing(postgres_connection()) as admin, admin, admin.cursor() as cursor:
            cursor.execute(
                "select pg_terminate_backend(pid) from pg_stat_activity"
                " where datname = %s and pid <> pg_backend_pid()",
                (database,),
            )
        return result

    monkeypatch.setattr(snapshots, "_load_one", load_then_lose_the_connection)
    result = invoke("snapshots", str(snapshot_dir), "--quiet")
    monkeypatch.undo()

    assert result.exit_code == 1
    assert "Traceback" not in result.output
    last_line = result.output.strip().splitlines()[-1]
    assert last_line.startswith("error: lost the connection to ")
    assert last_line.endswith("(nothing was loaded)")
    with connect(settings) as warehouse:
        assert warehouse.execute("select count(*) from raw.deposits") == [(0,)]
        assert warehouse.execute("select count(*) from raw.snapshot_loads") == [(0,)]
