"""OKX v5 public WebSocket spoken by the simulator (``/ws/v5/public``).

- ``{"op":"subscribe"|"unsubscribe","args":[{"channel":...,"instId":...}]}``, each arg answered with
  ``{"event":"subscribe","arg":{...},"connId":...}``; channels ``books`` (a ``snapshot`` of up to 400 levels
  a side, then ``update`` messages) and ``trades`` (``side`` is the taker's).
- Every book message carries ``seqId``/``prevSeqId`` (the snapshot's ``prevSeqId`` is -1; an update's is the
  ``seqId`` of the message before it) and ``checksum``: OKX's signed CRC32 of the top 25 levels interleaved,
  computed with :func:`wstui.venues.okx.book_checksum` on the served book, so they agree by construction
  (``tests/test_sim_okx.py`` also checks a real frame of the shared capture against it).
- The text ``ping`` is answered ``pong`` (by the server's ``pong_for``).
- Strict: an unknown instId gets ``{"event":"error","code":"60018",...}``; more than
  ``MAX_SUB_REQUESTS_PER_HOUR`` subscribe/unsubscribe requests on one connection get
  ``{"event":"error","code":"60014","msg":"Requests too frequent."}``.
- ``--fault corrupt`` changes every size in one top-25 update: the next checksum fails.
"""

from __future__ import annotations

import re
import time
from collections import deque

import orjson

from ...venues.okx import CHECKSUM_LEVELS, book_checksum
from ..faults import BOOK, BOOK_DEEP, CTL, SNAPSHOT, TRADE, bump_digit
from .market import SimBook, known_base, known_quote
from .proto import SimClient

_LEVEL_QTY = re.compile(r'(\["[0-9.]+",")([0-9.]+)(",")')
SNAPSHOT_LEVELS = 400


def corrupt_levels(text: str) -> str:
    """Every size of an OKX book frame (``["price","size","0","count"]``) changed in its last digit."""
    return _LEVEL_QTY.sub(lambda m: m.group(1) + bump_digit(m.group(2)) + m.group(3), text)


def known_inst(inst: str) -> bool:
    """``BTC-USDT``, ``BTC-USDT-SWAP``, ``BTC-USD-220527`` with a listed base and quote."""
    parts = inst.split("-")
    if len(parts) not in (2, 3) or inst != inst.upper():
        return False
    if len(parts) == 3 and not (parts[2] == "SWAP" or (len(parts[2]) == 6 and parts[2].isdigit())):
        return False
    return known_base(parts[0]) and known_quote(parts[1])


