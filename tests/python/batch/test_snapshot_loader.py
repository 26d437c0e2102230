"""The snapshot loader on both engines: quirks, row accounting, idempotency and errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.batch import snapshots
from ingest.contracts import DEPOSITS_SNAPSHOT, USERS_SNAPSHOT
from ingest.io.warehouse import connect
from tests.python.snapshot_files import write_snapshot_dir


def load(settings, directory: Path):
    return snapshots.load_snapshots(settings, snapshots.resolve_files(directory))


def query(settings, sql: str) -> list[tuple]:
    with connect(settings) as warehouse:
        return warehouse.execute(sql)


def test_every_quirk_loads_as_delivered_text_with_rows_read_equal_to_rows_loaded(
    settings, tmp_path
):
    loads = load(settings, write_snapshot_dir(tmp_path / "day1"))

    accounted = {(item.table, item.rows_read, item.rows_loaded, item.blank_lines) for item in loads}
    assert accounted == {
        ("deposits", 4, 4, 0),
        ("withdrawals", 2, 2, 0),
        ("events", 2, 2, 0),
        ("users", 2, 2, 1),
    }
    amounts = dict(query(settings, "select id, amount from raw.deposits"))
    assert amounts == {
        "1001": "10.000000000000000000",
        "1000": None,
        "1004": "0.000000000000000001",
        "1003": "6827677768780.000000000000000000",
    }
    assert query(settings, "select event_timestamp from raw.events where id = '2'") == [
        ("2020-01-02 18:40:33.568000",)
    ]
    assert query(settings, "select count(*) from raw.users where user_id is null") == [(0,)]


def test_rows_carry_their_file_checksum_and_load(settings, tmp_path):
    loads = load(settings, write_snapshot_dir(tmp_path / "day1"))
    deposits_load = next(item for item in loads if item.table == "deposits")

    lineage = query(
        settings,
        "select distinct _load_id, _source_file, _file_checksum from raw.deposits",
    )
    assert lineage == [(deposits_load.load_id, deposits_load.file, deposits_load.checksum)]
    assert query(settings, "select count(*) from raw.deposits where _loaded_at is null") == [(0,)]


def test_loading_the_same_files_again_changes_nothing(settings, tmp_path):
    directory = write_snapshot_dir(tmp_path / "day1")
    load(settings, directory)

    again = load(settings, directory)

    assert {item.status for item in again} == {"already loaded"}
    assert query(settings, "select count(*) from raw.deposits") == [(4,)]
    assert query(settings, "select count(*) from raw.snapshot_loads") == [(4,)]


def test_a_newer_snapshot_is_appended_as_a_later_load(settings, tmp_path):
    load(settings, write_snapshot_dir(tmp_path / "day1"))
    newer_deposits = (
        f"{DEPOSITS_SNAPSHOT.header}\n"
        "1000,2020-01-10 18:26:02.853+00,aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa,7.5,mxn,complete\n"
    )

    loads = load(
        settings, write_snapshot_dir(tmp_path / "day2", deposit_sample_data=newer_deposits)
    )

    statuses = {item.table: item.status for item in loads}
    assert statuses == {
        "deposits": "loaded",
        "withdrawals": "already loaded",
        "events": "already loaded",
        "users": "already loaded",
    }
    assert query(
        settings, "select _load_id, amount from raw.deposits where id = '1000' order by 1"
    ) == [
        (1, None),
        (5, "7.5"),
    ]


def assert_nothing_loaded(settings) -> None:
    with connect(settings) as warehouse:
        tables = warehouse.tables_in("raw")
        if tables:
            assert warehouse.execute("select count(*) from raw.snapshot_loads") == [(0,)]
            assert warehouse.execute("select count(*) from raw.deposits") == [(0,)]


def test_a_missing_file_is_named_and_nothing_is_loaded(settings, tmp_path):
    directory = write_snapshot_dir(tmp_path / "day1", event_sample_data=None)

    with pytest.raises(
        snapshots.SnapshotError, match=r"events: .*event_sample_data\.csv: file not found"
    ):
        load(settings, directory)
    assert_nothing_loaded(settings)


def test_a_wrong_header_is_named_with_its_line(settings, tmp_path):
    directory = write_snapshot_dir(
        tmp_path / "day1", withdrawals_sample_data="id,timestamp,user\n1,2,3\n"
    )

    with pytest.raises(
        snapshots.SnapshotError, match=r"withdrawals_sample_data\.csv: line 1: expected header"
    ):
        load(settings, directory)
    assert_nothing_loaded(settings)


def test_a_malformed_row_names_file_and_line_and_rolls_back_every_table(settings, tmp_path):
    # Users is loaded last, so deposits, withdrawals and events were already written when it fails.
    broken_users = f"{USERS_SNAPSHOT.header}\naaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\nbbbb,extra\n"
    directory = write_snapshot_dir(tmp_path / "day1", user_id_sample_data=broken_users)

    with pytest.raises(snapshots.SnapshotError) as raised:
        load(settings, directory)

    message = str(raised.value)
    assert "user_id_sample_data.csv" in message
    assert "line 3" in message.lower().replace(":", "")
    assert_nothing_loaded(settings)


def test_a_file_that_is_not_utf8_is_an_error_naming_it(settings, tmp_path):
    directory = write_snapshot_dir(tmp_path / "day1")
    events = directory / "event_sample_data.csv"
    events.write_bytes(events.read_bytes() + b"3,2020-01-02 00:00:00.000000,\xff\xfe,login\n")

    with pytest.raises(snapshots.SnapshotError, match=r"event_sample_data\.csv"):
        load(settings, directory)
    assert_nothing_loaded(settings)


def test_a_directory_in_place_of_a_file_is_an_error(settings, tmp_path):
    directory = write_snapshot_dir(tmp_path / "day1", user_id_sample_data=None)
    (directory / "user_id_sample_data.csv").mkdir()

    with pytest.raises(snapshots.SnapshotError, match=r"users: .* is a directory"):
        load(settings, directory)


def test_file_names_can_be_overridden(tmp_path):
    files = snapshots.resolve_files(tmp_path, {"users": "users_2026-11-29.csv"})

    assert dict((table.name, path.name) for table, path in files)["users"] == "users_2026-11-29.csv"
    with pytest.raises(snapshots.SnapshotError, match="unknown snapshot table"):
        snapshots.resolve_files(tmp_path, {"trades": "x.csv"})


def test_a_file_without_final_newline_counts_its_last_row(tmp_path):
    path = tmp_path / "users.csv"
    path.write_bytes(f"{USERS_SNAPSHOT.header}\n\nabc\ndef".encode())

    scanned = snapshots.scan_file(snapshots.TABLES_BY_NAME["users"], path)

    assert (scanned.rows_read, scanned.blank_lines) == (2, 1)
