"""Bitstamp WebSocket v2 (``wss://ws.bitstamp.net``): ``diff_order_book``, ``live_trades``.

``diff_order_book_<pair>`` sends only the changed levels (size ``0`` deletes) and never a snapshot: the
book starts from the REST ``order_book`` answer (``https://www.bitstamp.net/api/v2/order_book/<pair>``;
in replay the capture's ``http`` record).

Integrity: Bitstamp offers no sequence numbers, so the alignment of that REST snapshot with the diff
stream is the whole rule there is:

- the snapshot is requested once the diff stream has started (its subscription confirmed, or its first
  diff seen), so the snapshot is later than the start of the diffs received;
- diffs are buffered until it arrives; then every diff whose ``microtimestamp`` is at or before the
  snapshot's ``microtimestamp`` is dropped (the snapshot already holds it) and every later one applied.

Nothing numbers the diffs, but the stream covers the whole book, so a diff that deletes a level the book
does not hold betrays a lost (or garbled) diff: that is a ``gap``.  (On the shared capture not one of 736
deletes after alignment names an unknown level.)  A gap or a frame that failed half-applied is repaired
for that pair alone: a new REST snapshot, the pair's diffs buffered meanwhile (``resubscribe_messages``
starts it and returns ``[]``); the connection and its other books are left alone.

``live_trades_<pair>``: ``type`` 0 is a buy and 1 a sell aggressor; ``price_str``/``amount_str`` keep the
exchange's digits.  ``order_book_<pair>`` (top 100, a full snapshot in every message) is kept as its own
``book_top100`` stream; any other channel counts as a plain stream.
"""

from __future__ import annotations

from urllib.parse import quote

import orjson

from ..core.stream import BOOK_OK, Stream
from .base import Limits, Venue, remember
from .checks import SnapshotWait, book_gap, levels

_loads = orjson.loads
_dumps = orjson.dumps

REST = "https://www.bitstamp.net/api/v2/order_book/"


class _Sync(SnapshotWait):
    """Alignment state of one pair's book."""

    __slots__ = ("snap_mt", "dropped", "applied", "snapshots")

    def __init__(self) -> None:
        super().__init__()
        self.snap_mt: int | None = None  # microtimestamp of the snapshot in use
        self.dropped = 0  # diffs at or before the snapshot: already in it
        self.applied = 0
        self.snapshots = 0


