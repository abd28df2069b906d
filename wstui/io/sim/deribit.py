"""Deribit API v2 spoken by the simulator (``/ws/api/v2``): JSON-RPC 2.0 over WebSocket.

- ``public/subscribe`` / ``public/unsubscribe`` ``{"channels": [...]}``: the answer's ``result`` lists the
  channels subscribed (unsubscribed); a channel Deribit would not serve (an unknown instrument, an
  interval other than ``100ms``/``agg2``, a channel family not simulated) is simply left out of it, the way
  the venue answers (``"result": []`` for a channel it refuses).  Malformed params get JSON-RPC error
  ``-32602 Invalid params`` with ``data.reason``/``data.param``; an unknown method ``-32601``.
- ``book.<instrument>.100ms``: a ``snapshot`` notification (every level ``["new", price, amount]`` with a
  ``change_id``), then a ``change`` notification per 100 ms interval that changed the book (levels
  ``new``/``change``/``delete``) carrying ``prev_change_id`` (the previous notification's ``change_id``).
- ``trades.<instrument>.100ms``: the trades of each 100 ms interval, at the touch, with ``direction``.
- ``public/set_heartbeat {"interval": N}`` (N >= 10): a ``test_request`` heartbeat every N s; a client
  that has sent nothing by the next one is disconnected, as Deribit does.  ``public/test`` answers.
- Instruments: ``<BASE>-<anything>`` (``BTC-PERPETUAL``, ``ETH-27DEC26``) with a listed base.
- ``public/subscribe`` is rate limited per connection (see ``SUBSCRIBE_BURST``): past it, error ``10028
  too_many_requests`` and the connection is closed.

Faults: a ``gap`` loses change notifications, so the next one's ``prev_change_id`` breaks the chain;
``corrupt`` changes the amounts of the next change notification and its ``prev_change_id`` (Deribit
has no checksum: the chain is the only thing a client can check, so a garbled frame breaks it).
"""

from __future__ import annotations

import asyncio
import re
import time
from urllib.parse import urlsplit

import orjson

from ..faults import BOOK, CTL, SNAPSHOT, TRADE, bump_digit
from .market import SimBook, known_base
from .proto import SimClient

FLUSH_S = 0.1  # the "100ms" channels' interval
_PREV = re.compile(r'("prev_change_id":)(\d+)')
_AMOUNT = re.compile(r'(\["(?:new|change)",[-0-9.e]+,)([0-9.]+)(\])')


def num(text: str) -> str:
    """A decimal text the way Deribit writes its JSON numbers (``4714.0``, ``0.0015``)."""
    return repr(float(text))


