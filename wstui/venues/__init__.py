"""Venue adapters, one module per exchange, picked by the connection's address.

Adding a venue: write ``wstui/venues/<name>.py`` with a :class:`~wstui.venues.base.Venue` subclass and
add it to ``VENUES`` below.  The first adapter whose ``matches(host, path)`` is true wins.
"""

from __future__ import annotations

from .base import Venue, split_addr
from .binance import BinanceFutures, BinanceSpot
from .bitfinex import BitfinexV2
from .bitstamp import BitstampV2
from .bybit import BybitInverse, BybitLinear, BybitSpot
from .coinbase import Coinbase
from .deribit import Deribit
from .gemini import GeminiV2
from .generic import Generic
from .kraken import KrakenV2
from .kraken_v1 import KrakenV1
from .okx import OKX

VENUES: list[type[Venue]] = [
    KrakenV2,
    BinanceSpot,
    BinanceFutures,
    BitstampV2,
    BitfinexV2,
    Deribit,
    GeminiV2,
    Coinbase,
    OKX,
    BybitSpot,
    BybitLinear,
    BybitInverse,
    KrakenV1,
]


def venue_for(addr: str) -> type[Venue]:
    """The adapter class for a connection address; :class:`Generic` when no venue claims it."""
    host, path = split_addr(addr)
    for v in VENUES:
        if v.matches(host, path):
            return v
    return Generic


def venue_by_name(name: str) -> type[Venue] | None:
    for v in VENUES:
        if v.name == name:
            return v
    return None


__all__ = ["VENUES", "Venue", "Generic", "venue_for", "venue_by_name"]
