"""Bulk-load the daily CSV snapshots into the warehouse's `raw` schema, exactly as delivered.

Every value stays text; typing happens in dbt staging. Each file is validated and fingerprinted
before anything is written, all files of one run load in one transaction, and a file whose
checksum was already loaded into its table is skipped.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path

from ingest.contracts import SNAPSHOT_FILE_ROW, SNAPSHOT_TABLES, SnapshotTable
from ingest.io.warehouse import Warehouse, WarehouseError, connect
from ingest.settings import Settings

# The layer the raw tables live in (`raw`, or `<dev>_raw` in a development build).
RAW = "raw"
LOADS_TABLE = "snapshot_loads"
_CHUNK_BYTES = 4 * 1024 * 1024
_BLANK_LINE = re.compile(rb"\n(?=\r?\n)")
# Excel's "CSV UTF-8" starts the file with a byte-order mark; both engines' readers skip it.
_UTF8_BOM = b"\xef\xbb\xbf"
# A full snapshot holds a table's whole history; a delta holds only the day's new and changed rows.
KINDS = ("full", "delta")


TABLES_BY_NAME = {table.name: table for table in SNAPSHOT_TABLES}


def id_key(column: str) -> str:
    """SQL for the id in a raw text `column` as staging reads it: an integer of up to 18 digits,
    whatever its sign, zero padding or surrounding spaces (`01000`, ` 1000` and `+1000` are
    `1000`), written as text; any other value as its trimmed text."""
    trimmed = f"trim({column})"
    # `{0,1}`, not `?`, which the PostgreSQL connection takes for a placeholder.
    return (
        f"case when {trimmed} ~ '^[+-]{{0,1}}[0-9]+$' and length(ltrim({trimmed}, '+-')) <= 18"
        f" then cast(cast({trimmed} as bigint) as text) else {trimmed} end"
    )


def _loads(warehouse: Warehouse) -> str:
    """The snapshot load log's relation."""
    return warehouse.relation(RAW, LOADS_TABLE)


class SnapshotError(Exception):
    """A snapshot file cannot be loaded; nothing of the run was written."""


@dataclasses.dataclass(frozen=True)
class ScannedFile:
    """What reading a file once, before loading it, tells: its identity and its size in rows."""

    table: SnapshotTable
    path: Path
    checksum: str
    rows_read: int
    blank_lines: int


@dataclasses.dataclass(frozen=True)
class FileLoad:
    table: str
    snapshot_date: str
    kind: str
    file: str
    checksum: str
    rows_read: int
    blank_lines: int
    rows_loaded: int
    status: str  # "loaded" or "already loaded"
    load_id: int | None
    seconds: float


ProgressReporter = Callable[[str, int, float], None]


@dataclasses.dataclass(frozen=True)
class VolumeGuard:
    """Bounds on how much a full snapshot may lose against the previous full snapshot of its
    table: a shorter file is more often a cut-off export than a real restatement."""

    # Refused when the file has more than this share fewer rows than the previous full snapshot.
    max_shrink: float = 0.10
    # Refused when more than this share of the ids seen since that snapshot are missing.
    max_missing_ids: float = 0.01
    # As with the rejection budget, a difference of fewer rows or ids than this is never
    # refused: a table of a handful of rows swings by more than a tenth in ordinary days.
    min_difference: int = 10
    # False for a deliberate restatement (`--allow-shrink`).
    enabled: bool = True


def scan_file(table: SnapshotTable, path: Path) -> ScannedFile:
    """Check the header and count the data rows while computing the file's SHA-256."""
    expected_header = table.header
    try:
        with path.open("rb") as handle:
            header = handle.readline()
            digest = hashlib.sha256(header)
            found_header = header.rstrip(b"\r\n").decode("utf-8", errors="replace")
            if not header_matches(found_header, table.columns):
                raise SnapshotError(
                    f"{table.name}: {path}: line 1: expected header {expected_header!r}, "
                    f"found {found_header!r}"
                )
            newlines = 0
            blank_lines = 0
            previous_last_byte = b"\n"  # the header ended a line
            last_byte = b"\n"
            last_line = b""  # the text after the last line break read so far
            while chunk := handle.read(_CHUNK_BYTES):
                digest.update(chunk)
                newlines += chunk.count(b"\n")
                blank_lines += len(_BLANK_LINE.findall(previous_last_byte + chunk))
                previous_last_byte = last_byte = chunk[-1:]
                _, line_break, after = chunk.rpartition(b"\n")
                last_line = after if line_break else last_line + after
    except FileNotFoundError as error:
        raise SnapshotError(f"{table.name}: {path}: file not found") from error
    except IsADirectoryError as error:
        raise SnapshotError(f"{table.name}: {path}: is a directory, not a file") from error
    except OSError as error:
        raise SnapshotError(f"{table.name}: {path}: cannot read: {error.strerror}") from error
    if last_byte != b"\n":
        _refuse_a_truncated_last_line(table, path, last_line, line_number=newlines + 2)
    data_lines = newlines + (0 if last_byte == b"\n" else 1)
    return ScannedFile(
        table=table,
        path=path,
        checksum=digest.hexdigest(),
        rows_read=data_lines - blank_lines,
        blank_lines=blank_lines,
    )


