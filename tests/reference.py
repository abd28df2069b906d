"""Independent reference books for tests: plain dicts keyed by Decimal, built straight from capture
records with the standard library's json, sharing no code with wstui."""

from __future__ import annotations

import json
import zlib
from decimal import Decimal


class RefBook:
    def __init__(self) -> None:
        self.bids: dict[Decimal, tuple[str, str]] = {}
        self.asks: dict[Decimal, tuple[str, str]] = {}

    def clear(self) -> None:
        self.bids.clear()
        self.asks.clear()

    def set(self, side: str, price: str, size: str) -> None:
        book = self.bids if side == "bid" else self.asks
        k = Decimal(price)
        if Decimal(size) == 0:
            book.pop(k, None)
        else:
            book[k] = (price, size)

    def sorted_bids(self) -> list[tuple[str, str]]:
        return [self.bids[k] for k in sorted(self.bids, reverse=True)]

    def sorted_asks(self) -> list[tuple[str, str]]:
        return [self.asks[k] for k in sorted(self.asks)]

    def truncate(self, depth: int) -> None:
        for book, rev in ((self.bids, True), (self.asks, False)):
            if len(book) <= depth:
                continue  # nothing to cut: skip the sort (Kraken v1 books are ~1000 deep)
            for k in sorted(book, reverse=rev)[depth:]:
                del book[k]

    def top(self, n: int = 10) -> dict[str, list[list[str]]]:
        return {"bids": [list(x) for x in self.sorted_bids()[:n]], "asks": [list(x) for x in self.sorted_asks()[:n]]}


def kraken_v2_reference(records: list[dict], depth: int) -> tuple[RefBook, int, int]:
    """Replay Kraken v2 book frames into a RefBook; returns (book, checksums matched, checksums seen)."""
    book = RefBook()
    ok = seen = 0
    for r in records:
        if r.get("t") != "recv":
            continue
        msg = json.loads(r["data"], parse_float=str, parse_int=str)
        if msg.get("channel") != "book":
            continue
        for entry in msg["data"]:
            if msg["type"] == "snapshot":
                book = RefBook()
            for lv in entry.get("bids", []):
                book.set("bid", lv["price"], lv["qty"])
            for lv in entry.get("asks", []):
                book.set("ask", lv["price"], lv["qty"])
            book.truncate(depth)
            if "checksum" in entry:
                seen += 1
                ok += kraken_checksum(book) == int(entry["checksum"])
    return book, ok, seen


def kraken_checksum(book: RefBook) -> int:
    def tok(s: str) -> str:
        return s.replace(".", "").lstrip("0")

    text = "".join(tok(p) + tok(q) for p, q in book.sorted_asks()[:10])
    text += "".join(tok(p) + tok(q) for p, q in book.sorted_bids()[:10])
    return zlib.crc32(text.encode())


def binance_reference(records: list[dict], futures: bool) -> dict[str, RefBook]:
    """Books per symbol from the capture's REST snapshots and depth diffs, by Binance's documented
    procedure, written out plainly.  Asserts continuity as it goes (the capture has no gaps)."""
    snaps: dict[str, list[dict]] = {}
    for r in records:
        if r.get("t") == "http" and "depth" in r["url"]:
            sym = r["url"].split("symbol=")[1].split("&")[0]
            snaps.setdefault(sym, []).append(json.loads(r["data"]))
    books: dict[str, RefBook] = {}
    last: dict[str, int | None] = {}
    for r in records:
        if r.get("t") != "recv":
            continue
        msg = json.loads(r["data"])
        ev = msg.get("data", msg)
        if ev.get("e") != "depthUpdate":
            continue
        sym = ev["s"]
        if sym not in books:
            snap = snaps[sym][0]
            b = RefBook()
            for p, q in snap["bids"]:
                b.set("bid", p, q)
            for p, q in snap["asks"]:
                b.set("ask", p, q)
            books[sym] = b
            last[sym] = None
            books[sym].last_id = snap["lastUpdateId"]  # type: ignore[attr-defined]
        b = books[sym]
        L = b.last_id  # type: ignore[attr-defined]
        prev = last[sym]
        if prev is None:
            if (ev["u"] < L) if futures else (ev["u"] <= L):
                continue
            if futures:
                assert ev["U"] <= L <= ev["u"], (sym, ev["U"], L, ev["u"])
            else:
                assert ev["U"] <= L + 1 <= ev["u"], (sym, ev["U"], L, ev["u"])
        elif futures:
            assert ev["pu"] == prev, (sym, ev["pu"], prev)
        else:
            assert ev["U"] == prev + 1, (sym, ev["U"], prev)
        for p, q in ev["b"]:
            b.set("bid", p, q)
        for p, q in ev["a"]:
            b.set("ask", p, q)
        last[sym] = ev["u"]
    return books