class DeribitClient(SimClient):
    """Deribit JSON-RPC on ``/ws/api/v2``."""

    style = "deribit"
    qty_decimals = 1
    qty_mean = 2000.0
    price_decimals = None

    # public/subscribe "has distinct API rate limiting requirements": cost 3,000 credits of a 30,000
    # pool, i.e. a burst of 10 and ~3.3 requests/s sustained (docs.deribit.com, public/subscribe and
    # "Rate Limits").  Past it Deribit answers too_many_requests (code 10028) and terminates the session.
    SUBSCRIBE_BURST = 10
    SUBSCRIBE_PER_S = 10.0 / 3.0
    MIN_HEARTBEAT_S = 10  # public/set_heartbeat: "interval" at least 10 seconds
    INTERVALS = ("100ms", "agg2")  # unauthenticated book/trades intervals (raw needs an authorised session)

    @classmethod
    def claims(cls, path: str) -> bool:
        return urlsplit(path).path.rstrip("/") == "/ws/api/v2"

    @classmethod
    def sniff(cls, text: str) -> bool:
        # /ws/api/v2 is also a Binance /ws/<stream> path: a Deribit client speaks JSON-RPC
        try:
            msg = orjson.loads(text)
        except orjson.JSONDecodeError:
            return False
        return isinstance(msg, dict) and (msg.get("jsonrpc") == "2.0" or
                                          str(msg.get("method", "")).startswith(("public/", "private/")))

    def __init__(self, sim, s) -> None:
        super().__init__(sim, s)
        self.books: dict[str, str] = {}  # instrument -> its book channel name
        self.trades: dict[str, str] = {}  # instrument -> its trades channel name
        self.last_id: dict[str, int] = {}  # instrument -> change_id of the last book notification queued
        self.served: dict[str, set[tuple[int, str]]] = {}  # instrument -> levels the client has
        self.pending: dict[str, dict[tuple[int, str], str]] = {}  # instrument -> {(side, price): amount}
        self.pending_trades: dict[str, list[str]] = {}
        self.stamp: dict[str, float] = {}
        self.tokens = float(self.SUBSCRIBE_BURST)
        self.tokens_at = time.monotonic()
        self.heartbeat_s: float | None = None
        self.heard = True  # the client sent something since the last test_request
        self._hb_task: asyncio.Task | None = None

    def extra_tasks(self) -> list:
        return [asyncio.ensure_future(self._flusher())]

    def leave(self) -> None:
        super().leave()
        if self._hb_task is not None:
            self._hb_task.cancel()

    # ---- JSON-RPC answers
    def _answer(self, mid, result=None, error: dict | None = None) -> None:
        us = int(time.time() * 1e6)
        out: dict = {"jsonrpc": "2.0"}
        if mid is not None:
            out["id"] = mid
        if error is not None:
            out["error"] = error
        else:
            out["result"] = result
        out.update({"usIn": us, "usOut": us + 40, "usDiff": 40, "testnet": False})
        self.push(orjson.dumps(out).decode(), CTL)

    def _invalid(self, mid, param: str, reason: str) -> None:
        self._answer(mid, error={"message": "Invalid params", "data": {"reason": reason, "param": param},
                                 "code": -32602})

    def on_text(self, text: str) -> None:
        self.heard = True
        try:
            msg = orjson.loads(text)
        except orjson.JSONDecodeError:
            self._answer(None, error={"message": "Parse error", "code": -32700})
            return
        if not isinstance(msg, dict) or not isinstance(msg.get("method"), str):
            self._answer(msg.get("id") if isinstance(msg, dict) else None,
                         error={"message": "Invalid Request", "code": -32600})
            return
        mid = msg.get("id")
        method = msg["method"].lstrip("/")
        params = msg.get("params") if isinstance(msg.get("params"), dict) else {}
        if method == "public/test":
            self._answer(mid, {"version": "1.2.26"})
        elif method == "public/set_heartbeat":
            interval = params.get("interval")
            if not isinstance(interval, (int, float)) or interval < self.MIN_HEARTBEAT_S:
                self._invalid(mid, "interval", "must be a number, at least 10")
                return
            self.heartbeat_s = float(interval)
            if self._hb_task is None:
                self._hb_task = asyncio.ensure_future(self._heartbeats())
            self._answer(mid, "ok")
        elif method == "public/disable_heartbeat":
            self.heartbeat_s = None
            self._answer(mid, "ok")
        elif method in ("public/subscribe", "public/unsubscribe"):
            channels = params.get("channels")
            if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
                self._invalid(mid, "channels", "value must be a list")
                return
            if method == "public/subscribe":
                if not self._take_token():
                    self._answer(mid, error={"message": "too_many_requests", "code": 10028})
                    asyncio.ensure_future(self._close_soon())
                    return
                later: list = []
                self._answer(mid, [c for c in channels if self._subscribe(c, later)])
                for b, channel in later:  # the snapshots follow the answer, as on the venue
                    self._snapshot(b, channel)
            else:
                self._answer(mid, [c for c in channels if self._unsubscribe(c)])
        else:
            self._answer(mid, error={"message": "Method not found", "code": -32601})

    def _take_token(self) -> bool:
        now = time.monotonic()
        self.tokens = min(float(self.SUBSCRIBE_BURST), self.tokens + (now - self.tokens_at) * self.SUBSCRIBE_PER_S)
        self.tokens_at = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True

    async def _close_soon(self) -> None:
        await asyncio.sleep(0.05)  # the error frame first
        await self.s.ws.close(1000, "too_many_requests")

    async def _heartbeats(self) -> None:
        while self.heartbeat_s is not None:
            await asyncio.sleep(self.heartbeat_s)
            if self.heartbeat_s is None:
                return
            if not self.heard:
                await self.s.ws.close(1000, "heartbeat: no answer to test_request")
                return
            self.heard = False
            self.push('{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"test_request"}}', CTL)

    # ---- channels
    def _parse(self, channel: str) -> tuple[str, str] | None:
        """``book.BTC-PERPETUAL.100ms`` -> ("book", "BTC-PERPETUAL") when the sim serves it."""
        parts = channel.split(".")
        if len(parts) != 3 or parts[0] not in ("book", "trades") or parts[2] not in self.INTERVALS:
            return None
        inst = parts[1]
        base, sep, rest = inst.partition("-")
        if not sep or not rest or inst != inst.upper() or not known_base(base):
            return None
        return parts[0], inst

    def _subscribe(self, channel: str, later: list) -> bool:
        p = self._parse(channel)
        if p is None:
            return False
        kind, inst = p
        have = self.books if kind == "book" else self.trades
        if inst in have:
            return True  # already subscribed: listed again, nothing new sent
        have[inst] = channel
        b = self.follow(inst)
        if kind == "book":
            self.pending[inst] = {}
            self.served[inst] = set()  # nothing until the snapshot: changes wait for it
            later.append((b, channel))
        return True

    def _unsubscribe(self, channel: str) -> bool:
        p = self._parse(channel)
        if p is None:
            return False
        kind, inst = p
        have = self.books if kind == "book" else self.trades
        if have.get(inst) != channel:
            return False
        del have[inst]
        if kind == "book":
            self.pending.pop(inst, None)
            self.served.pop(inst, None)
            self.last_id.pop(inst, None)
        else:
            self.pending_trades.pop(inst, None)
        if inst not in self.books and inst not in self.trades:
            self.unfollow(inst)
        return True

    def _note(self, channel: str, data: str) -> str:
        return f'{{"jsonrpc":"2.0","method":"subscription","params":{{"channel":"{channel}","data":{data}}}}}'

    def _snapshot(self, b: SimBook, channel: str) -> None:
        inst = b.symbol
        bids, asks = b.snapshot_levels(len(b.book.bids) + len(b.book.asks))
        self.served[inst] = {(0, p) for p, _q, _ in bids} | {(1, p) for p, _q, _ in asks}
        self.pending[inst] = {}
        self.last_id[inst] = b.seq
        lv = lambda levels: ",".join(f'["new",{num(p)},{num(q)}]' for p, q, _ in levels)  # noqa: E731
        self.push(self._note(channel, f'{{"type":"snapshot","timestamp":{int(time.time() * 1000)},'
                                      f'"instrument_name":"{inst}","change_id":{b.seq},'
                                      f'"bids":[{lv(bids)}],"asks":[{lv(asks)}]}}'), SNAPSHOT, inst)

    # ---- the market
    def on_event(self, b: SimBook, changes, trade, before, now: float) -> None:
        inst = b.symbol
        if inst in self.books and changes:
            pend = self.pending.setdefault(inst, {})
            for s, pt, qt in changes:
                pend[(s, pt)] = qt
            self.stamp[inst] = now
        if trade is not None and inst in self.trades:
            side, pt, qt = trade
            b.trade_id += 1
            self.pending_trades.setdefault(inst, []).append(
                f'{{"trade_seq":{b.trade_id},"trade_id":"{b.trade_id}","timestamp":{int(now * 1000)},'
                f'"tick_direction":{0 if side == "buy" else 2},"price":{num(pt)},"mark_price":{num(pt)},'
                f'"index_price":{num(pt)},"instrument_name":"{inst}","direction":"{side}","amount":{num(qt)}}}')

    async def _flusher(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_S)
            self.flush()

    def flush(self) -> None:
        """One notification per channel for what changed in the interval."""
        for inst, channel in list(self.books.items()):
            pend = self.pending.get(inst)
            if not pend:
                continue
            self.pending[inst] = {}
            b = self.book(inst)
            served = self.served.setdefault(inst, set())
            out: tuple[list[str], list[str]] = ([], [])
            for (s, pt), qt in pend.items():
                had = (s, pt) in served
                if float(qt) == 0.0:
                    if not had:
                        continue  # came and went within the interval
                    served.discard((s, pt))
                    out[s].append(f'["delete",{num(pt)},0.0]')
                else:
                    served.add((s, pt))
                    out[s].append(f'["{"change" if had else "new"}",{num(pt)},{num(qt)}]')
            if not out[0] and not out[1]:
                continue
            prev = self.last_id.get(inst, b.seq)
            cid = b.seq if b.seq > prev else prev + 1
            self.last_id[inst] = cid
            text = self._note(channel, f'{{"type":"change","timestamp":{int(self.stamp.get(inst, time.time()) * 1000)},'
                                       f'"prev_change_id":{prev},"instrument_name":"{inst}","change_id":{cid},'
                                       f'"bids":[{",".join(out[0])}],"asks":[{",".join(out[1])}]}}')
            if self.s.corrupt:
                bad = _AMOUNT.sub(lambda m: m.group(1) + bump_digit(m.group(2)) + m.group(3), text)
                bad = _PREV.sub(lambda m: m.group(1) + bump_digit(m.group(2)), bad, count=1)
                if bad != text:
                    self.s.corrupt -= 1
                    text = bad
            self.push(text, BOOK, inst)
        for inst, trades in list(self.pending_trades.items()):
            if trades and inst in self.trades:
                self.pending_trades[inst] = []
                self.push(self._note(self.trades[inst], f"[{','.join(trades)}]"), TRADE, inst)
