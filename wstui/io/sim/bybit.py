"""Bybit v5 public WebSocket spoken by the simulator: spot, linear and inverse (``/v5/public/spot``,
``/v5/public/linear``, ``/v5/public/inverse``), each its own market.

- ``{"op":"subscribe","args":[topics]}`` with topics ``orderbook.{1,50,200,1000}.SYMBOL`` and
  ``publicTrade.SYMBOL``; acknowledged ``{"success":true,"ret_msg":...,"conn_id":...,"op":"subscribe"}``
  (spot says ``"subscribe"``, linear/inverse ``""``, as in the capture).  ``unsubscribe`` likewise.
- A book subscription gets a ``snapshot`` of its depth, then ``delta`` frames of the changes inside that
  window, each with update id ``u`` one more than the last (Bybit's only integrity rule); the window is
  kept by the client truncating to depth N.
- ``publicTrade`` frames at the touch, ``S`` the taker's side.
- ``{"op":"ping"}`` is answered by the server (:func:`wstui.io.server.pong_for`).

Strict like Bybit: a batch with any topic it does not know is refused as a whole (nothing of it is
subscribed); spot refuses more than 10 args in one request; the args of one connection may not exceed
21,000 characters.  Bybit has no book checksum, so ``corrupt`` damages what it can check: the update id.
"""

from __future__ import annotations

import re
import time
from urllib.parse import urlsplit

import orjson

from ..faults import BOOK, CTL, SNAPSHOT, TRADE
from .market import QUOTES, SimBook, known_base
from .proto import SimClient

DEPTHS = (1, 50, 200, 1000)  # orderbook depths Bybit v5 offers (docs: v5/websocket/public/orderbook)


def window_changes(b: SimBook, changes, before, depth: int) -> tuple[list[str], list[str], bool]:
    """The changes of one market event a client subscribed to ``depth`` levels sees, as ``["p","q"]``
    texts per side: changed levels inside the window before or after the event, plus levels that
    entered it (a level that left the window is dropped by the client's truncation).  The bool: any."""
    bids, asks = b.book.bids, b.book.asks
    ob, oa = before[depth]
    nb, na = set(bids.keys[-depth:]), set(asks.keys[-depth:])
    out: tuple[list[str], list[str]] = ([], [])
    seen: set[tuple[int, float]] = set()
    for s, pt, qt in changes:
        k = float(pt) * (1.0 if s == 0 else -1.0)
        old, new = (ob, nb) if s == 0 else (oa, na)
        if k in old or k in new:
            out[s].append(f'["{pt}","{qt}"]')
            seen.add((s, k))
    for s, old, new, side in ((0, ob, nb, bids), (1, oa, na, asks)):
        for k in new - old:
            if (s, k) not in seen:
                pt, qt, _ = side.levels[k]
                out[s].append(f'["{pt}","{qt}"]')
    return out[0], out[1], bool(out[0] or out[1])


def _before(before: dict, depth: int) -> dict:
    """``before`` (top-of-book key sets per depth, taken for the deepest window) for a shallower one."""
    if depth not in before:
        bids, asks = before[max(before)]
        before = {depth: (set(sorted(bids)[-depth:]), set(sorted(asks)[-depth:]))}
    return before


_U = re.compile(r'("u":)(\d+)')


