"""``wstui serve --sim``: an endless synthetic market spoken in real venue protocols.

Books and trades look real (a random walk of sizes near the top, levels appearing inside the spread and
vanishing, trades eating the best level) and verify the way the real venues do:

- Kraken WS v2 (any path not below): ``subscribe``/``unsubscribe`` of ``book`` (depth 10/25/100/...) and
  ``trade``; a snapshot per subscription, then updates of the subscribed window, each with the correct
  CRC32 ``checksum`` (:func:`wstui.venues.kraken.book_checksum` on the served book) and a ``timestamp``;
  a heartbeat every second; ``{"method":"ping"}`` answered with a pong.
- Binance style (``/stream?streams=...`` or ``/ws/...``): ``depthUpdate`` events with contiguous
  ``U``/``u``/``pu`` update ids (valid for both the spot and the futures bridging rules) and
  ``aggTrade``; REST snapshots ``/api/v3/depth`` and ``/fapi/v1/depth`` (same port, plain HTTP) answer
  from the live book with its ``lastUpdateId``.

``rate`` is book events per second per symbol.  Exchange timestamps are the time each event was
generated, so a client's latency (exchange time -> applied) measures the whole path.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
import zlib
from collections import deque
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from ..core.book import Book
from ..venues.kraken import book_checksum
from .server import BOOK, BOOK_DEEP, CTL, SNAPSHOT, TRADE, Session, iso, iso_now

MIN_LEVELS = 40
MAX_LEVELS = 120
START_LEVELS = 60
QUEUE_MAX = 200_000  # frames queued for one client before it is dropped as too slow
STEP_S = 0.005


def base_price(symbol: str) -> float:
    s = symbol.upper()
    if s.startswith(("BTC", "XBT")):
        return 60000.0
    if s.startswith("ETH"):
        return 3000.0
    return 1.0 + zlib.crc32(s.encode()) % 1000


class SimBook:
    """One symbol's book on one protocol style, and the random process that moves it."""

    def __init__(self, style: str, symbol: str, rng: random.Random) -> None:
        self.style = style
        self.symbol = symbol
        self.rng = rng
        price = base_price(symbol)
        self.pd = max(1, 5 - int(math.log10(price)))  # price decimals: ~6 significant digits
        self.tick = 10.0 ** -self.pd
        self.qd = 8 if style == "kraken" else 3
        self.qmean = 0.5 if style == "kraken" else 5.0
        self.book = Book()
        self.seq = 1_000_000  # update id of the last change (Binance style)
        self.trade_id = 1
        mid = int(round(price / self.tick))
        b, a = mid - 1, mid + 1
        for _ in range(START_LEVELS):
            self._set(0, b, self._qty())
            self._set(1, a, self._qty())
            b -= rng.randint(1, 3)
            a += rng.randint(1, 3)

    # ---- texts
    def ptext(self, ticks: int) -> str:
        return f"{ticks * self.tick:.{self.pd}f}"

    def qtext(self, q: float) -> str:
        return f"{q:.{self.qd}f}"

    def _qty(self) -> float:
        unit = 10.0 ** -self.qd
        return max(unit, round(self.rng.expovariate(1.0 / self.qmean), self.qd))

    def _side(self, s: int):
        return self.book.bids if s == 0 else self.book.asks

    def _ticks(self, s: int, key: float) -> int:
        return int(round(key * (1.0 if s == 0 else -1.0) / self.tick))

    def _set(self, s: int, ticks: int, q: float) -> tuple[int, str, str]:
        pt = self.ptext(ticks)
        qt = self.qtext(q)
        self._side(s).set(float(pt), pt, qt, float(qt))
        return (s, pt, qt)

    def _level_at(self, s: int, idx: int) -> tuple[float, tuple[str, str, float]]:
        side = self._side(s)
        key = side.keys[-1 - idx]
        return key, side.levels[key]

    # ---- the random process
    def step(self) -> tuple[list[tuple[int, str, str]], tuple[str, str, str] | None]:
        """One market event: (changes [(side, price text, size text)], trade (side, price, size) | None)."""
        rng = self.rng
        changes: list[tuple[int, str, str]] = []
        trade = None
        r = rng.random()
        s = 0 if rng.random() < 0.5 else 1
        side = self._side(s)
        n = len(side)
        idx = min(int(rng.expovariate(0.35)), n - 1)
        if r < 0.08:
            # a market order takes from the best level of the other side
            taker = "buy" if s == 1 else "sell"
            key, (pt, qt, q) = self._level_at(s, 0)
            take = round(q * rng.uniform(0.1, 1.3), self.qd)
            if take >= q or take <= 0:
                take = q
            trade = (taker, pt, self.qtext(take))
            changes.append(self._set(s, self._ticks(s, key), 0.0 if take >= q else q - take))
        elif r < 0.22:
            best_b = self._ticks(0, self.book.bids.keys[-1])
            best_a = self._ticks(1, self.book.asks.keys[-1])
            if best_a - best_b > 1 and rng.random() < 0.5:
                t = rng.randint(best_b + 1, best_a - 1)  # inside the spread
            else:
                k1, _ = self._level_at(s, idx)
                t = self._ticks(s, k1) + (-1 if s == 0 else 1) * rng.randint(1, 2)
            changes.append(self._set(s, t, self._qty()))  # a new level (or new size if it exists)
        elif r < 0.32 and n > MIN_LEVELS:
            key, _ = self._level_at(s, idx)
            changes.append(self._set(s, self._ticks(s, key), 0.0))
        else:
            key, (pt, qt, q) = self._level_at(s, idx)
            changes.append(self._set(s, self._ticks(s, key), self._qty()))
        # keep each side between MIN_LEVELS and MAX_LEVELS
        n = len(side)
        if n < MIN_LEVELS:
            worst = self._ticks(s, side.keys[0])
            changes.append(self._set(s, worst + (-1 if s == 0 else 1) * rng.randint(1, 3), self._qty()))
        elif n > MAX_LEVELS:
            changes.append(self._set(s, self._ticks(s, side.keys[0]), 0.0))
        self.seq += 1
        return changes, trade

    def snapshot_levels(self, depth: int) -> tuple[list, list]:
        return self.book.bids.top(depth), self.book.asks.top(depth)