class BitstampV2(Venue):
    name = "bitstamp"
    hosts = ("ws.bitstamp.net",)
    url = "wss://ws.bitstamp.net"
    # bitstamp.net/api "Request limits": 400 requests per second and, by default, 10,000 requests per 10
    # minutes per client; planned as 1,000 a minute (within both), every order_book request weighing 1.
    limits = Limits(rest_weight_per_min=1000, snapshot_weight=1)
    unsequenced = True  # no sequence numbers: an unreadable frame may have been a lost update

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.sync: dict[str, _Sync] = {}
        self.channels: dict[str, Stream] = {}  # wire channel name -> stream

    # ---------------------------------------------------------------- streams
    def _stream_for(self, channel: str) -> Stream | None:
        st = self.channels.get(channel)
        if st is not None:
            return st
        kind, _, pair = channel.rpartition("_")
        if not kind or not pair:
            return None
        if kind == "diff_order_book":
            st = self.ctx.stream(pair, "book", book=True)
            self.sync.setdefault(pair, _Sync())
        elif kind == "order_book":
            st = self.ctx.stream(pair, "book_top100", book=True)
        elif kind == "live_trades":
            st = self.ctx.stream(pair, "trades", tape=True)
        else:
            st = self.ctx.stream(pair, kind)
        remember(self.channels, channel, st, "channel")
        return st

    def on_send(self, text: str, ts: float) -> None:
        try:
            msg = _loads(text)
        except orjson.JSONDecodeError:
            return
        if type(msg) is dict and msg.get("event") == "bts:subscribe":
            ch = (msg.get("data") or {}).get("channel")
            if isinstance(ch, str):
                self._stream_for(ch)

    def subscribe_messages(self, symbols) -> list[str]:
        out = []
        for s in symbols:
            s = s.lower()
            for kind in ("diff_order_book", "live_trades"):
                out.append(_dumps({"event": "bts:subscribe", "data": {"channel": f"{kind}_{s}"}}).decode())
        return out

    def resubscribe_messages(self, stream: Stream) -> list[str] | None:
        """A wrong book is rebuilt from a new REST snapshot of its pair (diffs buffered meanwhile)."""
        sy = self.sync.get(stream.symbol)
        if stream.channel != "book" or sy is None:
            return None
        sy.snap_mt = None  # diffs wait for the new snapshot
        sy.buffer.clear()
        if not sy.requested:
            sy.retry_at = 0.0
            self._request(stream, sy)
        return []

    # ---------------------------------------------------------------- frames
    def on_frame(self, data, ts: float) -> None:
        msg = _loads(data)
        if type(msg) is not dict:
            raise ValueError("frame is not a JSON object")
        ev = msg.get("event")
        n = len(data)
        if ev == "data":
            st = self._channel_of(msg)
            d = msg["data"]
            if st.channel == "book":
                self._diff(st, d, ts, n)
            elif st.channel == "book_top100":
                self._top100(st, d, ts, n)
            else:
                mt = d.get("microtimestamp") if type(d) is dict else None
                st.data(ts, n, int(mt) / 1e6 if mt else None)
        elif ev == "trade":
            st = self._channel_of(msg)
            d = msg["data"]
            mt = d.get("microtimestamp")
            exch = int(mt) / 1e6 if mt else None
            st.data(ts, n, None)  # a trade's microtimestamp is its match time: no latency from it
            typ = d.get("type")
            side = "buy" if typ == 0 else "sell" if typ == 1 else ""
            p = d.get("price_str")
            q = d.get("amount_str")
            st.trade(ts, side, p if p is not None else str(d["price"]), q if q is not None else str(d["amount"]), exch)
        elif ev == "bts:subscription_succeeded":
            ch = msg.get("channel")
            st = self._stream_for(ch) if isinstance(ch, str) else None
            if st is not None and st.channel == "book":
                sy = self.sync[st.symbol]
                if sy.snap_mt is None and sy.due(ts):
                    self._request(st, sy)  # the diff stream runs from now: a snapshot from now on bridges
        elif ev == "bts:heartbeat" or ev == "bts:request_reconnect":
            self.ctx.heartbeat(ts)
        elif ev == "bts:error":
            self.ctx.parse_error(f"bitstamp error: {str(msg.get('data'))[:200]}", ts)
        # bts:unsubscription_succeeded and other control events carry no market data

    def _channel_of(self, msg: dict) -> Stream:
        ch = msg["channel"]
        st = self.channels.get(ch) or self._stream_for(ch)
        if st is None:
            raise ValueError(f"{msg.get('event')} for a channel of no known form: {ch!r}")
        return st

    def _diff(self, st: Stream, d: dict, ts: float, n: int) -> None:
        mt = int(d["microtimestamp"])
        st.data(ts, n, mt / 1e6)
        sy = self.sync[st.symbol]
        if sy.snap_mt is None:
            sy.buffer.append(d)
            if sy.due(ts):
                self._request(st, sy)
            return
        self._apply(st, sy, d, mt, ts)

    def _apply(self, st: Stream, sy: _Sync, d: dict, mt: int, ts: float) -> bool:
        """Apply one diff; False when it betrays a lost diff (then raised as a gap)."""
        if mt <= sy.snap_mt:
            sy.dropped += 1
            return True
        ok = True
        book = st.book
        bids = levels(d["bids"], 2, book.bids, "bids")
        asks = levels(d["asks"], 2, book.asks, "asks")
        for side, lvls in ((book.bids, bids), (book.asks, asks)):
            sign = side.sign
            have = side.levels
            for lv in lvls:
                if float(lv[1]) == 0.0 and float(lv[0]) * sign not in have:
                    name = "bid" if sign > 0 else "ask"
                    book_gap(self.ctx, st, f"a diff deletes the {name} {lv[0]} the book does not hold "
                                           f"(microtimestamp {mt}): a diff was lost", ts)
                    ok = False
                    break
            if not ok:
                break
        book.bids.update(bids)
        book.asks.update(asks)
        book.updates += 1
        sy.applied += 1
        st.check_crossed(ts)
        return ok

    def _request(self, st: Stream, sy: _Sync) -> None:
        sy.requested = True
        # the path is built from our own stream's pair, quoted: never from text a frame chose
        self.ctx.fetch(REST + quote(st.symbol, safe=""), lambda body, err, ts: self._on_snapshot(st, sy, body, err, ts),
                       stream=st)

    def _on_snapshot(self, st: Stream, sy: _Sync, body: str | None, err: str | None, ts: float) -> None:
        if body is None:
            sy.unanswered(self.ctx, st, ts, err)
            return
        try:
            snap = _loads(body)
            mt = int(snap["microtimestamp"])
            book = st.book
            book.load(levels(snap["bids"], 2, book.bids, "bids"), levels(snap["asks"], 2, book.asks, "asks"))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            sy.unusable(self.ctx, st, ts, f"bad REST snapshot for {st.symbol}: {exc!r}")
            return
        sy.snap_mt = mt
        sy.snapshots += 1
        buffered = sy.take()
        sy.answered()
        try:
            for d in buffered:
                if sy.snap_mt is None:
                    return  # a repair began meanwhile: a newer snapshot is on its way
                if not self._apply(st, sy, d, int(d["microtimestamp"]), ts):
                    if sy.snap_mt is not None:  # the book was already wrong, so nobody asked again: ask
                        st.mark_out_of_sync("the REST snapshot does not fit the diffs after it", ts)
                        self.ctx.resubscribe(st, "the REST snapshot does not fit the diffs after it")
                    return
        except (KeyError, TypeError, ValueError) as exc:  # BadLevel included
            # a buffered diff that cannot be applied: the book misses it (or holds half of it)
            self.ctx.parse_error(f"buffered diff rejected: {exc}", ts, st)
            st.mark_out_of_sync(f"a buffered diff could not be applied ({str(exc)[:120]})", ts)
            return
        st.book_rebuilt(ts, "REST snapshot")

    def _top100(self, st: Stream, d: dict, ts: float, n: int) -> None:
        mt = d.get("microtimestamp")
        st.data(ts, n, int(mt) / 1e6 if mt else None)
        book = st.book
        book.load(levels(d["bids"], 2, book.bids, "bids"), levels(d["asks"], 2, book.asks, "asks"))
        if st.book_state is not BOOK_OK:
            st.book_rebuilt(ts, "order_book snapshot")
        else:
            st.book.updates += 1
            st.check_crossed(ts)