def _refuse_a_truncated_last_line(
    table: SnapshotTable, path: Path, last_line: bytes, line_number: int
) -> None:
    """A last line without a line break is whole only if it holds every column: a file cut off
    mid-line (a copy that stopped) must not load as a shorter row."""
    text = last_line.decode("utf-8", errors="replace").rstrip("\r")
    if not text:
        return
    fields = next(csv.reader([text]))
    if len(fields) != len(table.columns):
        raise SnapshotError(
            f"{table.name}: {path}: line {line_number}: the last line has no line break and "
            f"{len(fields)} of {len(table.columns)} columns: the file looks truncated"
        )


def header_matches(found: str, columns: Sequence[str]) -> bool:
    """Whether a header line names `columns` in order: a byte-order mark, surrounding spaces and
    letter case do not matter (the engines read the columns by position, never by name)."""
    names = found.removeprefix(_UTF8_BOM.decode()).split(",")
    return [name.strip().lower() for name in names] == list(columns)


def resolve_files(
    directory: Path, file_names: Mapping[str, str] | None = None
) -> list[tuple[SnapshotTable, Path]]:
    """The file to load for each snapshot table: DIR/<default name> unless a name is given."""
    names = file_names or {}
    unknown = set(names) - set(TABLES_BY_NAME)
    if unknown:
        raise SnapshotError(f"unknown snapshot table(s): {', '.join(sorted(unknown))}")
    return [
        (table, directory / names.get(table.name, table.default_file)) for table in SNAPSHOT_TABLES
    ]


def load_snapshots(
    settings: Settings,
    files: Sequence[tuple[SnapshotTable, Path]],
    progress: ProgressReporter | None = None,
    *,
    snapshot_date: date | None = None,
    kind: str = "full",
    guard: VolumeGuard = VolumeGuard(),
) -> list[FileLoad]:
    """Load the given files into `raw`, all or nothing, and report what each one contributed.

    `snapshot_date` (default: today in UTC) is the day the files describe: for each id, staging
    keeps the row of the latest snapshot date, so a late backfill never overrides newer data.
    """
    if kind not in KINDS:
        raise SnapshotError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    day = snapshot_date or datetime.now(UTC).date()
    report = progress or (lambda table, rows, seconds: None)
    scanned = [scan_file(table, path) for table, path in files]
    try:
        with connect(settings) as warehouse:
            ensure_raw_schema(warehouse)
            with warehouse.transaction():
                # Serializes concurrent loaders so load ids follow load order.
                warehouse.lock(_loads(warehouse))
                return [_load_one(warehouse, file, day, kind, report, guard) for file in scanned]
    except WarehouseError as error:
        raise SnapshotError(str(error)) from error


def _load_one(
    warehouse: Warehouse,
    file: ScannedFile,
    day: date,
    kind: str,
    report: ProgressReporter,
    guard: VolumeGuard,
) -> FileLoad:
    started = time.monotonic()
    table = file.table
    previous = warehouse.execute(
        f"select load_id from {_loads(warehouse)} where table_name = ? and file_checksum = ?",
        (table.name, file.checksum),
    )
    if previous:
        (load_id,) = previous[0]
        return FileLoad(
            table.name, day.isoformat(), kind, str(file.path), file.checksum, file.rows_read,
            file.blank_lines, 0, "already loaded", load_id, time.monotonic() - started,
        )  # fmt: skip

    previous_full = None
    if kind == "full" and guard.enabled:
        previous_full = _previous_full_load(warehouse, table)
        if previous_full:
            _check_row_count(file, *previous_full, guard)
    (load_id,) = warehouse.execute(
        f"select coalesce(max(load_id), 0) + 1 from {_loads(warehouse)}"
    )[0]
    lineage = {
        "_load_id": load_id,
        "_snapshot_date": day.isoformat(),
        "_source_file": str(file.path),
        "_file_checksum": file.checksum,
    }
    try:
        rows_loaded = warehouse.bulk_load_csv(
            warehouse.relation(RAW, table.name),
            table.columns,
            file.path,
            lineage,
            lambda rows: report(table.name, rows, time.monotonic() - started),
            row_number_column=SNAPSHOT_FILE_ROW,
        )
    except WarehouseError as error:
        raise SnapshotError(f"{table.name}: {file.path}: {error}") from error
    if rows_loaded != file.rows_read:
        raise SnapshotError(
            f"{table.name}: {file.path}: read {file.rows_read} rows but the warehouse took "
            f"{rows_loaded}; nothing was loaded"
        )
    if previous_full:
        _check_missing_ids(warehouse, file, load_id, previous_full[0], guard)
    warehouse.execute(
        f"insert into {_loads(warehouse)} (load_id, table_name, snapshot_date, kind, source_file,"
        " file_checksum, rows_read, blank_lines, rows_loaded, loaded_at)"
        " values (?, ?, ?, ?, ?, ?, ?, ?, ?, current_timestamp)",
        (
            load_id,
            table.name,
            day,
            kind,
            str(file.path),
            file.checksum,
            file.rows_read,
            file.blank_lines,
            rows_loaded,
        ),
    )
    seconds = time.monotonic() - started
    report(table.name, rows_loaded, seconds)
    return FileLoad(
        table.name, day.isoformat(), kind, str(file.path), file.checksum, file.rows_read,
        file.blank_lines, rows_loaded, "loaded", load_id, seconds,
    )  # fmt: skip