class OKXClient(SimClient):
    style = "okx"
    qty_decimals = 4
    qty_mean = 2.0
    corrupt = staticmethod(corrupt_levels)
    # "480 'subscribe/unsubscribe/login' requests per connection per hour" (OKX v5 API, WebSocket: connect)
    MAX_SUB_REQUESTS_PER_HOUR = 480

    @classmethod
    def claims(cls, path: str) -> bool:
        return path.split("?", 1)[0].startswith("/ws/v5/")

    @classmethod
    def sniff(cls, text: str) -> bool:
        return '"op"' in text and '"args"' in text

    def __init__(self, sim, s) -> None:
        super().__init__(sim, s)
        self.conn_id = f"{s.id:08x}"
        self.books: set[str] = set()
        self.trades: set[str] = set()
        self.last_seq: dict[str, int] = {}
        self.requests: deque[float] = deque()

    def depth_for(self, symbol: str) -> int:
        return CHECKSUM_LEVELS if symbol in self.books else 0

    def _event(self, out: dict) -> None:
        out["connId"] = self.conn_id
        self.push(orjson.dumps(out).decode(), CTL)

    def on_text(self, text: str) -> None:
        try:
            msg = orjson.loads(text)
            op = msg["op"]
            args = msg["args"]
            if not isinstance(args, list):
                raise TypeError
        except (orjson.JSONDecodeError, KeyError, TypeError):
            self._event({"event": "error", "code": "60012", "msg": f"Invalid request: {text[:100]}"})
            return
        if op not in ("subscribe", "unsubscribe"):
            self._event({"event": "error", "code": "60012", "msg": f"Invalid request: {text[:100]}"})
            return
        now = time.monotonic()
        rq = self.requests
        while rq and now - rq[0] >= 3600.0:
            rq.popleft()
        if len(rq) >= self.MAX_SUB_REQUESTS_PER_HOUR:
            self._event({"event": "error", "code": "60014", "msg": "Requests too frequent."})
            return
        rq.append(now)
        for arg in args:
            if not isinstance(arg, dict) or not isinstance(arg.get("instId"), str):
                self._event({"event": "error", "code": "60012", "msg": f"Invalid request: {text[:100]}"})
                continue
            ch = arg.get("channel")
            inst = arg["instId"]
            if ch not in ("books", "trades") or not known_inst(inst):
                self._event({"event": "error", "code": "60018",
                             "msg": f"Wrong URL or channel:{ch},instId:{inst} doesn't exist"})
                continue
            a = {"channel": ch, "instId": inst}
            self._event({"event": op, "arg": a})
            chosen = self.books if ch == "books" else self.trades
            if op == "subscribe":
                chosen.add(inst)
                b = self.follow(inst)
                if ch == "books":
                    self._snapshot(b)
            else:
                chosen.discard(inst)
                if ch == "books":
                    self.last_seq.pop(inst, None)
                if inst not in self.books and inst not in self.trades:
                    self.unfollow(inst)

    def _snapshot(self, b: SimBook) -> None:
        bids, asks = b.snapshot_levels(SNAPSHOT_LEVELS)
        lv = lambda levels: ",".join(f'["{p}","{q}","0","1"]' for p, q, _ in levels)  # noqa: E731
        self.last_seq[b.symbol] = b.seq
        self.push(f'{{"arg":{{"channel":"books","instId":"{b.symbol}"}},"action":"snapshot","data":[{{'
                  f'"asks":[{lv(asks)}],"bids":[{lv(bids)}],"ts":"{int(time.time() * 1000)}",'
                  f'"checksum":{book_checksum(b.book)},"prevSeqId":-1,"seqId":{b.seq}}}]}}', SNAPSHOT, b.symbol)

    def on_event(self, b: SimBook, changes, trade, before, now: float) -> None:
        sym = b.symbol
        ms = int(now * 1000)
        if changes and sym in self.books:
            tb, ta = before[CHECKSUM_LEVELS]
            nb = set(b.book.bids.keys[-CHECKSUM_LEVELS:])
            na = set(b.book.asks.keys[-CHECKSUM_LEVELS:])
            top = False
            out: tuple[list[str], list[str]] = ([], [])
            for s, p, q in changes:
                k = float(p) * (1.0 if s == 0 else -1.0)
                top = top or k in ((tb | nb) if s == 0 else (ta | na))
                out[s].append(f'["{p}","{q}","0","{0 if float(q) == 0 else 1}"]')
            prev = self.last_seq.get(sym, b.seq - 1)
            self.last_seq[sym] = b.seq
            self.push(f'{{"arg":{{"channel":"books","instId":"{sym}"}},"action":"update","data":[{{'
                      f'"asks":[{",".join(out[1])}],"bids":[{",".join(out[0])}],"ts":"{ms}",'
                      f'"checksum":{book_checksum(b.book)},"prevSeqId":{prev},"seqId":{b.seq}}}]}}',
                      BOOK if top else BOOK_DEEP, sym)
        if trade is not None and sym in self.trades:
            side, pt, qt = trade
            b.trade_id += 1
            self.push(f'{{"arg":{{"channel":"trades","instId":"{sym}"}},"data":[{{"instId":"{sym}",'
                      f'"tradeId":"{b.trade_id}","px":"{pt}","sz":"{qt}","side":"{side}","ts":"{ms}"}}]}}',
                      TRADE, sym)
