"""The books the local server lists: 54, shaped like Bitso's list of 2026 (26 *_usd, 12 *_mxn,
5 *_usdt, 4 *_brl, 3 *_ars, 2 *_cop, 1 *_usds, 1 *_btc), with plausible prices and ticks."""

from __future__ import annotations

import dataclasses
from decimal import ROUND_HALF_EVEN, Decimal

# Rough unit prices in US dollars; only their magnitude matters to the simulation.
_USD_PRICES = {
    "btc": "86000",
    "eth": "2800",
    "xrp": "2.2",
    "sol": "140",
    "ltc": "85",
    "ada": "0.65",
    "doge": "0.17",
    "dot": "4.1",
    "link": "14.5",
    "matic": "0.21",
    "avax": "21",
    "shib": "0.0000125",
    "uni": "7.2",
    "aave": "160",
    "bch": "330",
    "trx": "0.24",
    "atom": "4.6",
    "xlm": "0.28",
    "algo": "0.19",
    "near": "2.7",
    "pepe": "0.0000085",
    "bonk": "0.000015",
    "arb": "0.35",
    "op": "0.75",
    "bar": "2600",
    "sand": "0.27",
    "mana": "0.3",
    "bat": "0.16",
    "dai": "1",
    "usd": "1",
    "usdt": "1",
    "tusd": "1",
    "brl1": "0.18",
}
# Units of the quote currency per US dollar.
_QUOTE_PER_USD = {
    "usd": "1",
    "usdt": "1",
    "usds": "1",
    "mxn": "18",
    "brl": "5.5",
    "ars": "1050",
    "cop": "4000",
    "btc": "0.0000116279",
}
BOOKS = (
    "btc_usd",
    "eth_usd",
    "xrp_usd",
    "sol_usd",
    "ltc_usd",
    "ada_usd",
    "doge_usd",
    "dot_usd",
    "link_usd",
    "matic_usd",
    "avax_usd",
    "shib_usd",
    "uni_usd",
    "aave_usd",
    "bch_usd",
    "trx_usd",
    "atom_usd",
    "xlm_usd",
    "algo_usd",
    "near_usd",
    "pepe_usd",
    "bonk_usd",
    "arb_usd",
    "op_usd",
    "bar_usd",
    "sand_usd",
    "btc_mxn",
    "eth_mxn",
    "xrp_mxn",
    "usd_mxn",
    "sol_mxn",
    "ltc_mxn",
    "usdt_mxn",
    "mana_mxn",
    "bat_mxn",
    "dai_mxn",
    "ada_mxn",
    "doge_mxn",
    "btc_usdt",
    "eth_usdt",
    "usd_usdt",
    "xrp_usdt",
    "sol_usdt",
    "btc_brl",
    "eth_brl",
    "usdt_brl",
    "brl1_brl",
    "btc_ars",
    "eth_ars",
    "usd_ars",
    "btc_cop",
    "usd_cop",
    "btc_usds",
    "tusd_btc",
)


@dataclasses.dataclass(frozen=True)
class Listing:
    """A book as the exchange lists it: a reference ask price and the tick prices move in."""

    book: str
    reference_ask: Decimal
    tick: Decimal


def listing_for(book: str) -> Listing:
    """A listing with about six significant digits of price (btc_mxn ≈ 1548000, tick 10)."""
    major, minor = book.split("_")
    price = Decimal(_USD_PRICES[major]) * Decimal(_QUOTE_PER_USD[minor])
    tick = Decimal(1).scaleb(price.adjusted() - 5)
    return Listing(book, price.quantize(tick, rounding=ROUND_HALF_EVEN), tick)


def default_listings() -> list[Listing]:
    return [listing_for(book) for book in BOOKS]
