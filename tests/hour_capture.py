"""An hour of a real Kraken v2 BTC/USD book (the 2,052 frames of ../shared/real_feeds, every checksum
intact) re-timed over 62 minutes, for the screens that show a stream's last hour: a calm flow, a
three-minute burst, a minute of silence (stale, then recovered) and five minutes of high latency.  The
venue's own timestamps are rewritten to match (30 ms behind receipt, 400 ms during the slow spell)."""

from __future__ import annotations

import re
import time
from pathlib import Path

from conftest import read_records, real_feed, write_records

BURST = (600.0, 780.0)  # seconds after the first book frame: 5 frames a second
SILENCE = (1800.0, 1860.0)  # nothing at all: stale from 1805 (threshold 5 s), live again at 1860
SLOW = (2400.0, 2700.0)  # the venue's stamps 400 ms behind
END = 3720.0
_STAMP = re.compile(r'"timestamp":"[^"]*"')


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1e6):06d}Z"


def schedule(n: int) -> list[float]:
    """Receive times (relative) for ``n`` frames."""
    out: list[float] = []
    t = 0.0
    while t < BURST[0]:
        out.append(t)
        t += 2.0
    t = BURST[0]
    while t < BURST[1]:
        out.append(t)
        t += 0.2
    t = BURST[1]
    while t < SILENCE[0] - 3.0:
        out.append(t)
        t += 3.0
    rest = n - len(out)
    gap = (END - SILENCE[1]) / rest
    out.extend(SILENCE[1] + i * gap for i in range(rest))
    return out


def hour_capture(folder: Path) -> tuple[Path, float]:
    """(the capture, the receive time of its first book frame)."""
    recs = read_records(real_feed("kraken_v2_btcusd.jsonl.gz"))
    first = next(i for i, r in enumerate(recs) if r.get("t") == "recv" and '"channel":"book"' in r["data"])
    head = recs[:first]
    book = [r for r in recs[first:] if r.get("t") == "recv" and '"channel":"book"' in r["data"]]
    t0 = book[0]["ts"]
    out = list(head)
    for r, dt in zip(book, schedule(len(book))):
        ts = t0 + dt
        lat = 0.4 if SLOW[0] <= dt < SLOW[1] else 0.03
        out.append(dict(r, ts=ts, data=_STAMP.sub(f'"timestamp":"{iso(ts - lat)}"', r["data"])))
    return write_records(folder / "kraken_hour.jsonl.gz", out), t0
