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

A snapshot older than the first buffered diff is no gap: Binance says "fetch the snapshot again", and so
do we, without marking the book (live, a run of them is spaced out by a doubling delay).

REST snapshots go to the REST host of the stream host the connection uses (Binance.US streams fetch from
``api.binance.us``, ``data-stream.binance.vision`` from ``data-api.binance.vision``, COIN-M ``dstream``
from ``dapi``, the testnets from theirs); an address that names none (a local server) gets the market's
main host, which ``--endpoint`` then moves.

Repairing one book (``resubscribe_messages``) fetches a new REST snapshot for that symbol only: the
streams and the connection's other books are left alone.
"""

from __future__ import annotations

from urllib.parse import parse_qs, quote, urlsplit

import orjson

from ..core.book import Book
from ..core.stream import Stream
from .base import Limits, Venue, chunks
from .checks import SnapshotWait, levels

_loads = orjson.loads

# stream host -> (REST host, depth path); see the module docstring
SPOT_REST = {
    "stream.binance.com": "api.binance.com",
    "data-stream.binance.vision": "data-api.binance.vision",
    "stream.binance.us": "api.binance.us",
    "stream.testnet.binance.vision": "testnet.binance.vision",
    "testnet.binance.vision": "testnet.binance.vision",
}
FUTURES_REST = {
    "fstream.binance.com": ("fapi.binance.com", "/fapi/v1/depth"),
    "dstream.binance.com": ("dapi.binance.com", "/dapi/v1/depth"),
    "fstream.binancefuture.com": ("testnet.binancefuture.com", "/fapi/v1/depth"),
    "stream.binancefuture.com": ("testnet.binancefuture.com", "/fapi/v1/depth"),
    "dstream.binancefuture.com": ("testnet.binancefuture.com", "/dapi/v1/depth"),
}
STALE_RETRY_MAX_S = 8.0


class _Sync(SnapshotWait):
    """Bridging state of one symbol's book."""

    __slots__ = ("last_id", "prev_u", "snapshots", "stale")

    def __init__(self) -> None:
        super().__init__()
        self.last_id: int | None = None  # lastUpdateId of the snapshot in use
        self.prev_u: int | None = None  # u of the last event applied (None: none since the snapshot)
        self.snapshots = 0
        self.stale = 0  # snapshots in a row older than the first buffered diff (fetched again)


USED_WEIGHT = "X-MBX-USED-WEIGHT-1M"  # the answer header counting the weight our address used this minute


def spot_depth_weight(limit: int) -> int:
    """GET /api/v3/depth request weight by ``limit``: 1-100: 5, 101-500: 25, 501-1000: 50, 1001-5000: 250
    (developers.binance.com, spot REST "Market data endpoints", Order book)."""
    return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250


def futures_depth_weight(limit: int) -> int:
    """GET /fapi/v1/depth (and /dapi/v1/depth) request weight by ``limit``: 5, 10, 20, 50: 2; 100: 5;
    500: 10; 1000: 20 (developers.binance.com, USD-M "Market Data REST API", Order Book)."""
    return 2 if limit <= 50 else 5 if limit <= 100 else 10 if limit <= 500 else 20


# The depth of the REST snapshot a book starts from, chosen with its weight in mind.  Binance's guide to a
# local book asks for limit=1000 (weight 50 spot, 20 USD-M), which lets 6,000/2,400 weight a minute start
# only 120 books a minute on either market, so 600 USD-M books would take five minutes (and a reconnect
# of a 512-symbol connection another four).  wstui shows the top of a book (``--levels``, the ladder's
# height: tens of levels), and the diff stream keeps every level it touches, so it asks for the deepest
# limit of the cheapest weight bracket: spot 100 levels (weight 5: 960 books a minute within our 80%
# headroom), USD-M 50 levels (weight 2: 960 books a minute).  The trade-off: a level deeper than that which
# the diffs never touch stays missing until the book walks far enough to update it; the top levels on
# screen are exact (U/u-bridged), and a resync costs little of the budget.
SPOT_SNAPSHOT_LIMIT = 100
FUTURES_SNAPSHOT_LIMIT = 50


