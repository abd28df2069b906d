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

Refusals: Deribit answers ``public/subscribe`` with the channels it subscribed; one it will not serve
(an unknown instrument, an interval needing authorisation) is just left out of that list.  Each channel
asked for and missing from the answer is reported on its stream, as is an error answer to the request.

Repair of one book (``resubscribe_messages``): ``public/unsubscribe`` then ``public/subscribe`` of that
instrument's book channel; the venue sends a new snapshot, which starts the chain over.  The
connection's other channels are not touched.

Keep-alive: ``heartbeat`` notifications (asked for with ``public/set_heartbeat``); a ``test_request``
is answered with ``public/test`` as the venue requires.  Numbers keep their wire text (msgspec
``float_hook=str``).
"""

from __future__ import annotations

import msgspec

from ..core.book import BadLevel, BookSide
from ..core.stream import BOOK_EMPTY, BOOK_OK, Stream
from .base import Limits, Venue, remember
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
    # docs.deribit.com "Connection management": at most 32 simultaneous connections per IP (HTTP included).
    limits = Limits(conns_max=32)

    @classmethod
    def matches(cls, host: str, path: str) -> bool:
        return host in cls.hosts and path.rstrip("/") == "/ws/api/v2"

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.chans: dict[str, _Chan] = {}
        self.asked: dict[object, list[str]] = {}  # request id -> the channels a public/subscribe asked for
        self._next_id = 1000  # request ids of the repairs this adapter sends

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
            names = [n for n in (msg.get("params") or {}).get("channels") or () if isinstance(n, str)]
            for name in names:
                self._chan(name)
            if type(msg.get("id")) in (int, str) and len(self.asked) < 1000:
                self.asked[msg["id"]] = names

    @classmethod
    def stream_symbol(cls, symbol: str) -> str:
        return symbol.strip().upper()  # instrument names are upper case: btc-perpetual is BTC-PERPETUAL

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

    def resubscribe_messages(self, stream: Stream) -> list[str] | None:
        """``public/unsubscribe`` then ``public/subscribe`` of that one instrument's book channel: Deribit
        sends a new snapshot, which rebuilds the book and starts its change_id chain over."""
        if stream.book is None:
            return None
        names = [n for n, ch in self.chans.items() if ch.stream is stream and ch.kind in ("book", "grouped")]
        if not names:
            names = [f"book.{stream.symbol}.100ms"]
        out = []
        for method in ("public/unsubscribe", "public/subscribe"):
            self._next_id += 1
            out.append(_encode({"jsonrpc": "2.0", "id": self._next_id, "method": method,
                                "params": {"channels": names}}).decode())
        return out

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
            if type(err) is not dict:
                err = {"message": err}
            detail = f"deribit error {err.get('code', '?')}: {str(err.get('message', ''))[:200]}"
            data = err.get("data")
            if type(data) is dict and data:
                detail += f" ({', '.join(f'{k}: {v}' for k, v in data.items())})"[:300]
            asked = self.asked.pop(msg.get("id"), None) if type(msg.get("id")) in (int, str) else None
            streams = {id(st): st for st in (self.chans[n].stream for n in asked or () if n in self.chans)
                       if st is not None}
            if streams:  # a refused subscription: shown on the streams it asked for
                for st in streams.values():
                    self.ctx.parse_error(detail, ts, st)
            else:
                self.ctx.parse_error(detail, ts)
        elif "result" in msg:
            res = msg["result"]
            if type(res) is list:  # answer to public/subscribe: the channels now subscribed
                got = set()
                for name in res:
                    if type(name) is str:
                        self._chan(name)
                        got.add(name)
                asked = self.asked.pop(msg.get("id"), None) if type(msg.get("id")) in (int, str) else None
                for name in asked or ():
                    if name not in got:  # Deribit's refusal: the channel is left out of the answer
                        st = self.chans[name].stream if name in self.chans else None
                        self.ctx.parse_error(f"deribit did not subscribe {name[:120]} (unknown instrument or "
                                             f"channel)", ts, st)

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
            st.data(ts, n, None)  # one message, however many trades; their timestamps are match times
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
                st.data(ts, n, None)
            st.trade(ts, t.get("direction", ""), _text(t["price"]), _text(t["amount"]), exch)
