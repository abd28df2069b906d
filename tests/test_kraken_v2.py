"""Kraken WS v2 on real captures: every checksum verified, final book equal to an independent reference,
and a tampered capture detected, shown and repaired."""

from __future__ import annotations

import json

import pytest

from conftest import read_records, real_feed, replay, write_records
from reference import kraken_v2_reference

CASES = [
    ("kraken_v2_btcusd.jsonl.gz", 25, 2052),
    ("kraken_v2_btcusd_d10.jsonl.gz", 10, 301),
]


def book_of(snap, key="kraken:BTC/USD:book"):
    s = snap.stream(key)
    assert s is not None, [x.key for x in snap.streams]
    return s


@pytest.mark.parametrize("name,depth,checksums", CASES)
def test_every_checksum_matches_and_book_equals_reference(name, depth, checksums):
    path = real_feed(name)
    engine, snap = replay(path)
    s = book_of(snap)
    assert s.venue == "kraken" and s.symbol == "BTC/USD"
    assert s.checksum_ok == checksums
    assert s.checksum_failed == 0
    assert s.gaps == 0 and s.resyncs == 0 and s.parse_errors == 0
    assert snap.bad_records_total == 0
    assert s.book_state == "ok"
    # the book is truncated to the subscribed depth
    assert s.book_levels == (depth, depth)
    ref, ok, seen = kraken_v2_reference(read_records(path), depth)
    assert (ok, seen) == (checksums, checksums)  # the reference itself agrees with the exchange
    assert [[p, q] for p, q, _ in s.bids[:10]] == ref.top(10)["bids"]
    assert [[p, q] for p, q, _ in s.asks[:10]] == ref.top(10)["asks"]


def test_trailing_zeros_are_kept():
    """The wire writes 0.00005100; a float would print 5.1e-05 and break the checksum."""
    engine, snap = replay(real_feed("kraken_v2_btcusd_d10.jsonl.gz"))
    sizes = [q for _, q, _ in book_of(snap).bids + book_of(snap).asks]
    assert all("e" not in q for q in sizes)
    assert any(q.endswith("0") and "." in q for q in sizes)


def tamper(records: list[dict], index: int) -> tuple[list[dict], int]:
    """Change the size of one level in the ``index``-th book update; returns (records, its position)."""
    n = 0
    out = [dict(r) for r in records]
    for i, r in enumerate(out):
        if r.get("t") == "recv" and '"type":"update"' in r["data"] and '"qty":' in r["data"]:
            if n == index:
                msg = json.loads(r["data"], parse_float=str)
                entry = msg["data"][0]
                side = "bids" if entry["bids"] else "asks"
                lv = entry[side][0]
                lv["qty"] = "0.12345678" if lv["qty"] != "0.12345678" else "0.87654321"
                # write the numbers back as JSON numbers, the way Kraken sends them
                text = json.dumps(msg, separators=(",", ":"))
                for s in ("bids", "asks"):
                    for level in entry[s]:
                        for f in ("price", "qty"):
                            text = text.replace(f'"{f}":"{level[f]}"', f'"{f}":{level[f]}')
                r["data"] = text
                return out, i
            n += 1
    raise AssertionError("not enough updates to tamper with")


def test_tampered_update_is_detected_shown_and_repaired(tmp_path):
    path = real_feed("kraken_v2_btcusd.jsonl.gz")
    records = read_records(path)
    bad, pos = tamper(records, 500)
    tampered = write_records(tmp_path / "tampered.jsonl.gz", bad)

    # one pass: the mismatch is counted and raised, and the book stays marked out of sync (no snapshot follows)
    engine, snap = replay(tampered)
    s = book_of(snap)
    assert s.checksum_failed >= 1
    assert s.book_state == "out_of_sync"
    kinds = [e.kind for e in snap.events if e.stream == s.key]
    assert "checksum_failed" in kinds and "out_of_sync" in kinds
    failed = next(e for e in snap.events if e.kind == "checksum_failed")
    assert abs(failed.ts - bad[pos]["ts"]) < 1e-6  # stamped when the bad frame arrived

    # followed by a resubscription (the session again, as a new connection): the snapshot rebuilds the book
    span = records[-1]["ts"] - records[1]["ts"] + 1.0
    again = [dict(r, ts=r["ts"] + span) for r in records if r.get("t") != "header"]
    resubscribed = write_records(tmp_path / "resubscribed.jsonl.gz", bad + again)
    engine, snap = replay(resubscribed)
    s = book_of(snap)
    assert s.checksum_failed == 1  # later mismatches of a book already known wrong are not news
    assert s.resyncs == 1
    assert s.book_state == "ok"
    resync = next(e for e in snap.events if e.kind == "resync")
    assert resync.ts > failed.ts
    # the snapshot and 500 updates before the tampered one, then every message of the clean session
    assert s.checksum_ok == 1 + 500 + 2052
    ref, _, _ = kraken_v2_reference(records, 25)
    assert [[p, q] for p, q, _ in s.bids[:10]] == ref.top(10)["bids"]
    assert [[p, q] for p, q, _ in s.asks[:10]] == ref.top(10)["asks"]


def test_incremental_checksum_equals_the_plain_definition():
    """The cached checksum (tokens made once, sides rebuilt only when their top 10 changed) agrees with
    the plain definition after every one of many random updates, deletions and truncations."""
    import random

    from wstui.core.book import Book
    from wstui.venues.kraken import _Checksum, book_checksum

    rnd = random.Random(7)
    book, ck = Book(), _Checksum()

    def lv(p, q):
        return {"price": f"{p:.1f}", "qty": f"{q:.8f}"}

    ck.apply(book.bids, 0, [lv(100 - i * 0.1, rnd.random()) for i in range(25)])
    ck.apply(book.asks, 1, [lv(100.1 + i * 0.1, rnd.random()) for i in range(25)])
    for _ in range(3000):
        side = rnd.randrange(2)
        base = 100 - rnd.randrange(40) * 0.1 if side == 0 else 100.1 + rnd.randrange(40) * 0.1
        q = 0.0 if rnd.random() < 0.3 else rnd.random()
        ck.apply(book.bids if side == 0 else book.asks, side, [lv(base, q)])
        book.truncate(25)
        ck.prune(book)
        assert ck.value(book) == book_checksum(book)
