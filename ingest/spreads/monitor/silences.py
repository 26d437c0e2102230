"""Silences: for a while, alerts of matching books (and thresholds) are recorded but not sent.

They live in one JSON file, `silences.json` in the monitor's journal folder, so the CLI and a
running monitor on the same machine share them. Writers (`SilenceStore`) read, change and
replace the file under an exclusive lock, so two commands never lose each other's silence; the
file is replaced atomically (written aside, fsynced, renamed), so a reader sees the old or the
new list, never half of one. Expired silences are dropped at each write and ignored at each
read. A running monitor holds a `SilenceBook`, which looks at the file at most once a second and
re-reads it only when it changed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import fnmatch
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from ingest.io.lake_storage import replace_file_bytes
from ingest.settings import Settings
from ingest.spreads.monitor.lake import default_journal_dir
from ingest.spreads.monitor.records import utc_iso

log = logging.getLogger(__name__)

SILENCES_FILE = "silences.json"
_FORMAT_VERSION = 1
_DURATION = re.compile(r"(\d+)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class SilencesError(ValueError):
    """The silences file, or a silence asked for, cannot be used."""


def journal_folder(settings: Settings) -> Path:
    """The journal folder of the monitor these settings describe."""
    return settings.journal_dir or default_journal_dir(settings.lake)


def silences_path(settings: Settings) -> Path:
    """The silences file of the monitor these settings describe: in its journal folder."""
    return journal_folder(settings) / SILENCES_FILE


def parse_duration(text: str) -> int:
    """Seconds in a duration such as `90s`, `30m`, `2h` or `1d`."""
    match = _DURATION.fullmatch(text.strip())
    if match is None or int(match.group(1)) == 0:
        raise SilencesError(
            f"duration {text!r} is not a positive whole number of s, m, h or d (90s, 30m, 2h, 1d)"
        )
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


@dataclasses.dataclass(frozen=True)
class Silence:
    id: str
    # Book names or glob patterns.
    books: tuple[str, ...]
    # None: every threshold.
    thresholds: tuple[Decimal, ...] | None
    starts_at: float
    ends_at: float
    reason: str

    def active(self, now: float) -> bool:
        return self.starts_at <= now < self.ends_at

    def matches(self, book: str, threshold: Decimal | None) -> bool:
        """Whether the alert of `book` at `threshold` (None: an alert without a threshold,
        such as a stale feed) falls under this silence."""
        if not any(fnmatch.fnmatchcase(book, pattern) for pattern in self.books):
            return False
        return self.thresholds is None or threshold in self.thresholds

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "books": list(self.books),
            "thresholds": None if self.thresholds is None else [str(t) for t in self.thresholds],
            "starts_at": utc_iso(self.starts_at),
            "ends_at": utc_iso(self.ends_at),
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, entry: object) -> Silence:
        if not isinstance(entry, dict):
            raise ValueError("a silence is not an object")
        books, thresholds = entry["books"], entry["thresholds"]
        if not isinstance(books, list) or not books or not all(isinstance(b, str) for b in books):
            raise ValueError(f"silence {entry.get('id')!r}: books is not a list of names")
        if thresholds is not None and not isinstance(thresholds, list):
            raise ValueError(f"silence {entry.get('id')!r}: thresholds is not a list")
        if not isinstance(entry["id"], str) or not isinstance(entry["reason"], str):
            raise ValueError("a silence's id and reason must be strings")
        return cls(
            id=entry["id"],
            books=tuple(books),
            thresholds=None if thresholds is None else tuple(Decimal(t) for t in thresholds),
            starts_at=datetime.fromisoformat(entry["starts_at"]).timestamp(),
            ends_at=datetime.fromisoformat(entry["ends_at"]).timestamp(),
            reason=entry["reason"],
        )


def new_silence(
    books: Iterable[str],
    duration_seconds: float,
    reason: str,
    now: float,
    thresholds: Iterable[Decimal] | None = None,
) -> Silence:
    patterns = tuple(books)
    if not patterns or not all(patterns):
        raise SilencesError("a silence needs at least one book name or pattern")
    if not reason.strip():
        raise SilencesError("a silence needs a reason, for whoever finds it later")
    levels = None if thresholds is None else tuple(thresholds)
    return Silence(
        id=uuid.uuid4().hex[:12],
        books=patterns,
        thresholds=levels or None,
        starts_at=now,
        ends_at=now + duration_seconds,
        reason=reason.strip(),
    )


def parse_silences(text: str, source: Path) -> tuple[Silence, ...]:
    """Every silence in the file's text, expired ones included."""
    try:
        document = json.loads(text)
        if not isinstance(document, dict) or document.get("version") != _FORMAT_VERSION:
            raise ValueError(f"not a version {_FORMAT_VERSION} silences document")
        entries = document["silences"]
        if not isinstance(entries, list):
            raise ValueError("silences is not a list")
        return tuple(Silence.from_json(entry) for entry in entries)
    except (ValueError, KeyError, TypeError, InvalidOperation) as error:
        raise SilencesError(f"silences file {source} is damaged: {error}") from error


