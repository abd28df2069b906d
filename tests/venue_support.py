"""Helpers for the Coinbase, OKX, Bybit and Kraken v1 adapter tests (the rest lives in conftest.py
and reference.py): books compared by their exact text, tampered captures, frames fed as if live."""

from __future__ import annotations

from conftest import replay, views, write_records


def view_book(view, n: int) -> dict[str, list[list[str]]]:
    """The top ``n`` levels of a stream view's book, text as sent, in ``RefBook.top``'s layout."""
    return {"bids": [[p, q] for p, q, _ in view.bids[:n]], "asks": [[p, q] for p, q, _ in view.asks[:n]]}


def assert_books_match(snap, ref: dict, n: int = 50) -> None:
    """Each stream key's book: top ``n`` levels and level counts equal those of its reference book."""
    by_key = views(snap)
    for key, book in ref.items():
        v = by_key[key]
        assert view_book(v, n) == book.top(n), key
        assert v.book_levels == (len(book.bids), len(book.asks)), key


def replay_written(tmp_path, name: str, records: list[dict], loops: int = 1):
    """Write ``records`` as a capture and replay it; returns (snapshot, stream views by key)."""
    _, snap = replay(write_records(tmp_path / name, records), loops=loops)
    return snap, views(snap)


def feed(engine, records: list[dict], transport=None):
    """Drive ``engine`` with capture records directly (no Replay), as if live when given a transport."""
    for r in records:
        t = r["t"]
        if t == "connect":
            engine.open(r["conn"], r["addr"], r["ts"], live=transport is not None, transport=transport)
        elif t == "send":
            engine.sent(r["conn"], r["data"], r["ts"])
        elif t == "recv":
            engine.frame(r["conn"], r["data"], r["ts"])
    engine.end()
    return engine.publish()


def with_junk(records: list[dict], junk: list[str]) -> list[dict]:
    """The capture with ``junk`` frames received in its middle, on the connection of the frame there."""
    mid = [i for i, r in enumerate(records) if r["t"] == "recv"][len(records) // 2]
    at = records[mid]
    return records[:mid] + [dict(at, data=j) for j in junk] + records[mid:]


def recv_records(records: list[dict]) -> list[dict]:
    return [r for r in records if r["t"] == "recv"]