class BybitClient(SimClient):
    """Bybit v5 spot (``/v5/public/spot``); linear and inverse are subclasses."""

    style = "bybit"
    market = "spot"
    qty_decimals = 6
    qty_mean = 0.5
    # Bybit v5 ws/connect, "Public channel - Args limits": "Spot can input up to 10 args for each
    # subscription request sent to one connection"; "No args limit for Futures ... for now"
    MAX_ARGS_PER_REQUEST: int | None = 10
    # same section: "for one public connection, you cannot have length of "args" array over 21,000 characters"
    MAX_ARGS_CHARS = 21_000
    ACK_MSG = "subscribe"  # spot's ack says so; linear/inverse leave ret_msg empty

    @classmethod
    def claims(cls, path: str) -> bool:
        return urlsplit(path).path.rstrip("/") == f"/v5/public/{cls.market}"

    @classmethod
    def listed(cls, symbol: str) -> bool:
        """Does this market list ``symbol`` (``BTCUSDT``; inverse: ``BTCUSD``)?  Uppercase only, as Bybit."""
        if symbol != symbol.upper():
            return False
        for q in sorted(QUOTES, key=len, reverse=True):
            if symbol.endswith(q) and len(symbol) > len(q) and known_base(symbol[:-len(q)]):
                return cls.quote_ok(q)
        return False

    @classmethod
    def quote_ok(cls, quote: str) -> bool:
        return True

    def __init__(self, sim, s) -> None:
        super().__init__(sim, s)
        self.conn_id = f"sim{s.id:04d}-{self.market}"
        self.depths: dict[str, dict[int, int]] = {}  # symbol -> {subscribed depth: update id last sent}
        self.trades: set[str] = set()
        self.topics: set[str] = set()
        s.corrupter = self.corrupt

    def depth_for(self, symbol: str) -> int:
        d = self.depths.get(symbol)
        return max(d) if d else 0

    # ---- requests
    def _answer(self, op: str, ok: bool, ret_msg: str, req_id) -> None:
        msg = {"success": ok, "ret_msg": ret_msg, "conn_id": self.conn_id}
        if req_id is not None:
            msg["req_id"] = req_id
        msg["op"] = op
        self.push(orjson.dumps(msg).decode(), CTL)

    def _topic_error(self, topic: str) -> str | None:
        """Bybit's refusal of one topic, or None when it is one this market serves."""
        kind, _, rest = topic.partition(".")
        if kind == "orderbook":
            depth, _, sym = rest.partition(".")
            ok = depth.isdigit() and int(depth) in DEPTHS and self.listed(sym)
        elif kind == "publicTrade":
            sym = rest
            ok = self.listed(sym)
        else:
            ok = False
        if ok:
            return None
        if self.market == "spot":
            return f"Invalid symbol :[{topic}]"
        return f"error:handler not found,topic:{topic}"

    def on_text(self, text: str) -> None:
        try:
            msg = orjson.loads(text)
            op = msg["op"]
            args = msg.get("args") or []
            if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
                raise TypeError
        except (orjson.JSONDecodeError, KeyError, TypeError):
            self._answer("", False, "error:request not supported", None)
            return
        req_id = msg.get("req_id")
        if op not in ("subscribe", "unsubscribe"):
            self._answer(str(op), False, f"error:op {op} not supported", req_id)
            return
        if op == "subscribe":
            if self.MAX_ARGS_PER_REQUEST is not None and len(args) > self.MAX_ARGS_PER_REQUEST:
                self._answer(op, False, f"args size >{self.MAX_ARGS_PER_REQUEST}", req_id)
                return
            # one topic Bybit does not serve refuses the whole request: nothing of it is subscribed
            for t in args:
                err = self._topic_error(t)
                if err is None and t in self.topics:
                    err = f"error:already subscribed,topic:{t}"
                if err is not None:
                    self._answer(op, False, err, req_id)
                    return
            if sum(len(t) for t in self.topics | set(args)) > self.MAX_ARGS_CHARS:
                self._answer(op, False, f"args length over {self.MAX_ARGS_CHARS} characters", req_id)
                return
            self._answer(op, True, self.ACK_MSG, req_id)
            for t in args:
                self._subscribe(t)
        else:
            for t in args:
                if t not in self.topics:
                    self._answer(op, False, f"error:not subscribed,topic:{t}", req_id)
                    return
            self._answer(op, True, "", req_id)
            for t in args:
                self._unsubscribe(t)

    def _subscribe(self, topic: str) -> None:
        self.topics.add(topic)
        kind, _, rest = topic.partition(".")
        if kind == "orderbook":
            depth, _, sym = rest.partition(".")
            b = self.follow(sym)
            self.depths.setdefault(sym, {})[int(depth)] = 0
            self._snapshot(b, int(depth))
        else:
            self.follow(rest)
            self.trades.add(rest)

    def _unsubscribe(self, topic: str) -> None:
        self.topics.discard(topic)
        kind, _, rest = topic.partition(".")
        sym = rest.partition(".")[2] if kind == "orderbook" else rest
        if kind == "orderbook":
            d = self.depths.get(sym, {})
            d.pop(int(rest.partition(".")[0]), None)
            if not d:
                self.depths.pop(sym, None)
        else:
            self.trades.discard(sym)
        if sym not in self.depths and sym not in self.trades:
            self.unfollow(sym)

    # ---- frames
    def _snapshot(self, b: SimBook, depth: int) -> None:
        bids, asks = b.snapshot_levels(depth)
        u = self.depths[b.symbol][depth] = b.seq  # the stream's update id goes on from here
        ms = int(time.time() * 1000)
        lv = lambda levels: ",".join(f'["{p}","{q}"]' for p, q, _ in levels)  # noqa: E731
        self.push(f'{{"topic":"orderbook.{depth}.{b.symbol}","type":"snapshot","ts":{ms},"data":{{'
                  f'"s":"{b.symbol}","b":[{lv(bids)}],"a":[{lv(asks)}],"u":{u},"seq":{b.seq}}},"cts":{ms}}}',
                  SNAPSHOT, b.symbol)

    def on_event(self, b: SimBook, changes, trade, before, now: float) -> None:
        sym = b.symbol
        ms = int(now * 1000)
        depths = self.depths.get(sym)
        for depth in depths or ():
            if not changes:
                break
            bs, as_, any_ = window_changes(b, changes, _before(before, depth), depth)
            if any_:
                u = depths[depth] = depths[depth] + 1
                self.push(f'{{"topic":"orderbook.{depth}.{sym}","type":"delta","ts":{ms},"data":{{"s":"{sym}",'
                          f'"b":[{",".join(bs)}],"a":[{",".join(as_)}],"u":{u},"seq":{b.seq}}},"cts":{ms}}}',
                          BOOK, sym)
        if trade is not None and sym in self.trades:
            side, pt, qt = trade
            b.trade_id += 1
            tick = "" if self.market == "spot" else f'"L":"{"PlusTick" if side == "buy" else "MinusTick"}",'
            self.push(f'{{"topic":"publicTrade.{sym}","type":"snapshot","ts":{ms},"data":[{{"T":{ms},"s":"{sym}",'
                      f'"S":"{"Buy" if side == "buy" else "Sell"}","v":"{qt}","p":"{pt}",{tick}'
                      f'"i":"{b.trade_id}","BT":false,"RPI":false,"seq":{b.seq}}}]}}', TRADE, sym)

    @staticmethod
    def corrupt(text: str) -> str:
        """Bybit books carry no checksum: a damaged book frame is one whose update id ``u`` is wrong."""
        if '"topic":"orderbook.' not in text:
            return text
        return _U.sub(lambda m: m.group(1) + str(int(m.group(2)) + 7), text, count=1)


class BybitLinearClient(BybitClient):
    """Bybit v5 USDT/USDC perpetuals and futures (``/v5/public/linear``)."""

    style = "bybit-linear"
    market = "linear"
    qty_decimals = 3
    qty_mean = 2.0
    MAX_ARGS_PER_REQUEST = None  # "No args limit for Futures ... for now" (the 21,000 characters still hold)
    ACK_MSG = ""


class BybitInverseClient(BybitLinearClient):
    """Bybit v5 inverse contracts (``/v5/public/inverse``): ``BTCUSD``, sizes in whole USD contracts."""

    style = "bybit-inverse"
    market = "inverse"
    qty_decimals = 0
    qty_mean = 3000.0

    @classmethod
    def quote_ok(cls, quote: str) -> bool:
        return quote == "USD"
