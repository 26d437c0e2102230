"""The WebSocket quote source: one connection to Bitso's WebSocket API keeps every book's best bid
and ask on the board current, message by message.

`depth="top"` subscribes each book to `orders` (the top 20 orders per side, no sequence). Bitso
sends nothing on subscribe and nothing while a book is quiet, so once the subscriptions are
acknowledged one REST ticker request gives the books that have not moved yet their first quote.
`depth="book"` keeps full books from `diff-orders` on top of REST `aggregate=false` snapshots,
joined by `sequence`, and fetches a new snapshot on every gap.

While frames (or keep-alives) keep coming, the source vouches for its quotes, so a quiet book's
quote stays current. A connection silent beyond `silence_timeout`, or closed, is replaced with
exponential backoff and jitter (the `websockets` library's reconnecting `connect`); meanwhile
every book is a gap, or is polled over REST within the budget if `rest_fallback` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import random
import threading
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from decimal import Decimal
from typing import TypeVar

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from ingest.spreads.monitor.bitso_rest import BitsoError, BitsoRestClient
from ingest.spreads.monitor.budget import RequestBudget
from ingest.spreads.monitor.clock import Clock
from ingest.spreads.monitor.depth import BookSync, OrderBook, OutOfSync
from ingest.spreads.monitor.orders_frame import read_orders
from ingest.spreads.monitor.plan import DEPTHS
from ingest.spreads.monitor.problems import ProblemLog
from ingest.spreads.monitor.quotes import Quote, QuoteBoard, best_bid_ask, book_problem, parse_price
from ingest.spreads.monitor.rest_source import RestSource, failure_pause
from ingest.spreads.monitor.supervisor import PartFailure, Supervisor

log = logging.getLogger(__name__)

CHANNELS = {"top": "orders", "book": "diff-orders"}
# How often quotes are vouched for while the feed is live, and a silence is looked for.
VOUCH_INTERVAL = 0.25
STOP_POLL_SECONDS = 0.1
CLOSE_TIMEOUT = 1.0
OPEN_TIMEOUT = 10.0
# Data that does not fit the expected shapes surfaces as one of these while it is read.
MALFORMED = (ValueError, TypeError, KeyError, AttributeError, ArithmeticError)

T = TypeVar("T")


def reconnect_delays(first: float, cap: float) -> Iterator[float]:
    """Exponential backoff with jitter: wait n lies between half and all of first * 2**n,
    at most `cap`, so clients that lost the same server do not all come back at once."""
    for attempt in itertools.count():
        ceiling = min(cap, first * 2**attempt)
        yield random.uniform(ceiling / 2, ceiling)


class ConnectionSilent(Exception):
    """No frame, not even a keep-alive, within the silence timeout."""


class _Session:
    """What one connection has learned: subscription answers, books that moved, book syncs."""

    def __init__(self, books: tuple[str, ...]) -> None:
        self.books = books
        self.answered: set[str] = set()
        self.acked: list[str] = []
        self.moved: set[str] = set()
        self.syncs = {book: BookSync() for book in books}
        self.synced: set[str] = set()
        self.tasks: dict[str, asyncio.Task[None]] = {}
        # An unexpected exception of a task (a depth sync, the first-quotes request): the
        # reader raises it, so the supervisor restarts the whole stream.
        self.failure: PartFailure | None = None
        # When each book last sent a frame (or was confirmed current by the ticker).
        self.heard: dict[str, float] = {}
        # When the connection last sent a frame (a keep-alive included).
        self.last_frame = 0.0
        # Set by the silent-book check: the book whose frames stopped, and why the connection
        # is no longer trusted.
        self.lost_book: tuple[str, str] | None = None

    def start(self, key: str, part: str, coroutine: Coroutine[object, object, None]) -> None:
        task = asyncio.create_task(coroutine)
        self.tasks[key] = task

        def done(task: asyncio.Task[None]) -> None:
            if task.cancelled() or task.exception() is None:
                return
            if self.failure is None:
                self.failure = PartFailure(part, task.exception())

        task.add_done_callback(done)


class WsSource:
    """Streams quotes for the board's books from `url`; `client` and `budget` serve the REST
    requests the stream needs (snapshots, and polling while disconnected if asked)."""

    name = "ws"

    def __init__(
        self,
        url: str,
        board: QuoteBoard,
        client: BitsoRestClient,
        budget: RequestBudget,
        clock: Clock,
        depth: str = "top",
        silence_timeout: float = 30.0,
        rest_fallback: bool = False,
        book_timeout: float | None = 60.0,
        first_retry: float = 0.5,
        max_retry: float = 30.0,
    ) -> None:
        if depth not in DEPTHS:
            raise ValueError(f"depth must be one of {', '.join(DEPTHS)}")
        self.url = url
        self.board = board
        self.client = client
        self.budget = budget
        self.clock = clock
        self.depth = depth
        self.channel = CHANNELS[depth]
        self.silence_timeout = silence_timeout
        self.rest_fallback = rest_fallback
        self.book_timeout = book_timeout
        self.book_checks = 0
        # Per book: connections replaced because its frames stopped, and snapshots fetched
        # again after a diff-orders sequence gap.
        self.silent_books: Counter[str] = Counter()
        self.resyncs: Counter[str] = Counter()
        self.first_retry = first_retry
        self.max_retry = max_retry
        self.connections = 0
        self.frames = 0
        self.problems = ProblemLog(log, clock, "WebSocket frames")
        self.rest_requests = 0
        # (lost at, usable again at) for every outage of the stream, in epoch seconds.
        self.outages: list[tuple[float, float]] = []
        self._down_since: float | None = None
        self._session = _Session(board.books)
        self._book_problems: dict[str, str] = {}
        self._fallback: tuple[RestSource, threading.Event, threading.Thread] | None = None
        self._rest_lock = asyncio.Lock()
        # Set by the runner: supervises the REST fallback's thread.
        self.supervisor: Supervisor | None = None

    def run(self, stop: threading.Event) -> None:
        asyncio.run(self._main(stop))

    @property
    def skipped_frames(self) -> int:
        return self.problems.total

    def disconnected_seconds(self) -> float:
        """Seconds without a usable stream so far, the outage going on included."""
        down_since = self._down_since
        ongoing = 0.0 if down_since is None else max(0.0, self.clock.time() - down_since)
        return sum(resumed - lost for lost, resumed in self.outages) + ongoing

    def traffic_report(self) -> str:
        """What the stream did, for the run's summary line."""
        return (
            f"{self.connections} WebSocket connections ({self.disconnected_seconds():.1f} s "
            f"disconnected, {self.frames} frames, {self.skipped_frames} skipped), "
            f"{self.rest_requests} REST requests"
        )

    async def _main(self, stop: threading.Event) -> None:
        # A restarted source runs in a new event loop: nothing of the old one is reused.
        self._rest_lock = asyncio.Lock()
        stream = asyncio.create_task(self._stream())
        try:
            while not stop.is_set() and not stream.done():
                await asyncio.sleep(STOP_POLL_SECONDS)
            stream.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stream
        except Exception:
            # The stream failed: the supervisor restarts the source, which connects again.
            if self._down_since is None:
                self._down_since = self.clock.time()
            raise
        if self._down_since is not None and stop.is_set():
            # Stopped while down: the outage ends here. A stream that ended by itself is still
            # down; the restarted source closes the outage when it streams again.
            self.outages.append((self._down_since, self.clock.time()))
            self._down_since = None
        if self._fallback is not None:
            rest, fallback_stop, _ = self._fallback
            fallback_stop.set()
            self.rest_requests += rest.requests_sent

    async def _stream(self) -> None:
        idle_delays = reconnect_delays(self.first_retry, self.max_retry)
        reconnecting = connect(
            self.url,
            open_timeout=OPEN_TIMEOUT,
            close_timeout=CLOSE_TIMEOUT,
            # Uncompressed frames cost more bandwidth (about 2 MB/s for every book at Bitso's
            # rate) but no inflating: that was a tenth of the CPU a frame cost.
            compression=None,
            process_exception=self._connect_failed,
            reconnect_delays=lambda: reconnect_delays(self.first_retry, self.max_retry),
        )
        # Closing the iterator on the way out (a stop) closes the open connection cleanly.
        async with contextlib.aclosing(aiter(reconnecting)) as connections:
            async for connection in connections:
                reason = await self._run_session(connection)
                self._lost(reason)
                if self._session.answered:
                    idle_delays = reconnect_delays(self.first_retry, self.max_retry)
                else:
                    # The library retries at once after a connection that opened; one that
                    # never answered a subscription backs off like a refused one.
                    await asyncio.sleep(next(idle_delays))

    def _connect_failed(self, error: Exception) -> None:
        """Every failure to connect is worth retrying: Bitso's edge can refuse with any status."""
        self._lost(f"cannot connect ({error})")
        return None

    def _lost(self, reason: str) -> None:
        """The stream is down: all books become gaps (once per outage), REST takes over if asked."""
        if self._down_since is not None:
            log.debug("WebSocket %s still down: %s", self.url, reason)
            return
        self._down_since = self.clock.time()
        log.warning(
            "WebSocket %s: %s; reconnecting with backoff, seconds without data are %s",
            self.url,
            reason,
            "polled over REST" if self.rest_fallback else "gaps",
        )
        for book in self.board.books:
            self.board.report_problem(book, f"WebSocket down: {reason}")
        if self.rest_fallback and self._fallback is None:
            stop = threading.Event()
            rest = RestSource(self.client, self.board, self.budget, self.clock)
            if self.supervisor is None:
                thread = threading.Thread(target=rest.run, args=(stop,), name="rest fallback")
                thread.daemon = True
                thread.start()
            else:
                thread = self.supervisor.thread("REST fallback poller", rest.run, stop)
            self._fallback = (rest, stop, thread)

    def _resumed(self) -> None:
        if self._down_since is None:
            return
        now = self.clock.time()
        self.outages.append((self._down_since, now))
        log.info("WebSocket %s streams again after %.1f s", self.url, now - self._down_since)
        self._down_since = None

    async def _stop_fallback(self) -> None:
        if self._fallback is None:
            return
        rest, stop, thread = self._fallback
        self._fallback = None
        stop.set()
        await asyncio.to_thread(thread.join)
        self.rest_requests += rest.requests_sent

    async def _run_session(self, connection: ClientConnection) -> str:
        """Subscribe and read frames until the connection closes or falls silent; says why."""
        self.connections += 1
        session = self._session = _Session(self.board.books)
        try:
            await self._stop_fallback()
            for book in session.books:
                request = {"action": "subscribe", "book": book, "type": self.channel}
                await connection.send(json.dumps(request))
            await self._read(connection, session)
        except ConnectionClosed as closed:
            return f"connection closed ({closed})"
        except ConnectionSilent as silent:
            return str(silent)
        finally:
            for task in session.tasks.values():
                task.cancel()
        return "connection ended"

    async def _read(self, connection: ClientConnection, session: _Session) -> None:
        """Frames are handled as they come by a task of their own, which arms no timer per frame;
        every VOUCH_INTERVAL this loop vouches for the quotes and looks for a silence or a failed
        task. Returns never: it raises why the connection can no longer be used."""
        session.last_frame = self.clock.time()
        frames = asyncio.create_task(self._handle_frames(connection, session))
        try:
            while True:
                await asyncio.wait({frames}, timeout=VOUCH_INTERVAL)
                if frames.done():
                    frames.result()  # the connection closed: raises ConnectionClosed
                if session.failure is not None:
                    raise session.failure
                if session.lost_book is not None:
                    book, why = session.lost_book
                    self.silent_books[book] += 1
                    raise ConnectionSilent(why)
                now = self.clock.time()
                silent_for = now - session.last_frame
                if silent_for > self.silence_timeout:
                    raise ConnectionSilent(
                        f"no frame for {silent_for:.1f} s (limit {self.silence_timeout:g} s)"
                    )
                self.board.vouch(self.name, now)
                self._check_silent_books(session, now)
        finally:
            frames.cancel()
            await asyncio.wait({frames})

    async def _handle_frames(self, connection: ClientConnection, session: _Session) -> None:
        while True:
            message = await connection.recv()
            now = session.last_frame = self.clock.time()
            self.frames += 1
            self._on_frame(session, message, now)

    def _check_silent_books(self, session: _Session, now: float) -> None:
        """Books without a frame for `book_timeout` while the connection lives are checked
        against one ticker request: a quiet book still matches it; a book whose stream stopped
        does not, and the connection is replaced."""
        if self.book_timeout is None or self._down_since is not None:
            return
        task = session.tasks.get("book check")
        if task is not None and not task.done():
            return
        for book in session.acked:
            session.heard.setdefault(book, now)
        silent = [book for book in session.acked if now - session.heard[book] >= self.book_timeout]
        if silent:
            session.start("book check", "silent-book check", self._check_books(session, silent))

    async def _check_books(self, session: _Session, books: list[str]) -> None:
        self.book_checks += 1
        try:
            rows = await self._rest(self.client.tickers)
        except BitsoError as error:
            log.debug("silent-book check: GET %s: %s", error.url, error)
            rows = []
        now = self.clock.time()
        by_book = {row["book"]: row for row in rows if isinstance(row.get("book"), str)}
        statuses = self.board.snapshot()
        for book in books:
            quote, row = statuses[book].quote, by_book.get(book)
            session.heard[book] = now  # checked: look again after another timeout
            if row is None or quote is None or statuses[book].problem is not None:
                continue
            bid, ask = parse_price(row.get("bid")), parse_price(row.get("ask"))
            if (bid, ask) != (quote.bid, quote.ask):
                session.lost_book = (
                    book,
                    (
                        f"{book} sent no frame for {now - quote.observed_at:.0f} s while the "
                        f"ticker moved (ticker {bid}/{ask}, stream {quote.bid}/{quote.ask})"
                    ),
                )
                return

    def _on_frame(self, session: _Session, message: str | bytes, now: float) -> None:
        if self.depth == "top" and isinstance(message, str):
            # Nearly every frame: a well-formed `orders` frame, read without the general reader.
            orders = read_orders(message)
            if orders is not None and orders[0] in session.syncs:
                book, bid, ask = orders
                session.heard[book] = now
                session.moved.add(book)
                self._publish(book, bid, ask, now)
                return
        self._on_any_frame(session, message, now)

    def _on_any_frame(self, session: _Session, message: str | bytes, now: float) -> None:
        if isinstance(message, bytes):
            self._skip("binary", "a binary frame")
            return
        try:
            frame = json.loads(message)
        except (ValueError, RecursionError):
            self._skip("not-json", f"a frame that is not JSON: {message[:80]!r}")
            return
        if not isinstance(frame, dict):
            self._skip("not-object", f"a JSON frame that is not an object: {message[:80]!r}")
            return
        kind, book = frame.get("type"), frame.get("book")
        # Anything may come in `type` and `book`: only strings are compared with ours.
        kind = kind if isinstance(kind, str) else None
        book = book if isinstance(book, str) else None
        if "error" in frame:
            self._on_error(session, frame, book)
        elif frame.get("action") == "subscribe":
            self._on_answer(session, book)
        elif kind == "ka":
            return
        elif kind == self.channel and book in session.syncs:
            session.heard[book] = now
            try:
                if self.depth == "top":
                    self._on_orders(session, book, frame, now)
                else:
                    self._on_diff(session, book, frame, now)
            except MALFORMED as error:
                self._skip(f"bad-{kind}", f"a malformed {kind} frame ({error!r})")
        elif kind == self.channel and book is not None:
            self._skip("unsubscribed-book", f"a {kind} frame for a book not subscribed: {book!r}")
        else:
            shown = frame.get("type")
            self._skip(
                f"type-{kind}"
                if kind in ("orders", "diff-orders", "trades")
                else "unexpected-type",
                f"a frame of unexpected type {shown!r} or book"[:200],
            )

    def _skip(self, key: str, what: str) -> None:
        self.problems.note(key, what)

    def _on_error(self, session: _Session, frame: dict, book: str | None) -> None:
        error = str(frame["error"])[:200]
        if book is None:
            # Bitso names a refused book only at the end of the message.
            book = next((name for name in session.books if error.endswith(f" {name}")), None)
        if frame.get("action") == "subscribe" and self._answered(session, book):
            log.warning("%s: subscription to %s refused: %s", book, self.channel, error)
            self.board.report_problem(book, f"subscription refused: {error}")
            self._after_answer(session)
        else:
            self._skip("error-frame", f"an error frame: {json.dumps(frame)[:200]}")

    def _answered(self, session: _Session, book: str | None) -> bool:
        """Note the first answer to a book's subscription; False for any other."""
        if book is None or book not in session.syncs or book in session.answered:
            return False
        session.answered.add(book)
        return True

    def _on_answer(self, session: _Session, book: str | None) -> None:
        if book is None or not self._answered(session, book):
            return
        # A duplicate subscription is answered "Already subscribed ...": still subscribed.
        session.acked.append(book)
        if self.depth == "book":
            self._start_sync(session, book)
        self._after_answer(session)

    def _after_answer(self, session: _Session) -> None:
        if len(session.answered) < len(session.books):
            return
        if self.depth == "top":
            session.start("ticker", "first-quotes request", self._seed(session))
        else:
            self._resume_when_synced(session)

    def _resume_when_synced(self, session: _Session) -> None:
        if len(session.answered) == len(session.books) and session.synced >= set(session.acked):
            self._resumed()

    async def _seed(self, session: _Session) -> None:
        """First quotes, from one ticker request, for the acknowledged books that have not
        moved since; a book that moved has its state from the stream already."""
        rows: list[dict] = []
        failures = 0
        while session.acked:
            try:
                rows = await self._rest(self.client.tickers)
                break
            except BitsoError as error:
                failures += 1
                pause = failure_pause(failures)
                log.warning("GET %s: %s; first quotes again in %g s", error.url, error, pause)
                for book in session.acked:
                    if book not in session.moved:
                        self.board.report_problem(book, f"no first quote yet: {error}")
                await asyncio.sleep(pause)
        now = self.clock.time()
        by_book = {row["book"]: row for row in rows if isinstance(row.get("book"), str)}
        for book in session.acked:
            if book in session.moved:
                continue
            row = by_book.get(book, {})
            self._publish(book, parse_price(row.get("bid")), parse_price(row.get("ask")), now)
        self._resumed()

    def _on_orders(self, session: _Session, book: str, frame: dict, now: float) -> None:
        payload = frame["payload"]
        if not isinstance(payload, dict):
            raise TypeError(f"payload is {type(payload).__name__}, not an object")
        prices = []
        for side in ("bids", "asks"):
            orders = payload[side]
            if not isinstance(orders, list):
                raise TypeError(f"{side} is {type(orders).__name__}, not a list")
            side_prices = []
            for order in orders:
                # Entries lacking a rate, amount or side (or not objects) make the frame unusable.
                rate, _amount, _side = order["r"], order["a"], order["t"]
                price = parse_price(rate)
                if price is None:
                    raise ValueError(f"rate {rate!r} is not a price"[:120])
                side_prices.append(price)
            prices.append(side_prices)
        bid, ask = best_bid_ask(*prices)
        session.moved.add(book)
        self._publish(book, bid, ask, now)

    def _on_diff(self, session: _Session, book: str, frame: dict, now: float) -> None:
        sequence = frame["sequence"]
        if not isinstance(sequence, int) or isinstance(sequence, bool):
            raise ValueError(f"sequence {sequence!r} is not an integer"[:120])
        sync = session.syncs[book]
        if sync.book is not None and sequence <= sync.book.sequence:
            self._skip(
                "sequence-not-new",
                f"{book} diff-orders {sequence} (a repeat or regression: the book is at "
                f"{sync.book.sequence})",
            )
            return
        try:
            changed = sync.on_diff(sequence, frame["payload"])
        except OutOfSync as gap:
            self._out_of_sync(session, book, str(gap))
            return
        if changed and sync.book is not None:
            self._publish(book, sync.book.best_bid, sync.book.best_ask, now, sync.book.sequence)

    def _out_of_sync(self, session: _Session, book: str, reason: str) -> None:
        log.warning("%s: %s; fetching a new snapshot", book, reason)
        self.resyncs[book] += 1
        self.board.report_problem(book, f"resyncing the order book: {reason}")
        self._start_sync(session, book)

    def _start_sync(self, session: _Session, book: str) -> None:
        task = session.tasks.get(book)
        if task is None or task.done():
            session.start(book, f"depth sync of {book}", self._sync(session, book))

    async def _sync(self, session: _Session, book: str) -> None:
        """Fetch snapshots until one joins the queued messages, then publish the book's top."""
        failures = 0
        sync = session.syncs[book]
        while True:
            try:
                payload = await self._rest(lambda: self.client.order_book(book))
                snapshot = OrderBook.from_snapshot(payload)
                sync.on_snapshot(snapshot)
                break
            except (BitsoError, ValueError) as error:
                failures += 1
                pause = failure_pause(failures)
                log.warning("%s: no usable snapshot (%s); again in %g s", book, error, pause)
                self.board.report_problem(book, f"no order-book snapshot: {error}")
                await asyncio.sleep(pause)
            except OutOfSync as gap:
                log.warning("%s: %s after the snapshot; fetching another", book, gap)
        now = self.clock.time()
        self._publish(book, snapshot.best_bid, snapshot.best_ask, now, snapshot.sequence)
        session.synced.add(book)
        self._resume_when_synced(session)

    async def _rest(self, call: Callable[[], T]) -> T:
        """One REST request, in turn with the others and within the budget."""
        async with self._rest_lock:
            while (wait := self.budget.next_allowed(self.clock.time()) - self.clock.time()) > 0:
                await asyncio.sleep(wait)
            self.budget.spend(self.clock.time())
            self.rest_requests += 1
            return await asyncio.to_thread(call)

    def _publish(
        self,
        book: str,
        bid: Decimal | None,
        ask: Decimal | None,
        now: float,
        sequence: int | None = None,
    ) -> None:
        problem = book_problem(bid, ask)
        if problem is None:
            if self._book_problems.pop(book, None) is not None:
                log.info("%s has a usable top of book again", book)
            self.board.publish(Quote(book, bid, ask, now, self.name, sequence))
            return
        self.board.report_problem(book, problem)
        kind = problem.split(" (")[0]
        if self._book_problems.get(book) != kind:
            self._book_problems[book] = kind
            log.warning("%s: %s; its seconds are recorded as gaps", book, problem)
