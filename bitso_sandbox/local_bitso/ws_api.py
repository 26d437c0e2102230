"""The WebSocket face of the local Bitso, on the `websockets` asyncio server: subscribe and
acknowledgement, `orders` (the top 20 orders per side) and `diff-orders` (order changes with the
book's sequence, shared with REST `order_book`) from the simulated books, `{"type":"ka"}` every
`ka_interval` seconds, error frames for bad requests, and the `ws_*` faults of exchange.py."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import logging
import threading
import time
from collections import defaultdict
from decimal import Decimal
from http import HTTPStatus

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from bitso_sandbox.local_bitso.exchange import (
    WS_FAULTS,
    BookView,
    Fault,
    RestingOrder,
    SimulatedExchange,
    price_text,
    resting_orders,
)

log = logging.getLogger(__name__)

CHANNELS = ("orders", "diff-orders", "trades")
ORDERS_PER_SIDE = 20
# How often the feed looks for changes nobody has asked about over REST yet.
WATCH_INTERVAL = 0.01
AMOUNT_QUANTUM = Decimal("0.00000001")
BAD_FRAMES: tuple[str | bytes, ...] = (
    "this is not JSON {",
    b"\x00\x01 a binary frame",
    '["a", "list", "not", "an", "object"]',
    '{"type": "surprise", "book": "btc_mxn", "payload": {}}',
    '{"type": "orders", "book": "btc_mxn", "payload": {"bids": [{"r": "abc"}], "asks": "no"}}',
    '{"type": "diff-orders", "book": "btc_mxn", "sequence": "x", "payload": {}}',
)

_TOP = {
    "bids": [{"r": "1547000", "a": "0.1", "t": 0}],
    "asks": [{"r": "1548000", "a": "0.1", "t": 1}],
}
# Fields of every wrong JSON type, for the `ws_hostile_frames` fault (none may move a quote).
HOSTILE_FRAMES: tuple[str | bytes, ...] = tuple(
    frame if isinstance(frame, str | bytes) else json.dumps(frame)
    for frame in (
        "42",
        '"orders"',
        "null",
        "true",
        "[" * 50_000,
        b"\xff\xfe",
        {"type": "orders", "book": ["btc_mxn"], "payload": _TOP},
        {"type": "orders", "book": {"b": "btc_mxn"}, "payload": _TOP},
        {"type": "orders", "book": 1, "payload": _TOP},
        {"type": "orders", "book": None, "payload": _TOP},
        {"type": "orders", "payload": _TOP},
        {"type": ["orders"], "book": "btc_mxn", "payload": _TOP},
        {"type": {"t": "orders"}, "book": "btc_mxn", "payload": _TOP},
        {"type": None, "book": "btc_mxn", "payload": _TOP},
        {"book": "btc_mxn", "payload": _TOP},
        {"type": "orders", "book": "btc_mxn", "payload": None},
        {"type": "orders", "book": "btc_mxn"},
        {"type": "orders", "book": "btc_mxn", "payload": [1]},
        {"type": "orders", "book": "btc_mxn", "payload": {"bids": "no", "asks": []}},
        {
            "type": "orders",
            "book": "btc_mxn",
            "payload": {"bids": [{"a": "1", "t": 0}], "asks": []},
        },
        {
            "type": "orders",
            "book": "btc_mxn",
            "payload": {"bids": [{"r": "1", "t": 0}], "asks": []},
        },
        {
            "type": "orders",
            "book": "btc_mxn",
            "payload": {"bids": [{"r": "1", "a": "1"}], "asks": []},
        },
        {
            "type": "orders",
            "book": "btc_mxn",
            "payload": {"bids": [{"r": "NaN", "a": "1", "t": 0}], "asks": []},
        },
        {
            "type": "orders",
            "book": "btc_mxn",
            "payload": {"bids": [], "asks": [{"r": "Infinity", "a": "1", "t": 1}]},
        },
        {
            "type": "orders",
            "book": "btc_mxn",
            "payload": {"bids": [{"r": ["1"], "a": "1", "t": 0}], "asks": []},
        },
        {"type": "orders", "book": "eth_mxn", "payload": _TOP},
        {"type": "diff-orders", "book": ["btc_mxn"], "sequence": 1, "payload": []},
        {"type": "diff-orders", "book": "btc_mxn", "sequence": None, "payload": []},
        {"type": "diff-orders", "book": "btc_mxn", "sequence": [1], "payload": []},
        {"type": "diff-orders", "book": "eth_mxn", "sequence": 1, "payload": []},
        {"action": "subscribe", "error": ["x"], "book": ["btc_mxn"]},
        {"action": "subscribe", "response": "ok", "book": [1]},
        {"action": "subscribe", "response": "ok", "book": {}},
    )
)


def _ms() -> int:
    return int(time.time() * 1000)


def _stripped(value: Decimal) -> str:
    """Bitso's `orders` channel strips trailing zeros from amounts ("0.0356")."""
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