class Sim:
    """The market: books created on demand, stepped ``rate`` times a second while someone listens."""

    def __init__(self, rate: float = 20.0, seed: int | None = None) -> None:
        self.rate = rate
        self.rng = random.Random(seed)
        self.books: dict[tuple[str, str], SimBook] = {}
        self.subs: dict[tuple[str, str], set] = {}
        self.events = 0
        self._task: asyncio.Task | None = None

    def book(self, style: str, symbol: str) -> SimBook:
        k = (style, symbol)
        b = self.books.get(k)
        if b is None:
            b = self.books[k] = SimBook(style, symbol, random.Random(self.rng.random()))
        return b

    def subscribe(self, style: str, symbol: str, client) -> SimBook:
        self.subs.setdefault((style, symbol), set()).add(client)
        return self.book(style, symbol)

    def unsubscribe(self, style: str, symbol: str, client) -> None:
        s = self.subs.get((style, symbol))
        if s is not None:
            s.discard(client)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        last = time.monotonic()
        carry: dict[tuple[str, str], float] = {}
        while True:
            await asyncio.sleep(STEP_S)
            now = time.monotonic()
            dt, last = now - last, now
            for key, clients in list(self.subs.items()):
                if not clients:
                    continue
                c = carry.get(key, 0.0) + self.rate * dt
                n = int(c)
                carry[key] = c - n
                b = self.books[key]
                for _ in range(n):
                    self._event(b, clients)

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
    async def serve_session(self, s: Session) -> None:
        path = urlsplit(s.path).path
        client = BinanceClient(self, s) if path.startswith(("/stream", "/ws")) else KrakenClient(self, s)
        s.server.say(f"connection {s.id} {s.path[:80]} -> simulated {client.style}")
        await client.run()

    def rest(self, path_query: str) -> str | None:
        """A Binance-style depth snapshot from the live book."""
        p = urlsplit(path_query)
        if not p.path.rstrip("/").endswith("/depth"):
            return None
        q = dict(parse_qsl(p.query))
        sym = q.get("symbol", "").upper()
        if not sym:
            return None
        try:
            limit = max(1, min(5000, int(q.get("limit", "100"))))
        except ValueError:
            limit = 100
        b = self.book("binance", sym)
        ms = int(time.time() * 1000)
        bids, asks = b.snapshot_levels(limit)
        return orjson.dumps({"lastUpdateId": b.seq, "E": ms, "T": ms,
                             "bids": [[p, q] for p, q, _ in bids], "asks": [[p, q] for p, q, _ in asks]}).decode()


