"""Bybit v5 public WebSocket: spot (``/v5/public/spot``), linear (``/v5/public/linear``) and inverse
(``/v5/public/inverse``) contracts, one host; ``orderbook.N.SYMBOL`` and ``publicTrade.SYMBOL``.

Spot and linear both spell their symbols ``BTCUSDT``, so each market is its own venue name (``bybit``,
``bybit-linear``, ``bybit-inverse``) and their streams never mix.

Book rules (Bybit's "how to maintain the order book"):

- ``type: snapshot`` replaces the book; so does any message with ``u == 1`` (Bybit restarted the
  service and starts over: "overwrite your local orderbook").
- Each ``delta``'s update id ``u`` must be the previous one plus one; a break is a gap: the book is
  marked out of sync (live: resubscribed) until the next snapshot rebuilds it.
- Deltas are applied (size ``"0"`` deletes) and the book is truncated to the subscribed depth N.

Trades: ``S`` is the taker's side.  Other topics (``tickers``, ``kline``, ``allLiquidation``...) are
counted as plain streams.  ``pong`` answers and subscription acknowledgements are keep-alive/control.
"""

from __future__ import annotations

import re

import msgspec
import orjson

from ..core.stream import BOOK_EMPTY, Stream
from .base import Limits, Venue, remember
from .checks import book_gap, sent_object



class _Frame(msgspec.Struct, gc=False):
    """The envelope; ``data`` stays raw until the topic says what it holds (tickers never need it)."""
    topic: str = ""
    type: str = ""
    ts: int = 0
    data: msgspec.Raw = msgspec.Raw(b"null")
    op: str = ""
    success: bool | None = None
    ret_msg: str = ""


class _BookData(msgspec.Struct, gc=False):
    b: list[list[str]] = []
    a: list[list[str]] = []
    u: int | None = None  # required; checked by hand so the error says what is missing


class _Trade(msgspec.Struct, gc=False):
    T: int
    p: str
    v: str
    S: str = ""


_frame = msgspec.json.Decoder(_Frame).decode
_book_data = msgspec.json.Decoder(_BookData).decode
_trades = msgspec.json.Decoder(list[_Trade]).decode
_SIDE = {"Buy": "buy", "Sell": "sell"}

_REFUSED_TOPIC = re.compile(r"\[([^\]]+)\]|topic:(\S+)")

_TOPIC_CHANNELS = {"tickers": "ticker", "kline": "candles", "allLiquidation": "liquidations",
                   "liquidation": "liquidations", "publicTrade": "trades", "orderbook": "book"}


class _BookSync:
    __slots__ = ("st", "depth", "u")

    def __init__(self, st: Stream, depth: int) -> None:
        self.st = st
        self.depth = depth
        self.u: int | None = None  # update id of the last message applied


