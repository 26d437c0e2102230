"""The `ingest` command line: output, exit codes and environment, through click's CliRunner."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from ingest.cli import cli
from tests.python.snapshot_files import write_snapshot_dir


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_snapshots_prints_rows_read_and_loaded_per_file(runner, warehouse_env, tmp_path):
    directory = write_snapshot_dir(tmp_path / "day1")

    result = runner.invoke(cli, ["snapshots", str(directory)])

    assert result.exit_code == 0, result.output
    assert "full snapshot of " in result.stdout
    assert "deposits     loaded          read          4  loaded          4" in result.stdout
    assert "1 blank line(s) skipped" in result.stdout


def test_snapshots_json_summary_accounts_for_every_row(runner, warehouse_env, tmp_path):
    directory = write_snapshot_dir(tmp_path / "day1")

    first = runner.invoke(cli, ["snapshots", str(directory), "--json", "--quiet"])
    second = runner.invoke(cli, ["snapshots", str(directory), "--json", "--quiet"])

    assert first.exit_code == second.exit_code == 0
    files = json.loads(first.stdout)["files"]
    assert all(item["rows_read"] == item["rows_loaded"] for item in files)
    assert [item["status"] for item in json.loads(second.stdout)["files"]] == ["already loaded"] * 4
    assert json.loads(second.stdout)["warehouse"].startswith(warehouse_env["BITSO_TARGET"])


def test_snapshots_logs_progress_unless_quiet(runner, warehouse_env, tmp_path):
    quiet = runner.invoke(cli, ["snapshots", str(write_snapshot_dir(tmp_path / "d1")), "--quiet"])
    newer_users = "user_id\ncccccccccccccccccccccccccccccccc\n"
    day2 = write_snapshot_dir(tmp_path / "d2", user_id_sample_data=newer_users)
    loud = runner.invoke(cli, ["snapshots", str(day2)])

    assert "rows/s" not in quiet.stderr
    assert "users: 1 rows" in loud.stderr and "rows/s" in loud.stderr


def test_snapshots_failure_exits_1_with_the_file_named(runner, warehouse_env, tmp_path):
    directory = write_snapshot_dir(tmp_path / "day1", deposit_sample_data="id,amount\n1,2\n")

    result = runner.invoke(cli, ["snapshots", str(directory)])

    assert result.exit_code == 1
    assert "deposit_sample_data.csv: line 1: expected header" in result.stderr
    assert "nothing was loaded" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        (["snapshots", "/no/such/dir"], "does not exist"),
        (["snapshots", ".", "--target", "oracle"], "'oracle' is not one of"),
        (["generate-sample", "x", "--deposits", "0"], "--deposits: must be at least 1000"),
    ],
)
def test_bad_arguments_exit_2_with_a_reason(runner, arguments, complaint):
    result = runner.invoke(cli, arguments)

    assert result.exit_code == 2
    assert complaint in result.stderr


def test_an_unknown_engine_in_the_environment_is_a_usage_error(runner):
    result = runner.invoke(cli, ["export"], env={"BITSO_TARGET": "sqlite"})

    assert result.exit_code == 2
    assert "BITSO_TARGET must be one of duckdb, postgres" in result.stderr


def test_export_before_any_build_says_what_to_do(runner, warehouse_env):
    result = runner.invoke(cli, ["export"])

    assert result.exit_code == 1
    assert "run `dbt build` first" in result.stderr


def test_generate_sample_is_deterministic(runner, tmp_path):
    first = runner.invoke(cli, ["generate-sample", str(tmp_path / "a"), "--deposits", "1000"])
    second = runner.invoke(cli, ["generate-sample", str(tmp_path / "b"), "--deposits", "1000"])

    assert first.exit_code == second.exit_code == 0
    for name in ("deposit_sample_data.csv", "user_id_sample_data.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert "1,000 rows" in first.stdout


def test_help_shows_the_environment_variable_behind_options(runner):
    result = runner.invoke(cli, ["snapshots", "--help"])

    assert "BITSO_TARGET" in result.stdout
