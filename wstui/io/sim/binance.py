"""Binance spoken by the simulator: ``depthUpdate`` events with contiguous ``U``/``u``/``pu`` update ids
(valid for both the spot and the futures bridging rules) and ``aggTrade``; REST snapshots
``/api/v3/depth`` and ``/fapi/v1/depth`` (same port, plain HTTP) answer from the live book with its
``lastUpdateId``."""

from __future__ import annotations

import time
from urllib.parse import parse_qsl, urlsplit

import orjson

from ..faults import BOOK, CTL, TRADE
from .market import SimBook
from .proto import SimClient


class BinanceClient(SimClient):
    """Binance spot and USD-M (``/stream?streams=...``, ``/ws/...``, ``SUBSCRIBE``)."""

    style = "binance"

    @classmethod
    def claims(cls, path: str) -> bool:
        return urlsplit(path).path.startswith(("/stream", "/ws"))

    @classmethod
    def rest(cls, sim, path_query: str) -> str | None:
        """A depth snapshot (``/api/v3/depth``, ``/fapi/v1/depth``) from the live book."""
        p = urlsplit(path_query)
        if not p.path.rstrip("/").endswith("/depth"):
            return None
        q = dict(parse_qsl(p.query))
        sym = q.get("symbol", "").upper()
        if not sym:
            return None
        try:
            limit = max(1, min(5000, int(q.get("limit", "100"))))
        except ValueError:
            limit = 100
        b = sim.book(cls, sym)
        ms = int(time.time() * 1000)
        bids, asks = b.snapshot_levels(limit)
        return orjson.dumps({"lastUpdateId": b.seq, "E": ms, "T": ms,
                             "bids": [[p, q] for p, q, _ in bids], "asks": [[p, q] for p, q, _ in asks]}).decode()

    def __init__(self, sim, s) -> None:
        super().__init__(sim, s)
        p = urlsplit(s.path)
        self.combined = p.path.startswith("/stream")
        self.depth_syms: dict[str, str] = {}  # SYMBOL -> stream name
        self.trade_syms: dict[str, str] = {}
        names: list[str] = []
        for k, v in parse_qsl(p.query):
            if k == "streams":
                names += v.split("/")
        if p.path.startswith("/ws/"):
            names += p.path[4:].split("/")
        for n in names:
            self._add(n)

    def _add(self, name: str) -> None:
        sym, _, kind = name.partition("@")
        if not sym:
            return
        sym = sym.upper()
        if kind.startswith("depth"):
            self.depth_syms[sym] = name
        elif kind in ("aggTrade", "trade"):
            self.trade_syms[sym] = name
        else:
            return
        self.follow(sym)

    def on_text(self, text: str) -> None:
        try:
            msg = orjson.loads(text)
            method = msg["method"]
            params = msg.get("params") or []
        except (orjson.JSONDecodeError, KeyError, TypeError):
            self.push(orjson.dumps({"error": {"code": 2, "msg": "Invalid request"}}).decode(), CTL)
            return
        if method == "SUBSCRIBE":
            for n in params:
                self._add(str(n))
        self.push(orjson.dumps({"result": None, "id": msg.get("id")}).decode(), CTL)

    def _wrap(self, name: str, inner: str) -> str:
        return f'{{"stream":"{name}","data":{inner}}}' if self.combined else inner

    def on_event(self, b: SimBook, changes, trade, before, now: float) -> None:
        sym = b.symbol
        ms = int(now * 1000)
        name = self.depth_syms.get(sym)
        if name is not None and changes:
            bs = ",".join(f'["{p}","{q}"]' for s, p, q in changes if s == 0)
            as_ = ",".join(f'["{p}","{q}"]' for s, p, q in changes if s == 1)
            u = b.seq
            self.push(self._wrap(name, f'{{"e":"depthUpdate","E":{ms},"T":{ms},"s":"{sym}","U":{u},"u":{u},'
                                       f'"pu":{u - 1},"b":[{bs}],"a":[{as_}]}}'), BOOK, sym)
        tname = self.trade_syms.get(sym)
        if tname is not None and trade is not None:
            side, pt, qt = trade
            b.trade_id += 1
            m = "true" if side == "sell" else "false"
            self.push(self._wrap(tname, f'{{"e":"aggTrade","E":{ms},"s":"{sym}","a":{b.trade_id},"p":"{pt}",'
                                        f'"q":"{qt}","f":{b.trade_id},"l":{b.trade_id},"T":{ms},"m":{m}}}'), TRADE, sym)