class BybitSpot(Venue):
    name = "bybit"
    hosts = ("stream.bybit.com", "stream-testnet.bybit.com", "stream.bytick.com")
    market = "spot"
    url = "wss://stream.bybit.com/v5/public/spot"
    # bybit-exchange.github.io/docs/v5/ws/connect: spot accepts at most 10 args in one subscribe request;
    # do not open more than 500 connections in 5 minutes per IP.
    limits = Limits(args_per_msg=10, conns_per_window=(500, 300.0))

    @classmethod
    def matches(cls, host: str, path: str) -> bool:
        return host in cls.hosts and path.rstrip("/") == f"/v5/public/{cls.market}"

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.sync: dict[str, _BookSync] = {}  # book topic -> book state
        self.topics: dict[str, Stream] = {}  # any other topic -> its stream

    # ---------------------------------------------------------------- subscriptions
    def on_send(self, text: str, ts: float) -> None:
        msg = sent_object(text)
        if msg is not None and msg.get("op") == "subscribe":
            for topic in msg.get("args") or ():
                if isinstance(topic, str):
                    self._declare(topic)

    def _declare(self, topic: str) -> Stream:
        kind, _, rest = topic.partition(".")
        sym = rest.rpartition(".")[2]
        ch = _TOPIC_CHANNELS.get(kind, kind)
        st = self.declare(sym, ch)
        if ch == "book":
            if topic not in self.sync:
                depth = rest.partition(".")[0]
                remember(self.sync, topic, _BookSync(st, int(depth) if depth.isdigit() else 0), "topic")
        else:
            remember(self.topics, topic, st, "topic")
        return st

    def keepalive(self) -> tuple[float, str] | None:
        # Bybit asks for {"op":"ping"} every 20 s to keep a public connection open
        return (20.0, '{"op":"ping"}')

    def subscribe_messages(self, symbols) -> list[str]:
        # One request per symbol: Bybit refuses a whole request when one of its topics is unknown (an
        # unknown symbol would take every other symbol down with it), and spot takes at most 10 args
        # per request (v5 ws/connect, "Public channel - Args limits").
        depth = 200  # offered by spot, linear and inverse alike
        return [orjson.dumps({"op": "subscribe", "args": [f"orderbook.{depth}.{s}", f"publicTrade.{s}"]}).decode()
                for s in symbols]

    @classmethod
    def stream_symbol(cls, symbol: str) -> str:
        return symbol.upper()  # Bybit symbols are uppercase only

    def resubscribe_messages(self, stream: Stream) -> list[str] | None:
        """Unsubscribe then subscribe that one book topic: Bybit answers with a fresh snapshot."""
        if stream.channel != "book":
            return None
        topics = [t for t, sy in self.sync.items() if sy.st is stream]
        if not topics:
            return None
        return [orjson.dumps({"op": "unsubscribe", "args": topics}).decode(),
                orjson.dumps({"op": "subscribe", "args": topics}).decode()]

    # ---------------------------------------------------------------- frames
    def on_frame(self, data, ts: float) -> None:
        msg = _frame(data)
        topic = msg.topic
        if not topic:
            op = msg.op
            if op == "ping" or op == "pong" or msg.ret_msg == "pong":
                self.ctx.heartbeat(ts)
            elif msg.success is False:
                # the refusal names the topic when it is one ("Invalid symbol :[T]", "...,topic:T"): its stream
                m = _REFUSED_TOPIC.search(msg.ret_msg)
                topic = m.group(1) or m.group(2) if m else None
                sy = self.sync.get(topic) if topic else None
                st = sy.st if sy is not None else self.topics.get(topic) if topic else None
                self.ctx.parse_error(f"bybit {op or 'request'} failed: {msg.ret_msg}", ts, st)
            return
        n = len(data)
        sy = self.sync.get(topic)
        if sy is not None:
            self._book(sy, msg, ts, n)
            return
        st = self.topics.get(topic)
        if st is None:
            if topic.startswith("orderbook."):
                self._declare(topic)  # a book nobody subscribed in the capture: still a book
                self._book(self.sync[topic], msg, ts, n)
                return
            st = self._declare(topic)
        if st.tape is not None:
            rows = _trades(msg.data)
            st.data(ts, n, msg.ts / 1000.0 if msg.ts else None)  # send time; T (match time) is the tape's
            for t in rows:
                st.trade(ts, _SIDE.get(t.S, ""), t.p, t.v, t.T / 1000.0)
            return
        st.data(ts, n, msg.ts / 1000.0 if msg.ts else None)

    def _book(self, sy: _BookSync, msg: _Frame, ts: float, n: int) -> None:
        d = _book_data(msg.data)
        u = d.u
        if u is None:
            raise ValueError("book message without an update id 'u'")
        st = sy.st
        st.data(ts, n, msg.ts / 1000.0 if msg.ts else None)
        book = st.book
        if msg.type == "snapshot" or u == 1:
            book.load(d.b, d.a)
            if sy.depth:
                book.truncate(sy.depth)
            sy.u = u
            st.book_rebuilt(ts, "snapshot" if u != 1 else "snapshot (u=1: Bybit restarted the stream)")
            return
        if st.book_state is BOOK_EMPTY:
            return  # deltas before the snapshot cannot be applied
        last = sy.u
        sy.u = u
        if last is not None and u != last + 1:
            book_gap(self.ctx, st, f"u={u} after u={last}" + (f" (missing {u - last - 1})" if u > last else ""), ts)
        book.bids.update(d.b)
        book.asks.update(d.a)
        if sy.depth:
            book.truncate(sy.depth)
        book.updates += 1
        st.check_crossed(ts)

class BybitLinear(BybitSpot):
    name = "bybit-linear"
    market = "linear"
    url = "wss://stream.bybit.com/v5/public/linear"


class BybitInverse(BybitSpot):
    name = "bybit-inverse"
    market = "inverse"
    url = "wss://stream.bybit.com/v5/public/inverse"
