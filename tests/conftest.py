"""Shared helpers: the real captures and an in-process headless replay."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REAL_FEEDS = Path(os.environ.get("WSTUI_REAL_FEEDS", ROOT.parent / "shared" / "real_feeds"))
SAMPLES = ROOT / "sample_feeds"


def real_feed(name: str) -> Path:
    """A file of ../shared/real_feeds; a missing one fails loudly (tests never skip silently)."""
    p = REAL_FEEDS / name
    if not p.is_file():
        pytest.fail(f"real capture {p} is missing: the tests need ../shared/real_feeds beside the repo "
                    f"(or WSTUI_REAL_FEEDS pointing at it)")
    return p


def read_records(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def write_records(path: Path, records: list[dict]) -> Path:
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r, separators=(",", ":")) + "\n")
    return path


def later_copy(records: list[dict], pause: float = 1.0) -> list[dict]:
    """The capture's records again (header left out), shifted to start ``pause`` s after its last
    record: appended to a capture, a reconnection that brings fresh snapshots."""
    stamps = [r["ts"] for r in records if "ts" in r]
    dt = max(stamps) - min(stamps) + pause
    return [dict(r, ts=r["ts"] + dt) for r in records if r.get("t") != "header"]


def replay(path: Path | str, *, loops: int = 1, stale_after: float | None = None, **engine_kw):
    """Replay ``path`` at max speed in-process; returns (engine, final snapshot)."""
    from wstui.engine import Engine
    from wstui.io.replay import Replay
    from wstui.runner import run_source

    engine = Engine(stale_after=stale_after, file=str(path), **engine_kw)
    source = Replay(path, speed=None, loops=loops)
    asyncio.run(run_source(engine, source, fps=20))
    return engine, engine.latest


@pytest.fixture
def real():
    return real_feed


# ---- helpers for venue adapter tests ---------------------------------------------------------------
def views(snap) -> dict:
    """The snapshot's stream views by key (``venue:symbol:channel``)."""
    return {s.key: s for s in snap.streams}


def view_top(view, n: int) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """Top ``n`` (price, size) of a stream view's book, best first, as numbers."""
    return ([(float(p), float(q)) for p, q, _ in view.bids[:n]],
            [(float(p), float(q)) for p, q, _ in view.asks[:n]])


def ref_top(bids: dict, asks: dict, n: int) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """Top ``n`` of a plain reference book ({price: size} per side, any numeric-text keys), best first."""
    b = sorted(((float(p), float(q)) for p, q in bids.items()), reverse=True)[:n]
    a = sorted((float(p), float(q)) for p, q in asks.items())[:n]
    return b, a


class RecordingTransport:
    """Stands in for a live socket: records what an adapter asks the transport to do."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.resubscribed: list[tuple[str, str]] = []

    def send(self, conn, text: str) -> None:
        self.sent.append(text)

    def resubscribe(self, conn, stream, reason: str) -> None:
        self.resubscribed.append((stream.key, reason))


def recv_messages(records: list[dict]):
    """The received frames of a capture, decoded with plain json.loads."""
    for r in records:
        if r["t"] == "recv":
            yield json.loads(r["data"])


def replay_clean(path: Path, venue: str):
    """Replay a real capture; assert every connection went to ``venue`` and nothing was bad."""
    engine, snap = replay(path)
    assert {c.venue for c in snap.connections} == {venue}
    assert {s.venue for s in snap.streams} == {venue}
    assert snap.bad_records_total == 0
    assert all(s.parse_errors == 0 for s in snap.streams)
    return engine, snap


def cli_json(path: Path) -> dict:
    """``wstui replay PATH --headless --json --speed max`` as a user runs it; its JSON summary."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "wstui", "replay", str(path), "--headless", "--json",
                          "--speed", "max"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["bad_records_total"] == 0
    return doc
