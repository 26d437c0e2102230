"""Simulated order books whose spreads follow a script over time, and the faults to inject.

Kept apart from any transport so the REST server (and later a WebSocket endpoint) serve the same
books. A script is a small JSON file::

    {
      "repeat_every": 60,
      "books": {
        "btc_mxn": [{"at": 0, "spread": "0.05"}, {"at": 10, "spread": "0.7"},
                    {"at": 20, "bid": "1540000", "ask": "1548000"}, {"at": 30, "state": "crossed"}]
      },
      "faults": [{"at": 40, "for": 5, "fault": "http_503"}, {"at": 50, "for": 3, "fault": "slow",
                  "delay": 4}]
    }

`at` counts seconds from the server's start (modulo `repeat_every` if given); a book's step
holds until its next step. `spread` is in percent of the ask; `state` is `normal`, `empty`
or `crossed`. Books without steps keep a default spread.

Every change a reader sees gets the book's next `sequence`, whoever looks first (a REST request
or the WebSocket feed), and listeners hear of it; so REST snapshots and `diff-orders` share one
counter, as on Bitso.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterable
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path

from bitso_sandbox.local_bitso.catalog import Listing

FAULTS = {
    "http_500": "HTTP 500 with Bitso's error envelope",
    "http_503": "HTTP 503 with an HTML page",
    "rate_limit_420": "HTTP 420 with error 0801, no Retry-After (Bitso's documented overrun)",
    "rate_limit_429": "HTTP 429 with a Retry-After header",
    "html": "HTTP 403 with Cloudflare's HTML 'Access denied' page",
    "success_false": 'HTTP 200 with {"success": false, ...}',
    "slow": "replies after `delay` seconds",
    "down": "the port refuses connections",
    "truncated": "HTTP 200 whose body is cut short of its Content-Length",
    "reset": "the connection is reset without a reply",
    "redirect_loop": "HTTP 302 to a URL that redirects to itself",
    "bad_encoding": "HTTP 200 marked gzip whose body is not gzip",
    "retry_after_date": "HTTP 429 with Retry-After as an HTTP date",
    "hostile_json": "ticker replies of the wrong JSON shapes and prices, another one each time",
    "ws_drop": "WebSocket connections are cut at the start; new handshakes get HTTP 503",
    "ws_silence": "WebSocket frames (keep-alives too) are held back until the fault ends",
    "ws_bad_frames": "every WebSocket connection gets a burst of malformed frames at the start",
    "ws_sequence_gap": "diff-orders messages are dropped, so clients see sequence gaps",
    "ws_hostile_frames": "every connection gets frames with fields of every wrong JSON type",
    "ws_sequence_repeat": "each diff-orders message is sent twice, then the one before it again",
    "ws_book_silence": "one book's frames stop (keep-alives and other books go on)",
}
WS_FAULTS = (
    "ws_drop",
    "ws_silence",
    "ws_bad_frames",
    "ws_sequence_gap",
    "ws_hostile_frames",
    "ws_sequence_repeat",
    "ws_book_silence",
)
REST_FAULTS = tuple(kind for kind in FAULTS if kind not in WS_FAULTS)
BOOK_STATES = ("normal", "empty", "crossed")
DEFAULT_SPREAD = Decimal("0.05")
LEVELS_PER_SIDE = 50
# Activity changes the amounts of the best ten levels per side (the `orders` channel's top 20).
ACTIVE_LEVELS = 10
SEQUENCE_BASE = 1_000_000


class ScriptError(ValueError):
    """A script file that cannot drive the simulation."""


def price_text(value: Decimal) -> str:
    """A price as Bitso writes it: a plain decimal string."""
    return format(value, "f")


@dataclasses.dataclass(frozen=True)
class BookStep:
    at: float
    state: str = "normal"
    spread: Decimal | None = None
    bid: Decimal | None = None
    ask: Decimal | None = None


@dataclasses.dataclass(frozen=True)
class Fault:
    kind: str
    start: float
    end: float
    delay: float = 0.0
    # `ws_book_silence`: the book whose frames stop.
    book: str | None = None


def _decimal(value: object, where: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except InvalidOperation as error:
        raise ScriptError(f"{where}: {value!r} is not a decimal") from error
    if not number.is_finite() or number < 0:
        raise ScriptError(f"{where}: {value!r} must be a non-negative number")
    return number


def parse_step(raw: dict, where: str) -> BookStep:
    """One book step from its JSON form (`at` defaults to 0, for steps set over HTTP)."""
    if not isinstance(raw, dict):
        raise ScriptError(f"{where}: a step must be an object")
    state = raw.get("state", "normal")
    if state not in BOOK_STATES:
        raise ScriptError(f"{where}: state must be one of {', '.join(BOOK_STATES)}")
    step = BookStep(
        at=float(_decimal(raw.get("at", 0), where)),
        state=state,
        spread=None if "spread" not in raw else _decimal(raw["spread"], where),
        bid=None if "bid" not in raw else _decimal(raw["bid"], where),
        ask=None if "ask" not in raw else _decimal(raw["ask"], where),
    )
    if (step.bid is None) != (step.ask is None):
        raise ScriptError(f"{where}: give both bid and ask, or neither")
    return step


def parse_fault(raw: dict, where: str, now: float = 0.0) -> Fault:
    """A fault from its JSON form, starting at `now + at` and lasting `for` seconds."""
    if not isinstance(raw, dict) or raw.get("fault") not in FAULTS:
        raise ScriptError(f"{where}: fault must be one of {', '.join(FAULTS)}")
    start = now + float(_decimal(raw.get("at", 0), where))
    return Fault(
        kind=raw["fault"],
        start=start,
        end=start + float(_decimal(raw.get("for", 1), where)),
        delay=float(_decimal(raw.get("delay", 0), where)),
        book=raw.get("book") if isinstance(raw.get("book"), str) else None,
    )


@dataclasses.dataclass(frozen=True)
class Script:
    books: dict[str, tuple[BookStep, ...]] = dataclasses.field(default_factory=dict)
    faults: tuple[Fault, ...] = ()
    repeat_every: float | None = None

    @classmethod
    def from_json(cls, data: object) -> Script:
        if not isinstance(data, dict):
            raise ScriptError("a script is a JSON object")
        books = {}
        for book, steps in (data.get("books") or {}).items():
            if not isinstance(steps, list):
                raise ScriptError(f"books.{book}: expected a list of steps")
            parsed = [parse_step(raw, f"books.{book}[{i}]") for i, raw in enumerate(steps)]
            books[book] = tuple(sorted(parsed, key=lambda step: step.at))
        faults = tuple(
            parse_fault(raw, f"faults[{i}]") for i, raw in enumerate(data.get("faults") or [])
        )
        repeat = data.get("repeat_every")
        repeat_every = None if repeat is None else float(_decimal(repeat, "repeat_every"))
        if repeat_every is not None and repeat_every <= 0:
            raise ScriptError("repeat_every must be greater than 0")
        return cls(books, faults, repeat_every)

    @classmethod
    def load(cls, path: Path) -> Script:
        try:
            return cls.from_json(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError) as error:
            raise ScriptError(f"cannot read script {path}: {error}") from error


@dataclasses.dataclass(frozen=True)
class Level:
    price: Decimal
    amount: Decimal


@dataclasses.dataclass(frozen=True)
class BookView:
    """A book at one instant: its levels best-first and the sequence of its last change."""

    book: str
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    sequence: int

    @property
    def best_bid(self) -> Decimal | None:
        return self.bids[0].price if self.bids else None

    @property
    def best_ask(self) -> Decimal | None:
        return self.asks[0].price if self.asks else None


@functools.lru_cache(maxsize=65_536)
def order_id(book: str, side: str, price: Decimal, index: int) -> str:
    """A stable 16-character id for a simulated resting order."""
    return hashlib.sha1(f"{book}:{side}:{price}:{index}".encode()).hexdigest()[:16]


@dataclasses.dataclass(frozen=True)
class RestingOrder:
    oid: str
    side: int  # Bitso's `t`: 0 buy (bid), 1 sell (ask)
    price: Decimal
    amount: Decimal


def resting_orders(view: BookView) -> tuple[list[RestingOrder], list[RestingOrder]]:
    """Bids and asks as individual orders, best first: each level is two orders of half its
    amount, with ids that stay the same while the level keeps its price."""

    def side(levels: tuple[Level, ...], name: str, flag: int) -> list[RestingOrder]:
        return [
            RestingOrder(order_id(view.book, name, level.price, index), flag, level.price, half)
            for level in levels
            for half in (level.amount / 2,)
            for index in range(2)
        ]

    return side(view.bids, "bid", 0), side(view.asks, "ask", 1)


@dataclasses.dataclass(frozen=True)
class _Observed:
    key: tuple
    view: BookView


Listener = Callable[[BookView, BookView], None]


class SimulatedExchange:
    """The books, moving through their scripted steps; thread-safe."""

    def __init__(
        self,
        listings: Iterable[Listing],
        script: Script | None = None,
        clock: Callable[[], float] = time.time,
        activity: float = 0.0,
    ) -> None:
        """`activity`: changes per second per book to the amounts near the top (0 keeps books
        still between script steps); each is one `diff-orders` and one `orders` message."""
        self.listings = {listing.book: listing for listing in listings}
        self.script = script or Script()
        unknown = sorted(set(self.script.books) - set(self.listings))
        if unknown:
            raise ScriptError(f"the script names books the exchange does not list: {unknown}")
        if activity < 0:
            raise ScriptError("activity must be 0 or more changes per second")
        self.clock = clock
        self.started = clock()
        self.activity = activity
        self._index = {book: index for index, book in enumerate(self.listings)}
        self._lock = threading.Lock()
        self._overrides: dict[str, tuple[BookStep, int]] = {}
        self._injected: list[Fault] = []
        self._observed: dict[str, _Observed] = {}
        self._listeners: list[Listener] = []

    def books(self) -> list[str]:
        return list(self.listings)

    def elapsed(self) -> float:
        return self.clock() - self.started

    def set_step(self, book: str, step: BookStep) -> None:
        """Replace the script of `book` by one step from now on."""
        with self._lock:
            changes = self._overrides.get(book, (step, 0))[1] + 1
            self._overrides[book] = (step, changes)

    def inject(self, fault: Fault) -> None:
        with self._lock:
            self._injected.append(fault)

    def add_listener(self, listener: Listener) -> None:
        """`listener(before, after)` hears of every change, in sequence order, under the
        exchange's lock: it must only hand the change on."""
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.remove(listener)

    def active_faults(self, kinds: Iterable[str] = tuple(FAULTS)) -> list[Fault]:
        """The faults of these kinds in force now: injected ones first, then the script's."""
        kinds = set(kinds)
        elapsed = self.elapsed()
        with self._lock:
            self._injected = [fault for fault in self._injected if fault.end > elapsed]
            active = [fault for fault in self._injected if fault.start <= elapsed]
        active += [fault for fault in self.script.faults if fault.start <= elapsed < fault.end]
        return [fault for fault in active if fault.kind in kinds]

    def active_fault(self, kinds: Iterable[str] = tuple(FAULTS)) -> Fault | None:
        """The first fault of these kinds in force now, if any."""
        return next(iter(self.active_faults(kinds)), None)

    def _current_step(self, book: str, elapsed: float) -> tuple[tuple, BookStep]:
        """The step in force and a key that changes whenever the book may have changed."""
        override = self._overrides.get(book)
        if override is not None:
            return ("override", override[1]), override[0]
        cycles = 0.0
        if self.script.repeat_every:
            cycles, elapsed = divmod(elapsed, self.script.repeat_every)
        current = [step for step in self.script.books.get(book, ()) if step.at <= elapsed]
        step = current[-1] if current else BookStep(at=0, spread=DEFAULT_SPREAD)
        return ("script", cycles, len(current)), step

    def _touches(self, book: str, elapsed: float) -> int:
        """How many activity changes the book has had; books are out of phase with each other."""
        if not self.activity:
            return 0
        return int(elapsed * self.activity + self._index[book] / len(self._index))

    def view(self, book: str) -> BookView:
        """The book now. Raises KeyError for a book the exchange does not list."""
        listing = self.listings[book]
        elapsed = self.elapsed()
        touches = self._touches(book, elapsed)
        with self._lock:
            step_key, step = self._current_step(book, elapsed)
            key = (step_key, touches)
            seen = self._observed.get(book)
            if seen is not None and seen.key == key:
                return seen.view
            bids, asks = _levels(listing, step, touches)
            if seen is None:
                view = BookView(book, bids, asks, SEQUENCE_BASE + 1_000 * self._index[book])
            elif (bids, asks) == (seen.view.bids, seen.view.asks):
                view = seen.view
            else:
                view = BookView(book, bids, asks, seen.view.sequence + 1)
                for listener in self._listeners:
                    listener(seen.view, view)
            self._observed[book] = _Observed(key, view)
            return view


