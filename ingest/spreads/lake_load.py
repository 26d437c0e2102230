"""Copy the spread monitor's closed lake files into the warehouse's raw schema, each file once.

dbt on DuckDB reads the lake where it is; PostgreSQL cannot, so `ingest lake-load` (run from
cron) copies every published window file (`spreads/book=*/date=*/*.csv|parquet`) into
`raw.spread_observations` and every alert log (`alerts/date=*/alerts.jsonl`) into
`raw.lake_file_loads` records each load with the file's SHA-256 and its version in the lake
(size and modification time, or the object's ETag): a file whose version is recorded is skipped
without being read, one whose checksum is recorded is skipped after reading it, and a file that
changed (a window merged after a restart, an alert log that grew) replaces its earlier rows in
the same transaction.
A file that is half written or cannot be read is skipped with a warning and tried again on the
next run. The monitor's open window (`spreads/_partial/`) and its files being written
aside (dot-names) are never matched. The lake may be a folder or an `s3://` URL
(`ingest.io.lake_storage`).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import hashlib
import io
import json
import logging
import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

from ingest.contracts import ALERT_LOG_FIELDS, LAKE_WINDOW_COLUMNS
from ingest.io.lake_storage import LakeStorage, open_lake
from ingest.io.parquet import ParquetCodec, ParquetError
from ingest.io.warehouse import Warehouse, WarehouseError, connect
from ingest.settings import Settings

log = logging.getLogger(__name__)

# The layer of the raw tables (`raw`, or `<dev>_raw` in a development build).
RAW = "raw"
LOADS_TABLE = "lake_file_loads"
OBSERVATIONS_TABLE = "spread_observations"
ALERTS_TABLE = "spread_alerts"

LOADED, RELOADED, UNCHANGED, SKIPPED = "loaded", "reloaded", "unchanged", "skipped"


def _loads(warehouse: Warehouse) -> str:
    """The lake-file load log's relation."""
    return warehouse.relation(RAW, LOADS_TABLE)


class UnusableFile(ValueError):
    """The file is half written or cannot be read; it is tried again on the next run."""


@dataclasses.dataclass(frozen=True)
class LakeFile:
    name: str  # path under the lake, the key of its loads
    version: str  # changes whenever the file is published again
    table: str
    columns: tuple[str, ...]
    day: date


@dataclasses.dataclass(frozen=True)
class RecordedLoad:
    """The latest load of a file, as `raw.lake_file_loads` holds it."""

    load_id: int
    checksum: str
    version: str | None


@dataclasses.dataclass(frozen=True)
class FileOutcome:
    name: str
    status: str
    rows: int = 0
    reason: str = ""


def lake_files(lake: LakeStorage) -> list[LakeFile]:
    """The lake's published window files and alert logs, in path order."""
    found = []
    for pattern, table, columns in (
        ("spreads/book=*/date=*/*.csv", OBSERVATIONS_TABLE, LAKE_WINDOW_COLUMNS),
        ("spreads/book=*/date=*/*.parquet", OBSERVATIONS_TABLE, LAKE_WINDOW_COLUMNS),
        ("alerts/date=*/alerts.jsonl", ALERTS_TABLE, ALERT_LOG_FIELDS),
    ):
        for name, version in lake.versions(pattern).items():
            folder = name.split("/")[-2]
            try:
                day = date.fromisoformat(folder.removeprefix("date="))
            except ValueError:
                log.warning("skipping %s: its folder is not date=YYYY-MM-DD", name)
                continue
            found.append(LakeFile(name, version, table, tuple(columns), day))
    return sorted(found, key=lambda file: file.name)


def load_lake(settings: Settings, lake: str | Path) -> list[FileOutcome]:
    """Load every new or changed file of the lake at `lake` (a folder or an s3:// URL); returns
    what happened to each file."""
    storage = open_lake(lake)
    with connect(settings) as warehouse:
        ensure_tables(warehouse)
        recorded = recorded_loads(warehouse)
        return [
            load_file(warehouse, storage, file, recorded.get(file.name))
            for file in lake_files(storage)
        ]


def ensure_tables(warehouse: Warehouse) -> None:
    """Create the raw schema, the load log and the two raw tables if missing."""
    with warehouse.transaction():
        warehouse.execute(f"create schema if not exists {warehouse.schema(RAW)}")
        warehouse.execute(
            f"create table if not exists {_loads(warehouse)} ("
            " load_id bigint primary key,"
            " table_name text not null,"
            " source_file text not null,"
            " file_checksum text not null,"
            " rows_loaded bigint not null,"
            " loaded_at timestamp with time zone not null default current_timestamp,"
            " file_version text)"
        )
        # Load logs written before versions were recorded gain the column.
        warehouse.execute(
            f"alter table {_loads(warehouse)} add column if not exists file_version text"
        )
        for table, columns in (
            (OBSERVATIONS_TABLE, LAKE_WINDOW_COLUMNS),
            (ALERTS_TABLE, ALERT_LOG_FIELDS),
        ):
            data_columns = ", ".join(f"{column} text" for column in columns)
            warehouse.execute(
                f"create table if not exists {warehouse.relation(RAW, table)}"
                f" ({data_columns}, {warehouse.LINEAGE_COLUMNS})"
            )


def recorded_loads(warehouse: Warehouse) -> dict[str, RecordedLoad]:
    """The latest load of every file loaded so far, in one query."""
    rows = warehouse.execute(
        f"select source_file, load_id, file_checksum, file_version from {_loads(warehouse)}"
        " order by load_id"
    )
    return {
        name: RecordedLoad(load_id, checksum, version) for name, load_id, checksum, version in rows
    }


