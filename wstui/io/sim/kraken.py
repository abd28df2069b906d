"""Kraken WS v2 spoken by the simulator: ``subscribe``/``unsubscribe`` of ``book`` (depth 10/25/100/...)
and ``trade``; a snapshot per subscription, then updates of the subscribed window, each with the correct
CRC32 ``checksum`` (:func:`wstui.venues.kraken.book_checksum` on the served book) and a ``timestamp``; a
heartbeat every second; ``{"method":"ping"}`` answered with a pong (by the server)."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import urlsplit

import orjson

from ...venues.kraken import book_checksum
from ..faults import BOOK, BOOK_DEEP, CTL, SNAPSHOT, TRADE
from ..server import iso, iso_now
from .market import SimBook, split_sep
from .proto import SimClient


class KrakenClient(SimClient):
    """Kraken WS v2 (``/v2``, and the default for a path no other protocol claims)."""

    style = "kraken"
    qty_decimals = 8
    qty_mean = 0.5

    @classmethod
    def claims(cls, path: str) -> bool:
        return urlsplit(path).path.rstrip("/").endswith("/v2")

    def __init__(self, sim, s) -> None:
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
            if ok and split_sep(sym, "/") is None:
                # Kraken's own answer to a pair it does not list (one answer per symbol of the request)
                self.push(orjson.dumps({"error": f"Currency pair not supported {sym}", "method": method,
                                        "success": False, "symbol": sym, "time_in": iso_now(),
                                        "time_out": iso_now(), **req}).decode(), CTL)
                continue
            if not ok:
                ack = {"error": f"unsupported {method} {channel}", "method": method, "success": False,
                       "time_in": iso_now(), "time_out": iso_now(), **req}
            self.push(orjson.dumps(ack).decode(), CTL)
            if not ok:
                continue
            if method == "subscribe":
                b = self.follow(sym)
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
                    self.unfollow(sym)

    def _snapshot(self, b: SimBook, depth: int) -> None:
        bids, asks = b.snapshot_levels(depth)
        lv = lambda levels: ",".join(f'{{"price":{p},"qty":{q}}}' for p, q, _ in levels)  # noqa: E731
        self.push(
            f'{{"channel":"book","type":"snapshot","data":[{{"symbol":"{b.symbol}","bids":[{lv(bids)}],'
            f'"asks":[{lv(asks)}],"checksum":{book_checksum(b.book)},"timestamp":"{iso(time.time())}"}}]}}',
            SNAPSHOT, b.symbol)

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
                    BOOK if top else BOOK_DEEP, sym)
        if trade is not None and sym in self.trades:
            side, pt, qt = trade
            b.trade_id += 1
            self.push(
                f'{{"channel":"trade","type":"update","data":[{{"symbol":"{sym}","side":"{side}","price":{pt},'
                f'"qty":{qt},"ord_type":"market","trade_id":{b.trade_id},"timestamp":"{iso(now)}"}}]}}', TRADE, sym)


