"""OKX v5 on the real capture: books with the signed CRC32 checksum, trades, tickers."""

from __future__ import annotations

import json
from zlib import crc32

from conftest import RecordingTransport, cli_json, later_copy, read_records, real_feed, replay, views
from reference import RefBook
from venue_support import assert_books_match, feed, recv_records, replay_written, view_book, with_junk

from wstui.engine import Engine
from wstui.venues import venue_for
from wstui.venues.okx import OKX

INSTS = ("BTC-USD-220527", "UNI-USD-SWAP", "BTC-USDT")


def ref_checksum(book: RefBook) -> int:
    """OKX's checksum written out plainly: bid:size:ask:size... over the top 25, signed 32 bits."""
    bids, asks = book.sorted_bids()[:25], book.sorted_asks()[:25]
    parts = []
    for i in range(25):
        if i < len(bids):
            parts += bids[i]
        if i < len(asks):
            parts += asks[i]
    crc = crc32(":".join(parts).encode())
    return crc - 2**32 if crc >= 2**31 else crc


def book_messages(records: list[dict]):
    """(index, message) of each ``books`` data message of the capture."""
    for i, r in enumerate(records):
        if r["t"] == "recv" and '"books"' in r["data"] and '"data"' in r["data"]:
            yield i, json.loads(r["data"])


def apply_books(books: dict[str, RefBook], m: dict) -> RefBook:
    book = books.setdefault(m["arg"]["instId"], RefBook())
    for d in m["data"]:
        if m["action"] == "snapshot":
            book.clear()
        for p, q, *_ in d["bids"]:
            book.set("bid", p, q)
        for p, q, *_ in d["asks"]:
            book.set("ask", p, q)
    return book


def reference(records: list[dict]) -> tuple[dict[str, RefBook], int, int]:
    """Books per instId, and how many book messages' checksums the reference book matches / misses."""
    books: dict[str, RefBook] = {}
    match = miss = 0
    for _, m in book_messages(records):
        book = apply_books(books, m)
        if ref_checksum(book) == m["data"][0]["checksum"]:
            match += 1
        else:
            miss += 1
    return books, match, miss


def test_capture_replays_as_okx_with_all_290_checksums_matching():
    out = cli_json(real_feed("okx.jsonl.gz"))
    assert out["bad_records_total"] == 0
    assert [c["venue"] for c in out["connections"]] == ["okx"]
    streams = {s["key"]: s for s in out["streams"]}
    books = [streams[f"okx:{i}:book"] for i in INSTS]
    assert sum(b["checksum_ok"] for b in books) == 290  # 3 snapshots + 287 updates, each with a checksum
    assert [b["checksum_ok"] for b in books] == [99, 93, 98]
    for b in books:
        assert (b["checksum_failed"], b["gaps"], b["resyncs"], b["book_state"]) == (0, 0, 0, "ok")
        assert b["latency_ms_p50"] is not None and 0 < b["latency_ms_p50"] < 1000
    assert streams["okx:BTC-USDT:trades"]["trades"] > 50
    assert streams["okx:BTC-USDT:ticker"]["messages"] == 25
    assert all(s["parse_errors"] == 0 for s in out["streams"])
    # 18 subscription acknowledgements are control frames; everything else is some stream's data
    assert sum(s["messages"] for s in out["streams"]) + 18 == out["connections"][0]["messages"] == 410


def test_final_books_match_an_independent_reference_whose_checksums_also_match():
    path = real_feed("okx.jsonl.gz")
    ref, match, miss = reference(read_records(path))
    assert (match, miss) == (290, 0)  # the figure is the feed's truth, not an artefact of wstui's book
    engine, snap = replay(path)
    assert_books_match(snap, {f"okx:{i}:book": ref[i] for i in INSTS})


def test_trades_carry_the_takers_side():
    path = real_feed("okx.jsonl.gz")
    raw = [t for r in recv_records(read_records(path)) for m in [json.loads(r["data"])]
           if m.get("arg", {}).get("channel") == "trades" and "data" in m
           and m["arg"]["instId"] == "BTC-USDT" for t in m["data"]]
    engine, snap = replay(path)
    tape = views(snap)["okx:BTC-USDT:trades"].trades  # newest first
    assert [(t.side, t.price, t.size) for t in reversed(tape)] == [(t["side"], t["px"], t["sz"]) for t in raw][-len(tape):]
    assert {t.side for t in tape} == {"buy", "sell"}


