"""The volume guard on both engines: `ingest snapshots` refuses a full snapshot much smaller
than the previous full snapshot of its table, or lacking ids already seen, naming the file and
the numbers and loading nothing; `--allow-shrink` loads it as a deliberate restatement."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from bitso_sandbox import sample
from ingest.cli import cli
from ingest.contracts import DEPOSITS_SNAPSHOT
from ingest.io.warehouse import connect


@pytest.fixture
def first_day(warehouse_env, tmp_path) -> Path:
    directory = tmp_path / "day1"
    sample.generate_sample(directory, deposits=1000, seed=11)
    result = load(directory, "2026-11-29")
    assert result.exit_code == 0, result.output
    return directory


def load(directory: Path, day: str, *args: str):
    return CliRunner().invoke(
        cli, ["snapshots", str(directory), "--date", day, "--quiet", *args], env=dict(os.environ)
    )


def next_day(first: Path, tmp_path: Path, rewrite) -> Path:
    """The first day's files again, with the deposits file's data lines passed through
    `rewrite`."""
    directory = tmp_path / "day2"
    shutil.copytree(first, directory)
    path = directory / DEPOSITS_SNAPSHOT.default_file
    header, *lines = path.read_text().splitlines()
    path.write_text("\n".join([header, *rewrite(lines)]) + "\n")
    return directory


def warehouse_state(settings) -> list[tuple]:
    with connect(settings) as warehouse:
        return warehouse.execute(
            "select table_name, count(*), sum(rows_loaded) from raw.snapshot_loads"
            " group by table_name order by table_name"
        ) + warehouse.execute("select count(*) from raw.deposits")


def test_a_full_snapshot_much_smaller_than_the_previous_is_refused_unless_allowed(
    settings, first_day, tmp_path
):
    day2 = next_day(first_day, tmp_path, lambda lines: lines[:850])  # 15 % fewer rows
    before = warehouse_state(settings)

    refused = load(day2, "2026-11-30")

    assert refused.exit_code == 1
    message = refused.output.strip().splitlines()[-1]
    assert message == (
        f"error: deposits: {day2 / DEPOSITS_SNAPSHOT.default_file}: 850 rows, 15.0% fewer than "
        "the 1,000 of the previous full snapshot (load 1); more than 10% fewer is refused "
        "(--allow-shrink for a deliberate restatement) (nothing was loaded)"
    )
    assert warehouse_state(settings) == before

    # A looser bound, or --allow-shrink, lets it through.
    assert load(day2, "2026-11-30", "--max-shrink", "0.2").exit_code == 1  # ids still missing
    allowed = load(day2, "2026-11-30", "--allow-shrink")
    assert allowed.exit_code == 0, allowed.output
    assert warehouse_state(settings) != before


def test_a_full_snapshot_lacking_ids_already_seen_is_refused(settings, first_day, tmp_path):
    def replace_ids(lines: list[str]) -> list[str]:
        # 2 % of the deposits replaced by new ones: the same row count, ids missing.
        kept, replaced = lines[:980], lines[980:]
        return [
            *kept,
            *(
                f"9{number}{line[line.index(',') :]}"
                for number, line in enumerate(replaced, start=900000)
            ),
        ]

    day2 = next_day(first_day, tmp_path, replace_ids)
    before = warehouse_state(settings)

    refused = load(day2, "2026-11-30")

    assert refused.exit_code == 1
    assert refused.output.strip().splitlines()[-1] == (
        f"error: deposits: {day2 / DEPOSITS_SNAPSHOT.default_file}: lacks 20 of the 1,000 ids "
        "already seen (2.0%); more than 1% missing is refused (--allow-shrink for a deliberate "
        "restatement) (nothing was loaded)"
    )
    assert warehouse_state(settings) == before
    assert load(day2, "2026-11-30", "--max-missing-ids", "0.05").exit_code == 0


def test_ids_respelled_as_the_same_integers_are_not_missing(settings, first_day, tmp_path):
    def respell_ids(lines: list[str]) -> list[str]:
        # Every deposit again, its id zero padded, signed or space padded: none is missing.
        spellings = ("0{}", "+{}", " {}", "00{} ")
        return [
            spellings[number % len(spellings)].format(line[: line.index(",")])
            + line[line.index(",") :]
            for number, line in enumerate(lines)
        ]

    day2 = next_day(first_day, tmp_path, respell_ids)

    loaded = load(day2, "2026-11-30")

    assert loaded.exit_code == 0, loaded.output
    with connect(settings) as warehouse:
        assert warehouse.execute(
            "select count(*), count(distinct id) from raw.deposits where _load_id = ("
            "select max(load_id) from raw.snapshot_loads where table_name = 'deposits')"
        ) == [(1000, 1000)]
