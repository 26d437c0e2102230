"""Spread alerts: one `triggered` when a book goes above a threshold, one `resolved` when it
comes back to or below it; the alert events (stale-feed ones included, see monitor.feed_alerts)
and the sinks that receive them."""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import os
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

from ingest.contracts import ALERT_LOG_FIELDS
from ingest.io.lake_storage import LocalLake, open_lake
from ingest.spreads.monitor.alert_state import OpenEpisode
from ingest.spreads.monitor.quotes import Quote, format_decimal
from ingest.spreads.monitor.records import SpreadRecord, utc_iso

log = logging.getLogger(__name__)

# Used when the dbt project's thresholds seed is not at hand (an installed command run outside
# the project); a test keeps them equal to the seed.
DEFAULT_THRESHOLDS = (Decimal("1.0"), Decimal("0.5"), Decimal("0.1"))
THRESHOLDS_SEED = Path("seeds") / "spread_thresholds.csv"
TRIGGERED = "triggered"
RESOLVED = "resolved"
# Stale-feed alerts: a book without a usable quote for --stale-after seconds, and its return.
STALE = "stale"
FRESH = "fresh"


class ThresholdsError(ValueError):
    """The thresholds seed cannot be read as positive percentages."""


def project_thresholds(project_dir: Path) -> tuple[Decimal, ...]:
    """The dbt project's thresholds seed (one `threshold_pct` column), so that alerts and the
    spread reports use the same levels; the built-in defaults outside a project."""
    seed = project_dir / THRESHOLDS_SEED
    if not seed.is_file():
        return DEFAULT_THRESHOLDS
    with seed.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    try:
        thresholds = tuple(Decimal(row["threshold_pct"]) for row in rows)
    except (KeyError, ArithmeticError) as error:
        raise ThresholdsError(f"{seed}: not a threshold_pct column of numbers ({error})") from error
    if not thresholds or not all(value.is_finite() and value > 0 for value in thresholds):
        raise ThresholdsError(f"{seed}: thresholds must be percentages greater than 0")
    return thresholds


@dataclasses.dataclass(frozen=True)
class AlertEvent:
    """One alert. Stale-feed alerts have no threshold, and a `stale` one no prices: those fields
    are empty strings in the alert log."""

    book: str
    threshold: Decimal | None
    state: str
    spread: Decimal | None
    bid: Decimal | None
    ask: Decimal | None
    orderbook_timestamp: str
    # Stale-feed alerts: seconds without a usable quote, and (`stale`) the last gap's reason.
    quiet_seconds: int | None = None
    reason: str | None = None

    @property
    def text(self) -> str:
        at = f"at {self.orderbook_timestamp}"
        if self.state == STALE:
            return (
                f"{self.book} has had no usable quote for {self.quiet_seconds} s "
                f"(last: {self.reason}) {at}"
            )
        prices = f"(bid {self.bid}, ask {self.ask})"
        spread = format_decimal(self.spread) if self.spread is not None else ""
        if self.state == FRESH:
            return (
                f"{self.book} has usable quotes again after {self.quiet_seconds} s without one, "
                f"spread {spread} % {prices} {at}"
            )
        if self.state == TRIGGERED:
            situation = f"spread {spread} % is above {self.threshold} %"
        else:
            situation = f"spread {spread} % is back at or below {self.threshold} %"
        return f"{self.book} {situation} {prices} {at}"

    def as_json(self) -> dict[str, str]:
        """The body posted to webhooks and written to the alerts file: the alert-log fields in
        their order, decimals as strings, absent values as empty strings."""
        return {field: self._json_value(field) for field in ALERT_LOG_FIELDS}

    def _json_value(self, field: str) -> str:
        value = getattr(self, field)
        if value is None:
            return ""
        return format_decimal(value) if field == "spread" else str(value)


