"""The alerts file's own thread: it appends the alerts to the alert log (monitor.alerts.AlertFile)
and then persists the open episodes (monitor.alert_state), so a slow disk delays neither an
alert nor the next second.

It works in batches: whatever was queued since the last batch is written with one fsync per day
log, then the newest snapshot of the open episodes is built and saved once (the ones before it
are outdated by it, and never built). Batches start at most every `min_interval` seconds, so a
burst of alerts costs a few fsyncs rather than three per alert; a lone alert after a quiet spell
is written at once. The log is durable before the state that says its alerts were sent: only a
crash in between makes the next start alert again, never not at all.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ingest.spreads.monitor import alert_state
from ingest.spreads.monitor.alert_rules import REMINDER
from ingest.spreads.monitor.alert_state import OpenAlerts
from ingest.spreads.monitor.alerts import AlertEvent, AlertFile
from ingest.spreads.monitor.supervisor import Supervisor

log = logging.getLogger(__name__)

# At most two batches a second (each costs about a millisecond of CPU, mostly the kernel's three
# fsyncs): with an alert every few tens of milliseconds a batch holds a few tens of them, and an
# alert is on disk within about half a second of being sent.
BATCH_INTERVAL_SECONDS = 0.5

# What the queue holds: the alerts of one change, and what builds the open episodes after it.
Change = tuple[Sequence[AlertEvent], Callable[[], OpenAlerts]]


class AlertLogWriter:
    def __init__(
        self,
        alert_file: AlertFile,
        state_dir: Path,
        supervisor: Supervisor | None = None,
        min_interval: float = BATCH_INTERVAL_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.alert_file = alert_file
        self.state_dir = state_dir
        self.supervisor = supervisor
        self.min_interval = min_interval
        self.monotonic = monotonic
        self._queue: queue.SimpleQueue[Change | None] = queue.SimpleQueue()
        # Set by `close`: the writer stops pacing and writes what is left.
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alerts-file", daemon=True)
        self._thread.start()

    def submit(self, events: Sequence[AlertEvent], open_alerts: Callable[[], OpenAlerts]) -> None:
        """Queue one change; changes are written in the order they were submitted."""
        self._queue.put((events, open_alerts))

    def close(self) -> None:
        """Write everything submitted so far, then end the thread."""
        self._closing.set()
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        while True:
            started = self.monotonic()
            changes, last = self._next_batch()
            if changes:
                self._write(changes)
            if last:
                return
            self._closing.wait(self.min_interval - (self.monotonic() - started))

    def _next_batch(self) -> tuple[list[Change], bool]:
        """Every change queued (waiting for the first), and whether `close` was asked for."""
        item = self._queue.get()
        changes = []
        while item is not None:
            changes.append(item)
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return changes, False
        return changes, True

    def _write(self, changes: Sequence[Change]) -> None:
        # The log keeps the episodes' boundaries; a reminder is in the run's log and sent only.
        events = [event for events, _ in changes for event in events if event.state != REMINDER]
        if events:
            self._guarded(
                "alerts not written to the alert log: " + "; ".join(e.text for e in events),
                self.alert_file.write_all,
                events,
            )
        self._guarded(
            "open episodes not persisted (a restart may alert them again)",
            lambda: alert_state.save(self.state_dir, changes[-1][1]()),
        )

    def _guarded(self, lost: str, action: Callable[..., object], *args: object) -> None:
        """The writer's boundary: whatever fails, the next batch is written as usual."""
        try:
            action(*args)
        except OSError as error:
            log.error("%s: %s", lost, error)
        except Exception as error:
            log.error("%s", lost)
            if self.supervisor is None:
                log.exception("alerts file failed")
            else:
                self.supervisor.failed("alerts file", error)
