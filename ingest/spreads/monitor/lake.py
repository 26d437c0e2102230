"""Window files in the lake: a journal flushed every second, published atomically per book.

Layout (Hive-style partitions)::

    <lake>/spreads/book=btc_mxn/date=2026-11-29/btc_mxn_20261129T101000Z.csv
    <journal>/20261129T101000Z.partial   (the open window's journal)

The journal is a local folder: `<lake>/spreads/_partial` for a lake on disk, and for a lake on
object storage (which cannot append) `monitor_journal/<scheme>/<bucket>/<prefix>` unless given.
Each second's rows are appended to the journal of the open window and flushed. When the window
ends, each book's file is published atomically (see `ingest.io.lake_storage`), then the journal is
deleted. A journal left by a crash is published on the next start if its window has
ended, or appended to if the window is still open. Publishing merges with a file already in
place and keeps one row per second, so recovery never duplicates rows.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import csv
import fcntl
import io
import logging
import os
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from ingest.contracts import LAKE_FILE_FORMATS, LAKE_WINDOW_COLUMNS, LAKE_WINDOW_PARQUET_TYPES
from ingest.io.lake_storage import fsync_dir, is_object_store, open_lake
from ingest.io.parquet import ParquetCodec, ParquetError
from ingest.spreads.monitor.records import SpreadRecord

log = logging.getLogger(__name__)

JOURNAL_SUFFIX = ".partial"

# Where a row keeps the second it stands for, and its book.
_SECOND = LAKE_WINDOW_COLUMNS.index("orderbook_timestamp")
_BOOK = LAKE_WINDOW_COLUMNS.index("book")


class LakeBusy(RuntimeError):
    """Another monitor holds the lake's spreads journal."""


def window_start(second: int, window_seconds: int) -> int:
    return second - second % window_seconds


def _stamp(epoch_seconds: int) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y%m%dT%H%M%SZ")


def _start_from_stamp(stamp: str) -> int:
    return int(datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp())


def window_key(book: str, start: int, fmt: str) -> str:
    """Where under the lake the window starting at epoch second `start` of `book` is published."""
    date = datetime.fromtimestamp(start, UTC).date().isoformat()
    return f"spreads/book={book}/date={date}/{book}_{_stamp(start)}.{fmt}"


def default_journal_dir(lake: str | Path) -> Path:
    lake = str(lake)
    if is_object_store(lake):
        return Path("monitor_journal") / lake.rstrip("/").replace("://", "/", 1)
    return Path(lake) / "spreads" / "_partial"


def _csv_text(rows: list[list[str]], header: bool) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if header:
        writer.writerow(LAKE_WINDOW_COLUMNS)
    writer.writerows(rows)
    return buffer.getvalue()


def _csv_rows(text: str) -> list[list[str]]:
    """Rows of a journal or a published CSV file as strings; a torn or foreign line is skipped."""
    return [
        row
        for row in csv.reader(io.StringIO(text, newline=""))
        if len(row) == len(LAKE_WINDOW_COLUMNS) and row[0] != LAKE_WINDOW_COLUMNS[0]
    ]


