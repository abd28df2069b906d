"""A capture of one market on several venues: real captures of August 2026 (Coinbase, Gemini, Bybit;
BTC and ETH around 65,100 and 1,920) shifted onto one clock, as if recorded side by side."""

from __future__ import annotations

from pathlib import Path

from conftest import read_records, real_feed, write_records

VENUES = ("coinbase.jsonl.gz", "gemini.jsonl.gz", "bybit.jsonl.gz")


def multi_venue_capture(folder: Path, name: str = "btc_eth_3_venues.jsonl.gz") -> Path:
    out = []
    t0 = None
    for f in VENUES:
        recs = [r for r in read_records(real_feed(f)) if r.get("t") != "header"]
        start = min(r["ts"] for r in recs if "ts" in r)
        if t0 is None:
            t0 = start
        out.extend(dict(r, ts=r["ts"] - start + t0) if "ts" in r else r for r in recs)
    out.sort(key=lambda r: r.get("ts", 0.0))
    return write_records(folder / name, [{"t": "header", "format": 2, "exchange": "MULTI", "config": {}}] + out)