class _Client:
    """Frames for one session go through a queue drained by one sender (order kept, faults applied)."""

    style = ""

    def __init__(self, sim: Sim, s: Session) -> None:
        self.sim = sim
        self.s = s
        self.q: deque[tuple[str, int]] = deque()
        self.wake = asyncio.Event()
        self.symbols: set[str] = set()

    def push(self, text: str, kind: int) -> None:
        self.q.append((text, kind))
        if len(self.q) > QUEUE_MAX:
            self.q.clear()
            asyncio.ensure_future(self.s.ws.close(1008, "client too slow"))
        self.wake.set()

    async def sender(self) -> None:
        q = self.q
        s = self.s
        while not s.closed:
            while q:
                text, kind = q.popleft()
                if not await s.emit(text, kind):
                    return
            self.wake.clear()
            await self.wake.wait()

    def depth_for(self, symbol: str) -> int:
        return 0

    def leave(self) -> None:
        for sym in self.symbols:
            self.sim.unsubscribe(self.style, sym, self)

    async def run(self) -> None:
        tasks = [asyncio.ensure_future(self.sender()), *self.extra_tasks()]
        try:
            await self.s.client_messages(self.on_text)
        finally:
            self.leave()
            for t in tasks:
                t.cancel()

    def extra_tasks(self) -> list:
        return []

    def on_text(self, text: str) -> None:  # pragma: no cover - overridden
        pass


class KrakenClient(_Client):
    style = "kraken"

    def __init__(self, sim: Sim, s: Session) -> None:
        super().__init__(sim, s)
        self.book_depth: dict[str, int] = {}
        self.trades: set[str] = set()
        self.push(orjson.dumps({"channel": "status", "type": "update", "data": [
            {"version": "2.0.10", "system": "online", "api_version": "v2", "connection_id": s.id}]}).decode(), CTL)

    def extra_tasks(self) -> list:
        return [asyncio.ensure_future(self._heartbeats())]

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            if self.book_depth or self.trades:
                self.push('{"channel":"heartbeat"}', CTL)

    def depth_for(self, symbol: str) -> int:
        return self.book_depth.get(symbol, 0)

    def on_text(self, text: str) -> None:
        try:
            msg = orjson.loads(text)
            method = msg["method"]
            params = msg.get("params") or {}
            channel = params["channel"]
            symbols = params["symbol"]
            if isinstance(symbols, str):
                symbols = [symbols]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            self.push(orjson.dumps({"error": "invalid request", "success": False,
                                    "time_in": iso_now(), "time_out": iso_now()}).decode(), CTL)
            return
        req = {"req_id": msg["req_id"]} if "req_id" in msg else {}
        for sym in symbols:
            sym = str(sym)
            result: dict[str, Any] = {"channel": channel, "symbol": sym}
            if channel == "book":
                depth = int(params.get("depth", 10))
                result = {"channel": "book", "depth": depth, "snapshot": bool(params.get("snapshot", True)),
                          "symbol": sym}
            ok = channel in ("book", "trade") and method in ("subscribe", "unsubscribe")
            ack = {"method": method, "result": result, "success": ok, "time_in": iso_now(), "time_out": iso_now(), **req}
            if not ok:
                ack = {"error": f"unsupported {method} {channel}", "method": method, "success": False,
                       "time_in": iso_now(), "time_out": iso_now(), **req}
            self.push(orjson.dumps(ack).decode(), CTL)
            if not ok:
                continue
            if method == "subscribe":
                self.symbols.add(sym)
                b = self.sim.subscribe("kraken", sym, self)
                if channel == "book":
                    self.book_depth[sym] = depth
                    if result["snapshot"]:
                        self._snapshot(b, depth)
                else:
                    self.trades.add(sym)
            else:
                if channel == "book":
                    self.book_depth.pop(sym, None)
                else:
                    self.trades.discard(sym)
                if sym not in self.book_depth and sym not in self.trades:
                    self.symbols.discard(sym)
                    self.sim.unsubscribe("kraken", sym, self)

    def _snapshot(self, b: SimBook, depth: int) -> None:
        bids, asks = b.snapshot_levels(depth)
        lv = lambda levels: ",".join(f'{{"price":{p},"qty":{q}}}' for p, q, _ in levels)  # noqa: E731
        self.push(
            f'{{"channel":"book","type":"snapshot","data":[{{"symbol":"{b.symbol}","bids":[{lv(bids)}],'
            f'"asks":[{lv(asks)}],"checksum":{book_checksum(b.book)},"timestamp":"{iso(time.time())}"}}]}}',
            SNAPSHOT)

    def on_event(self, b: SimBook, changes, trade, before, now: float) -> None:
        sym = b.symbol
        depth = self.book_depth.get(sym)
        if depth and changes:
            bids, asks = b.book.bids, b.book.asks
            ob, oa = before[depth]
            nb, na = set(bids.keys[-depth:]), set(asks.keys[-depth:])
            tb, ta = before[10]
            top10 = (set(bids.keys[-10:]) | tb, set(asks.keys[-10:]) | ta)
            out: tuple[list[str], list[str]] = ([], [])
            seen: set[tuple[int, float]] = set()
            top = False
            for s, pt, qt in changes:
                k = float(pt) * (1.0 if s == 0 else -1.0)
                old, new = (ob, nb) if s == 0 else (oa, na)
                if k in old or k in new:
                    out[s].append(f'{{"price":{pt},"qty":{qt}}}')
                    seen.add((s, k))
                    top = top or k in top10[s]
            for s, old, new, side in ((0, ob, nb, bids), (1, oa, na, asks)):
                for k in new - old:
                    if (s, k) not in seen:
                        pt, qt, _ = side.levels[k]
                        out[s].append(f'{{"price":{pt},"qty":{qt}}}')
                        top = top or k in top10[s]
            if out[0] or out[1]:
                self.push(
                    f'{{"channel":"book","type":"update","data":[{{"symbol":"{sym}","bids":[{",".join(out[0])}],'
                    f'"asks":[{",".join(out[1])}],"checksum":{book_checksum(b.book)},"timestamp":"{iso(now)}"}}]}}',
                    BOOK if top else BOOK_DEEP)
        if trade is not None and sym in self.trades:
            side, pt, qt = trade
            b.trade_id += 1
            self.push(
                f'{{"channel":"trade","type":"update","data":[{{"symbol":"{sym}","side":"{side}","price":{pt},'
                f'"qty":{qt},"ord_type":"market","trade_id":{b.trade_id},"timestamp":"{iso(now)}"}}]}}', TRADE)


