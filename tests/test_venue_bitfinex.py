"""Bitfinex v2 on the real capture: SEQ_ALL sequence, books, checksum (constructed book), tampering."""

from __future__ import annotations

import json
import zlib

from conftest import (RecordingTransport, cli_json, later_copy, read_records, real_feed, recv_messages, ref_top,
                      replay, replay_clean, view_top, views, write_records)

from wstui.engine import Engine
from wstui.summary import summary_json
from wstui.venues import venue_for
from wstui.venues.bitfinex import CHECKSUM, SEQ_ALL, BitfinexV2

FEED = "bitfinex.jsonl.gz"
CONN = "BITFINEX.ws.11"
ADDR = "wss://api.bitfinex.com/ws/2"


def reference(records):
    """Books, sequence numbers and heartbeats straight from the capture (json.loads: numbers as floats)."""
    chans = {}
    books = {}
    seqs = []
    hbs = 0
    for m in recv_messages(records):
        if isinstance(m, dict):
            if m.get("event") == "subscribed":
                chans[m["chanId"]] = (m["channel"], m["symbol"])
            continue
        seqs.append(m[-1])
        if m[1] == "hb":
            hbs += 1
            continue
        ch = chans[m[0]]
        if ch[0] != "book":
            continue
        if not m[1] or isinstance(m[1][0], list):
            bids, asks = books[ch[1]] = ({}, {})
            for price, _count, amount in m[1]:
                (bids if amount > 0 else asks)[price] = abs(amount)
        else:
            price, count, amount = m[1]
            side = books[ch[1]][0 if amount > 0 else 1]
            if count == 0:
                del side[price]
            else:
                side[price] = abs(amount)
    return books, seqs, hbs


def test_replay_recognised_and_clean():
    engine, snap = replay_clean(real_feed(FEED), "bitfinex")
    assert snap.messages == 1693
    channels = {s.channel for s in snap.streams}
    assert channels == {"book", "trades", "ticker"}
    _, _, hbs = reference(read_records(real_feed(FEED)))
    assert snap.connections[0].heartbeats == hbs == 42  # keep-alives are not data
    assert venue_for(ADDR) is BitfinexV2
    assert venue_for("wss://api-pub.bitfinex.com/ws/2") is BitfinexV2
    assert venue_for("wss://api.bitfinex.com/ws/1") is not BitfinexV2


def test_sequence_contiguous_and_books_match_reference():
    books, seqs, _ = reference(read_records(real_feed(FEED)))
    assert seqs == list(range(1, len(seqs) + 1))  # the capture's own SEQ_ALL numbers: contiguous
    engine, snap = replay(real_feed(FEED))
    adapter = engine.conns[CONN].venue
    assert adapter.flags & SEQ_ALL
    assert adapter.seq == seqs[-1] == 1670  # every number was checked
    v = views(snap)
    assert len(books) == 7
    for sym, (bids, asks) in books.items():
        view = v[f"bitfinex:{sym}:book"]
        assert view.gaps == 0
        assert view.book_state == "ok"
        assert view.book_levels == (len(bids), len(asks))
        assert view_top(view, 25) == ref_top(bids, asks, 25), sym
    assert sum(s.gaps for s in snap.streams) == 0
    # prices keep the exchange's text: an integer price stays an integer, small ones keep their digits
    assert v["bitfinex:tDOGUSD:book"].bids[0][0] == str(max(books["tDOGUSD"][0]))
    assert v["bitfinex:tMNABTC:book"].bids[0][0] == "0.00002505"


