"""Supervision of the monitor's parts: an exception that escapes a part is caught at its boundary,
logged once with context (the traceback at DEBUG), and the part restarts with backoff. A part
that fails more than `max_restarts` times within `restart_window` seconds stops the whole run,
which then closes every sink and exits non-zero, so that cron, systemd or Docker restart it."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable

from ingest.spreads.monitor.clock import Clock

log = logging.getLogger(__name__)

DEFAULT_MAX_RESTARTS = 5
DEFAULT_RESTART_WINDOW = 300.0


class PartFailure(Exception):
    """An unexpected exception of a part that runs inside another one (a depth sync inside the
    WebSocket reader): names the part that failed."""

    def __init__(self, part: str, error: BaseException) -> None:
        super().__init__(f"{type(error).__name__}: {error}")
        self.part = part
        self.error = error


class MonitorFailed(RuntimeError):
    """A part could not recover within the bound: the run stopped (its sinks closed)."""


def describe(error: BaseException) -> str:
    if isinstance(error, PartFailure):
        return str(error)
    return f"{type(error).__name__}: {error}"


class Supervisor:
    """Counts each part's failures and says when to restart it; `stop` is set, and `failure`
    says why, once a part has failed too often."""

    def __init__(
        self,
        clock: Clock,
        stop: threading.Event,
        max_restarts: int = DEFAULT_MAX_RESTARTS,
        restart_window: float = DEFAULT_RESTART_WINDOW,
        first_backoff: float = 1.0,
        max_backoff: float = 30.0,
    ) -> None:
        self.clock = clock
        self.stop = stop
        self.max_restarts = max_restarts
        self.restart_window = restart_window
        self.first_backoff = first_backoff
        self.max_backoff = max_backoff
        self.failure: str | None = None
        # Restarts so far per part, over the whole run.
        self.restarts: dict[str, int] = {}
        self._recent: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def failed(self, part: str, error: BaseException | str) -> float | None:
        """Count one failure of `part`: the pause before it restarts, or None when it has failed
        too often (the run is then stopped)."""
        reason = error if isinstance(error, str) else describe(error)
        if isinstance(error, PartFailure):
            part = error.part
        now = self.clock.time()
        with self._lock:
            recent = self._recent.setdefault(part, deque())
            recent.append(now)
            while recent and recent[0] <= now - self.restart_window:
                recent.popleft()
            failures = len(recent)
            if failures > self.max_restarts:
                if self.failure is None:
                    self.failure = (
                        f"the {part} failed {failures} times within {self.restart_window:g} s "
                        f"(last: {reason})"
                    )
                too_often = True
            else:
                self.restarts[part] = self.restarts.get(part, 0) + 1
                too_often = False
        exc_info = error if isinstance(error, BaseException) else None
        if too_often:
            log.error(
                "%s failed: %s; %d failures within %g s, more than %d: stopping the monitor",
                part,
                reason,
                failures,
                self.restart_window,
                self.max_restarts,
            )
            log.debug("%s failure", part, exc_info=exc_info)
            self.stop.set()
            return None
        pause = min(self.max_backoff, self.first_backoff * 2 ** (failures - 1))
        log.error(
            "%s failed: %s; restarting in %g s (failure %d of at most %d within %g s)",
            part,
            reason,
            pause,
            failures,
            self.max_restarts,
            self.restart_window,
        )
        log.debug("%s failure", part, exc_info=exc_info)
        return pause

    def run(
        self,
        part: str,
        body: Callable[[threading.Event], None],
        stop: threading.Event,
        *,
        may_return: bool = False,
        on_failure: Callable[[str], None] | None = None,
        passes: tuple[type[BaseException], ...] = (),
    ) -> None:
        """Run `body(stop)`, restarting it after an unexpected exception (or, unless it
        `may_return`, after it returned while `stop` is not set) until `stop` is set or the
        run is stopped. `on_failure(reason)` is told of each failure; exceptions in `passes`
        are not caught (they end the run by the caller's rules)."""
        while not stop.is_set() and not self.stop.is_set():
            try:
                body(stop)
            except passes:
                raise
            except Exception as error:
                failure: BaseException | str = error
            else:
                if may_return or stop.is_set():
                    return
                failure = "ended by itself"
            if on_failure is not None:
                try:
                    on_failure(failure if isinstance(failure, str) else describe(failure))
                except Exception as error:  # the boundary's own helper must not kill it
                    log.error("%s: could not report its failure: %r", part, error)
            pause = self.failed(part, failure)
            if pause is None:
                return
            if not self.clock.sleep_until(self.clock.time() + pause, stop):
                return

    def thread(
        self,
        part: str,
        body: Callable[[threading.Event], None],
        stop: threading.Event,
        **options: object,
    ) -> threading.Thread:
        """`run` on a daemon thread of its own, started."""
        thread = threading.Thread(
            target=self.run, args=(part, body, stop), kwargs=options, name=part, daemon=True
        )
        thread.start()
        return thread


def close_all(closers: list[tuple[str, Callable[[], None]]]) -> list[tuple[str, BaseException]]:
    """Call every closer in order, whatever the others do; the failures, in order."""
    errors = []
    for name, close in closers:
        try:
            close()
        except Exception as error:
            log.error("closing the %s failed: %s", name, describe(error))
            log.debug("closing the %s", name, exc_info=error)
            errors.append((name, error))
    return errors