class BinanceClient(_Client):
    style = "binance"

    def __init__(self, sim: Sim, s: Session) -> None:
        super().__init__(sim, s)
        p = urlsplit(s.path)
        self.combined = p.path.startswith("/stream")
        self.depth_syms: dict[str, str] = {}  # SYMBOL -> stream name
        self.trade_syms: dict[str, str] = {}
        names: list[str] = []
        for k, v in parse_qsl(p.query):
            if k == "streams":
                names += v.split("/")
        if p.path.startswith("/ws/"):
            names += p.path[4:].split("/")
        for n in names:
            self._add(n)

    def _add(self, name: str) -> None:
        sym, _, kind = name.partition("@")
        if not sym:
            return
        sym = sym.upper()
        if kind.startswith("depth"):
            self.depth_syms[sym] = name
        elif kind in ("aggTrade", "trade"):
            self.trade_syms[sym] = name
        else:
            return
        self.symbols.add(sym)
        self.sim.subscribe("binance", sym, self)

    def on_text(self, text: str) -> None:
        try:
            msg = orjson.loads(text)
            method = msg["method"]
            params = msg.get("params") or []
        except (orjson.JSONDecodeError, KeyError, TypeError):
            self.push(orjson.dumps({"error": {"code": 2, "msg": "Invalid request"}}).decode(), CTL)
            return
        if method == "SUBSCRIBE":
            for n in params:
                self._add(str(n))
        self.push(orjson.dumps({"result": None, "id": msg.get("id")}).decode(), CTL)

    def _wrap(self, name: str, inner: str) -> str:
        return f'{{"stream":"{name}","data":{inner}}}' if self.combined else inner

    def on_event(self, b: SimBook, changes, trade, before, now: float) -> None:
        sym = b.symbol
        ms = int(now * 1000)
        name = self.depth_syms.get(sym)
        if name is not None and changes:
            bs = ",".join(f'["{p}","{q}"]' for s, p, q in changes if s == 0)
            as_ = ",".join(f'["{p}","{q}"]' for s, p, q in changes if s == 1)
            u = b.seq
            self.push(self._wrap(name, f'{{"e":"depthUpdate","E":{ms},"T":{ms},"s":"{sym}","U":{u},"u":{u},'
                                       f'"pu":{u - 1},"b":[{bs}],"a":[{as_}]}}'), BOOK)
        tname = self.trade_syms.get(sym)
        if tname is not None and trade is not None:
            side, pt, qt = trade
            b.trade_id += 1
            m = "true" if side == "sell" else "false"
            self.push(self._wrap(tname, f'{{"e":"aggTrade","E":{ms},"s":"{sym}","a":{b.trade_id},"p":"{pt}",'
                                        f'"q":"{qt}","f":{b.trade_id},"l":{b.trade_id},"T":{ms},"m":{m}}}'), TRADE)
