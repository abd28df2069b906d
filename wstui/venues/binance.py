"""Binance spot and USD-M futures: ``depth`` diffs bridged to a REST snapshot, ``trade``/``aggTrade``.

The two markets bridge snapshot and diffs with different rules (Binance's "how to manage a local order
book correctly"):

spot     drop events with ``u <= lastUpdateId``; the first event applied must have
         ``U <= lastUpdateId + 1 <= u``; then every event's ``U`` must be the previous ``u + 1``.
futures  drop events with ``u < lastUpdateId``; the first event applied must have
         ``U <= lastUpdateId <= u``; then every event's ``pu`` must be the previous event's ``u``.

A break of either rule is a gap: counted, raised, the book marked out of sync, and a new REST snapshot
requested (buffering diffs meanwhile) to rebuild it.  In replay the snapshot comes from the capture's
``http`` records; when the capture holds no further answer the book stays marked out of sync.
"""

from __future__ import annotations

from urllib.parse import parse_qs, quote, urlsplit

import orjson

from ..core.book import Book
from ..core.stream import Stream
from .base import Venue
from .checks import SnapshotWait, levels

_loads = orjson.loads


class _Sync(SnapshotWait):
    """Bridging state of one symbol's book."""

    __slots__ = ("last_id", "prev_u", "snapshots")

    def __init__(self) -> None:
        super().__init__()
        self.last_id: int | None = None  # lastUpdateId of the snapshot in use
        self.prev_u: int | None = None  # u of the last event applied (None: none since the snapshot)
        self.snapshots = 0


