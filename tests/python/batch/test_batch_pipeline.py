"""The batch job end to end on both engines: generate, load, `dbt build`, export.

The insight reports must equal the answers computed independently in Python from the files.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from click.testing import CliRunner

from bitso_sandbox import sample
from ingest.batch import snapshots
from ingest.cli import cli
from ingest.io.warehouse import connect
from tests.python.expected_reports import expected_reports

pytestmark = pytest.mark.dbt


def build_from_sample(settings, run_dbt, directory: Path, **sample_options) -> str:
    sample.generate_sample(directory, **sample_options)
    snapshots.load_snapshots(settings, snapshots.resolve_files(directory))
    return run_dbt("build").stdout


def test_reports_answer_the_questions_exactly_on_generated_data(settings, run_dbt, tmp_path):
    directory = tmp_path / "sample"
    build_output = build_from_sample(
        settings, run_dbt, directory, deposits=4_000, seed=11, orphan_users=2
    )

    expected = expected_reports(directory)
    with connect(settings) as warehouse:
        for report, rows in expected.items():
            columns = [
                name
                for (name,) in warehouse.execute(
                    "select column_name from information_schema.columns"
                    " where table_schema = 'reports' and table_name = ? order by ordinal_position",
                    (report,),
                )
                if name != "last_load_id"  # lineage, not part of the answer
            ]
            actual = set(warehouse.execute(f"select {', '.join(columns)} from reports.{report}"))
            assert actual == rows, f"{report}: {len(actual ^ rows)} rows differ"
        inferred = warehouse.execute("select count(*) from core.dim_users where is_inferred")
        rejected = warehouse.execute(
            "select table_name, column_name, reason from data_quality.dq_snapshot_rejections"
        )
    assert inferred == [(2,)]
    assert rejected and set(rejected) == {("deposits", "amount", "empty")}
    # Findings are visible as warnings but never stop the build.
    for finding in (
        "accepted_values_dim_users_is_inferred__False",
        "assert_no_snapshot_value_rejected",
    ):
        assert f"WARN 1 {finding}" in build_output
    assert "ERROR=0" in build_output


def test_export_writes_one_file_per_mart_with_every_row(settings, run_dbt, tmp_path):
    build_from_sample(settings, run_dbt, tmp_path / "sample", deposits=1_000, seed=3)

    result = CliRunner().invoke(cli, ["export", "--lake", str(tmp_path / "lake")])

    assert result.exit_code == 0, result.output
    output = tmp_path / "lake" / "batch_output"
    with connect(settings) as warehouse:
        for schema in ("core", "reports"):
            for table in warehouse.tables_in(schema):
                (rows,) = warehouse.execute(f"select count(*) from {schema}.{table}")[0]
                with (output / f"{table}.csv").open(newline="") as handle:
                    assert sum(1 for _ in csv.reader(handle)) == rows + 1, table
    assert not list(output.glob(".*partial"))
