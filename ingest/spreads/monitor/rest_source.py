"""The REST quote source: one ticker request for all books, paced by the request budget."""

from __future__ import annotations

import logging
import threading
from collections import Counter

from ingest.spreads.monitor.bitso_rest import BitsoError, BitsoRestClient
from ingest.spreads.monitor.budget import RequestBudget
from ingest.spreads.monitor.clock import Clock
from ingest.spreads.monitor.problems import ProblemLog
from ingest.spreads.monitor.quotes import Quote, QuoteBoard, book_problem, parse_price

log = logging.getLogger(__name__)

# Bitso's documented lockout after an overrun; it sends no Retry-After header.
RATE_LIMIT_PAUSE_SECONDS = 60.0


def failure_pause(failures: int, base: float = 1.0, cap: float = 30.0) -> float:
    """Exponential backoff after `failures` consecutive failed requests."""
    return min(cap, base * 2 ** (failures - 1))


class RestSource:
    """Polls `GET /v3/ticker/` (every book's best bid and ask in one reply) and publishes the
    requested books' quotes to the board; failures become board problems, logged once per episode.
    """

    name = "rest"

    def __init__(
        self,
        client: BitsoRestClient,
        board: QuoteBoard,
        budget: RequestBudget,
        clock: Clock,
    ) -> None:
        self.client = client
        self.board = board
        self.budget = budget
        self.clock = clock
        self.requests_sent = 0
        self._failures = 0
        self._first_failure_at = 0.0
        self._logged_failure: tuple[str, int | None] | None = None
        self._resume_at = 0.0
        self._book_problems: dict[str, str] = {}
        # Failed requests by kind (timeout, transport, rate_limited, not_json, ...).
        self.errors: Counter[str] = Counter()
        # Ticker rows that could not be read (not an object, `book` not a string).
        self.problems = ProblemLog(log, clock, "ticker rows")

    def run(self, stop: threading.Event) -> None:
        while True:
            now = self.clock.time()
            if not self.clock.sleep_until(
                max(self.budget.next_allowed(now), self._resume_at), stop
            ):
                return
            self.poll()

    @property
    def rest_requests(self) -> int:
        return self.requests_sent

    def traffic_report(self) -> str:
        """What the run cost the API, for the run's summary line."""
        return f"{self.requests_sent} ticker requests"

    def poll(self) -> None:
        """Spend one request of the budget on the ticker and update the board from the reply."""
        sent_at = self.clock.time()
        self.budget.spend(sent_at)
        self.requests_sent += 1
        try:
            rows = self.client.tickers()
        except BitsoError as error:
            self._on_failure(error, sent_at)
            return
        self._on_success(rows, self.clock.time())

    def _on_failure(self, error: BitsoError, sent_at: float) -> None:
        self.errors[error.kind] += 1
        self._failures += 1
        if self._failures == 1:
            self._first_failure_at = sent_at
        if error.kind == "rate_limited":
            pause = RATE_LIMIT_PAUSE_SECONDS if error.retry_after is None else error.retry_after
        else:
            pause = failure_pause(self._failures)
        # Counted from the failure, not the request: a timed-out request already took seconds.
        self._resume_at = self.clock.time() + pause
        reason = f"ticker request failed: {error}"
        for book in self.board.books:
            self.board.report_problem(book, reason)
        signature = (error.kind, error.status)
        if signature != self._logged_failure:
            self._logged_failure = signature
            log.warning(
                "GET %s: %s; pausing requests for %g s, seconds without a quote become gaps",
                error.url,
                error,
                pause,
            )
        else:
            log.debug("GET %s: %s (failure %d in a row)", error.url, error, self._failures)

    def _on_success(self, rows: list[dict], observed_at: float) -> None:
        if self._failures:
            log.info(
                "ticker answers again after %d failed requests over %.0f s",
                self._failures,
                observed_at - self._first_failure_at,
            )
        self._failures = 0
        self._logged_failure = None
        self._resume_at = 0.0
        by_book: dict[str, dict] = {}
        for row in rows:
            book = row.get("book") if isinstance(row, dict) else None
            if isinstance(book, str):
                by_book.setdefault(book, row)
            else:
                self.problems.note("bad-row", f"a ticker row without a book name: {row!r}"[:200])
        for book in self.board.books:
            row = by_book.get(book)
            if row is None:
                self._book_unusable(book, "book missing from the ticker reply")
                continue
            bid, ask = parse_price(row.get("bid")), parse_price(row.get("ask"))
            problem = book_problem(bid, ask)
            if problem is not None:
                self._book_unusable(book, problem)
                continue
            if self._book_problems.pop(book, None) is not None:
                log.info("%s has a usable top of book again", book)
            self.board.publish(Quote(book, bid, ask, observed_at, self.name))

    def _book_unusable(self, book: str, problem: str) -> None:
        self.board.report_problem(book, problem)
        kind = problem.split(" (")[0]
        if self._book_problems.get(book) != kind:
            self._book_problems[book] = kind
            log.warning("%s: %s; its seconds are recorded as gaps", book, problem)
