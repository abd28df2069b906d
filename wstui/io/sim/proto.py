"""What every simulated venue protocol shares: a client session whose frames go through one queue (order
kept, faults applied by :class:`~wstui.io.server.Session`), REST answers with their HTTP status, and a
venue's REST weight budget.

A protocol is a :class:`SimClient` subclass in a module of its own (``wstui/io/sim/<venue>.py``) plus one
line in ``PROTOCOLS`` (``wstui/io/sim/__init__.py``).  It says which request paths it serves (``claims``),
how to recognise its first client frame when several protocols share a path (``sniff``), how it answers
REST (``rest``), and spells the market's events (``on_event``) the way its venue does.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..faults import corrupt_frame

if TYPE_CHECKING:  # pragma: no cover
    from ..server import Session
    from . import Sim
    from .market import SimBook

QUEUE_MAX = 200_000  # frames queued for one client before it is dropped as too slow


@dataclass
class RestAnswer:
    """An HTTP answer of a simulated REST API."""

    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)


class WeightBudget:
    """A REST weight budget per rolling minute, the way Binance counts it (``X-MBX-USED-WEIGHT-1M``).

    A request that would go over it gets HTTP 429 with ``Retry-After``; with ``ban_after`` set, a client
    that keeps asking while told to wait is banned (HTTP 418, Binance's way) for ``ban_s``."""

    def __init__(self, per_minute: int, ban_after: int | None = None, ban_s: float = 120.0,
                 clock=time.monotonic) -> None:
        self.per_minute = per_minute
        self.ban_after = ban_after
        self.ban_s = ban_s
        self.clock = clock
        self.spent: deque[tuple[float, int]] = deque()
        self.used = 0
        self.refused = 0  # 429s since the last accepted request
        self.banned_until = 0.0
        self.answers_429 = 0
        self.answers_418 = 0

    def _expire(self, now: float) -> None:
        while self.spent and now - self.spent[0][0] >= 60.0:
            self.used -= self.spent.popleft()[1]

    def take(self, weight: int) -> RestAnswer | None:
        """None: go ahead (the weight is spent); else the refusal to send."""
        now = self.clock()
        self._expire(now)
        if now < self.banned_until:
            self.answers_418 += 1
            wait = int(self.banned_until - now) + 1
            return RestAnswer(418, f'{{"code":-1003,"msg":"Way too many requests; IP banned for {wait} s."}}',
                              {"Retry-After": str(wait)})
        if self.used + weight > self.per_minute:
            self.refused += 1
            if self.ban_after is not None and self.refused > self.ban_after:
                self.banned_until = now + self.ban_s
                self.answers_418 += 1
                return RestAnswer(418, '{"code":-1003,"msg":"Way too many requests; IP banned."}',
                                  {"Retry-After": str(int(self.ban_s))})
            wait = int(60.0 - (now - self.spent[0][0])) + 1 if self.spent else 1
            self.answers_429 += 1
            return RestAnswer(429, '{"code":-1003,"msg":"Too much request weight used; please use the '
                                   'websocket for live updates to avoid bans."}', {"Retry-After": str(wait)})
        self.refused = 0
        self.spent.append((now, weight))
        self.used += weight
        return None


class SimClient:
    """One client connection speaking one venue's protocol."""

    style = ""  # the protocol's name (books are per style and symbol)
    qty_decimals = 3
    qty_mean = 5.0
    price_decimals: int | None = None  # None: about six significant digits

    def __init__(self, sim: "Sim", s: "Session") -> None:
        self.sim = sim
        self.s = s
        self.q: deque[tuple[str, int, str | None]] = deque()
        self.wake = asyncio.Event()
        self.symbols: set[str] = set()
        s.corrupter = self.corrupt

    @staticmethod
    def corrupt(text: str) -> str:
        """What ``--fault corrupt`` does to one of this protocol's book frames (the text back unchanged:
        not one it can corrupt).  Default: every size changed in its last digit (checksums fail)."""
        return corrupt_frame(text)

    # ---- which protocol serves a connection
    @classmethod
    def claims(cls, path: str) -> bool:
        """Does this protocol serve request ``path`` (path and query)?"""
        return False

    @classmethod
    def sniff(cls, text: str) -> bool:
        """Is ``text`` (the client's first frame) this protocol's?  Used when several claim a path."""
        return False

    @classmethod
    def rest(cls, sim: "Sim", path_query: str) -> RestAnswer | str | None:
        """The answer to a REST request this protocol serves; None: not one of its paths."""
        return None

    # ---- frames out
    def push(self, text: str, kind: int, symbol: str | None = None) -> None:
        """Queue a frame for this client; ``symbol`` names the market it is about (faults such as
        ``mute`` act on it)."""
        self.q.append((text, kind, symbol))
        if len(self.q) > QUEUE_MAX:
            self.q.clear()
            asyncio.ensure_future(self.s.ws.close(1008, "client too slow"))
        self.wake.set()

    async def sender(self) -> None:
        q = self.q
        s = self.s
        while not s.closed:
            while q:
                text, kind, symbol = q.popleft()
                text = self.outgoing(text, kind, symbol)
                if text is None:
                    continue
                if not await s.emit(text, kind, symbol):
                    return
            self.wake.clear()
            await self.wake.wait()

    def outgoing(self, text: str, kind: int, symbol: str | None) -> str | None:
        """A frame as it leaves, in order (venues that number frames per connection number it here);
        None: it is not sent at all."""
        return text

    # ---- the market
    def book(self, symbol: str) -> "SimBook":
        return self.sim.book(type(self), symbol)

    def follow(self, symbol: str) -> "SimBook":
        """Start receiving ``symbol``'s market events (``on_event``)."""
        self.symbols.add(symbol)
        return self.sim.subscribe(type(self), symbol, self)

    def unfollow(self, symbol: str) -> None:
        self.symbols.discard(symbol)
        self.sim.unsubscribe(type(self), symbol, self)

    def depth_for(self, symbol: str) -> int:
        """The depth of ``symbol``'s book this client is sent (0: none); ``before`` sets are kept for it."""
        return 0

    def on_event(self, b: "SimBook", changes, trade, before, now: float) -> None:  # pragma: no cover
        pass

    # ---- the session
    def leave(self) -> None:
        for sym in list(self.symbols):
            self.sim.unsubscribe(type(self), sym, self)

    async def run(self, first: str | None = None) -> None:
        tasks = [asyncio.ensure_future(self.sender()), *self.extra_tasks()]
        try:
            if first is not None:
                r = self.on_text(first)
                if asyncio.iscoroutine(r):
                    await r
            await self.s.client_messages(self.on_text)
        finally:
            self.leave()
            for t in tasks:
                t.cancel()

    def extra_tasks(self) -> list:
        return []

    def on_text(self, text: str) -> Any:  # pragma: no cover - overridden
        pass
