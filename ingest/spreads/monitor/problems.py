"""Counting what the network sent that could not be used, by kind, and logging it without
flooding: the first occurrence of each kind at WARNING, then one line with the counts per
period while more come."""

from __future__ import annotations

import logging
import threading
from collections import Counter

from ingest.spreads.monitor.clock import Clock

REPORT_EVERY_SECONDS = 60.0


class ProblemLog:
    """`note(kind, what)` for every unusable reply or frame; `counts` holds the totals by kind."""

    def __init__(
        self,
        logger: logging.Logger,
        clock: Clock,
        noun: str,
        every: float = REPORT_EVERY_SECONDS,
    ) -> None:
        self.log = logger
        self.clock = clock
        self.noun = noun
        self.every = every
        self.counts: Counter[str] = Counter()
        self._since_report: Counter[str] = Counter()
        self._last_report = clock.time()
        self._lock = threading.Lock()

    def note(self, kind: str, what: str) -> None:
        now = self.clock.time()
        with self._lock:
            first = kind not in self.counts
            self.counts[kind] += 1
            if not first:
                self._since_report[kind] += 1
            report = None
            if self._since_report and now - self._last_report >= self.every:
                report = dict(self._since_report)
                self._since_report.clear()
                self._last_report = now
        if first:
            self.log.warning(
                "skipped %s (%s; more of this kind are counted, not logged)", what, kind
            )
        else:
            self.log.debug("skipped %s (%s)", what, kind)
        if report is not None:
            kinds = ", ".join(f"{count} {name}" for name, count in sorted(report.items()))
            self.log.warning("skipped %d more %s: %s", sum(report.values()), self.noun, kinds)

    @property
    def total(self) -> int:
        return sum(self.counts.values())
