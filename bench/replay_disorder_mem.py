"""Peak memory of replaying a large capture that is out of time order.

Builds a capture of about ``--mb`` MB (uncompressed; default 77) from a real Kraken v2 capture repeated
on a continuing clock, with one record stamped 100 s ahead (the case that once made the replay sort the
whole file in memory), then runs ``wstui replay --headless --json --speed max`` under ``/usr/bin/time``
and prints its peak RSS and wall time.  ``--root DIR`` runs the wstui found in DIR (compare a branch).

    .venv/bin/python bench/replay_disorder_mem.py [--mb 77] [--root /work/main]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REAL = Path(os.environ.get("WSTUI_REAL_FEEDS", ROOT.parent / "shared" / "real_feeds"))


def build(path: Path, mb: float) -> int:
    src = [json.loads(x) for x in gzip.open(REAL / "kraken_v2_btcusd.jsonl.gz", "rt") if x.strip()]
    body = [r for r in src if r.get("t") != "header"]
    stamps = [r["ts"] for r in body]
    span = max(stamps) - min(stamps) + 1.0
    size = 0
    n = 0
    with gzip.open(path, "wt", compresslevel=1) as fh:
        fh.write(json.dumps(src[0]) + "\n")
        k = 0
        while size < mb * 1e6:
            for r in body:
                if k and r["t"] in ("connect", "send"):
                    continue
                r = dict(r, ts=r["ts"] + k * span)
                n += 1
                if n == 50:
                    r["ts"] += 100.0  # one record stamped 100 s ahead
                line = json.dumps(r, separators=(",", ":")) + "\n"
                size += len(line)
                fh.write(line)
            k += 1
    return n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=77.0)
    ap.add_argument("--root", default=str(ROOT))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "disorder.jsonl.gz"
        n = build(path, args.mb)
        p = subprocess.run(["/usr/bin/time", "-v", sys.executable, "-m", "wstui", "replay", str(path), "--headless",
                            "--json", "--speed", "max"], cwd=args.root, capture_output=True, text=True)
        rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
        wall = re.search(r"Elapsed \(wall clock\) time.*: (\S+)", p.stderr)
        doc = json.loads(p.stdout) if p.returncode == 0 else {}
        print(f"{args.root}: {n} records, {args.mb:.0f} MB uncompressed ({path.stat().st_size / 1e6:.1f} MB gz): "
              f"exit {p.returncode}, peak RSS {int(rss.group(1)) / 1024 if rss else -1:.0f} MB, wall {wall.group(1) if wall else '?'}, "
              f"messages {doc.get('messages')}, notes {doc.get('notes')}")


if __name__ == "__main__":
    main()
