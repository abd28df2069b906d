"""Coinbase Advanced Trade spoken by the simulator (path ``/``, shared with Bitstamp: told apart by the
client's first frame, ``{"type":"subscribe","product_ids":[...],"channel":...}``).

- ``subscribe``/``unsubscribe`` of ``level2`` (messages on channel ``l2_data``: a ``snapshot`` of the whole
  book, then ``update`` events, size ``"0"`` removing a level), ``market_trades`` (a ``snapshot`` of recent
  trades, then ``update``; ``side`` is the *maker's*) and ``heartbeats`` (one a second); each change of
  subscriptions is answered with a ``subscriptions`` message listing them all.
- ``sequence_num``: one counter per connection across every channel, numbered as frames leave: a frame a
  ``gap`` or ``mute`` fault withholds leaves a hole (the market kept moving: its updates are lost, and
  only the connection-wide counter can tell).
- Strict: an unknown product gets ``{"type":"error","message":...}`` and nothing is subscribed; more than
  ``MAX_MSGS_PER_S`` client messages a second are refused the same way.
- ``--fault corrupt``: Coinbase has no checksum, so the frame's last size becomes text that is no number:
  the frame fails half-applied on the client.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque

import orjson

from ..faults import BOOK, CTL, SNAPSHOT, TRADE
from ..server import iso
from .market import SimBook, split_sep
from .proto import SimClient

SEQ = "@SEQ@"  # the sequence_num placeholder, filled in as the frame leaves
_QTY = re.compile(r'"new_quantity":"([0-9.]+)"')


def corrupt_l2(text: str) -> str:
    last = None
    for last in _QTY.finditer(text):
        pass
    if last is None:
        return text
    return text[:last.end(1)] + ".5.5" + text[last.end(1):]


class CoinbaseClient(SimClient):
    style = "coinbase"
    qty_decimals = 8
    qty_mean = 0.5
    price_decimals = 2
    corrupt = staticmethod(corrupt_l2)
    # "Advanced Trade API WebSocket unauthenticated messages are rate-limited at 8 per second per IP
    # address" (https://docs.cdp.coinbase.com/coinbase-app/advanced-trade-apis/websocket/websocket-rate-limits);
    # counted here per connection.  No per-connection subscription limit is documented for Advanced Trade.
    MAX_MSGS_PER_S = 8
    CHANNELS = ("level2", "market_trades", "heartbeats")

    @classmethod
    def claims(cls, path: str) -> bool:
        return path.split("?", 1)[0] in ("", "/")

    @classmethod
    def sniff(cls, text: str) -> bool:
        return '"product_ids"' in text and '"type"' in text

    def __init__(self, sim, s) -> None:
        super().__init__(sim, s)
        self.subs: dict[str, set[str]] = {ch: set() for ch in self.CHANNELS}
        self.seq = -1
        self.msg_times: deque[float] = deque()
        self.beats = 0

    def extra_tasks(self) -> list:
        return [asyncio.ensure_future(self._heartbeats())]

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            if self.subs["heartbeats"]:
                self.beats += 1
                now = time.time()
                self.push(f'{{"channel":"heartbeats","timestamp":"{iso(now)}","sequence_num":{SEQ},"events":[{{'
                          f'"current_time":"{iso(now)}","heartbeat_counter":{self.beats}}}]}}', CTL)

    def outgoing(self, text: str, kind: int, symbol: str | None) -> str | None:
        if SEQ in text:  # numbered as it leaves: one counter for the whole connection
            self.seq += 1
            text = text.replace(SEQ, str(self.seq), 1)
        return text

    def _error(self, message: str) -> None:
        self.push(orjson.dumps({"type": "error", "message": message}).decode(), CTL)

    def on_text(self, text: str) -> None:
        now = time.monotonic()
        mt = self.msg_times
        mt.append(now)
        while mt and now - mt[0] >= 1.0:
            mt.popleft()
        if len(mt) > self.MAX_MSGS_PER_S:
            self._error(f"rate limit exceeded: more than {self.MAX_MSGS_PER_S} messages per second")
            return
        try:
            msg = orjson.loads(text)
            typ = msg["type"]
            channel = msg["channel"]
            pids = msg.get("product_ids") or []
            if not isinstance(pids, list) or not all(isinstance(p, str) for p in pids):
                raise TypeError
        except (orjson.JSONDecodeError, KeyError, TypeError):
            self._error("Failed to parse message: expected type, channel and product_ids")
            return
        if typ not in ("subscribe", "unsubscribe"):
            self._error(f"Unknown message type {str(typ)[:30]}")
            return
        if channel not in self.subs:
            if channel in ("ticker", "ticker_batch", "candles", "status", "level2_batch"):
                return  # channels the simulator does not produce: accepted, silent
            self._error(f"Failure to subscribe: unknown channel {str(channel)[:30]}")
            return
        bad = [p for p in pids if split_sep(p, "-") is None or p != p.upper()]
        if bad:
            self._error(f"Failure to subscribe: invalid product_id {bad[0][:30]}")
            return
        if channel == "heartbeats":
            pids = pids or ["heartbeats"]
        if typ == "subscribe":
            self.subs[channel].update(pids)
            for p in pids:
                if channel != "heartbeats":
                    self.follow(p)
            self._subscriptions()
            if channel == "level2":
                for p in pids:
                    self._snapshot(self.book(p))
            elif channel == "market_trades":
                self.push(f'{{"channel":"market_trades","timestamp":"{iso(time.time())}","sequence_num":{SEQ},'
                          f'"events":[{{"type":"snapshot","trades":[]}}]}}', CTL)
        else:
            self.subs[channel].difference_update(pids)
            for p in pids:
                if p not in self.subs["level2"] and p not in self.subs["market_trades"]:
                    self.unfollow(p)
            self._subscriptions()

    def _subscriptions(self) -> None:
        subs = {ch: sorted(v) for ch, v in self.subs.items() if v}
        self.push(f'{{"channel":"subscriptions","timestamp":"{iso(time.time())}","sequence_num":{SEQ},'
                  f'"events":[{{"subscriptions":{orjson.dumps(subs).decode()}}}]}}', CTL)

    def _snapshot(self, b: SimBook) -> None:
        now = iso(time.time())
        bids, asks = b.snapshot_levels(10_000)
        ups = [f'{{"side":"bid","event_time":"{now}","price_level":"{p}","new_quantity":"{q}"}}' for p, q, _ in bids]
        ups += [f'{{"side":"offer","event_time":"{now}","price_level":"{p}","new_quantity":"{q}"}}' for p, q, _ in asks]
        self.push(f'{{"channel":"l2_data","timestamp":"{now}","sequence_num":{SEQ},"events":[{{"type":"snapshot",'
                  f'"product_id":"{b.symbol}","updates":[{",".join(ups)}]}}]}}', SNAPSHOT, b.symbol)

    def on_event(self, b: SimBook, changes, trade, before, now: float) -> None:
        sym = b.symbol
        ts = iso(now)
        if changes and sym in self.subs["level2"]:
            ups = ",".join(f'{{"side":"{"bid" if s == 0 else "offer"}","event_time":"{ts}","price_level":"{p}",'
                           f'"new_quantity":"{q}"}}' for s, p, q in changes)
            self.push(f'{{"channel":"l2_data","timestamp":"{ts}","sequence_num":{SEQ},"events":[{{"type":"update",'
                      f'"product_id":"{sym}","updates":[{ups}]}}]}}', BOOK, sym)
        if trade is not None and sym in self.subs["market_trades"]:
            side, pt, qt = trade
            b.trade_id += 1
            maker = "SELL" if side == "buy" else "BUY"  # the message names the maker's side
            self.push(f'{{"channel":"market_trades","timestamp":"{ts}","sequence_num":{SEQ},"events":[{{"type":'
                      f'"update","trades":[{{"product_id":"{sym}","trade_id":"{b.trade_id}","price":"{pt}",'
                      f'"size":"{qt}","time":"{ts}","side":"{maker}"}}]}}]}}', TRADE, sym)
