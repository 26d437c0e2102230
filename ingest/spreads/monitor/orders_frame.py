"""The fast reading of a well-formed `orders` frame: its book and its best bid and ask.

Bitso sends a few hundred `orders` frames a second for all books, each with the top 20 orders of
both sides (about 4.5 KB). msgspec decodes such a frame into the few fields the top of book needs
and checks their shapes as it goes, skipping the others unread. A frame of any other type or
shape, or with a rate that is not a price, is not read here: the WebSocket source's general
reader (standard-library JSON) reads it and says what is wrong with it, so what is skipped, and
why, does not depend on this path.
"""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Any, Literal

import msgspec

from ingest.spreads.monitor.quotes import parse_price

# A frame's rates are mostly the ones of the frames before it: each distinct rate is parsed once.
# The bound holds the top 20 of every book many times over; past it, rates are parsed again.
RATE_CACHE_SIZE = 16_384


class _NotAPrice(Exception):
    pass


@functools.lru_cache(maxsize=RATE_CACHE_SIZE)
def _price(rate: str) -> Decimal:
    # Raising rather than returning None keeps the lists all decimals: looking for a None among
    # them would compare every Decimal with None, which is slow. Failures are not cached.
    price = parse_price(rate)
    if price is None:
        raise _NotAPrice(rate)
    return price


class _Order(msgspec.Struct):
    # Only the rate is used; an entry without an amount or a side still makes the frame unusable.
    r: str
    a: Any
    t: Any


class _Payload(msgspec.Struct):
    bids: list[_Order]
    asks: list[_Order]


class _OrdersFrame(msgspec.Struct):
    type: Literal["orders"]
    book: str
    payload: _Payload
    # Present only on answers and errors: a frame carrying either goes to the general reader.
    action: Any = msgspec.UNSET
    error: Any = msgspec.UNSET


_decoder = msgspec.json.Decoder(_OrdersFrame)


def read_orders(message: str) -> tuple[str, Decimal | None, Decimal | None] | None:
    """The book, the highest bid and the lowest ask of an `orders` frame whose every entry has a
    rate, an amount and a side, and whose every rate is a price; None for any other frame."""
    try:
        frame = _decoder.decode(message)
    except (ValueError, RecursionError):
        # Not JSON, another shape, or text that is not UTF-8 (UnicodeError is a ValueError).
        return None
    if frame.action is not msgspec.UNSET or frame.error is not msgspec.UNSET:
        return None
    try:
        bids = [_price(order.r) for order in frame.payload.bids]
        asks = [_price(order.r) for order in frame.payload.asks]
    except _NotAPrice:
        return None
    return frame.book, max(bids, default=None), min(asks, default=None)