@functools.lru_cache(maxsize=16_384)
def _orders_entry(order: RestingOrder, created_ms: int) -> dict[str, object]:
    """One order as the `orders` channel writes it; most are the same from frame to frame."""
    return {
        "a": _stripped(order.amount),
        "d": created_ms,
        "o": order.oid,
        "r": price_text(order.price),
        "s": "undefined",
        "t": order.side,
        "v": _stripped(order.amount * order.price),
    }


def orders_payload(view: BookView, created_ms: int) -> dict[str, list[dict[str, object]]]:
    # Two orders per level: the top 20 orders are those of the top 10 levels.
    top = dataclasses.replace(
        view, bids=view.bids[: ORDERS_PER_SIDE // 2], asks=view.asks[: ORDERS_PER_SIDE // 2]
    )
    bids, asks = resting_orders(top)
    return {
        "bids": [_orders_entry(order, created_ms) for order in bids],
        "asks": [_orders_entry(order, created_ms) for order in asks],
    }


def diff_payload(before: BookView, after: BookView, created_ms: int) -> list[dict[str, object]]:
    """The order changes from one view to the next: cancellations first, then opens (a changed
    amount is an `open` with the same id). Amounts are padded to 8 decimals, as on the wire."""
    old = {order.oid: order for side in resting_orders(before) for order in side}
    new = {order.oid: order for side in resting_orders(after) for order in side}
    now = _ms()

    def entry(order: RestingOrder, status: str) -> dict[str, object]:
        amount = order.amount.quantize(AMOUNT_QUANTUM)
        return {
            "a": format(amount, "f"),
            "d": created_ms,
            "o": order.oid,
            "r": price_text(order.price),
            "s": status,
            "t": order.side,
            "v": format((amount * order.price).quantize(AMOUNT_QUANTUM), "f"),
            "z": now,
        }

    cancelled = [entry(order, "cancelled") for oid, order in old.items() if oid not in new]
    opened = [entry(order, "open") for oid, order in new.items() if old.get(oid) != order]
    return cancelled + opened


@dataclasses.dataclass(eq=False)
class _Client:
    connection: ServerConnection
    subscriptions: set[tuple[str, str]] = dataclasses.field(default_factory=set)
    outbox: asyncio.Queue[str | bytes] = dataclasses.field(default_factory=asyncio.Queue)


class LocalBitsoWebSocket:
    """The WebSocket server, on its own thread and event loop: `start()` binds (port 0 picks a
    free one) and `stop()` ends it."""

    def __init__(
        self,
        exchange: SimulatedExchange,
        host: str = "127.0.0.1",
        port: int = 0,
        ka_interval: float = 20.0,
    ) -> None:
        self.exchange = exchange
        self.host = host
        self.port = port
        self.ka_interval = ka_interval
        self.created_ms = int(exchange.started * 1000)
        self._clients: set[_Client] = set()
        self._last_orders: dict[str, dict] = {}
        self._last_diff: dict[str, str] = {}
        self._applied: list[Fault] = []
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def start(self) -> None:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            try:
                asyncio.run(self._serve(ready))
            except OSError as error:
                failure.append(error)
                ready.set()

        self._thread = threading.Thread(target=run, name="local-bitso-ws", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            self._thread.join()

    async def _serve(self, ready: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        # Bitso sends no protocol pings of its own; keep-alives are `ka` frames.
        async with serve(
            self._handle, self.host, self.port, ping_interval=None, process_request=self._admit
        ) as server:
            self.port = next(iter(server.sockets)).getsockname()[1]
            self.exchange.add_listener(self._on_change)
            ready.set()
            watcher = asyncio.create_task(self._watch())
            try:
                await self._stopping.wait()
            finally:
                self.exchange.remove_listener(self._on_change)
                watcher.cancel()

    def _admit(self, connection: ServerConnection, _request: Request) -> Response | None:
        """During a `ws_drop` fault the handshake is refused with HTTP 503."""
        if self.exchange.active_fault(("ws_drop",)) is None:
            return None
        return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "try again later\n")

    async def _handle(self, connection: ServerConnection) -> None:
        client = _Client(connection)
        self._clients.add(client)
        tasks = [
            asyncio.create_task(self._send_loop(client)),
            asyncio.create_task(self._ka(client)),
        ]
        try:
            async for message in connection:
                await self._on_request(client, message)
        except ConnectionClosed:
            pass
        finally:
            self._clients.discard(client)
            for task in tasks:
                task.cancel()

    async def _on_request(self, client: _Client, message: str | bytes) -> None:
        """Answers a client frame the way Bitso does (the replies recorded on the live API)."""
        try:
            request = json.loads(message)
        except ValueError:
            request = None
        if not isinstance(request, dict):
            self._send(client, {"error": "invalid message", "time": _ms()})
            return
        action, channel, book = request.get("action"), request.get("type"), request.get("book")
        if action not in ("subscribe", "unsubscribe"):
            self._send(
                client,
                {"action": action, "type": channel, "error": "unknown subscription", "time": _ms()},
            )
            return
        if action == "subscribe" and book is None:
            # Bitso answers nothing and closes with 1011.
            await client.connection.close(1011, "missing book")
            return
        if channel not in CHANNELS:
            error = f"This type of channel is not supported - {channel}"
        elif book not in self.exchange.listings:
            error = f"This book is not supported - {book}"
        else:
            error = None
        if error is not None:
            self._send(client, {"action": action, "type": channel, "error": error, "time": _ms()})
            return
        key = (channel, book)
        response = "ok"
        if action == "unsubscribe":
            client.subscriptions.discard(key)
        elif key in client.subscriptions:
            response = f"Already subscribed to channel: {channel}:{book}"
        else:
            # Seen now, so a change right after the acknowledgement is sent as a change.
            self.exchange.view(book)
            client.subscriptions.add(key)
        reply = {"action": action, "response": response, "time": _ms(), "type": channel}
        self._send(client, {**reply, "book": book})

    def _send(self, client: _Client, frame: dict | str | bytes) -> None:
        text = frame if isinstance(frame, str | bytes) else json.dumps(frame, separators=(",", ":"))
        client.outbox.put_nowait(text)

    async def _send_loop(self, client: _Client) -> None:
        while True:
            frame = await client.outbox.get()
            while (silence := self.exchange.active_fault(("ws_silence",))) is not None:
                await asyncio.sleep(max(0.01, silence.end - self.exchange.elapsed()))
            try:
                await client.connection.send(frame)
            except ConnectionClosed:
                return

    async def _ka(self, client: _Client) -> None:
        while True:
            await asyncio.sleep(self.ka_interval)
            self._send(client, '{"type":"ka"}')

    def _on_change(self, before: BookView, after: BookView) -> None:
        """Called under the exchange's lock, from whichever thread saw the change first."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._broadcast, before, after)

    def _broadcast(self, before: BookView, after: BookView) -> None:
        book = after.book
        if any(fault.book == book for fault in self.exchange.active_faults(("ws_book_silence",))):
            return  # the change is never sent: the stream lost this book
        listeners: dict[str, list[_Client]] = defaultdict(list)
        for client in self._clients:
            for channel, subscribed in client.subscriptions:
                if subscribed == book:
                    listeners[channel].append(client)
        if listeners["orders"]:
            payload = orders_payload(after, self.created_ms)
            # Bitso sends `orders` only when the top 20 changed, never the same payload twice.
            if payload != self._last_orders.get(book):
                self._last_orders[book] = payload
                frame = {"type": "orders", "book": book, "payload": payload, "sent": _ms()}
                for client in listeners["orders"]:
                    self._send(client, frame)
        if listeners["diff-orders"] and not self.exchange.active_fault(("ws_sequence_gap",)):
            frame = {
                "type": "diff-orders",
                "book": book,
                "sequence": after.sequence,
                "payload": diff_payload(before, after, self.created_ms),
                "sent": _ms(),
            }
            text = json.dumps(frame, separators=(",", ":"))
            sent = [text]
            previous = self._last_diff.get(book)
            if self.exchange.active_fault(("ws_sequence_repeat",)):
                # A repeat, then a regression: both must be ignored by a client.
                sent += [text, *([previous] if previous else [])]
            self._last_diff[book] = text
            for client in listeners["diff-orders"]:
                for each in sent:
                    self._send(client, each)

    async def _watch(self) -> None:
        """Looks at every subscribed book (a change then reaches `_on_change`) and starts the
        faults that act once: cutting connections and the burst of bad frames."""
        while True:
            books = {book for client in self._clients for _, book in client.subscriptions}
            for book in books:
                self.exchange.view(book)
            self._applied = [
                fault for fault in self._applied if fault.end > self.exchange.elapsed()
            ]
            for fault in self.exchange.active_faults(WS_FAULTS):
                if any(fault is applied for applied in self._applied):
                    continue
                self._applied.append(fault)
                if fault.kind == "ws_drop":
                    log.info("cutting %d WebSocket connections", len(self._clients))
                    for client in self._clients:
                        client.connection.transport.abort()
                elif fault.kind == "ws_bad_frames":
                    for client in self._clients:
                        for frame in (*BAD_FRAMES, {"error": "invalid message", "time": _ms()}):
                            self._send(client, frame)
                elif fault.kind == "ws_hostile_frames":
                    for client in self._clients:
                        for frame in HOSTILE_FRAMES:
                            self._send(client, frame)
            await asyncio.sleep(WATCH_INTERVAL)
