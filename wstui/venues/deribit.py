"""Deribit API v2 over WebSocket (``wss://www.deribit.com/ws/api/v2``): JSON-RPC subscriptions.

Channels (symbols are instrument names such as ``BTC-PERPETUAL`` or ``BTC-24SEP21-8000-P``):

``book.<instrument>.raw`` / ``book.<instrument>.100ms``
    a ``snapshot`` and then ``change`` notifications; levels ``["new"|"change"|"delete", price, amount]``.
    Integrity: every notification carries ``change_id`` and every change its ``prev_change_id``, which
    must equal the ``change_id`` of the notification before it.  A snapshot starts the chain over; a
    break is a gap: counted, the book marked out of sync and resubscribed (the venue then sends a new
    snapshot, which rebuilds it).
``book.<instrument>.<group>.<depth>.<interval>``
    the grouped book: every notification is a whole top-``depth`` book (``[price, amount]`` levels).
``trades.<instrument>.<interval>``
    trades with ``direction`` (the aggressor side) to the tape.
anything else (``ticker``...)
    a plain stream, stamped with the notification's ``timestamp``.

Keep-alive: ``heartbeat`` notifications (asked for with ``public/set_heartbeat``); a ``test_request``
is answered with ``public/test`` as the venue requires.  Numbers keep their wire text (msgspec
``float_hook=str``).
"""

from __future__ import annotations

import msgspec

from ..core.book import BadLevel, BookSide
from ..core.stream import BOOK_EMPTY, BOOK_OK, Stream
from .base import Venue, remember
from .checks import levels as shaped, text

_decode = msgspec.json.Decoder(float_hook=str).decode
_encode = msgspec.json.encode

HEARTBEAT_S = 30
_TEST = _encode({"jsonrpc": "2.0", "id": 9999, "method": "public/test", "params": {}}).decode()


def _text(v) -> str:
    return v if type(v) is str else text(v)


def _apply(side: BookSide, levels) -> None:
    for lv in shaped(levels, 3, side):
        action = lv[0]
        p = text(lv[1], side, "price")
        if action == "delete":
            side.set_text(p, "0")
        elif action == "new" or action == "change":
            side.set_text(p, text(lv[2], side, "amount"))
        else:
            raise BadLevel(f"level action {str(action)[:20]!r}", side)


class _Chan:
    __slots__ = ("kind", "stream", "last")

    def __init__(self, kind: str, stream: Stream | None) -> None:
        self.kind = kind  # "book", "grouped", "trades", "other"
        self.stream = stream
        self.last: int | None = None  # change_id of the last book notification applied