def _tamper_size(records: list[dict]) -> tuple[list[dict], str]:
    """Change one size in an update from the middle of the capture, at a level inside the top 25."""
    books: dict[str, RefBook] = {}
    updates = [i for i, r in enumerate(records) if r["t"] == "recv" and '"action":"update"' in r["data"]]
    start = updates[len(updates) // 2]
    for i, m in book_messages(records):
        book = apply_books(books, m)
        if i < start:
            continue
        top = dict(book.sorted_bids()[:25])
        for lv in m["data"][0]["bids"]:
            if lv[0] in top and lv[1] != "0":
                lv[1] = str(int(float(lv[1]) * 1000 + 1) / 1000)
                tampered = [dict(x) for x in records]
                tampered[i] = dict(records[i], data=json.dumps(m, separators=(",", ":")))
                return tampered, m["arg"]["instId"]
    raise AssertionError("no update touches the top 25 bids")


def test_a_changed_size_fails_the_checksum_and_the_next_snapshot_rebuilds(tmp_path):
    records = read_records(real_feed("okx.jsonl.gz"))
    tampered, inst = _tamper_size(records)
    snap, views = replay_written(tmp_path, "size.jsonl.gz", tampered, loops=2)
    v = views[f"okx:{inst}:book"]
    assert v.checksum_failed == 2  # once per pass: later mismatches of a book known wrong are no news
    assert v.resyncs == 1  # the second pass's snapshot repaired the first pass's damage
    assert v.book_state == "out_of_sync"  # the same size is wrong again in pass 2
    assert any(e.kind == "checksum_failed" and inst in e.stream for e in snap.events)
    assert any(e.kind == "resync" and inst in e.stream for e in snap.events)
    others = [views[f"okx:{i}:book"] for i in INSTS if i != inst]
    assert all(o.checksum_failed == 0 and o.book_state == "ok" for o in others)


def test_a_reconnect_after_a_mismatch_rebuilds_the_book_exactly(tmp_path):
    records = read_records(real_feed("okx.jsonl.gz"))
    tampered, inst = _tamper_size(records)
    snap, views = replay_written(tmp_path, "reconnect.jsonl.gz", tampered + later_copy(records))
    ref, _, _ = reference(records)
    v = views[f"okx:{inst}:book"]
    assert (v.checksum_failed, v.resyncs, v.book_state) == (1, 1, "ok")
    assert view_book(v, 50) == ref[inst].top(50)


def _with_seq_ids(records: list[dict]) -> list[dict]:
    """The capture as newer OKX feeds send it: seqId/prevSeqId on every book message (this 2022
    capture predates them), numbered with uneven steps as OKX does."""
    out = []
    last: dict[str, int] = {}
    n = 1000
    for r in records:
        if r["t"] == "recv" and '"books"' in r["data"] and '"data"' in r["data"]:
            m = json.loads(r["data"])
            inst = m["arg"]["instId"]
            n += 7
            d = m["data"][0]
            d["prevSeqId"] = -1 if m["action"] == "snapshot" else last[inst]
            d["seqId"] = last[inst] = n
            r = dict(r, data=json.dumps(m, separators=(",", ":")))
        out.append(r)
    return out


def test_seqid_chain_is_followed_and_a_break_is_a_gap():
    records = _with_seq_ids(read_records(real_feed("okx.jsonl.gz")))
    snap = feed(Engine(), records)
    books = [views(snap)[f"okx:{i}:book"] for i in INSTS]
    assert [(b.gaps, b.checksum_ok) for b in books] == [(0, 99), (0, 93), (0, 98)]
    # drop one BTC-USDT update: the next one names a prevSeqId we never saw
    drop = [i for i, r in enumerate(records) if r["t"] == "recv" and '"BTC-USDT"' in r["data"]
            and '"action":"update"' in r["data"]][40]
    transport = RecordingTransport()
    snap = feed(Engine(), records[:drop] + records[drop + 1:], transport)
    v = views(snap)["okx:BTC-USDT:book"]
    assert v.gaps == 1 and v.book_state == "out_of_sync"
    assert [k for k, _ in transport.resubscribed] == ["okx:BTC-USDT:book"]
    assert any(e.kind == "gap" and "prevSeqId" in e.detail for e in snap.events)


def test_pong_is_a_keep_alive_and_zero_checksum_means_none():
    records = read_records(real_feed("okx.jsonl.gz"))
    conn = records[1]["conn"]
    ts = records[-1]["ts"]
    extra = [{"t": "recv", "conn": conn, "ts": ts + 1, "data": "pong"}]
    # OKX no longer fills the checksum on some feeds and sends 0: that is not a mismatch
    upd = next(r for r in reversed(records) if r["t"] == "recv" and '"action":"update"' in r["data"])
    m = json.loads(upd["data"])
    m["data"][0]["checksum"] = 0
    extra.append(dict(upd, ts=ts + 2, data=json.dumps(m)))
    snap = feed(Engine(), records + extra)
    c = snap.connections[0]
    assert (c.heartbeats, c.parse_errors) == (1, 0)
    inst = m["arg"]["instId"]
    v = views(snap)[f"okx:{inst}:book"]
    assert v.checksum_failed == 0 and v.book_state == "ok"


def test_address_matching_and_live_subscriptions():
    assert venue_for("wss://ws.okx.com:8443/ws/v5/public") is OKX
    assert venue_for("wss://wsaws.okx.com:8443/ws/v5/business") is OKX
    assert venue_for("wss://ws.okx.com:8443/other") is not OKX
    engine = Engine()
    conn = engine.open("o1", OKX.url, 1.0)
    for m in conn.venue.subscribe_messages(["BTC-USDT", "ETH-USDT"]):
        engine.sent("o1", m, 1.0)
    assert set(conn.streams) == {f"okx:{i}:{ch}" for i in ("BTC-USDT", "ETH-USDT") for ch in ("book", "trades")}


def test_junk_frames_are_counted_and_nothing_else_is_lost():
    records = read_records(real_feed("okx.jsonl.gz"))
    junk = ["not json", "[]", '{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update"}',
            '{"event":"error","code":"60012","msg":"Invalid request"}']
    snap = feed(Engine(), with_junk(records, junk))
    assert snap.connections[0].parse_errors == len(junk)
    assert any("okx error 60012: Invalid request" in e.detail for e in snap.events)
    books = [views(snap)[f"okx:{i}:book"] for i in INSTS]
    assert [(b.checksum_ok, b.checksum_failed, b.book_state) for b in books] == \
        [(99, 0, "ok"), (93, 0, "ok"), (98, 0, "ok")]


def test_live_keepalive_is_okx_text_ping():
    from wstui.venues.okx import OKX

    interval, text = OKX.keepalive(OKX.__new__(OKX))
    assert text == "ping" and 0 < interval < 30  # OKX drops a connection silent for 30 s
