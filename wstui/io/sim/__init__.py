"""``wstui serve --sim``: an endless synthetic market spoken in real venue protocols.

Books and trades look real (a random walk of sizes near the top, levels appearing inside the spread and
vanishing, trades eating the best level) and verify the way the real venues do.  Each venue's protocol is
a module of this package (see :mod:`wstui.io.sim.proto`); the client's request path picks it, and where
several protocols share a path (``/``) the client's first frame does.

``rate`` is book events per second per symbol.  Exchange timestamps are the time each event was
generated, so a client's latency (exchange time -> applied) measures the whole path.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import TYPE_CHECKING

from .binance import BinanceClient, BinanceFuturesClient
from .bitfinex import BitfinexClient
from .bitstamp import BitstampClient
from .bybit import BybitClient, BybitInverseClient, BybitLinearClient
from .coinbase import CoinbaseClient
from .deribit import DeribitClient
from .gemini import GeminiClient
from .okx import OKXClient
from .kraken import KrakenClient
from .market import SimBook
from .proto import RestAnswer, SimClient

if TYPE_CHECKING:  # pragma: no cover
    from ..server import Session

STEP_S = 0.005
SNIFF_WAIT_S = 2.0  # how long a connection on a shared path waits for the client's first frame

# One line per protocol.  The first that claims a path serves it; Kraken v2 serves any path nobody claims.
PROTOCOLS: list[type[SimClient]] = [
    KrakenClient,
    BitfinexClient,  # before Binance, whose /ws/<stream> paths include /ws/2
    DeribitClient,  # and /ws/api/v2
    BinanceClient,
    BinanceFuturesClient,
    CoinbaseClient,
    OKXClient,
    BybitClient,
    BybitLinearClient,
    BybitInverseClient,
    BitstampClient,
    GeminiClient,
]
DEFAULT = KrakenClient


class Sim:
    """The market: books created on demand, stepped ``rate`` times a second while someone listens."""

    def __init__(self, rate: float = 20.0, seed: int | None = None) -> None:
        self.rate = rate
        self.rng = random.Random(seed)
        self.books: dict[tuple[str, str], SimBook] = {}
        self.subs: dict[tuple[str, str], set] = {}
        self.events = 0
        self.budgets: dict[str, object] = {}  # REST weight budgets, per protocol (see proto.WeightBudget)
        self._task: asyncio.Task | None = None
        self._live: list[tuple[str, str]] | None = None  # books someone listens to (None: to be listed again)

    def book(self, proto: type[SimClient], symbol: str) -> SimBook:
        k = (proto.style, symbol)
        b = self.books.get(k)
        if b is None:
            b = self.books[k] = SimBook(proto.style, symbol, random.Random(self.rng.random()),
                                        qty_decimals=proto.qty_decimals, qty_mean=proto.qty_mean,
                                        price_decimals=proto.price_decimals)
        return b

    def subscribe(self, proto: type[SimClient], symbol: str, client) -> SimBook:
        self.subs.setdefault((proto.style, symbol), set()).add(client)
        self._live = None
        return self.book(proto, symbol)

    def unsubscribe(self, proto: type[SimClient], symbol: str, client) -> None:
        s = self.subs.get((proto.style, symbol))
        if s is not None:
            s.discard(client)
            self._live = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        """Each step makes the events due across all listened-to books (``rate`` per book per second on
        average), each on a book drawn at random: the cost follows the events, not the number of books,
        so thousands of quiet markets are cheap to serve."""
        last = time.monotonic()
        carry = 0.0
        pick = self.rng.randrange
        while True:
            await asyncio.sleep(STEP_S)
            now = time.monotonic()
            dt, last = now - last, now
            live = self._live
            if live is None:
                live = self._live = [k for k, clients in self.subs.items() if clients]
            if not live:
                carry = 0.0
                continue
            carry += self.rate * len(live) * dt
            n = int(carry)
            carry -= n
            for _ in range(n):
                key = live[pick(len(live))]
                clients = self.subs.get(key)
                if clients:
                    self._event(self.books[key], clients)

    def _event(self, b: SimBook, clients: set) -> None:
        depths = {10}
        for c in clients:
            d = c.depth_for(b.symbol)
            if d:
                depths.add(d)
        bids, asks = b.book.bids.keys, b.book.asks.keys
        before = {d: (set(bids[-d:]), set(asks[-d:])) for d in depths}
        changes, trade = b.step()
        self.events += 1
        now = time.time()
        for c in list(clients):
            c.on_event(b, changes, trade, before, now)

    # ---- serving
    async def serve_session(self, s: "Session") -> None:
        claim = [p for p in PROTOCOLS if p.claims(s.path)]
        first: str | None = None
        if len(claim) == 1:
            proto = claim[0]
        else:
            # a shared (or unknown) path: the client's first frame tells the protocols apart
            proto = claim[0] if claim else DEFAULT
            try:
                msg = await asyncio.wait_for(s.ws.recv(), SNIFF_WAIT_S)
            except asyncio.TimeoutError:
                msg = None
            if isinstance(msg, str):
                first = msg
                s.first_msg.set()
                for p in claim or PROTOCOLS:
                    if p.sniff(msg):
                        proto = p
                        break
        client = proto(self, s)
        s.server.say(f"connection {s.id} {s.path[:80]} -> simulated {client.style}")
        await client.run(first)

    def rest(self, path_query: str) -> RestAnswer | str | None:
        """The answer to a REST request, from the first protocol that serves its path."""
        for p in PROTOCOLS:
            ans = p.rest(self, path_query)
            if ans is not None:
                return ans
        return None


__all__ = ["Sim", "SimBook", "SimClient", "RestAnswer", "PROTOCOLS"]