class AlertTracker:
    """Per book and threshold, whether the book is above it (an open episode, with its start and
    peak). Gap records change nothing: a second without a usable quote neither opens nor closes
    an episode.

    `open_episodes` are those a previous run left open: they are not triggered again, and the
    first observation at or below their threshold resolves them.
    """

    def __init__(
        self, thresholds: Iterable[Decimal], open_episodes: Iterable[OpenEpisode] = ()
    ) -> None:
        self.thresholds = tuple(sorted(set(thresholds), reverse=True))
        if any(threshold <= 0 for threshold in self.thresholds):
            raise ValueError("thresholds must be greater than 0")
        self._open: dict[tuple[str, Decimal], OpenEpisode] = {
            (episode.book, episode.threshold): episode for episode in open_episodes
        }
        # Set when an open episode's peak rose since `open_episodes()` was last read.
        self.peak_rose = False

    def open_episodes(self) -> tuple[OpenEpisode, ...]:
        self.peak_rose = False
        return tuple(self._open.values())

    def observe(self, record: SpreadRecord) -> list[AlertEvent]:
        """Events for one lake record, stamped with the second it stands for."""
        if record.spread is None or record.bid is None or record.ask is None:
            return []
        return self._update(
            record.book, record.spread, record.bid, record.ask, record.orderbook_timestamp
        )

    def observe_quote(self, quote: Quote) -> list[AlertEvent]:
        """Events for one quote as it arrives, stamped with its arrival to the millisecond."""
        return self._update(
            quote.book,
            quote.spread,
            quote.bid,
            quote.ask,
            utc_iso(quote.observed_at, "milliseconds"),
        )

    def _update(
        self, book: str, spread: Decimal, bid: Decimal, ask: Decimal, timestamp: str
    ) -> list[AlertEvent]:
        events = []
        for threshold in self.thresholds:
            key = (book, threshold)
            above = spread > threshold
            episode = self._open.get(key)
            if above and episode is not None:
                if spread > episode.peak:
                    self._open[key] = dataclasses.replace(episode, peak=spread)
                    self.peak_rose = True
                continue
            if not above and episode is None:
                continue
            if above:
                self._open[key] = OpenEpisode(book, threshold, timestamp, spread)
            else:
                del self._open[key]
            events.append(
                AlertEvent(
                    book=book,
                    threshold=threshold,
                    state=TRIGGERED if above else RESOLVED,
                    spread=spread,
                    bid=bid,
                    ask=ask,
                    orderbook_timestamp=timestamp,
                )
            )
        return events


def log_alert(event: AlertEvent) -> None:
    level = logging.WARNING if event.state in (TRIGGERED, STALE) else logging.INFO
    log.log(level, "ALERT %s: %s", event.state, event.text)


class AlertFile:
    """Appends alerts as JSON lines to `<lake>/alerts/date=YYYY-MM-DD/alerts.jsonl`, the date being
    that of the observation.

    Object storage cannot append: there the day's log is kept under `journal_dir` (seeded from
    the lake the first time a day is touched, so a restart keeps earlier alerts) and the whole
    log is published again after each alert. A failed upload is retried with the next alert and
    on close.
    """

    def __init__(self, lake: str | Path, journal_dir: Path | None = None) -> None:
        self.storage = open_lake(lake)
        self.local = isinstance(self.storage, LocalLake)
        if not self.local and journal_dir is None:
            raise ValueError("an alert log on object storage needs a local journal folder")
        self.folder = self.storage.path if self.local else journal_dir
        self._seeded: set[str] = set()
        self._unpublished: set[str] = set()

    @staticmethod
    def key_for(event: AlertEvent) -> str:
        return f"alerts/date={event.orderbook_timestamp[:10]}/alerts.jsonl"

    def path_for(self, event: AlertEvent) -> Path:
        """The local file the event is appended to."""
        return self.folder / self.key_for(event)

    def write(self, event: AlertEvent) -> None:
        key = self.key_for(event)
        path = self.folder / key
        path.parent.mkdir(parents=True, exist_ok=True)
        if not self.local and key not in self._seeded:
            if not path.exists() and self.storage.exists(key):
                path.write_bytes(self.storage.read_bytes(key))
            self._seeded.add(key)
        line = json.dumps(event.as_json(), separators=(",", ":")) + "\n"
        # One write of one short line in append mode: a reader sees whole lines only.
        with path.open("a") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
        if not self.local:
            self._unpublished.add(key)
            self.publish_pending()

    def publish_pending(self) -> None:
        """Upload the day logs that changed since their last upload (object storage only)."""
        for key in sorted(self._unpublished):
            self.storage.publish_file(key, self.folder / key)
            self._unpublished.discard(key)