class Deribit(Venue):
    name = "deribit"
    hosts = ("www.deribit.com", "deribit.com", "test.deribit.com", "streams.deribit.com")
    url = "wss://www.deribit.com/ws/api/v2"

    @classmethod
    def matches(cls, host: str, path: str) -> bool:
        return host in cls.hosts and path.rstrip("/") == "/ws/api/v2"

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.chans: dict[str, _Chan] = {}

    # ---------------------------------------------------------------- streams
    def _chan(self, name: str) -> _Chan:
        ch = self.chans.get(name)
        if ch is not None:
            return ch
        parts = name.split(".")
        kind = parts[0]
        sym = parts[1] if len(parts) > 1 else name
        if kind == "book":
            grouped = len(parts) > 3
            ch = _Chan("grouped" if grouped else "book",
                       self.ctx.stream(sym, "book_grouped" if grouped else "book", book=True))
        elif kind == "trades":
            # trades.<instrument>.<interval>; trades.<kind>.<currency>.<interval> covers many instruments
            ch = _Chan("trades", self.declare(sym, "trades", tape=True) if len(parts) == 3 else None)
        else:
            ch = _Chan("other", self.ctx.stream(sym, kind))
        remember(self.chans, name, ch, "channel")
        return ch

    def on_send(self, text: str, ts: float) -> None:
        try:
            msg = _decode(text)
        except msgspec.DecodeError:
            return
        if type(msg) is dict and str(msg.get("method", "")).endswith("/subscribe"):
            for name in (msg.get("params") or {}).get("channels") or ():
                if isinstance(name, str):
                    self._chan(name)

    def subscribe_messages(self, symbols) -> list[str]:
        # unauthenticated connections get the 100ms channels; .raw needs an authorised session
        channels = []
        for s in symbols:
            channels += [f"book.{s}.100ms", f"trades.{s}.100ms"]
        return [
            _encode({"jsonrpc": "2.0", "id": 1, "method": "public/set_heartbeat",
                     "params": {"interval": HEARTBEAT_S}}).decode(),
            _encode({"jsonrpc": "2.0", "id": 2, "method": "public/subscribe",
                     "params": {"channels": channels}}).decode(),
        ]

    # ---------------------------------------------------------------- frames
    def on_frame(self, data, ts: float) -> None:
        msg = _decode(data)
        if type(msg) is not dict:
            raise ValueError("frame is not a JSON-RPC object")
        method = msg.get("method")
        if method == "subscription":
            params = msg["params"]
            ch = self._chan(params["channel"])
            d = params["data"]
            kind = ch.kind
            if kind == "book":
                self._book(ch, d, ts, len(data))
            elif kind == "trades":
                self._on_trades(ch, d, ts, len(data))
            elif kind == "grouped":
                st = ch.stream
                st.data(ts, len(data), d["timestamp"] / 1000.0)
                book = st.book
                book.load([(text(p, book.bids), text(q, book.bids)) for p, q in shaped(d["bids"], 2, book.bids)],
                          [(text(p, book.asks), text(q, book.asks)) for p, q in shaped(d["asks"], 2, book.asks)])
                if st.book_state is BOOK_OK:
                    book.updates += 1
                    st.check_crossed(ts)
                else:
                    st.book_rebuilt(ts, "grouped snapshot")
            else:
                stamp = d.get("timestamp") if type(d) is dict else None
                ch.stream.data(ts, len(data), stamp / 1000.0 if type(stamp) is int else None)
        elif method == "heartbeat":
            self.ctx.heartbeat(ts)
            if (msg.get("params") or {}).get("type") == "test_request":
                self.ctx.send(_TEST)
        elif "error" in msg:
            err = msg["error"] or {}
            self.ctx.parse_error(f"deribit error {err.get('code', '?')}: {str(err.get('message', ''))[:200]}", ts)
        elif "result" in msg:
            res = msg["result"]
            if type(res) is list:  # answer to public/subscribe: the channels now subscribed
                for name in res:
                    if type(name) is str:
                        self._chan(name)

    def _book(self, ch: _Chan, d: dict, ts: float, n: int) -> None:
        st = ch.stream
        book = st.book
        cid = d["change_id"]
        if d.get("type") == "snapshot":
            # a snapshot's timestamp is its book's last change, often seconds old: no latency sample
            st.data(ts, n, None)
            # a snapshot's levels are all "new"
            book.load([(text(lv[1], book.bids), text(lv[2], book.bids)) for lv in shaped(d["bids"], 3, book.bids)],
                      [(text(lv[1], book.asks), text(lv[2], book.asks)) for lv in shaped(d["asks"], 3, book.asks)])
            ch.last = cid
            st.book_rebuilt(ts, "snapshot")
            return
        st.data(ts, n, d["timestamp"] / 1000.0)
        if st.book_state is BOOK_EMPTY:
            return  # a change before any snapshot cannot be applied
        prev = d.get("prev_change_id")
        if prev != ch.last:
            st.gap(f"prev_change_id {prev} but the last change_id was {ch.last}", ts)
            self.ctx.resubscribe(st, "change_id gap")
        ch.last = cid
        _apply(book.bids, d["bids"])
        _apply(book.asks, d["asks"])
        book.updates += 1
        st.check_crossed(ts)

    def _on_trades(self, ch: _Chan, trades, ts: float, n: int) -> None:
        if not trades:
            return
        st = ch.stream
        if st is not None:
            st.data(ts, n, trades[-1]["timestamp"] / 1000.0)  # one message, however many trades
            for t in trades:
                st.trade(ts, t.get("direction", ""), _text(t["price"]), _text(t["amount"]), t["timestamp"] / 1000.0)
            return
        counted: set[str] = set()
        for t in trades:  # a channel over many instruments: each trade to its instrument's stream
            sym = t["instrument_name"]
            st = self.declare(sym, "trades", tape=True)
            exch = t["timestamp"] / 1000.0
            if sym not in counted:
                counted.add(sym)
                st.data(ts, n, exch)
            st.trade(ts, t.get("direction", ""), _text(t["price"]), _text(t["amount"]), exch)
