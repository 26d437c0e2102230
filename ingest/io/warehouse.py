"""Warehouse connections, and the few operations whose SQL differs between the engines.

Callers speak to a `Warehouse`; only this module knows DuckDB from PostgreSQL.
"""

from __future__ import annotations

import abc
import contextlib
import fcntl
import io
import logging
import re
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import duckdb
import psycopg2

from ingest.io.parquet import csv_to_parquet
from ingest.settings import PostgresSettings, Settings

ProgressCallback = Callable[[int], None]
_PROGRESS_EVERY_BYTES = 8 * 1024 * 1024


log = logging.getLogger("ingest")


class WarehouseError(RuntimeError):
    """The warehouse could not be reached or refused a statement."""


class RunLockBusy(WarehouseError):
    """Another run of the same command holds the warehouse, and the caller would not wait."""


class Warehouse(abc.ABC):
    """One open connection to the configured engine; the session clock is UTC."""

    name: str
    # Lineage columns of every raw table, filled by `bulk_load_csv`.
    LINEAGE_COLUMNS = (
        "_load_id bigint not null, _snapshot_date date not null, _source_file text not null,"
        " _file_checksum text not null,"
        " _loaded_at timestamp with time zone not null default current_timestamp"
    )

    # The schema a layer (core, raw, ...) lives in: `connect` sets Settings.schema, which
    # prefixes a development build's schemas.
    schema: Callable[[str], str] = staticmethod(lambda layer: layer)

    def relation(self, layer: str, table: str) -> str:
        """`schema.table` of a relation in a layer, e.g. `relation("core", "dim_users")`."""
        return f"{self.schema(layer)}.{table}"

    @abc.abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """Run one statement with `%s`-free `?` placeholders and return its rows (if any)."""

    @abc.abstractmethod
    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Commit what the block did, or roll all of it back if it raises."""

    @abc.abstractmethod
    def lock(self, table: str) -> None:
        """Hold an exclusive write lock on `table` until the transaction ends."""

    @abc.abstractmethod
    def bulk_load_csv(
        self,
        table: str,
        columns: Sequence[str],
        path: Path,
        lineage: dict[str, Any],
        progress: ProgressCallback,
        *,
        row_number_column: str | None = None,
    ) -> int:
        """Append a headed CSV file to `table` as text columns plus constant lineage columns.

        Blank lines are skipped. With `row_number_column` (a column `add_row_number_column`
        gave the table), each row also gets its ordinal in the file: 1 for the first data row
        after the header, blank lines not counted. Returns the number of rows appended.
        """

    def add_row_number_column(self, table: str, column: str) -> None:
        """Give `table` the bigint `column` that `bulk_load_csv` fills, if it lacks it; rows
        already in the table keep NULL there, since their order in their file is not known."""
        schema, name = table.split(".")
        present = self.execute(
            "select count(*) from information_schema.columns"
            " where table_schema = ? and table_name = ? and column_name = ?",
            (schema, name, column),
        )
        if present[0][0] == 0:
            # Only when missing: altering a table waits for, and blocks, everyone reading it.
            self._add_row_number_column(table, column)

    @abc.abstractmethod
    def _add_row_number_column(self, table: str, column: str) -> None: ...

    @abc.abstractmethod
    def export(self, relation: str, path: Path, file_format: str) -> int:
        """Write a relation to `path` as CSV with a header or as Parquet; returns the rows."""

    def tables_in(self, layer: str) -> list[str]:
        rows = self.execute(
            "select table_name from information_schema.tables"
            " where table_schema = ? and table_type in ('BASE TABLE', 'VIEW')"
            " order by table_name",
            (self.schema(layer),),
        )
        return [name for (name,) in rows]

    @abc.abstractmethod
    def close(self) -> None: ...


class DuckDBWarehouse(Warehouse):
    name = "duckdb"

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._connection = duckdb.connect(str(path))
        except duckdb.Error as error:
            raise WarehouseError(f"cannot open duckdb:{path}: {error}") from error
        self._connection.execute("set TimeZone = 'UTC'")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        result = self._connection.execute(sql, list(params))
        return result.fetchall() if result.description else []

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self._connection.begin()
        try:
            yield
        except BaseException:
            self._connection.rollback()
            raise
        self._connection.commit()

    def bulk_load_csv(
        self, table, columns, path, lineage, progress, *, row_number_column=None
    ) -> int:
        column_types = ", ".join(f"'{column}': 'VARCHAR'" for column in columns)
        lineage_values = ", ".join("?" for _ in lineage)
        data_columns = ", ".join(columns)
        # `with ordinality` numbers the rows in file order, even when the file is read in
        # parallel. DuckDB skips blank lines in a multi-column file, but reads one as a NULL row
        # when the file has a single column: those are dropped, and the rows renumbered.
        delivered = (
            f"select {data_columns}, ordinality as delivered_row from read_csv(?, header = true,"
            f" auto_detect = false, columns = {{{column_types}}}, delim = ',', quote = '\"',"
            " escape = '\"', strict_mode = true) with ordinality"
        )
        if len(columns) == 1:
            delivered = (
                f"select {data_columns},"
                " row_number() over (order by delivered_row) as delivered_row"
                f" from ({delivered}) as rows_with_blanks where {columns[0]} is not null"
            )
        numbered = [row_number_column] if row_number_column else []
        sql = (
            f"insert into {table} ({', '.join([*columns, *numbered, *lineage])}) "
            f"select {data_columns}, {'delivered_row, ' if numbered else ''}{lineage_values}"
            f" from ({delivered}) as delivered"
        )
        try:
            (inserted,) = self._connection.execute(sql, [*lineage.values(), str(path)]).fetchone()
        except duckdb.Error as error:
            raise WarehouseError(_first_csv_error_line(str(error))) from error
        return inserted

    def _add_row_number_column(self, table: str, column: str) -> None:
        self.execute(f"alter table {table} add column {column} bigint")

    def lock(self, table: str) -> None:
        """Nothing to do: a DuckDB file has one writing process at a time."""

    def export(self, relation: str, path: Path, file_format: str) -> int:
        options = "format parquet" if file_format == "parquet" else "format csv, header"
        (rows,) = self._connection.execute(
            f"copy (select * from {relation}) to ? ({options})", [str(path)]
        ).fetchone()
        return rows

    def close(self) -> None:
        self._connection.close()


class PostgresWarehouse(Warehouse):
    name = "postgres"
    # COPY fills these from transaction-local settings (see `bulk_load_csv`).
    LINEAGE_COLUMNS = (
        "_load_id bigint not null default current_setting('bitso.load_id')::bigint,"
        " _snapshot_date date not null default current_setting('bitso.snapshot_date')::date,"
        " _source_file text not null default current_setting('bitso.source_file'),"
        " _file_checksum text not null default current_setting('bitso.file_checksum'),"
        " _loaded_at timestamp with time zone not null default current_timestamp"
    )

    def __init__(self, server: PostgresSettings) -> None:
        self._location = server.location
        try:
            self._connection = psycopg2.connect(
                host=server.host,
                port=server.port,
                user=server.user,
                password=server.password or None,
                dbname=server.database,
                options="-c TimeZone=UTC",
            )
        except psycopg2.Error as error:
            message = str(error).strip().splitlines()[0]
            raise WarehouseError(f"cannot connect to {server.location}: {message}") from error

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        try:
            with self._connection.cursor() as cursor:
                cursor.execute(sql.replace("?", "%s"), tuple(params))
                return cursor.fetchall() if cursor.description else []
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as error:
            raise WarehouseError(self._lost(error)) from error

    def _lost(self, error: psycopg2.Error) -> str:
        message = (str(error).strip().splitlines() or ["connection lost"])[0]
        return f"lost the connection to {self._location}: {message}"

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        try:
            yield
        except BaseException:
            # A lost connection cannot roll back, but the server discards the open transaction.
            with contextlib.suppress(psycopg2.Error):
                self._connection.rollback()
            raise
        try:
            self._connection.commit()
        except psycopg2.Error as error:
            raise WarehouseError(f"{self._lost(error)}; nothing was committed") from error

    def lock(self, table: str) -> None:
        self.execute(f"lock table {table} in share row exclusive mode")

    def _add_row_number_column(self, table: str, column: str) -> None:
        # COPY evaluates a column default once per row, in file order: a sequence restarted
        # before each file numbers its rows. The default is set apart from adding the column,
        # so rows already in the table are not numbered in an arbitrary order.
        sequence = _row_number_sequence(table, column)
        self.execute(f"create sequence if not exists {sequence}")
        self.execute(f"alter table {table} add column {column} bigint")
        self.execute(f"alter table {table} alter column {column} set default nextval('{sequence}')")

    def bulk_load_csv(
        self, table, columns, path, lineage, progress, *, row_number_column=None
    ) -> int:
        # The lineage columns' defaults read these transaction-local settings, so COPY streams the
        # file straight into the raw table with no staging copy.
        for key, value in lineage.items():
            self.execute("select set_config(?, ?, true)", (f"bitso.{key.lstrip('_')}", str(value)))
        if row_number_column:
            # Loads into one table are serialized (the load log's lock), so nothing else draws
            # from the sequence during the COPY.
            sequence = _row_number_sequence(table, row_number_column)
            self.execute("select setval(?, 1, false)", (sequence,))
        sql = (
            f"copy {table} ({', '.join(columns)}) from stdin "
            "with (format csv, header true, delimiter ',', quote '\"')"
        )
        with path.open("rb") as raw_file, self._connection.cursor() as cursor:
            try:
                cursor.copy_expert(sql, _NonBlankLines(raw_file, progress))
            except (psycopg2.OperationalError, psycopg2.InterfaceError) as error:
                raise WarehouseError(self._lost(error)) from error
            except psycopg2.Error as error:
                raise WarehouseError(_postgres_copy_error(error)) from error
            return cursor.rowcount

    def export(self, relation: str, path: Path, file_format: str) -> int:
        csv_path = path if file_format == "csv" else path.with_suffix(".csv.part")
        with csv_path.open("wb") as out, self._connection.cursor() as cursor:
            cursor.copy_expert(
                f"copy (select * from {relation}) to stdout with (format csv, header true)", out
            )
            rows = cursor.rowcount
        if file_format == "parquet":
            # PostgreSQL has no Parquet writer: DuckDB converts the CSV with the relation's types.
            try:
                csv_to_parquet(csv_path, self._column_types(relation), path)
            finally:
                csv_path.unlink()
        return rows

    def _column_types(self, relation: str) -> dict[str, str]:
        schema, table = relation.split(".")
        rows = self.execute(
            "select column_name, data_type, numeric_precision, numeric_scale"
            " from information_schema.columns where table_schema = ? and table_name = ?"
            " order by ordinal_position",
            (schema, table),
        )
        return {name: _duckdb_type(*rest) for name, *rest in rows}

    def close(self) -> None:
        self._connection.close()


class _NonBlankLines(io.RawIOBase):
    """A read-only stream of a file's lines without its blank ones, reporting lines as it goes."""

    def __init__(self, source: BinaryIO, progress: ProgressCallback) -> None:
        self._lines = iter(source)
        self._pending = b""
        self._progress = progress
        self._lines_passed = 0
        self._bytes_since_report = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while len(self._pending) < len(buffer):
            chunk = self._next_chunk(len(buffer))
            if not chunk:
                break
            self._pending += chunk
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def _next_chunk(self, wanted: int) -> bytes:
        kept = []
        taken = 0
        for line in self._lines:
            if line.strip(b"\r\n"):
                kept.append(line)
                taken += len(line)
                if taken >= wanted:
                    break
        self._lines_passed += len(kept)
        self._bytes_since_report += taken
        if self._bytes_since_report >= _PROGRESS_EVERY_BYTES:
            self._bytes_since_report = 0
            self._progress(max(self._lines_passed - 1, 0))
        return b"".join(kept)