class BinanceSpot(Venue):
    name = "binance"
    hosts = ("stream.binance.com", "data-stream.binance.vision", "stream.binance.us", "testnet.binance.vision")
    url = "wss://stream.binance.com:9443/stream"
    rest = "https://api.binance.com/api/v3/depth"
    futures = False
    # developers.binance.com, spot "WebSocket Streams" and "LIMITS": 1,024 streams per connection, 5 incoming
    # messages per second (pings and subscribes count), 300 connections per 5 minutes per IP; REST: 6,000
    # request weight per minute; GET /api/v3/depth weighs 5 (limit 1-100), 25 (-500), 50 (-1000), 250 (-5000).
    # "Every request will contain X-MBX-USED-WEIGHT-(intervalNum)(intervalLetter) in the response headers
    # which has the current used weight for the IP" (REST API, LIMITS): the minute's is -1M.
    snapshot_limit = SPOT_SNAPSHOT_LIMIT
    limits = Limits(streams_per_conn=1024, msgs_per_s=5, conns_per_window=(300, 300.0), url_max=2000,
                    args_per_msg=200, rest_weight_per_min=6000,
                    snapshot_weight=spot_depth_weight(SPOT_SNAPSHOT_LIMIT), rest_used_weight_header=USED_WEIGHT)

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
    def stream_names(cls, symbols) -> list[str]:
        names = []
        for s in symbols:
            s = s.lower()
            names += [f"{s}@depth@100ms", f"{s}@aggTrade"]
        return names

    @classmethod
    def endpoint(cls, symbols) -> str:
        """The streams are named in the URL while it stays short; beyond ``url_max`` (600 symbols made an
        URL the server refused with HTTP 414) they are subscribed by messages instead."""
        url = f"{cls.url}?streams={'/'.join(cls.stream_names(symbols))}"
        return url if len(url) <= cls.limits.url_max else cls.url

    def subscribe_messages(self, symbols) -> list[str]:
        if "?streams=" in self.endpoint(symbols):
            return []
        return [orjson.dumps({"method": "SUBSCRIBE", "params": names, "id": i}).decode()
                for i, names in enumerate(chunks(self.stream_names(symbols), self.limits.args_per_msg), 1)]

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
            err = msg.get("error")
            if isinstance(err, dict):  # {"error":{"code":2,"msg":"Invalid request: ..."},"id":1}
                self.ctx.parse_error(f"binance error {err.get('code')}: {err.get('msg')}", ts)
                return
            inner = msg
        e = inner.get("e")
        n = len(data)
        if e == "depthUpdate":
            self._depth(inner, ts, n)
        elif e == "aggTrade" or e == "trade":
            st = self._trades(inner["s"])
            sent = inner.get("E")  # event (send) time: latency; T is the match time, for the tape
            st.data(ts, n, sent / 1000.0 if sent else None)
            exch = inner.get("T") or sent
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

    def rest_depth(self) -> str:
        """The REST depth endpoint for this connection's stream host (see the module docstring)."""
        host = urlsplit(self.ctx.addr).hostname or ""
        rest = SPOT_REST.get(host)
        return f"https://{rest}/api/v3/depth" if rest else self.rest

    def snapshot_url(self, sym: str) -> str:
        return f"{self.rest_depth()}?symbol={quote(sym, safe='')}&limit={self.snapshot_limit}"

    def resubscribe_messages(self, stream: Stream) -> list[str] | None:
        """One book is wrong: a new REST snapshot for its symbol (diffs buffered meanwhile); nothing to
        send, the connection and the other books are untouched."""
        if stream.book is None:
            return None
        sym = stream.symbol
        sy = self.sync.get(sym)
        if sy is None:
            sy = self.sync[sym] = _Sync()
        sy.last_id = None
        sy.prev_u = None
        sy.buffer.clear()
        if not sy.requested:
            self._request(sym, stream, sy)
        return []

    def _request(self, sym: str, st: Stream, sy: _Sync) -> None:
        sy.requested = True
        self.ctx.fetch(self.snapshot_url(sym), lambda body, err, ts: self._on_snapshot(sym, st, body, err, ts),
                       stream=st)

    def _on_snapshot(self, sym: str, st: Stream, body: str | None, err: str | None, ts: float) -> None:
        sy = self.sync[sym]
        if body is None:
            sy.unanswered(self.ctx, st, ts, err)
            return
        try:
            snap = _loads(body)
            last = int(snap["lastUpdateId"])
            book: Book = st.book
            bids = levels(snap["bids"], 2, book.bids, "bids")
            asks = levels(snap["asks"], 2, book.asks, "asks")
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            sy.unusable(self.ctx, st, ts, f"bad REST snapshot for {sym}: {exc}")
            return
        if sy.buffer:
            U0 = sy.buffer[0]["U"]
            if (last < U0) if self.futures else (last + 1 < U0):
                # older than the first buffered diff: "fetch the snapshot again" (no gap: nothing was lost)
                sy.stale += 1
                sy.requested = False
                if sy.stale > 1 and self.ctx.live:
                    sy.retry_at = ts + min(STALE_RETRY_MAX_S, 0.25 * 2.0 ** (sy.stale - 1))
                else:
                    self._request(sym, st, sy)
                return
        sy.stale = 0
        try:
            book.load(bids, asks)
        except ValueError as exc:  # a level no book may hold (NaN, negative...): not a usable snapshot
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
    hosts = ("fstream.binance.com", "dstream.binance.com", "binancefuture.com")
    url = "wss://fstream.binance.com/stream"
    rest = "https://fapi.binance.com/fapi/v1/depth"
    futures = True
    # developers.binance.com, USD-M "Websocket Market Streams": 1,024 streams per connection, 10 incoming
    # messages per second; REST: 2,400 weight per minute; GET /fapi/v1/depth weighs 2 (limit 5-50), 5 (100),
    # 10 (500), 20 (1000); the same X-MBX-USED-WEIGHT-1M answer header (USD-M "General Info", LIMITS).
    snapshot_limit = FUTURES_SNAPSHOT_LIMIT
    limits = Limits(streams_per_conn=1024, msgs_per_s=10, conns_per_window=(300, 300.0), url_max=2000,
                    args_per_msg=200, rest_weight_per_min=2400,
                    snapshot_weight=futures_depth_weight(FUTURES_SNAPSHOT_LIMIT), rest_used_weight_header=USED_WEIGHT)

    def rest_depth(self) -> str:
        host = urlsplit(self.ctx.addr).hostname or ""
        rest = FUTURES_REST.get(host)
        return f"https://{rest[0]}{rest[1]}" if rest else self.rest