def load_file(
    warehouse: Warehouse, lake: LakeStorage, file: LakeFile, recorded: RecordedLoad | None
) -> FileOutcome:
    if recorded is not None and recorded.version == file.version:
        return FileOutcome(file.name, UNCHANGED)
    try:
        content = lake.read_bytes(file.name)
    except OSError as error:
        return _skipped(file, f"cannot be read: {error.strerror or error}")
    checksum = hashlib.sha256(content).hexdigest()
    if recorded is not None and recorded.checksum == checksum:
        # Published again with the same content (a merge that added nothing): remember the new
        # version so the next run need not read it.
        with warehouse.transaction():
            warehouse.execute(
                f"update {_loads(warehouse)} set file_version = ? where load_id = ?",
                (file.version, recorded.load_id),
            )
        return FileOutcome(file.name, UNCHANGED)
    try:
        with _as_csv(file, content) as csv_path, warehouse.transaction():
            # Concurrent runs queue here; the second finds the file loaded and does nothing.
            warehouse.lock(_loads(warehouse))
            previous = _loaded_checksum(warehouse, file)
            if previous == checksum:
                return FileOutcome(file.name, UNCHANGED)
            warehouse.execute(
                f"delete from {warehouse.relation(RAW, file.table)} where _source_file = ?",
                (file.name,),
            )
            (load_id,) = warehouse.execute(
                f"select coalesce(max(load_id), 0) + 1 from {_loads(warehouse)}"
            )[0]
            lineage = {
                "_load_id": load_id,
                "_snapshot_date": file.day.isoformat(),
                "_source_file": file.name,
                "_file_checksum": checksum,
            }
            rows = warehouse.bulk_load_csv(
                warehouse.relation(RAW, file.table),
                file.columns,
                csv_path,
                lineage,
                progress=lambda _rows: None,
            )
            warehouse.execute(
                f"insert into {_loads(warehouse)}"
                " (load_id, table_name, source_file, file_checksum, rows_loaded, file_version)"
                " values (?, ?, ?, ?, ?, ?)",
                (
                    load_id,
                    warehouse.relation(RAW, file.table),
                    file.name,
                    checksum,
                    rows,
                    file.version,
                ),
            )
    except UnusableFile as error:
        return _skipped(file, str(error))
    except WarehouseError as error:
        return _skipped(file, f"was refused by the warehouse: {error}")
    status = LOADED if previous is None else RELOADED
    log.info("%s %s: %d rows into %s", status, file.name, rows, file.table)
    return FileOutcome(file.name, status, rows)


def _skipped(file: LakeFile, reason: str) -> FileOutcome:
    log.warning("skipping %s (tried again next run): %s", file.name, reason)
    return FileOutcome(file.name, SKIPPED, reason=reason)


def _loaded_checksum(warehouse: Warehouse, file: LakeFile) -> str | None:
    rows = warehouse.execute(
        f"select file_checksum from {_loads(warehouse)} where source_file = ?"
        " order by load_id desc limit 1",
        (file.name,),
    )
    return rows[0][0] if rows else None


@contextlib.contextmanager
def _as_csv(file: LakeFile, content: bytes) -> Iterator[Path]:
    """The checked content as a headed CSV of the table's columns, in a temporary file, so the
    rows loaded are exactly those checksummed even if the file changes meanwhile."""
    with tempfile.TemporaryDirectory(prefix="lake-load-") as directory:
        csv_path = Path(directory) / "rows.csv"
        if file.name.endswith(".csv"):
            _check_window_csv(content)
            csv_path.write_bytes(content)
        elif file.name.endswith(".parquet"):
            _parquet_to_csv(content, csv_path)
        else:
            csv_path.write_text(_alerts_csv(content, file.name))
        yield csv_path


def _check_window_csv(content: bytes) -> None:
    if not content.endswith(b"\n"):
        raise UnusableFile("half written (no final newline)")
    try:
        rows = list(csv.reader(io.StringIO(content.decode())))
    except (UnicodeDecodeError, csv.Error) as error:
        raise UnusableFile(f"not a readable CSV file: {error}") from error
    if tuple(rows[0]) != LAKE_WINDOW_COLUMNS:
        raise UnusableFile(f"unexpected header {','.join(rows[0])!r}")
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(LAKE_WINDOW_COLUMNS):
            raise UnusableFile(
                f"line {number} has {len(row)} fields, not {len(LAKE_WINDOW_COLUMNS)}"
            )


def _parquet_to_csv(content: bytes, csv_path: Path) -> None:
    # Text as the CSV files have it: decimals exact, booleans as true/false.
    try:
        with ParquetCodec() as codec:
            codec.parquet_to_csv(content, LAKE_WINDOW_COLUMNS, csv_path)
    except ParquetError as error:
        first_line = str(error).strip().splitlines()[0]
        raise UnusableFile(f"not a readable Parquet file: {first_line}") from error


def _alerts_csv(content: bytes, name: str) -> str:
    """Alert lines as CSV. The log grows by whole lines, so only a last line without its newline
    is half written; a complete line that is not an alert (torn by a crash) is left out."""
    if not content.endswith(b"\n"):
        raise UnusableFile("half written (no final newline)")
    try:
        lines = content.decode().splitlines()
    except UnicodeDecodeError as error:
        raise UnusableFile(f"not UTF-8 text: {error}") from error
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(ALERT_LOG_FIELDS)
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            alert = json.loads(line)
            writer.writerow([str(alert[column]) for column in ALERT_LOG_FIELDS])
        except (json.JSONDecodeError, KeyError, TypeError):
            log.warning("%s: leaving out line %d, which is not an alert", name, number)
    return out.getvalue()
