"""Gemini market data v2 spoken by the simulator (``/v2/marketdata``).

- ``{"type":"subscribe","subscriptions":[{"name":"l2","symbols":[...]}]}``: per symbol, a first
  ``l2_updates`` holding the whole book (``changes``) with the recent ``trades`` and ``auction_events``,
  then ``l2_updates`` of the changed levels (``["buy"|"sell", price, quantity]``, quantity ``"0"``
  deletes) and ``trade`` messages (``side`` the aggressor's) at the touch.  ``unsubscribe`` stops it; a
  later subscribe starts over with a new first message.  No acknowledgements, as Gemini sends none.
- ``{"type":"heartbeat","timestamp":ms}`` every 5 s.
- A symbol Gemini does not list: ``{"result":"error","reason":"InvalidSymbol",...}``; the others of the
  request are subscribed.  Gemini documents no limit on the subscriptions of one connection; none here.

Gemini numbers nothing and has no checksum; its l2 stream covers the whole book, so a lost update shows
when a later one deletes a level the client never got.  As in the simulated Bitstamp market (whose
short-lived orders it shares, :func:`wstui.io.sim.bitstamp.short_lived_order`), every event cancels the
order the previous one placed, so ``gap`` and ``mute`` are betrayed by the next update; ``corrupt``
garbles an update's prices.  (A crossed book is no evidence on Gemini: its auctions may cross it.)
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from urllib.parse import urlsplit

import orjson

from ..faults import BOOK, CTL, SNAPSHOT, TRADE
from .bitstamp import short_lived_order
from .market import SimBook, split_concat
from .proto import SimClient

HEARTBEAT_S = 5.0
_CHANGE_PRICE = re.compile(r'(\["(?:buy|sell)",")([0-9]+\.[0-9]+)(")')
RECENT_TRADES = 50  # trades a first l2 message carries, per symbol


def listed(symbol: str) -> bool:
    """``BTCUSD``, ``ETHUSDT``...: uppercase, a base and a quote the simulated market lists."""
    return symbol == symbol.upper() and split_concat(symbol) is not None


class GeminiClient(SimClient):
    style = "gemini"
    qty_decimals = 8
    qty_mean = 0.5

    @classmethod
    def claims(cls, path: str) -> bool:
        return urlsplit(path).path.rstrip("/") == "/v2/marketdata"

    def __init__(self, sim, s) -> None:
        super().__init__(sim, s)
        self.l2: set[str] = set()
        s.corrupter = self.corrupt

    def extra_tasks(self) -> list:
        return [asyncio.ensure_future(self._heartbeats())]

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            self.push(f'{{"type":"heartbeat","timestamp":{int(time.time() * 1000)}}}', CTL)

    def on_text(self, text: str) -> None:
        try:
            msg = orjson.loads(text)
            typ = msg["type"]
            subs = msg["subscriptions"]
            names = [(str(sub["name"]), [str(x) for x in sub.get("symbols") or ()]) for sub in subs]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            self.push('{"result":"error","reason":"InvalidJson","message":"Could not parse the request"}', CTL)
            return
        if typ not in ("subscribe", "unsubscribe"):
            self.push(orjson.dumps({"result": "error", "reason": "InvalidRequestType",
                                    "message": f"Unknown request type {str(typ)[:40]}"}).decode(), CTL)
            return
        for name, symbols in names:
            if name != "l2":
                self.push(orjson.dumps({"result": "error", "reason": "InvalidSubscription",
                                        "message": f"Unknown subscription {name[:40]}"}).decode(), CTL)
                continue
            bad = [x for x in symbols if not listed(x)]
            if bad:
                self.push(orjson.dumps({"result": "error", "reason": "InvalidSymbol",
                                        "message": f"Invalid symbols: {', '.join(b[:20] for b in bad[:10])}"}).decode(), CTL)
            for sym in symbols:
                if sym in bad:
                    continue
                if typ == "subscribe" and sym not in self.l2:
                    self.l2.add(sym)
                    self._first(self.follow(sym))
                elif typ == "unsubscribe" and sym in self.l2:
                    self.l2.discard(sym)
                    self.unfollow(sym)

    def _first(self, b: SimBook) -> None:
        bids, asks = b.snapshot_levels(len(b.book.bids) + len(b.book.asks))
        ch = ",".join([f'["buy","{p}","{q}"]' for p, q, _ in bids] + [f'["sell","{p}","{q}"]' for p, q, _ in asks])
        trades = ",".join(getattr(b, "gemini_trades", ()))
        self.push(f'{{"auction_events":[],"changes":[{ch}],"symbol":"{b.symbol}","trades":[{trades}],'
                  f'"type":"l2_updates"}}', SNAPSHOT, b.symbol)

    def on_event(self, b: SimBook, changes, trade, before, now: float) -> None:
        sym = b.symbol
        if sym not in self.l2:
            return
        _mt, extra = short_lived_order(b, now)
        ch = ",".join(f'["{"buy" if s == 0 else "sell"}","{p}","{q}"]' for s, p, q in list(changes) + extra)
        self.push(f'{{"changes":[{ch}],"symbol":"{sym}","type":"l2_updates"}}', BOOK, sym)
        if trade is not None:
            side, pt, qt = trade
            ms = int(now * 1000)
            if getattr(b, "gemini_tid", None) != b.seq:  # once per event, however many clients
                b.gemini_tid = b.seq
                b.trade_id += 1
                recent = getattr(b, "gemini_trades", None)
                if recent is None:
                    recent = b.gemini_trades = deque(maxlen=RECENT_TRADES)
                b.gemini_last = (f'{{"event_id":{b.seq},"price":"{pt}","quantity":"{qt}","side":"{side}",'
                                 f'"symbol":"{sym}","tid":{b.trade_id},"timestamp":{ms},"type":"trade"}}')
                recent.append(b.gemini_last)
            self.push(b.gemini_last, TRADE, sym)

    @staticmethod
    def corrupt(text: str) -> str:
        """A garbled update: every price gets an extra digit (its delete names a level nobody has)."""
        if '"type":"l2_updates"' not in text:
            return text
        return _CHANGE_PRICE.sub(lambda m: m.group(1) + m.group(2) + "7" + m.group(3), text)
