"""Spread alerts: the episodes the alert rules define (monitor.alert_rules), per book and rule;
the alert events (stale-feed ones included, see monitor.feed_alerts) and the alert log."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from ingest.contracts import ALERT_DELIVERY_FIELDS, ALERT_LOG_FIELDS
from ingest.io.lake_storage import LocalLake, open_lake
from ingest.spreads.monitor.alert_rules import (
    DEFAULT_THRESHOLDS as DEFAULT_THRESHOLDS,
)
from ingest.spreads.monitor.alert_rules import (
    REMINDER,
    RESOLVED,
    TRIGGERED,
    AlertRules,
    EpisodeMachine,
    EpisodeState,
    simple_rules,
)
from ingest.spreads.monitor.alert_rules import (
    ThresholdsError as ThresholdsError,
)
from ingest.spreads.monitor.alert_rules import (
    project_thresholds as project_thresholds,
)
from ingest.spreads.monitor.alert_state import OpenEpisode
from ingest.spreads.monitor.quotes import Quote, format_decimal
from ingest.spreads.monitor.records import SpreadRecord, utc_iso

log = logging.getLogger(__name__)

# Stale-feed alerts: a book without a usable quote for --stale-after seconds, and its return.
STALE = "stale"
FRESH = "fresh"


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
    # When the episode began (ISO-8601): with the book and threshold, the alert's identity.
    episode_start: str | None = None
    # Why the alert is recorded but not sent: a silence's ID, or the inhibiting threshold.
    held_back_by: str | None = None

    @property
    def silenced(self) -> bool:
        return self.held_back_by is not None

    @property
    def alert_key(self) -> str:
        """The same for every message of one episode (trigger, reminders, resolution, and the
        retries and restarts in between), so a receiver can tell a repeat from a new episode."""
        level = "stale" if self.threshold is None else str(self.threshold)
        return f"{self.book}/{level}/{self.episode_start or self.orderbook_timestamp}"

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
        elif self.state == REMINDER:
            situation = (
                f"spread {spread} % is still above {self.threshold} % (since {self.episode_start})"
            )
        else:
            situation = f"spread {spread} % is back at or below {self.threshold} %"
        return f"{self.book} {situation} {prices} {at}"

    def as_json(self) -> dict[str, object]:
        """The body posted to webhooks and written to the alerts file: the alert-log fields in
        their order (decimals as strings, absent values as empty strings), then the delivery
        fields (the idempotency key, and whether the alert was held back)."""
        body: dict[str, object] = {field: self._json_value(field) for field in ALERT_LOG_FIELDS}
        delivery = {"alert_key": self.alert_key, "silenced": self.silenced}
        body.update((field, delivery[field]) for field in ALERT_DELIVERY_FIELDS)
        return body

    def _json_value(self, field: str) -> str:
        value = getattr(self, field)
        if value is None:
            return ""
        return format_decimal(value) if field == "spread" else str(value)


def epoch_seconds(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp).timestamp()


class AlertTracker:
    """Per book and rule, the rule's episode machine (monitor.alert_rules: `for`, `clear_for`
    below `clear_below`, `repeat_every`), and the open episodes' peaks. Gap records change
    nothing: a second without a usable quote neither opens nor closes an episode. A
    `triggered` or `reminder` of a threshold that an open higher rule inhibits is marked held
    back (recorded, not sent), and so is the `resolved` of an episode whose trigger was.

    `open_episodes` are those a previous run left open: they continue with their start (not
    triggered again) and resolve by their rule. Pending and clearing periods are not persisted:
    after a restart they begin again.
    """

    def __init__(
        self, rules: AlertRules | Iterable[Decimal], open_episodes: Iterable[OpenEpisode] = ()
    ) -> None:
        self.rules = rules if isinstance(rules, AlertRules) else simple_rules(rules)
        self._resumed = {(episode.book, episode.threshold): episode for episode in open_episodes}
        self._machines: dict[str, tuple[EpisodeMachine, ...]] = {}
        self._peaks: dict[tuple[str, Decimal], Decimal] = {}
        self._starts: dict[tuple[str, Decimal], str] = {}
        # Episodes whose trigger was held back: their resolution is held back too.
        self._held: set[tuple[str, Decimal]] = set()
        # Set when an open episode's peak rose since `open_episodes()` was last read.
        self.peak_rose = False
        # Per book, the bid and ask last observed and until when observing them again changes
        # nothing (EpisodeMachine.quiet_until): most messages repeat the top of book.
        self._unchanged: dict[str, tuple[Decimal, Decimal, float]] = {}

    def watches(self, book: str, threshold: Decimal) -> bool:
        return self.rules.rule(book, threshold) is not None

    def open_episodes(self) -> tuple[OpenEpisode, ...]:
        return self.open_episodes_later()()

    def open_episodes_later(self) -> Callable[[], tuple[OpenEpisode, ...]]:
        """The open episodes as they are now, built when called: the alerts-file writer saves
        only the last of the snapshots queued in a batch, so the others are never built."""
        self.peak_rose = False
        peaks, starts = dict(self._peaks), dict(self._starts)
        return lambda: tuple(
            OpenEpisode(book, threshold, starts[(book, threshold)], peak)
            for (book, threshold), peak in peaks.items()
        )

    def observe(self, record: SpreadRecord) -> list[AlertEvent]:
        """Events for one lake record, stamped with the second it stands for."""
        if record.spread is None or record.bid is None or record.ask is None:
            return []
        return self._update(
            record.book,
            float(record.second),
            record.spread,
            record.bid,
            record.ask,
            record.orderbook_timestamp,
            "seconds",
        )

    def observe_quote(self, quote: Quote) -> list[AlertEvent]:
        """Events for one quote as it arrives, stamped with its arrival to the millisecond."""
        last = self._unchanged.get(quote.book)
        if (
            last is not None
            and quote.observed_at < last[2]
            and quote.bid == last[0]
            and quote.ask == last[1]
        ):
            return []
        return self._update(
            quote.book,
            quote.observed_at,
            quote.spread,
            quote.bid,
            quote.ask,
            None,
            "milliseconds",
        )

    def _machines_for(self, book: str) -> tuple[EpisodeMachine, ...]:
        if book not in self._machines:
            machines = []
            for rule in self.rules.rules_for(book):
                key = (book, rule.threshold)
                resumed = self._resumed.pop(key, None)
                state = None
                if resumed is not None:
                    # The last message's time is not persisted: a reminder counts from the start.
                    started = epoch_seconds(resumed.started)
                    state = EpisodeState(started_at=started, notified_at=started)
                    self._peaks[key], self._starts[key] = resumed.peak, resumed.started
                machines.append(EpisodeMachine(rule, state))
            self._machines[book] = tuple(machines)
        return self._machines[book]

    def _update(
        self,
        book: str,
        now: float,
        spread: Decimal,
        bid: Decimal,
        ask: Decimal,
        timestamp: str | None,
        timespec: str,
    ) -> list[AlertEvent]:
        """`timestamp` None: `now` to `timespec` (formatted only if an event needs it)."""
        machines = self._machines_for(book)
        open_before = {m.rule.threshold for m in machines if m.state.open}
        events = []
        for machine in machines:
            key = (book, machine.rule.threshold)
            transition = machine.observe(now, spread)
            if transition is not None and transition.kind == TRIGGERED:
                self._peaks[key] = spread
                self._starts[key] = utc_iso(transition.episode_start, timespec)
            elif machine.state.open and spread > self._peaks[key]:
                self._peaks[key] = spread
                self.peak_rose = True
            if transition is None:
                continue
            start = self._starts[key]
            if timestamp is None:
                timestamp = utc_iso(now, timespec)
            if transition.kind == RESOLVED:
                del self._peaks[key], self._starts[key]
            events.append(
                AlertEvent(
                    book=book,
                    threshold=machine.rule.threshold,
                    state=transition.kind,
                    spread=spread,
                    bid=bid,
                    ask=ask,
                    orderbook_timestamp=timestamp,
                    episode_start=start,
                )
            )
        quiet_until = min((machine.quiet_until() for machine in machines), default=math.inf)
        self._unchanged[book] = (bid, ask, quiet_until)
        if not events:
            return events
        open_after = {m.rule.threshold for m in machines if m.state.open}
        return [self._held_back(event, open_before | open_after) for event in events]

    def _held_back(self, event: AlertEvent, open_thresholds: set[Decimal]) -> AlertEvent:
        assert event.threshold is not None
        key = (event.book, event.threshold)
        held = key in self._held
        if event.state == RESOLVED:
            self._held.discard(key)
        elif event.threshold in self.rules.inhibited(event.book, open_thresholds):
            held = True
            if event.state == TRIGGERED:
                self._held.add(key)
        if not held:
            return event
        return dataclasses.replace(event, held_back_by="inhibited by a higher open threshold")


def log_alert(event: AlertEvent) -> None:
    level = logging.WARNING if event.state in (TRIGGERED, REMINDER, STALE) else logging.INFO
    held = f" (not sent: {event.held_back_by})" if event.silenced else ""
    log.log(level, "ALERT %s: %s%s", event.state, event.text, held)


class AlertFile:
    """Appends alerts as JSON lines to `<lake>/alerts/date=YYYY-MM-DD/alerts.jsonl`, the date being
    that of the observation.

    Object storage cannot append: there the day's log is kept under `journal_dir` (seeded from
    the lake the first time a day is touched, so a restart keeps earlier alerts) and the whole
    log is published again after each write. A failed upload is retried with the next write and
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
        self.write_all([event])

    def write_all(self, events: Sequence[AlertEvent]) -> None:
        """Append the events in their order, with one write and one fsync per day log."""
        lines: dict[str, list[str]] = {}
        for event in events:
            line = json.dumps(event.as_json(), separators=(",", ":")) + "\n"
            lines.setdefault(self.key_for(event), []).append(line)
        for key, day_lines in lines.items():
            self._append(key, "".join(day_lines).encode("utf-8"))
        if not self.local:
            self.publish_pending()

    def _append(self, key: str, data: bytes) -> None:
        path = self.folder / key
        path.parent.mkdir(parents=True, exist_ok=True)
        if not self.local and key not in self._seeded:
            if not path.exists() and self.storage.exists(key):
                path.write_bytes(self.storage.read_bytes(key))
            self._seeded.add(key)
        # One write of whole lines in append mode: a reader sees whole lines only.
        with path.open("ab") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if not self.local:
            self._unpublished.add(key)

    def publish_pending(self) -> None:
        """Upload the day logs that changed since their last upload (object storage only)."""
        for key in sorted(self._unpublished):
            self.storage.publish_file(key, self.folder / key)
            self._unpublished.discard(key)