def _tampered(records):
    """The capture with one mid-stream book update removed."""
    chans = {}
    updates = []
    for i, r in enumerate(records):
        if r["t"] == "recv":
            m = json.loads(r["data"])
            if isinstance(m, dict) and m.get("event") == "subscribed":
                chans[m["chanId"]] = m["channel"]
            elif isinstance(m, list) and chans.get(m[0]) == "book" and isinstance(m[1], list) \
                    and m[1] and not isinstance(m[1][0], list):
                updates.append(i)
    drop = updates[len(updates) // 2]
    return records[:drop] + records[drop + 1:], json.loads(records[drop]["data"])[-1]


def test_dropped_frame_is_a_gap(tmp_path):
    records = read_records(real_feed(FEED))
    tampered, lost_seq = _tampered(records)
    path = write_records(tmp_path / "dropped.jsonl.gz", tampered)
    engine, snap = replay(path)
    books = [s for s in snap.streams if s.channel == "book"]
    assert all(s.gaps == 1 and s.book_state == "out_of_sync" and s.state == "ended" for s in books)
    events = summary_json(snap)["events"]
    gaps = [e for e in events if e["kind"] == "gap"]
    assert len(gaps) == len(books) == 7  # the lost frame's channel is unknown: every book is suspect
    assert f"jumped from {lost_seq - 1} to {lost_seq + 1}" in gaps[0]["detail"]
    # a second pass brings fresh snapshots (a resync) but loses the same frame again
    engine, snap = replay(path, loops=2)
    books = [s for s in snap.streams if s.channel == "book"]
    assert all(s.gaps == 2 and s.resyncs == 1 and s.book_state == "out_of_sync" for s in books)


def test_gap_repaired_by_later_snapshot(tmp_path):
    records = read_records(real_feed(FEED))
    tampered, _ = _tampered(records)
    # the capture goes on with a reconnection: fresh snapshots, nothing lost after them
    path = write_records(tmp_path / "dropped_then_reconnect.jsonl.gz", tampered + later_copy(records))
    engine, snap = replay(path, loops=2)
    assert snap.bad_records_total == 0
    ref, _, _ = reference(records)
    v = views(snap)
    for sym, (bids, asks) in ref.items():
        s = v[f"bitfinex:{sym}:book"]
        assert s.gaps == 2 and s.resyncs >= 1 and s.book_state == "ok", sym
        assert view_top(s, 25) == ref_top(bids, asks, 25)
    kinds = [e["kind"] for e in summary_json(snap)["events"]]
    assert "gap" in kinds and "resync" in kinds


# ---- checksum on a constructed book ------------------------------------------------------------------
BIDS = [(f"{100 - i * 0.5:g}", f"{1 + i}.25") for i in range(30)]  # 30 levels: only 25 count
ASKS = [("100.5", "0.00002"), ("101", "3"), ("101.5", "12.5")]  # a short side


def _expected_checksum(bids, asks) -> int:
    """Bitfinex's documented algorithm, written out independently: top 25 bids and asks interleaved
    (bid price, bid amount, ask price, negative ask amount), joined by ':', CRC32 as a signed int."""
    fields = []
    for i in range(25):
        if i < len(bids):
            fields += [bids[i][0], bids[i][1]]
        if i < len(asks):
            fields += [asks[i][0], "-" + asks[i][1]]
    crc = zlib.crc32(":".join(fields).encode())
    return int.from_bytes(crc.to_bytes(4, "big"), "big", signed=True)


def _book_engine():
    engine = Engine()
    tr = RecordingTransport()
    engine.open("bfx", ADDR, 1.0, live=True, transport=tr)
    engine.sent("bfx", json.dumps({"event": "conf", "flags": SEQ_ALL | CHECKSUM}), 1.0)
    # a live connection carries only what it subscribed (issue 9)
    engine.sent("bfx", json.dumps({"event": "subscribe", "channel": "book", "symbol": "tTSTUSD", "prec": "P0"}), 1.0)
    engine.frame("bfx", json.dumps({"event": "subscribed", "channel": "book", "chanId": 7, "symbol": "tTSTUSD",
                                    "prec": "P0", "freq": "F0", "len": "25", "pair": "TSTUSD"}), 1.1)
    levels = ",".join([f"[{p},2,{q}]" for p, q in BIDS] + [f"[{p},1,-{q}]" for p, q in ASKS])
    engine.frame("bfx", f"[7,[{levels}],1]", 1.2)
    return engine, tr, engine.streams[("bitfinex", "tTSTUSD", "book")]


def test_checksum_matches_a_constructed_book():
    engine, tr, st = _book_engine()
    want = _expected_checksum(BIDS, ASKS)
    assert want == -1170688630  # negative: the unsigned CRC32 above 2**31 must be read as signed
    engine.frame("bfx", f'[7,"cs",{want},2]', 1.3)
    assert (st.checksum_ok, st.checksum_failed) == (1, 0)
    # an update (a level deleted: count 0) changes the checksum the same way on both sides
    engine.frame("bfx", "[7,[101,0,-1],3]", 1.4)
    engine.frame("bfx", f'[7,"cs",{_expected_checksum(BIDS, [ASKS[0], ASKS[2]])},4]', 1.5)
    assert (st.checksum_ok, st.checksum_failed, st.gaps) == (2, 0, 0)
    assert st.book_state == "ok" and tr.resubscribed == []


def test_checksum_mismatch_marks_out_of_sync_and_resubscribes():
    engine, tr, st = _book_engine()
    good = _expected_checksum(BIDS, ASKS)
    engine.frame("bfx", f'[7,"cs",{good ^ 1},2]', 1.3)
    assert (st.checksum_ok, st.checksum_failed) == (0, 1)
    assert st.book_state == "out_of_sync"
    assert tr.resubscribed == [("bitfinex:tTSTUSD:book", "checksum mismatch")]
    assert any(e.kind == "checksum_failed" for e in engine.events)
    # the resubscription's snapshot (a new channel id) rebuilds the book
    engine.frame("bfx", json.dumps({"event": "subscribed", "channel": "book", "chanId": 8, "symbol": "tTSTUSD",
                                    "prec": "P0"}), 1.4)
    engine.frame("bfx", "[8,[[99,1,2],[100,1,-3]],3]", 1.5)
    assert st.book_state == "ok" and st.resyncs == 1


def _two_books():
    """Two books on one connection with SEQ_ALL and CHECKSUM: (engine, transport, book 7, book 8)."""
    engine, tr, st = _book_engine()
    engine.sent("bfx", json.dumps({"event": "subscribe", "channel": "book", "symbol": "tTWOUSD", "prec": "P0",
                                   "freq": "F0", "len": "25"}), 1.2)  # a live connection: subscribed first
    engine.frame("bfx", json.dumps({"event": "subscribed", "channel": "book", "chanId": 8, "symbol": "tTWOUSD",
                                    "prec": "P0", "freq": "F0", "len": "25", "pair": "TWOUSD"}), 1.21)
    engine.frame("bfx", "[8,[[10,1,1],[11,1,-2]],2]", 1.22)
    return engine, tr, st, engine.streams[("bitfinex", "tTWOUSD", "book")]


def test_sequence_gap_is_pinned_on_the_book_whose_next_checksum_fails():
    engine, tr, st, other = _two_books()
    engine.frame("bfx", "[7,[99,1,5],3]", 1.3)
    engine.frame("bfx", "[7,[99,1,6],5]", 1.4)  # 4 never came: nothing says whose it was
    assert (st.gaps, other.gaps) == (0, 0) and tr.resubscribed == []
    # book 8's next checksum matches: it lost nothing
    engine.frame("bfx", f'[8,"cs",{_expected_checksum([("10", "1")], [("11", "2")])},6]', 1.5)
    assert (other.gaps, other.checksum_ok, other.book_state) == (0, 1, "ok")
    # book 7's does not (its frame 4 was lost): a gap on book 7 alone, repaired alone
    engine.frame("bfx", f'[7,"cs",{_expected_checksum(BIDS, ASKS) ^ 5},7]', 1.6)
    assert (st.gaps, st.checksum_failed, st.book_state) == (1, 0, "out_of_sync")
    assert "jumped from 3 to 5" in st.out_of_sync_reason
    assert tr.resubscribed == [("bitfinex:tTSTUSD:book", "sequence gap")]
    engine.frame("bfx", "[7,\"hb\",8]", 1.7)  # numbering continues from the new value: no second gap
    assert st.gaps == 1 and other.gaps == 0 and engine.conns["bfx"].heartbeats == 1


def test_sequence_gap_without_checksums_makes_every_book_wrong():
    engine = Engine()
    tr = RecordingTransport()
    engine.open("bfx", ADDR, 1.0, live=True, transport=tr)
    engine.sent("bfx", json.dumps({"event": "conf", "flags": SEQ_ALL}), 1.0)
    for cid, sym, seq in ((7, "tAAAUSD", 1), (8, "tBBBUSD", 2)):
        engine.sent("bfx", json.dumps({"event": "subscribe", "channel": "book", "symbol": sym, "prec": "P0"}), 1.05)
        engine.frame("bfx", json.dumps({"event": "subscribed", "channel": "book", "chanId": cid, "symbol": sym,
                                        "prec": "P0"}), 1.1)
        engine.frame("bfx", f"[{cid},[[10,1,1],[11,1,-2]],{seq}]", 1.2)
    engine.frame("bfx", "[7,[10,1,3],4]", 1.3)  # 3 never came
    books = [engine.streams[("bitfinex", s, "book")] for s in ("tAAAUSD", "tBBBUSD")]
    assert [b.gaps for b in books] == [1, 1] and all(b.book_state == "out_of_sync" for b in books)
    assert sorted(tr.resubscribed) == [("bitfinex:tAAAUSD:book", "sequence gap"),
                                       ("bitfinex:tBBBUSD:book", "sequence gap")]


def test_resubscribe_messages_unsubscribe_the_channel_id_and_subscribe_the_one_book_again():
    engine, tr, st, other = _two_books()
    engine.sent("bfx", json.dumps({"event": "subscribe", "channel": "book", "symbol": "tTSTUSD", "prec": "P0",
                                   "freq": "F0", "len": "100"}), 1.3)
    v = engine.conns["bfx"].venue
    msgs = [json.loads(m) for m in v.resubscribe_messages(st)]
    assert msgs == [{"event": "unsubscribe", "chanId": 7},
                    {"event": "subscribe", "channel": "book", "symbol": "tTSTUSD", "prec": "P0", "freq": "F0",
                     "len": "100"}]
    # after the venue's "unsubscribed", the channel id is forgotten: a repair asks for the book only
    engine.frame("bfx", '{"event":"unsubscribed","status":"OK","chanId":7}', 1.4)
    assert [json.loads(m)["event"] for m in v.resubscribe_messages(st)] == ["subscribe"]
    assert [json.loads(m) for m in v.resubscribe_messages(other)][0] == {"event": "unsubscribe", "chanId": 8}


def test_live_subscription_turns_on_sequence_and_checksum():
    v = BitfinexV2(Engine().open("x", ADDR, 0.0))
    msgs = [json.loads(t) for t in v.subscribe_messages(["tBTCUSD"])]
    assert msgs[0] == {"event": "conf", "flags": 65536 | 131072}
    assert {(m["channel"], m.get("prec")) for m in msgs[1:]} == {("book", "P0"), ("trades", None)}


def test_cli_headless_json():
    doc = cli_json(real_feed(FEED))
    assert {s["venue"] for s in doc["streams"]} == {"bitfinex"}
    assert sum(s["gaps"] for s in doc["streams"]) == 0
    assert all(s["book_state"] == "ok" for s in doc["streams"] if s["channel"] == "book")


def test_refused_conf_turns_the_sequence_check_off():
    engine, tr, st = _book_engine()
    engine.frame("bfx", '{"event":"conf","status":"FAILED","flags":196608}', 1.3)
    engine.frame("bfx", "[7,[99,1,5]]", 1.4)  # no sequence number now: still understood
    engine.frame("bfx", '[7,"hb"]', 1.5)
    assert st.gaps == 0 and st.book_state == "ok" and engine.conns["bfx"].heartbeats == 1
    assert engine.conns["bfx"].parse_errors == 1  # the refusal itself is reported
