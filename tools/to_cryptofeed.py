"""Convert a wstui recording (capture format 2, JSON lines) into a cryptofeed 3 capture (pcap + .meta.json).

cryptofeed 3 (3.0.0, 3.0.1) plays back only its own capture: a nanosecond pcap of synthesised TCP
conversations with a ``.meta.json`` sidecar; it refuses capture format 2 ("not a cryptofeed capture").
This script writes that capture with cryptofeed's own pcap writer, so it runs under cryptofeed's Python
(3.13 or later), not wstui's::

    python3.13 -m venv cf && cf/bin/pip install cryptofeed==3.0.1
    cf/bin/python tools/to_cryptofeed.py rec.jsonl.gz rec.pcap
    cf/bin/python -c "from cryptofeed.capture.playback import playback; print(playback('rec.pcap'))"

Only single-venue recordings of venues whose WebSocket protocol cryptofeed speaks the same way are
converted (today: Kraken v2).  cryptofeed needs the venue's instrument list to map symbols, which wstui
does not record: the ``symbols_snapshot`` in the sidecar is built from the recorded symbols only, the
way cryptofeed's own recorder stores the map it used.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import sys
from pathlib import Path

VENUES = {"KRAKEN": "wss://ws.kraken.com/v2"}  # cryptofeed exchange id -> the address it subscribes at


def read_records(path: Path):
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    elif raw[:4] == b"\x28\xb5\x2f\xfd":
        import zstandard

        raw = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(raw)).read()
    for line in raw.splitlines():
        if line.strip():
            yield json.loads(line)


def kraken_symbols(recs: list[dict]) -> list[str]:
    """The symbols the recording subscribed to (Kraken v2: ``params.symbol`` of its subscribe frames)."""
    out: list[str] = []
    for r in recs:
        if r.get("t") == "send":
            msg = json.loads(r["data"])
            if msg.get("method") == "subscribe":
                for s in msg["params"].get("symbol", []):
                    if s not in out:
                        out.append(s)
    return out


def convert(src: Path, dst: Path) -> dict:
    from cryptofeed.capture.pcap import (BASE_CLIENT_PORT, META_ADDRESS, META_CONN_ID, META_EXCHANGE,
                                         META_ORDINAL, META_SUBSCRIPTION, PcapFile, WSStream, ts_to_ns)
    from cryptofeed.capture.recorder import metadata_path
    from cryptofeed.defines import L2_BOOK, TRADES
    from cryptofeed.exchanges import Kraken
    from cryptofeed.symbols import Symbols

    recs = list(read_records(src))
    head = recs[0] if recs and recs[0].get("t") == "header" else {}
    exchange = head.get("exchange")
    if exchange not in VENUES:
        raise SystemExit(f"{src}: exchange {exchange!r}: only {', '.join(VENUES)} recordings convert")
    natives = kraken_symbols(recs)
    normalized = {n.replace("/", "-"): n for n in natives}
    info = {"instrument_type": {k: "spot" for k in normalized}}
    Symbols.set(Kraken.id, normalized, info)
    feed = Kraken(symbols=list(normalized), channels=[L2_BOOK, TRADES])
    conns = [c for c, *_ in feed.connect() if hasattr(c, "subscription") and c.subscription]
    if len(conns) != 1:
        raise SystemExit(f"cryptofeed would open {len(conns)} connections for {natives}; only one is converted")
    conn = conns[0]
    pcap = PcapFile(str(dst))
    port = BASE_CLIENT_PORT
    stream = None
    ordinal = 0
    streams_meta = []
    for r in recs:
        t = r.get("t")
        if t == "connect":
            if stream is not None:
                stream.close(ts_to_ns(r["ts"]))
            ordinal += 1
            meta = {META_CONN_ID: conn.id, META_EXCHANGE: Kraken.id, META_ADDRESS: conn.address,
                    META_ORDINAL: str(ordinal), META_SUBSCRIPTION: json.dumps(conn.subscription)}
            stream = WSStream(pcap, port, ts_to_ns(r["ts"]), conn.address, meta)
            streams_meta.append({"stream": len(streams_meta), "kind": "ws", "file": dst.name, "conn_id": conn.id,
                                 "exchange": Kraken.id, "connect_ordinal": ordinal, "client_port": port,
                                 "address": conn.address, "subscription": conn.subscription, "resumed": False,
                                 "opened": r["ts"], "closed": None, "messages": 0})
            port += 1
        elif stream is None:
            continue
        elif t == "recv":
            data = r["data"] if "data" in r else base64.b64decode(r["b64"])
            stream.message(ts_to_ns(r["ts"]), data)
            streams_meta[-1]["messages"] += 1
        elif t == "send":
            stream.sent(ts_to_ns(r["ts"]), r["data"])
        elif t == "disconnect":
            stream.close(ts_to_ns(r["ts"]))
            streams_meta[-1]["closed"] = r["ts"]
            stream = None
    if stream is not None:
        stream.close(ts_to_ns(recs[-1].get("ts", 0.0)))
    pcap.close()
    doc = {"version": 1, "created": head.get("recorded"), "converted_from": src.name,
           "format": {"container": "pcap"}, "files": [dst.name],
           "feeds": [{"exchange": Kraken.id, "symbols": list(normalized), "channels": [L2_BOOK, TRADES],
                      "subscription": None, "kwargs": {"max_depth": feed.max_depth, "sandbox": False},
                      "symbols_snapshot": {"normalized": normalized, "info": info}}],
           "streams": streams_meta}
    Path(metadata_path(str(dst))).write_text(json.dumps(doc))
    return {"exchange": Kraken.id, "symbols": list(normalized), "sessions": ordinal,
            "frames": sum(s["messages"] for s in streams_meta)}


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: to_cryptofeed.py RECORDING.jsonl[.gz|.zst] OUT.pcap")
    print(json.dumps(convert(Path(sys.argv[1]), Path(sys.argv[2]))))
