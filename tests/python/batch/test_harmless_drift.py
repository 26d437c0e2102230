"""Harmless format drift loads whole and typed on both engines: every ISO-8601 or PostgreSQL
timestamp form, ids that compare as integers, a UTF-8 byte-order mark, CRLF line ends and
headers in another letter case. The damaged files are built from the generated sample."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from bitso_sandbox import sample
from ingest.batch import snapshots
from ingest.cli import cli
from ingest.contracts import DEPOSITS_SNAPSHOT, EVENTS_SNAPSHOT, WITHDRAWALS_SNAPSHOT
from ingest.io.warehouse import connect

pytestmark = pytest.mark.dbt

BUILD = ("build", "--exclude-resource-type", "unit_test")

# The events file's timestamps, rewritten line by line into each form (event text, as UTC).
TIMESTAMP_FORMS = (
    lambda day, time, fraction: f"{day} {time}.{fraction}+00",
    lambda day, time, fraction: f"{day}T{time}.{fraction}Z",
    lambda day, time, fraction: f"{day} {time}.{fraction}+0000",
    lambda day, time, fraction: f"{day}T{time}.{fraction}+00:00",
    lambda day, time, fraction: f"{day} {time}.{fraction}000",  # 9 digits, no zone
    lambda day, time, fraction: f"{day} {time}",  # no fraction, no zone
)


def read(path: Path) -> tuple[str, list[list[str]]]:
    header, *lines = path.read_text().splitlines()
    return header, [line.split(",") for line in lines]


def write(path: Path, header: str, rows: list[list[str]], *, crlf=False, bom=False) -> None:
    end = "\r\n" if crlf else "\n"
    text = end.join([header, *(",".join(row) for row in rows)]) + end
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())


def drift(directory: Path) -> dict[str, object]:
    """Rewrite the sample in place with every harmless drift; return what to expect of it."""
    events_file = directory / EVENTS_SNAPSHOT.default_file
    _, events = read(events_file)
    expected_times = {}
    for number, row in enumerate(events):
        original = datetime.fromisoformat(row[1]).replace(tzinfo=UTC)  # zone-less UTC text
        day, time = row[1][:10], row[1][11:19]
        fraction = row[1][20:]
        form = TIMESTAMP_FORMS[number % len(TIMESTAMP_FORMS)]
        row[1] = form(day, time, fraction)
        expected_times[int(row[0])] = original if "." in row[1] else original.replace(microsecond=0)
    # One event written with an offset, converted to UTC.
    offset_id = int(events[0][0])
    base = expected_times[offset_id]
    events[0][1] = base.replace(tzinfo=None).isoformat(sep=" ") + "+05:30"
    expected_times[offset_id] = base.replace(tzinfo=None).replace(tzinfo=UTC) - (
        datetime(2000, 1, 1, 5, 30) - datetime(2000, 1, 1)
    )
    write(events_file, " ID ,Event_Timestamp,USER_ID,event_name ", events, crlf=True, bom=True)

    deposits_file = directory / DEPOSITS_SNAPSHOT.default_file
    header, deposits = read(deposits_file)
    padded = [f"0{deposits[0][0]}", *deposits[0][1:]]
    deposits[1][0] = f" {deposits[1][0]}"
    deposits[2][0] = f"+{deposits[2][0]}"
    deposits.append(padded)  # the same deposit again, zero padded
    write(deposits_file, header.upper(), deposits, crlf=True)

    withdrawals_file = directory / WITHDRAWALS_SNAPSHOT.default_file
    header, withdrawals = read(withdrawals_file)
    write(withdrawals_file, header, withdrawals, bom=True)
    return {
        "event_times": expected_times,
        "deposit_ids": {int(row[0]) for row in deposits},
        # The first row and its zero-padded copy, the file's last row.
        "padded": (int(padded[0]), [(deposits[0][0], 1), (padded[0], len(deposits))]),
    }


def test_harmless_drift_loads_every_row_typed_with_duplicates_reported(settings, tmp_path, run_dbt):
    directory = tmp_path / "day"
    sample.generate_sample(directory, deposits=1000, seed=3)
    expected = drift(directory)

    loads = snapshots.load_snapshots(settings, snapshots.resolve_files(directory))
    assert all(load.rows_read == load.rows_loaded for load in loads)
    run_dbt(*BUILD)

    with connect(settings) as warehouse:
        # No value keeps a carriage return, in any raw table's last column.
        for table, column in (("events", "event_name"), ("deposits", "tx_status")):
            carriage_returns = warehouse.execute(
                f"select count(*) from raw.{table} where {column} like ?", ("%\r%",)
            )
            assert carriage_returns == [(0,)], table
        event_times = dict(warehouse.execute("select id, event_timestamp from core.fct_events"))
        rejections = warehouse.execute(
            "select table_name, column_name, raw_value from data_quality.dq_snapshot_rejections"
            " where column_name in ('id', 'event_timestamp')"
        )
        deposit_ids = {id_ for (id_,) in warehouse.execute("select id from core.fct_deposits")}
        duplicates = warehouse.execute(
            "select table_name, record_id, raw_id, file_row"
            " from data_quality.dq_snapshot_duplicates order by file_row"
        )
        logins = warehouse.execute("select count(*) from core.fct_login_events")

    assert rejections == []
    assert {key: value.astimezone(UTC) for key, value in event_times.items()} == expected[
        "event_times"
    ]
    assert logins[0][0] > 0
    # 01000, " 1000" and "+1000" are the ids 1000: one record each, the duplicate reported.
    assert deposit_ids == expected["deposit_ids"]
    padded_id, rows = expected["padded"]
    assert duplicates == [("deposits", padded_id, raw_id, file_row) for raw_id, file_row in rows]


def test_ids_spelled_otherwise_the_next_day_are_neither_new_changed_nor_missing(daily_env):
    first_day = daily_env / "2026-11-29"
    sample.generate_sample(first_day, deposits=1000, seed=3)
    second_day = daily_env / "2026-11-30"
    shutil.copytree(first_day, second_day)
    deposits_file = second_day / DEPOSITS_SNAPSHOT.default_file
    header, deposits = read(deposits_file)
    spellings = ("0{}", "+{}", " {}", "{}")
    for number, row in enumerate(deposits):
        row[0] = spellings[number % len(spellings)].format(row[0])
    write(deposits_file, header, deposits)

    for day in ("2026-11-29", "2026-11-30"):
        result = CliRunner().invoke(cli, ["daily", "--date", day, "--json"], env=dict(os.environ))
        assert result.exit_code == 0, result.output
    (summary,) = json.loads(result.stdout)["days"]

    quality = next(table for table in summary["quality"] if table["table"] == "deposits")
    assert (quality["status"], quality["rows_loaded"]) == ("loaded", 1000)
    assert (quality["ids_new"], quality["ids_changed"], quality["ids_missing"]) == (0, 0, 0)