class BinanceSpot(Venue):
    name = "binance"
    hosts = ("stream.binance.com", "data-stream.binance.vision", "stream.binance.us")
    url = "wss://stream.binance.com:9443/stream"
    rest = "https://api.binance.com/api/v3/depth"
    futures = False

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.sync: dict[str, _Sync] = {}

    # ---------------------------------------------------------------- streams
    def on_connect(self, ts: float) -> None:
        q = parse_qs(urlsplit(self.ctx.addr).query)
        names = []
        for v in q.get("streams", []):
            names.extend(v.split("/"))
        path = urlsplit(self.ctx.addr).path
        if path.startswith("/ws/"):
            names.extend(path[4:].split("/"))
        for n in names:
            self._declare(n)

    def on_send(self, text: str, ts: float) -> None:
        try:
            msg = _loads(text)
        except orjson.JSONDecodeError:
            return
        if isinstance(msg, dict) and msg.get("method") == "SUBSCRIBE":
            for n in msg.get("params") or []:
                if isinstance(n, str):
                    self._declare(n)

    def _declare(self, name: str) -> Stream | None:
        sym, _, kind = name.partition("@")
        sym = sym.upper()
        if not sym:
            return None
        if kind.startswith("depth"):
            return self._book(sym)
        if kind in ("trade", "aggTrade"):
            return self._trades(sym)
        ch = "ticker" if kind == "bookTicker" else kind.split("_")[0] or "raw"
        return self._other(sym, ch)

    def _book(self, sym: str) -> Stream:
        return self.declare(sym, "book")

    def _trades(self, sym: str) -> Stream:
        return self.declare(sym, "trades")

    def _other(self, sym: str, ch: str) -> Stream:
        return self.declare(sym, ch)

    # ---------------------------------------------------------------- live
    @classmethod
    def stream_symbol(cls, symbol: str) -> str:
        return symbol.upper()

    def keepalive(self) -> tuple[float, str] | None:
        return None  # Binance pings at the WebSocket level; the client's pongs are automatic

    @classmethod
    def endpoint(cls, symbols) -> str:
        names = []
        for s in symbols:
            s = s.lower()
            names += [f"{s}@depth@100ms", f"{s}@aggTrade"]
        return f"{cls.url}?streams={'/'.join(names)}"

    # ---------------------------------------------------------------- frames
    def on_frame(self, data, ts: float) -> None:
        msg = _loads(data)
        if type(msg) is not dict:
            raise ValueError("frame is not a JSON object")
        inner = msg.get("data")
        name = msg.get("stream")
        if inner is None:
            if "result" in msg and "id" in msg:
                return  # answer to a SUBSCRIBE request
            inner = msg
        e = inner.get("e")
        n = len(data)
        if e == "depthUpdate":
            self._depth(inner, ts, n)
        elif e == "aggTrade" or e == "trade":
            st = self._trades(inner["s"])
            exch = inner.get("T") or inner.get("E")
            st.data(ts, n, exch / 1000.0 if exch else None)
            st.trade(ts, "sell" if inner.get("m") else "buy", inner["p"], inner["q"],
                     exch / 1000.0 if exch else None)
        else:
            sym = inner.get("s")
            if name:
                st = self._declare(name)
            elif sym:
                st = self._other(sym, e or "raw")
            else:
                st = None
            if st is None:
                self.ctx.parse_error(f"frame for no known stream: {str(data)[:80]}", ts)
                return
            exch = inner.get("E")
            st.data(ts, n, exch / 1000.0 if isinstance(exch, (int, float)) else None)

    def _depth(self, ev: dict, ts: float, n: int) -> None:
        sym = ev["s"]
        st = self._book(sym)
        exch = ev.get("E")
        st.data(ts, n, exch / 1000.0 if exch else None)
        sy = self.sync.get(sym)
        if sy is None:
            sy = self.sync[sym] = _Sync()
        if sy.last_id is None:
            sy.buffer.append(ev)
            if sy.due(ts):
                self._request(sym, st, sy)
            return
        self._bridge(st, sy, ev, ts)

    def _bridge(self, st: Stream, sy: _Sync, ev: dict, ts: float) -> bool:
        """Apply ``ev`` if it continues the book; on a break, start a resync.  False on a break."""
        U = ev["U"]
        u = ev["u"]
        last = sy.last_id
        if sy.prev_u is None:
            # first event after the snapshot
            if self.futures:
                if u < last:
                    return True
                ok = U <= last <= u
            else:
                if u <= last:
                    return True
                ok = U <= last + 1 <= u
            if not ok:
                self._gap(st, sy, ev, ts, f"snapshot lastUpdateId {last} does not meet first event U={U} u={u}")
                return False
        else:
            if self.futures:
                pu = ev.get("pu")
                ok = pu == sy.prev_u
                why = f"pu={pu} but previous u={sy.prev_u}"
            else:
                ok = U == sy.prev_u + 1
                why = f"U={U} but previous u={sy.prev_u} (missing {U - sy.prev_u - 1} updates)"
            if not ok:
                self._gap(st, sy, ev, ts, why)
                return False
        book = st.book
        book.bids.update(levels(ev["b"], 2, book.bids, "b"))
        book.asks.update(levels(ev["a"], 2, book.asks, "a"))
        book.updates += 1
        sy.prev_u = u
        st.check_crossed(ts)
        return True

    def _gap(self, st: Stream, sy: _Sync, ev: dict, ts: float, why: str) -> None:
        st.gap(why, ts)
        sy.last_id = None
        sy.prev_u = None
        sy.buffer.clear()
        sy.buffer.append(ev)
        if sy.due(ts):
            self._request(st.symbol, st, sy)

    def snapshot_url(self, sym: str) -> str:
        return f"{self.rest}?symbol={quote(sym, safe='')}&limit=1000"

    def _request(self, sym: str, st: Stream, sy: _Sync) -> None:
        sy.requested = True
        self.ctx.fetch(self.snapshot_url(sym), lambda body, err, ts: self._on_snapshot(sym, st, body, err, ts))

    def _on_snapshot(self, sym: str, st: Stream, body: str | None, err: str | None, ts: float) -> None:
        sy = self.sync[sym]
        if body is None:
            sy.unanswered(self.ctx, st, ts, err)
            return
        try:
            snap = _loads(body)
            last = int(snap["lastUpdateId"])
            book: Book = st.book
            book.load(levels(snap["bids"], 2, book.bids, "bids"), levels(snap["asks"], 2, book.asks, "asks"))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            sy.unusable(self.ctx, st, ts, f"bad REST snapshot for {sym}: {exc}")
            return
        sy.last_id = last
        sy.prev_u = None
        sy.snapshots += 1
        buffered = sy.take()
        sy.answered()
        for i, ev in enumerate(buffered):
            if not self._bridge(st, sy, ev, ts):
                # the snapshot does not fit: _gap asked for another; keep what is still buffered
                sy.buffer.extend(buffered[i + 1:])
                return
        st.book_rebuilt(ts, "REST snapshot")


class BinanceFutures(BinanceSpot):
    name = "binance-futures"
    hosts = ("fstream.binance.com", "dstream.binance.com")
    url = "wss://fstream.binance.com/stream"
    rest = "https://fapi.binance.com/fapi/v1/depth"
    futures = True

    def snapshot_url(self, sym: str) -> str:
        if "dstream" in self.ctx.addr:
            return f"https://dapi.binance.com/dapi/v1/depth?symbol={quote(sym, safe='')}&limit=1000"
        return super().snapshot_url(sym)