def _row_number_sequence(table: str, column: str) -> str:
    """The sequence numbering the rows of each file loaded into `table`, beside it."""
    return f"{table}_{column.lstrip('_')}_seq"


def _duckdb_type(postgres_type: str, precision: int | None, scale: int | None) -> str:
    if postgres_type == "numeric":
        return f"decimal({precision or 38}, {scale or 0})"
    if postgres_type in ("text", "character varying"):
        return "varchar"
    return postgres_type


def _first_csv_error_line(message: str) -> str:
    """DuckDB's CSV errors carry a page of hints; keep what names the line and the problem."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    kept = [line for line in lines if not line.startswith(("Possible fixes", "*"))]
    return "; ".join(kept[:3]) if kept else message


def _postgres_copy_error(error: psycopg2.Error) -> str:
    message = (error.diag.message_primary or str(error)).strip()
    context = error.diag.context or ""
    match = re.search(r"line (\d+)", context)
    return f"line {match.group(1)}: {message}" if match else message


def describe(settings: Settings) -> str:
    """A human-readable name of the configured warehouse, without credentials."""
    if settings.target == "duckdb":
        return f"duckdb:{settings.duckdb_path}"
    return settings.postgres.location


@contextlib.contextmanager
def connect(settings: Settings) -> Iterator[Warehouse]:
    warehouse: Warehouse = (
        DuckDBWarehouse(Path(settings.duckdb_path))
        if settings.target == "duckdb"
        else PostgresWarehouse(settings.postgres)
    )
    warehouse.schema = settings.schema
    try:
        yield warehouse
    finally:
        warehouse.close()


@contextlib.contextmanager
def run_lock(settings: Settings, command: str, *, wait: bool = True) -> Iterator[None]:
    """Hold the warehouse for one run of `command` (`daily`, `snapshots`), so two runs never
    interleave: a PostgreSQL advisory lock per database and schema prefix, or a file lock beside
    the DuckDB file. A second run waits for the first and says so, or with `wait=False` refuses.
    """
    name = f"ingest {command}"
    if settings.target == "duckdb":
        path = Path(f"{settings.duckdb_path}.{command}.lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as handle:
            _take(
                lambda: _try_flock(handle),
                lambda: fcntl.flock(handle, fcntl.LOCK_EX),
                f"{name} against duckdb:{settings.duckdb_path}",
                wait,
            )
            yield  # closing the file releases the lock
        return
    key = zlib.crc32(f"{name}:{settings.schema('raw')}".encode()) - 2**31
    with connect(settings) as warehouse:
        _take(
            lambda: warehouse.execute("select pg_try_advisory_lock(?)", (key,))[0][0],
            lambda: warehouse.execute("select pg_advisory_lock(?)", (key,)),
            f"{name} against {settings.postgres.location}",
            wait,
        )
        yield  # closing the session releases the lock


def _try_flock(handle) -> bool:
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _take(try_lock: Callable[[], bool], lock: Callable[[], object], what: str, wait: bool) -> None:
    if try_lock():
        return
    if not wait:
        raise RunLockBusy(f"another {what} is running (--no-wait: not waiting for it)")
    log.warning("another %s is running: waiting for it to finish", what)
    lock()
