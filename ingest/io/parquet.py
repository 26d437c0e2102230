"""The product's one Parquet codec: Parquet written from and read back to text, through DuckDB.

Values cross as CSV text. Writing casts each column from its text to a DuckDB type given per
column (an empty field is NULL); reading gives Python values, or CSV text again (decimals exact,
booleans `true`/`false`, NULL as an empty field). Every session runs in UTC, so a `timestamptz`
column is read and written the same way on every machine.

A `ParquetCodec` keeps one in-memory DuckDB and a scratch folder for many files: opening a
connection costs more than writing a small file. `csv_to_parquet` is the one-off form.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

import duckdb

# Column name -> DuckDB type name (`varchar`, `bigint`, `decimal(38, 18)`, ...), in file order.
ColumnTypes = Mapping[str, str]

# The dialect of the CSV text on both sides: what Python's csv module and PostgreSQL's COPY
# write, given explicitly so that DuckDB never guesses it from the data.
_READ_CSV = (
    "read_csv(?, header = true, all_varchar = true, delim = ',', quote = '\"', escape = '\"',"
    " hive_partitioning = false)"
)


class ParquetError(Exception):
    """A Parquet file could not be written or read; the message is DuckDB's."""


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class ParquetCodec:
    """One in-memory DuckDB session and a scratch folder; not for use from two threads at once.

    Use it as a context manager, or call `close`.
    """

    def __init__(self) -> None:
        self._scratch = tempfile.TemporaryDirectory(prefix="parquet-codec-")
        try:
            self._connection = duckdb.connect()
            self._connection.execute("set TimeZone = 'UTC'")
        except duckdb.Error as error:
            self._scratch.cleanup()
            raise ParquetError(str(error)) from error

    def __enter__(self) -> ParquetCodec:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._connection.close()
        self._scratch.cleanup()

    def csv_to_parquet(self, csv_path: Path, column_types: ColumnTypes, parquet_path: Path) -> None:
        """Write the headed CSV file at `csv_path` as a Parquet file of `column_types`' columns,
        in that order, each cast from its text (found by name in the header) to its type."""
        select = ", ".join(
            f"cast({_identifier(name)} as {data_type}) as {_identifier(name)}"
            for name, data_type in column_types.items()
        )
        self._execute(
            f"copy (select {select} from {_READ_CSV}) to ? (format parquet)",
            [str(csv_path), str(parquet_path)],
        )

    def rows_to_parquet(self, rows: Iterable[Sequence[str]], column_types: ColumnTypes) -> bytes:
        """The content of a Parquet file holding `rows` in their order: text fields, one per
        column of `column_types` in its order, an empty string for NULL."""
        staging = Path(self._scratch.name) / "rows.csv"
        encoded = Path(self._scratch.name) / "rows.parquet"
        with staging.open("w", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(column_types)
            writer.writerows(rows)
        self.csv_to_parquet(staging, column_types, encoded)
        return encoded.read_bytes()

    def parquet_rows(self, content: bytes) -> list[tuple]:
        """Every row of the Parquet file `content`, all its columns in file order, as Python
        values (`Decimal`, `int`, `bool`, `str`, ..., None for NULL)."""
        path = self._scratch_copy(content)
        sql = "select * from read_parquet(?, hive_partitioning = false)"
        return self._execute(sql, [str(path)], fetch=True)

    def parquet_to_csv(self, content: bytes, columns: Sequence[str], csv_path: Path) -> None:
        """Write the named `columns` of the Parquet file `content` as a headed CSV file of their
        text: decimals exact, booleans `true`/`false`, NULL as an empty field."""
        path = self._scratch_copy(content)
        select = ", ".join(
            f"cast({_identifier(name)} as varchar) as {_identifier(name)}" for name in columns
        )
        self._execute(
            f"copy (select {select} from read_parquet(?, hive_partitioning = false))"
            " to ? (format csv, header)",
            [str(path), str(csv_path)],
        )

    def _scratch_copy(self, content: bytes) -> Path:
        path = Path(self._scratch.name) / "read.parquet"
        path.write_bytes(content)
        return path

    def _execute(self, sql: str, parameters: list[str], fetch: bool = False) -> list[tuple]:
        try:
            result = self._connection.execute(sql, parameters)
            return result.fetchall() if fetch else []
        except duckdb.Error as error:
            raise ParquetError(str(error).strip()) from error


def csv_to_parquet(csv_path: Path, column_types: ColumnTypes, parquet_path: Path) -> None:
    """`ParquetCodec.csv_to_parquet` for a single file."""
    with ParquetCodec() as codec:
        codec.csv_to_parquet(csv_path, column_types, parquet_path)
