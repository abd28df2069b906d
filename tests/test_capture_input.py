"""Bad input never crashes a replay: each bad record is counted and reported with its file and line,
and every good record around it is still used.  Also: every real capture opens, .zst is read."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys

from conftest import REAL_FEEDS, read_records, real_feed, replay, write_records


def test_every_real_capture_opens_and_replays():
    files = sorted(REAL_FEEDS.glob("*.jsonl*"))
    assert len(files) >= 12
    for f in files:
        engine, snap = replay(f)
        assert snap.messages > 0, f
        assert snap.bad_records_total == 0, (f, snap.bad_records[:3])
        assert snap.ended


def _lines(path):
    with gzip.open(path, "rt") as fh:
        return fh.read().splitlines()


def test_bad_lines_are_reported_and_good_ones_used(tmp_path):
    src = real_feed("kraken_v2_btcusd.jsonl.gz")
    lines = _lines(src)
    n_recv = sum(1 for line in lines if '"t":"recv"' in line)
    bad = list(lines)
    # line numbers below are 1-based positions in the new file
    bad.insert(10, "this is not json {")                                             # line 11
    bad.insert(20, json.dumps({"t": "gossip", "conn": "KRAKEN.ws.1", "ts": 1.0}))   # line 21
    bad.insert(30, json.dumps({"t": "recv", "conn": "KRAKEN.ws.1", "ts": json.loads(lines[30])["ts"],
                               "data": '{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":'}))  # 31
    bad.insert(40, '["a", "list"]')                                                   # line 41
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(bad) + "\n")
    engine, snap = replay(path)
    by_line = {b.line: b.error for b in snap.bad_records}
    assert set(by_line) == {11, 21, 31, 41}, by_line
    assert "not JSON" in by_line[11]
    assert "unknown record type" in by_line[21] and "gossip" in by_line[21]
    assert "not understood" in by_line[31]
    assert all(b.file == str(path) for b in snap.bad_records)
    s = snap.stream("kraken:BTC/USD:book")
    # every good frame was used: the checksums all still verify
    assert s.checksum_ok == 2052 and s.checksum_failed == 0
    assert snap.messages == n_recv + 1  # the broken frame was received too, and counted
    conn = snap.connections[0]
    assert conn.parse_errors == 1


def test_truncated_gzip_keeps_records_before_the_cut(tmp_path):
    src = real_feed("kraken_v2_btcusd.jsonl.gz")
    raw = src.read_bytes()
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(raw[: len(raw) // 2])
    engine, snap = replay(cut)
    assert snap.bad_records_total == 1
    b = snap.bad_records[0]
    assert "truncated" in b.error and b.line > 100
    s = snap.stream("kraken:BTC/USD:book")
    assert 100 < s.messages < 2052
    assert s.checksum_failed == 0 and s.checksum_ok == s.messages


def test_zstd_capture_reads_like_gzip(tmp_path):
    import zstandard as zstd  # a test dependency: the import must work

    src = real_feed("kraken_v2_btcusd.jsonl.gz")
    z = tmp_path / "k.jsonl.zst"
    z.write_bytes(zstd.ZstdCompressor().compress(gzip.decompress(src.read_bytes())))
    _, a = replay(src)
    _, b = replay(z)
    sa, sb = a.stream("kraken:BTC/USD:book"), b.stream("kraken:BTC/USD:book")
    assert (sb.checksum_ok, sb.bids, sb.asks) == (sa.checksum_ok, sa.bids, sa.asks)


def test_zstd_without_zstandard_says_what_to_install(tmp_path):
    z = tmp_path / "k.jsonl.zst"
    z.write_bytes(b"\x28\xb5\x2f\xfd" + b"\x00" * 16)
    code = ("import sys; sys.modules['zstandard'] = None\n"
            "from wstui.cli import main\n"
            f"sys.exit(main(['replay', {str(z)!r}, '--headless', '--speed', 'max']))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    assert "zstandard" in p.stderr and "pip install" in p.stderr
    assert "Traceback" not in p.stderr


def test_missing_file_is_a_clear_error():
    p = subprocess.run([sys.executable, "-m", "wstui", "replay", "/nonexistent/x.jsonl.gz", "--headless"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    assert "no such capture file" in p.stderr and "Traceback" not in p.stderr


def test_control_characters_in_feed_text_are_neutralised(tmp_path):
    recs = read_records(real_feed("kraken_v2_btcusd.jsonl.gz"))[:8]
    recs.append({"t": "recv", "conn": "KRAKEN.ws.1", "ts": recs[-1]["ts"] + 0.1,
                 "data": "\x1b[2J\x1b]0;pwned\x07[red]boom[/red]"})
    engine, snap = replay(write_records(tmp_path / "esc.jsonl.gz", recs))
    errors = [b.error for b in snap.bad_records]
    assert len(errors) == 1
    assert "\x1b" not in errors[0] and "\x07" not in errors[0]
    assert all("\x1b" not in e.detail for e in snap.events)


def test_records_with_wrong_field_types_are_bad_records_not_crashes(tmp_path):
    """Found in review: each of these used to end the replay with a traceback."""
    lines = _lines(real_feed("kraken_v2_btcusd.jsonl.gz"))[:60]
    ts = json.loads(lines[10])["ts"]
    odd = [
        {"t": ["recv"], "conn": "KRAKEN.ws.1", "ts": ts, "data": "{}"},
        {"t": "recv", "conn": ["c1"], "ts": ts, "data": "{}"},
        {"t": "recv", "conn": "KRAKEN.ws.1", "ts": ts, "data": 123},
        {"t": "recv", "conn": "KRAKEN.ws.1", "ts": "inf", "data": "{}"},
        {"t": "recv", "conn": "KRAKEN.ws.1", "ts": ts, "b64": "***"},
        {"t": "connect", "conn": "X.ws.9", "ts": ts, "addr": 42},
    ]
    fine = [
        {"t": "connect", "conn": "X.ws.1", "ts": ts, "addr": "wss://[::1"},  # not a URL: a generic stream
        {"t": "send", "conn": "X.ws.1", "ts": ts, "addr": 123, "data": "{}"},
    ]
    body = lines[:20] + [json.dumps(r) for r in odd + fine] + lines[20:]
    path = tmp_path / "odd.jsonl"
    path.write_text("\n".join(body) + "\n")
    p = subprocess.run([sys.executable, "-m", "wstui", "replay", str(path), "--headless", "--json", "--speed", "max"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    out = json.loads(p.stdout)
    assert [b["line"] for b in out["bad_records"]] == list(range(21, 21 + len(odd)))
    (book,) = [s for s in out["streams"] if s["key"] == "kraken:BTC/USD:book"]
    assert book["checksum_failed"] == 0 and book["checksum_ok"] == book["messages"] > 0