def _amount(base: Decimal, touches: int, index: int, side: int) -> Decimal:
    """The amount of level `index` of a side (0 bids, 1 asks) after `touches` activity changes:
    change n goes to slot n mod 20, and slot 2 * index + side is that level's."""
    slot = 2 * index + side
    if index >= ACTIVE_LEVELS or touches <= slot:
        return base
    last = touches - 1 - (touches - 1 - slot) % (2 * ACTIVE_LEVELS)
    return base + Decimal(last % 97 + 1) / 10_000


def _levels(
    listing: Listing, step: BookStep, touches: int
) -> tuple[tuple[Level, ...], tuple[Level, ...]]:
    """Both sides' levels, best first, for a step of the script after `touches` changes."""
    bids, asks = _still_levels(listing, step)
    if not touches:
        return bids, asks
    return tuple(
        tuple(
            Level(level.price, _amount(level.amount, touches, i, side))
            if i < ACTIVE_LEVELS
            else level
            for i, level in enumerate(levels)
        )
        for side, levels in enumerate((bids, asks))
    )


@functools.lru_cache(maxsize=1024)
def _still_levels(listing: Listing, step: BookStep) -> tuple[tuple[Level, ...], tuple[Level, ...]]:
    """The levels of a step before any activity (the same for every change of a busy book)."""
    if step.state == "empty":
        return (), ()
    tick = listing.tick
    if step.bid is not None and step.ask is not None:
        bid, ask = step.bid, step.ask
    else:
        ask = listing.reference_ask
        spread = DEFAULT_SPREAD if step.spread is None else step.spread
        distance = (ask * spread / 100 / tick).to_integral_value(ROUND_HALF_EVEN) * tick
        bid = ask - max(distance, tick)
    if step.state == "crossed":
        bid = ask + 5 * tick
    # Levels a few ticks apart, about 0.02 % of the price, like a busy book.
    step_size = max(tick, (ask * Decimal("0.0002") / tick).to_integral_value() * tick)
    bids = tuple(
        Level(bid - i * step_size, Decimal("0.013") * (i % 7 + 1))
        for i in range(LEVELS_PER_SIDE)
        if bid - i * step_size > 0
    )
    asks = tuple(
        Level(ask + i * step_size, Decimal("0.011") * (i % 5 + 1)) for i in range(LEVELS_PER_SIDE)
    )
    return bids, asks