class SilenceStore:
    """The CLI's side: add, remove and list silences, each change under the file's lock."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.clock = clock

    def active(self) -> tuple[Silence, ...]:
        now = self.clock()
        return tuple(silence for silence in self._read() if silence.active(now))

    def add(self, silence: Silence) -> None:
        with self._locked():
            self._write([*self._current(), silence])

    def remove(self, silence_id: str) -> bool:
        """Remove the silence; False if no active silence has that id."""
        with self._locked():
            current = self._current()
            kept = [silence for silence in current if silence.id != silence_id]
            if len(kept) == len(current):
                return False
            self._write(kept)
            return True

    def _current(self) -> list[Silence]:
        now = self.clock()
        return [silence for silence in self._read() if silence.ends_at > now]

    def _read(self) -> tuple[Silence, ...]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return ()
        return parse_silences(text, self.path)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        # A lock file beside the data: the data file itself is replaced by each write.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _write(self, silences: list[Silence]) -> None:
        document = {
            "version": _FORMAT_VERSION,
            "silences": [silence.as_json() for silence in silences],
        }
        text = json.dumps(document, indent=2) + "\n"
        # Under the lock: no other writer uses the aside file meanwhile.
        replace_file_bytes(self.path, text.encode("utf-8"))


# How stale a running monitor's view of the silences file may be: it looks at the file at most
# this often, so a burst of alerts costs one `stat`, and a new silence holds within a second.
RECHECK_SECONDS = 1.0


class SilenceBook:
    """The monitor's side: answers `is_silenced` from the last good copy of the file, which it
    re-reads only when the file's identity, size or modification time changed, looking at most
    every `recheck_seconds` (on the `monotonic` clock). A damaged file is logged at ERROR once
    per version and the silences read before are kept."""

    def __init__(
        self,
        path: Path,
        recheck_seconds: float = RECHECK_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self.silences: tuple[Silence, ...] = ()
        self.recheck_seconds = recheck_seconds
        self.monotonic = monotonic
        self._checked_at: float | None = None
        self._seen: tuple[int, int, int] | None = None
        self._lock = threading.Lock()

    def refresh(self) -> None:
        now = self.monotonic()
        with self._lock:
            if self._checked_at is not None and now - self._checked_at < self.recheck_seconds:
                return
            self._checked_at = now
            try:
                status = self.path.stat()
            except FileNotFoundError:
                signature = None
            else:
                signature = (status.st_ino, status.st_size, status.st_mtime_ns)
            if signature == self._seen:
                return
            self._seen = signature
            if signature is None:
                self.silences = ()
                return
            try:
                self.silences = parse_silences(self.path.read_text(encoding="utf-8"), self.path)
                log.info("silences: %d read from %s", len(self.silences), self.path)
            except (SilencesError, OSError) as error:
                log.error(
                    "%s; alerts are silenced by the %d silences read before until it is fixed",
                    error,
                    len(self.silences),
                )

    def is_silenced(self, book: str, threshold: Decimal | None, now: float) -> Silence | None:
        """The active silence covering this alert, if any (the file is checked first)."""
        self.refresh()
        return next(
            (s for s in self.silences if s.active(now) and s.matches(book, threshold)), None
        )