def _previous_full_load(warehouse: Warehouse, table: SnapshotTable) -> tuple[int, int] | None:
    """The load id and row count of the table's latest full snapshot, if any."""
    rows = warehouse.execute(
        f"select load_id, rows_loaded from {_loads(warehouse)}"
        " where table_name = ? and kind = 'full' order by load_id desc limit 1",
        (table.name,),
    )
    return (rows[0][0], rows[0][1]) if rows else None


def _check_row_count(
    file: ScannedFile, previous_load_id: int, previous_rows: int, guard: VolumeGuard
) -> None:
    fewer = previous_rows - file.rows_read
    if fewer >= guard.min_difference and file.rows_read < (1 - guard.max_shrink) * previous_rows:
        shrink = 1 - file.rows_read / previous_rows
        raise SnapshotError(
            f"{file.table.name}: {file.path}: {file.rows_read:,} rows, {shrink:.1%} fewer than "
            f"the {previous_rows:,} of the previous full snapshot (load {previous_load_id}); "
            f"more than {guard.max_shrink:.0%} fewer is refused (--allow-shrink for a deliberate "
            "restatement)"
        )


def _check_missing_ids(
    warehouse: Warehouse, file: ScannedFile, load_id: int, since_load_id: int, guard: VolumeGuard
) -> None:
    """Refuse the load when it lacks too many of the ids delivered since the previous full
    snapshot (that snapshot and the deltas after it); the first column is each table's id, and
    ids compare as staging reads them (`01000` is the id `1000` delivered before)."""
    key = id_key(file.table.columns[0])
    raw = warehouse.relation(RAW, file.table.name)
    ((seen, missing),) = warehouse.execute(
        "select count(*), count(*) - count(delivered.id)"
        f" from (select distinct {key} as id from {raw}"
        f" where _load_id >= ? and _load_id < ? and {file.table.columns[0]} is not null) as seen"
        f" left join (select distinct {key} as id from {raw} where _load_id = ?)"
        " as delivered on seen.id = delivered.id",
        (since_load_id, load_id, load_id),
    )
    if missing >= guard.min_difference and missing > guard.max_missing_ids * seen:
        raise SnapshotError(
            f"{file.table.name}: {file.path}: lacks {missing:,} of the {seen:,} ids already "
            f"seen ({missing / seen:.1%}); more than {guard.max_missing_ids:.0%} missing is "
            "refused (--allow-shrink for a deliberate restatement)"
        )


def ensure_raw_schema(warehouse: Warehouse) -> None:
    """Create the raw schema, the load log and one text table per snapshot if missing; a table
    created before the file-row column gains it, NULL for the rows already loaded."""
    with warehouse.transaction():
        warehouse.execute(f"create schema if not exists {warehouse.schema(RAW)}")
        warehouse.execute(
            f"create table if not exists {_loads(warehouse)} ("
            " load_id bigint primary key,"
            " table_name text not null,"
            " snapshot_date date not null,"
            f" kind text not null check (kind in {KINDS}),"
            " source_file text not null,"
            " file_checksum text not null,"
            " rows_read bigint not null,"
            " blank_lines bigint not null,"
            " rows_loaded bigint not null,"
            " loaded_at timestamp with time zone not null,"
            " unique (table_name, file_checksum))"
        )
        for table in SNAPSHOT_TABLES:
            data_columns = ", ".join(f"{column} text" for column in table.columns)
            relation = warehouse.relation(RAW, table.name)
            warehouse.execute(
                f"create table if not exists {relation} ("
                f"{data_columns}, {warehouse.LINEAGE_COLUMNS})"
            )
            warehouse.add_row_number_column(relation, SNAPSHOT_FILE_ROW)
