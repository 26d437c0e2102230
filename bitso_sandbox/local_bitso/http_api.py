"""The REST face of the local Bitso: routes, envelopes and error shapes as the live API answers
them, a per-client rate limit, injected faults, and a few `/_local/` routes for tests. The
server object starts the WebSocket face (ws_api.py) beside it, on a port of its own."""

from __future__ import annotations

import email.utils
import itertools
import json
import logging
import math
import re
import socket
import struct
import threading
import time
from collections import defaultdict, deque
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from bitso_sandbox.local_bitso.exchange import (
    REST_FAULTS,
    BookView,
    Fault,
    ScriptError,
    SimulatedExchange,
    parse_fault,
    parse_step,
    price_text,
    resting_orders,
)
from bitso_sandbox.local_bitso.ws_api import LocalBitsoWebSocket

log = logging.getLogger(__name__)

API_ROUTE = re.compile(r"^/(?:api/)?v3/(available_books|ticker|order_book)/?$")
RATE_LIMITED_BODY = {
    "success": False,
    "error": {"code": "0801", "message": "You have hit the request rate-limit"},
}
CLOUDFLARE_PAGE = (
    "<!DOCTYPE html><html><head><title>Access denied | api.bitso.com used Cloudflare to restrict"
    " access</title></head><body><h1>Error 1020</h1><p>Access denied</p></body></html>"
)
UNAVAILABLE_PAGE = (
    "<html><head><title>503 Service Temporarily Unavailable</title></head>"
    "<body><center><h1>503 Service Temporarily Unavailable</h1></center></body></html>"
)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class RateLimiter:
    """At most `limit` requests per client in any `window` seconds; a client over it is refused
    for `lockout` seconds (Bitso: 60 per minute, then a one-minute lockout)."""

    def __init__(self, limit: int, window: float = 60.0, lockout: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self.lockout = lockout
        self._lock = threading.Lock()
        self._seen: dict[str, deque[float]] = defaultdict(deque)
        self._locked_until: dict[str, float] = {}

    def allow(self, client: str, now: float) -> bool:
        with self._lock:
            if self._locked_until.get(client, 0.0) > now:
                return False
            seen = self._seen[client]
            while seen and seen[0] <= now - self.window:
                seen.popleft()
            if len(seen) >= self.limit:
                self._locked_until[client] = now + self.lockout
                return False
            seen.append(now)
            return True


class ApiStats:
    """What tests check afterwards: every API request's time and what was refused."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.request_times: list[float] = []
        self.rate_limited = 0

    def record(self, at: float, rate_limited: bool) -> None:
        with self._lock:
            self.request_times.append(at)
            self.rate_limited += rate_limited

    def as_json(self) -> dict[str, object]:
        with self._lock:
            times = list(self.request_times)
            busiest, first = 0, 0
            for last, at in enumerate(times):
                while times[first] <= at - 60:
                    first += 1
                busiest = max(busiest, last - first + 1)
            return {
                "requests": len(times),
                "rate_limited": self.rate_limited,
                "max_requests_in_60s": busiest,
            }


def ticker_payload(view: BookView) -> dict[str, object]:
    bid, ask = view.best_bid, view.best_ask
    last = bid if bid is not None else ask
    return {
        "book": view.book,
        "volume": "12.34567890",
        "high": None if ask is None else price_text(ask * 101 / 100),
        "last": None if last is None else price_text(last),
        "low": None if bid is None else price_text(bid * 99 / 100),
        "vwap": None if last is None else price_text(last),
        # Bitso's reply for an empty book is not documented; null is this server's choice.
        "ask": None if ask is None else price_text(ask),
        "bid": None if bid is None else price_text(bid),
        "created_at": _now_iso(),
        "change_24": "0",
        "rolling_average_change": {"6": "0.0000"},
    }


def order_book_payload(view: BookView, aggregate: bool) -> dict[str, object]:
    if aggregate:
        bids, asks = (
            [
                {
                    "book": view.book,
                    "price": price_text(level.price),
                    "amount": price_text(level.amount),
                }
                for level in levels
            ]
            for levels in (view.bids, view.asks)
        )
    else:
        bids, asks = (
            [
                {
                    "book": view.book,
                    "price": price_text(order.price),
                    "amount": price_text(order.amount),
                    "oid": order.oid,
                }
                for order in orders
            ]
            for orders in resting_orders(view)
        )
    return {
        "asks": asks,
        "bids": bids,
        "updated_at": _now_iso(),
        "sequence": str(view.sequence),
    }


JSON = "application/json"
# Prices of every wrong kind, for the `hostile_json` fault.
HOSTILE_PRICES: tuple[object, ...] = (
    "NaN",
    "Infinity",
    "-Infinity",
    "0",
    "-1",
    "abc",
    "",
    None,
    ["1"],
    {"v": "1"},
    True,
)


def hostile_ticker_body(rows: list[dict[str, object]], variant: int) -> bytes:
    """The `variant`-th wrong ticker reply: wrong envelopes, wrong payload types, rows of the
    wrong types, missing books, and prices that are not positive numbers, crossed or empty."""
    envelopes: list[object] = [
        {"success": True, "payload": {"book": "btc_mxn"}},
        {"success": True, "payload": None},
        {"success": True, "payload": "ticker"},
        {"success": True},
        {"success": "true", "payload": rows},
        [1, 2, 3],
        "success",
        {"success": True, "payload": []},
        {"success": True, "payload": [5, None, "x", [1], {"book": ["btc_mxn"]}, {"book": {}}]},
    ]
    crossed = [dict(row, bid=row["ask"], ask=row["bid"]) for row in rows]
    empty = [dict(row, bid=None, ask=None) for row in rows]
    # Prices first: they leave the reply usable for the other books, so no backoff hides them.
    bad_prices = [
        [dict(row, bid=price) if i % 2 else dict(row, ask=price) for i, row in enumerate(rows)]
        for price in HOSTILE_PRICES
    ]
    replies = [
        *({"success": True, "payload": payload} for payload in (*bad_prices, crossed, empty)),
        *envelopes,
    ]
    return json.dumps(replies[variant % len(replies)]).encode()


HOSTILE_VARIANTS = 9 + len(HOSTILE_PRICES) + 2


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path.rstrip("/") == "/_local/stats":
            self._send_json(200, self.server.stats.as_json())
            return
        if url.path == "/_local/loop":
            # The `redirect_loop` fault's target, outside the rate limit: it redirects to itself.
            self._send(302, b"", "text/plain", {"Location": "/_local/loop"})
            return
        match = API_ROUTE.match(url.path)
        if match is None:
            self._send(404, b"", "text/plain")
            return
        self._api(match.group(1), {k: v[-1] for k, v in parse_qs(url.query).items()})

    def do_POST(self) -> None:
        exchange = self.server.exchange
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
            route = urlsplit(self.path).path.rstrip("/")
            if route == "/_local/faults":
                exchange.inject(parse_fault(body, "fault", now=exchange.elapsed()))
            elif route == "/_local/books" and body.get("book") in exchange.listings:
                exchange.set_step(body["book"], parse_step(body, body["book"]))
            else:
                self._send(404, b"", "text/plain")
                return
        except (ScriptError, json.JSONDecodeError, AttributeError) as error:
            self._send_json(400, {"error": str(error)})
            return
        self._send_json(200, {"ok": True})

    def _api(self, endpoint: str, query: dict[str, str]) -> None:
        server = self.server
        now = time.monotonic()
        allowed = server.limiter.allow(self.client_address[0], now)
        server.stats.record(now, rate_limited=not allowed)
        if not allowed:
            self._send_json(server.rate_limit_status, RATE_LIMITED_BODY)
            return
        fault = server.exchange.active_fault(REST_FAULTS)
        if fault is not None and self._send_fault(fault, endpoint, query):
            return
        exchange = server.exchange
        book = query.get("book")
        if endpoint == "available_books":
            payload: object = [
                {
                    "book": listing.book,
                    "minimum_amount": "0.00000100",
                    "maximum_amount": "1000000",
                    "minimum_price": price_text(listing.tick),
                    "maximum_price": price_text(listing.reference_ask * 100),
                    "minimum_value": "10.00",
                    "maximum_value": "100000000",
                    "tick_size": price_text(listing.tick),
                    "default_chart": "tradingview",
                    "fees": {"flat_rate": {"maker": "0.003", "taker": "0.0036"}, "structure": []},
                    "margin_enabled": False,
                }
                for listing in exchange.listings.values()
            ]
        elif endpoint == "ticker" and book is None:
            payload = [ticker_payload(exchange.view(name)) for name in exchange.books()]
        elif endpoint == "ticker":
            if book not in exchange.listings:
                # The live ticker still answers with the legacy numeric code and no `success`.
                self._send_json(
                    400, {"error": {"code": 20, "message": f"Unknown OrderBook {book}"}}
                )
                return
            payload = ticker_payload(exchange.view(book))
        else:
            if book not in exchange.listings:
                message = f"Unknown order book {book or 'missing'}"
                error = {"code": "0301", "details": [], "message": message}
                self._send_json(400, {"error": error, "success": False})
                return
            aggregate = query.get("aggregate", "true").lower() != "false"
            payload = order_book_payload(exchange.view(book), aggregate)
        self._send_json(200, {"payload": payload, "success": True})

    def _send_fault(self, fault: Fault, endpoint: str, query: dict[str, str]) -> bool:
        """Answer as the fault says; False when the request should then be served normally."""
        if fault.kind == "hostile_json":
            if endpoint != "ticker" or "book" in query:
                return False
            exchange = self.server.exchange
            rows = [ticker_payload(exchange.view(name)) for name in exchange.books()]
            self._send(200, hostile_ticker_body(rows, next(self.server.hostile_replies)), JSON)
            return True
        if fault.kind == "truncated":
            body = json.dumps({"success": True, "payload": []}).encode()
            self.send_response(200)
            self.send_header("Content-Type", JSON)
            self.send_header("Content-Length", str(len(body) + 100))
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True
            return True
        if fault.kind == "reset":
            # SO_LINGER 0: closing sends a TCP reset instead of a clean end.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return True
        if fault.kind == "redirect_loop":
            self._send(302, b"", "text/plain", {"Location": "/_local/loop"})
            return True
        if fault.kind == "bad_encoding":
            self._send(200, b"this is not gzip", JSON, {"Content-Encoding": "gzip"})
            return True
        if fault.kind == "retry_after_date":
            remaining = max(1, math.ceil(fault.end - self.server.exchange.elapsed()))
            date = email.utils.formatdate(time.time() + remaining + 1, usegmt=True)
            self._send_json(429, RATE_LIMITED_BODY, {"Retry-After": date})
            return True
        if fault.kind == "slow":
            time.sleep(fault.delay)
            return False
        if fault.kind == "http_500":
            body = {"success": False, "error": {"code": "0101", "message": "Unknown error"}}
            self._send_json(500, body)
        elif fault.kind == "http_503":
            self._send(503, UNAVAILABLE_PAGE.encode(), "text/html")
        elif fault.kind == "rate_limit_420":
            self._send_json(420, RATE_LIMITED_BODY)
        elif fault.kind == "rate_limit_429":
            remaining = max(1, math.ceil(fault.end - self.server.exchange.elapsed()))
            self._send_json(429, RATE_LIMITED_BODY, {"Retry-After": str(remaining)})
        elif fault.kind == "html":
            self._send(403, CLOUDFLARE_PAGE.encode(), "text/html")
        elif fault.kind == "success_false":
            body = {
                "success": False,
                "error": {"code": "1000", "message": "API temporarily disabled"},
            }
            self._send_json(200, body)
        else:  # "down": the supervisor closes the port; a request already accepted is dropped
            self.close_connection = True
        return True

    def _send_json(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(body).encode(), "application/json", headers)

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address, exchange, limiter, rate_limit_status, stats) -> None:
        self.exchange = exchange
        self.limiter = limiter
        self.rate_limit_status = rate_limit_status
        self.stats = stats
        self.hostile_replies = itertools.cycle(range(HOSTILE_VARIANTS))
        super().__init__(address, _Handler)

    def handle_error(self, request, client_address) -> None:
        # A client that gave up on a slow reply leaves a broken pipe: the fault worked.
        log.debug("connection from %s ended early", client_address[0], exc_info=True)


class LocalBitso:
    """The local server: `start()` binds (port 0 picks a free one), `stop()` ends it. A `down`
    fault closes the REST listening socket for its duration, so clients see refused
    connections. The WebSocket API listens on `ws_port` (0 picks a free one)."""

    def __init__(
        self,
        exchange: SimulatedExchange,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit: int = 60,
        rate_limit_status: int = 420,
        lockout: float = 60.0,
        ws_port: int = 0,
        ka_interval: float = 20.0,
    ) -> None:
        self.exchange = exchange
        self.host = host
        self.port = port
        self.limiter = RateLimiter(rate_limit, 60.0, lockout)
        self.rate_limit_status = rate_limit_status
        self.stats = ApiStats()
        self.websocket = LocalBitsoWebSocket(exchange, host, ws_port, ka_interval)
        self._server: _Server | None = None
        self._stopped = threading.Event()
        self._supervisor: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return self.websocket.url

    def start(self) -> None:
        self._bind()
        try:
            self.websocket.start()
        except OSError:
            self._unbind()
            raise
        self._supervisor = threading.Thread(target=self._supervise, name="downtime", daemon=True)
        self._supervisor.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._supervisor is not None:
            self._supervisor.join()
        self.websocket.stop()
        self._unbind()

    def _bind(self) -> None:
        server = _Server(
            (self.host, self.port), self.exchange, self.limiter, self.rate_limit_status, self.stats
        )
        self.port = server.server_address[1]
        threading.Thread(
            target=server.serve_forever, args=(0.1,), name="local-bitso", daemon=True
        ).start()
        self._server = server

    def _unbind(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _supervise(self) -> None:
        while not self._stopped.wait(0.05):
            fault = self.exchange.active_fault(("down",))
            down = fault is not None and fault.kind == "down"
            if down and self._server is not None:
                log.info("simulating downtime until %.0f s after start", fault.end)
                self._unbind()
            elif not down and self._server is None:
                self._bind()
                log.info("back up on %s", self.url)