def _field(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _parquet_rows(content: bytes, codec: ParquetCodec) -> list[list[str]]:
    rows = codec.parquet_rows(content)
    return [
        [_field(value) for value in row] for row in rows if len(row) == len(LAKE_WINDOW_COLUMNS)
    ]


def _encoded(rows: list[list[str]], codec: ParquetCodec | None) -> bytes:
    """The window file's content: CSV text, or Parquet with exact decimals."""
    if codec is None:
        return _csv_text(rows, header=True).encode()
    return codec.rows_to_parquet(rows, LAKE_WINDOW_PARQUET_TYPES)


def _drop_torn_tail(journal: Path) -> None:
    """Cut a last line that a crash left without its newline, so appends start on a fresh line."""
    with journal.open("rb+") as handle:
        data = handle.read()
        if data and not data.endswith(b"\n"):
            handle.truncate(data.rfind(b"\n") + 1)


class LakeWriter:
    """Writes one file per book per window under `<lake>/spreads/`.

    `write` is called once per second with that second's records; it appends them to the
    journal and flushes. Finished windows are published on a background thread so a slow
    disk, an upload or a Parquet encode never delays the next second.
    """

    def __init__(
        self, lake: str | Path, window_seconds: int, fmt: str, journal_dir: Path | None = None
    ) -> None:
        if fmt not in LAKE_FILE_FORMATS:
            raise ValueError(f"format must be one of {', '.join(LAKE_FILE_FORMATS)}")
        self.storage = open_lake(lake)
        self.window_seconds = window_seconds
        self.fmt = fmt
        self.journal_dir = journal_dir or default_journal_dir(lake)
        # Locations (paths or URLs) of the files published, in order.
        self.published: list[str] = []
        self.records_written = 0
        self.publish_failures = 0
        self._lock_file: IO[str] | None = None
        self._journal: IO[str] | None = None
        self._journal_start: int | None = None
        self._publisher = concurrent.futures.ThreadPoolExecutor(1, "lake-publisher")
        self._pending: list[concurrent.futures.Future[None]] = []
        # Told of an unexpected exception while publishing (the run's supervisor).
        self.on_failure: Callable[[str, BaseException], object] | None = None

    def open(self, now_second: int) -> int:
        """Take the lake's lock and publish journals of windows that ended before `now_second`;
        returns how many such windows were recovered."""
        self.storage.check()
        self.journal_dir.mkdir(parents=True, exist_ok=True)
        lock_file = (self.journal_dir / ".lock").open("a")
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            lock_file.close()
            raise LakeBusy(
                f"another monitor is writing spreads to {self.storage.root}"
                f" (its journal {self.journal_dir} is locked)"
            ) from error
        self._lock_file = lock_file
        recovered = 0
        current = window_start(now_second, self.window_seconds)
        for journal in sorted(self.journal_dir.glob(f"*{JOURNAL_SUFFIX}")):
            _drop_torn_tail(journal)
            if _start_from_stamp(journal.stem) < current:
                log.info("recovering unpublished window %s", journal.name)
                self._publish(journal)
                recovered += 1
            else:
                # Reopened now, so it is published when its window ends even if the first
                # second written falls in the next window.
                self._rotate(current)
        return recovered

    def write(self, second: int, records: list[SpreadRecord]) -> None:
        self.write_seconds([(second, records)])

    def write_seconds(self, seconds: Sequence[tuple[int, list[SpreadRecord]]]) -> None:
        """Journal consecutive seconds' records with one write and one fsync per window they
        fall in (seconds the sampler missed come in one batch, not one fsync each)."""
        rows: list[list[str]] = []
        for second, records in seconds:
            start = window_start(second, self.window_seconds)
            if self._journal is None or start != self._journal_start:
                self._append(rows)
                rows = []
                self._rotate(start)
            rows += [record.as_row() for record in records]
        self._append(rows)

    def _append(self, rows: list[list[str]]) -> None:
        if not rows:
            return
        assert self._journal is not None
        self._journal.write(_csv_text(rows, header=False))
        self._journal.flush()
        os.fsync(self._journal.fileno())
        self.records_written += len(rows)

    def close(self) -> None:
        """Publish the open window (partial or not) and wait for every publication."""
        self._rotate(None)
        for future in self._pending:
            future.result()
        self._publisher.shutdown()
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def _rotate(self, new_start: int | None) -> None:
        if self._journal is not None and self._journal_start is not None:
            self._journal.close()
            journal = self._journal_path(self._journal_start)
            self._pending = [future for future in self._pending if not future.done()]
            self._pending.append(self._publisher.submit(self._publish_logged, journal))
        self._journal = None
        self._journal_start = new_start
        if new_start is not None:
            path = self._journal_path(new_start)
            self._journal = path.open("a", newline="")
            if self._journal.tell() == 0:
                self._journal.write(_csv_text([], header=True))

    def _journal_path(self, start: int) -> Path:
        return self.journal_dir / f"{_stamp(start)}{JOURNAL_SUFFIX}"

    def _publish_logged(self, journal: Path) -> None:
        try:
            self._publish(journal)
        except (OSError, ParquetError) as error:
            # The journal stays; the next start publishes it.
            self.publish_failures += 1
            log.error("could not publish %s, kept for the next start: %s", journal, error)
        except Exception as error:
            # The publisher's boundary: the journal stays, the next window is published as usual.
            self.publish_failures += 1
            log.error("could not publish %s, kept for the next start", journal)
            if self.on_failure is None:
                log.exception("lake writer failed")
            else:
                self.on_failure("lake writer", error)

    def _publish(self, journal: Path) -> None:
        start = _start_from_stamp(journal.stem)
        # Parquet goes through one codec per window; opening one per file costs more than the
        # write.
        parquet = ParquetCodec() if self.fmt == "parquet" else None
        with parquet or contextlib.nullcontext() as codec:
            by_book: dict[str, list[list[str]]] = defaultdict(list)
            for row in _csv_rows(journal.read_text()):
                by_book[row[_BOOK]].append(row)
            for book, rows in by_book.items():
                key = window_key(book, start, self.fmt)
                merged: dict[str, list[str]] = {}
                if self.storage.exists(key):
                    for row in self._published_rows(key, codec):
                        merged.setdefault(row[_SECOND], row)
                for row in rows:
                    merged.setdefault(row[_SECOND], row)
                ordered = [merged[second] for second in sorted(merged)]
                self.storage.publish(key, _encoded(ordered, codec))
                self.published.append(self.storage.location(key))
        journal.unlink()
        with contextlib.suppress(OSError):
            fsync_dir(self.journal_dir)

    def _published_rows(self, key: str, codec: ParquetCodec | None) -> list[list[str]]:
        content = self.storage.read_bytes(key)
        if codec is None:
            return _csv_rows(content.decode())
        return _parquet_rows(content, codec)
