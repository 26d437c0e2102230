"""The alert episodes still open, kept in a file beside the spreads journal, so that a restarted
monitor (after a clean stop or a crash) neither triggers an open episode again nor forgets to
resolve it.

The file is rewritten whole at each change: written aside, fsynced and renamed into place, so a
reader (or the next start) sees the previous state or the new one, never a torn one.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from pathlib import Path

from ingest.io.lake_storage import replace_file_bytes

log = logging.getLogger(__name__)

STATE_FILE = "open_alerts.json"


class AlertStateError(ValueError):
    """The state file cannot be read as open episodes."""


@dataclasses.dataclass(frozen=True)
class OpenEpisode:
    """A book above a threshold since `started` (the episode's start, ISO-8601)."""

    book: str
    threshold: Decimal
    started: str
    peak: Decimal


@dataclasses.dataclass(frozen=True)
class OpenStale:
    """A book without a usable quote since the second `since` (its `stale` alert was sent)."""

    book: str
    since: int


@dataclasses.dataclass(frozen=True)
class OpenAlerts:
    episodes: tuple[OpenEpisode, ...] = ()
    stale: tuple[OpenStale, ...] = ()

    def as_json(self) -> dict[str, list[dict[str, object]]]:
        return {
            "episodes": [
                {
                    "book": episode.book,
                    "threshold": str(episode.threshold),
                    "started": episode.started,
                    "peak": str(episode.peak),
                }
                for episode in self.episodes
            ],
            "stale": [{"book": stale.book, "since": stale.since} for stale in self.stale],
        }

    @classmethod
    def from_json(cls, data: object) -> OpenAlerts:
        """The state as written by `as_json`; anything else raises AlertStateError."""
        episodes = tuple(
            OpenEpisode(
                _text(item, "book"),
                _positive(item, "threshold"),
                _text(item, "started"),
                _positive(item, "peak"),
            )
            for item in _items(data, "episodes")
        )
        stale = tuple(
            OpenStale(_text(item, "book"), _second(item, "since")) for item in _items(data, "stale")
        )
        return cls(episodes, stale)

    def split(
        self, books: Iterable[str], tracks: Callable[[str, Decimal], bool]
    ) -> tuple[OpenAlerts, OpenAlerts]:
        """(what a run on `books` whose rules `tracks(book, threshold)` follows, what it only
        keeps in the file for a later run that watches those books or thresholds again)."""
        books = set(books)
        tracked = [e for e in self.episodes if e.book in books and tracks(e.book, e.threshold)]
        watched = [stale for stale in self.stale if stale.book in books]
        return (
            OpenAlerts(tuple(tracked), tuple(watched)),
            OpenAlerts(
                tuple(e for e in self.episodes if e not in tracked),
                tuple(stale for stale in self.stale if stale not in watched),
            ),
        )

    def __add__(self, other: OpenAlerts) -> OpenAlerts:
        return OpenAlerts(self.episodes + other.episodes, self.stale + other.stale)


def _items(data: object, key: str) -> list[dict[str, object]]:
    items = data.get(key) if isinstance(data, dict) else None
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise AlertStateError(f"{key!r} is not a list of objects")
    return items


def _text(item: dict[str, object], key: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise AlertStateError(f"{key} {value!r} is not a name")
    return value


def _positive(item: dict[str, object], key: str) -> Decimal:
    value = item.get(key)
    try:
        number = Decimal(value) if isinstance(value, str) else None
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite() or number <= 0:
        raise AlertStateError(f"{key} {value!r} is not a positive decimal string")
    return number


def _second(item: dict[str, object], key: str) -> int:
    value = item.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise AlertStateError(f"{key} {value!r} is not an epoch second")
    return value


def state_path(journal_dir: Path) -> Path:
    return journal_dir / STATE_FILE


def status(journal_dir: Path) -> OpenAlerts:
    """The open episodes as the monitor last persisted them (none if it never did)."""
    path = state_path(journal_dir)
    if not path.exists():
        return OpenAlerts()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise AlertStateError(f"{path}: not JSON ({error})") from error
    try:
        return OpenAlerts.from_json(data)
    except AlertStateError as error:
        raise AlertStateError(f"{path}: not open episodes ({error})") from error


def load(journal_dir: Path) -> OpenAlerts:
    """The open episodes to start from. An unreadable file is reported and ignored: the run then
    starts with none open, so an episode still going on is triggered again rather than never."""
    try:
        return status(journal_dir)
    except AlertStateError as error:
        log.error("alert state ignored, open episodes will be triggered again: %s", error)
        return OpenAlerts()


def save(journal_dir: Path, alerts: OpenAlerts) -> None:
    """Replace the state file atomically (write aside, fsync, rename, fsync the folder)."""
    document = json.dumps(alerts.as_json(), separators=(",", ":")).encode()
    replace_file_bytes(state_path(journal_dir), document)
