"""``wstui watch`` (a subprocess, as a user runs it) against ``wstui serve --sim`` on loopback: the summary it
prints with ``--json``, by stream key, what the server said (faults fired, connections), and the checks the
venue tests share (every book verified, one book repaired alone, a reconnect, a mute)."""

from __future__ import annotations

import json
import subprocess

from live_util import ENV, FAULT, ROOT, Served, no_traceback, wstui_cmd


class Watched:
    def __init__(self, summary: dict, server_lines: list[str], stderr: str) -> None:
        self.summary = summary
        self.server = server_lines
        self.stderr = stderr
        self.streams = {s["key"]: s for s in summary["streams"]}
        self.events = summary["events"]

    def books(self) -> dict[str, dict]:
        """Book streams by key."""
        return {k: s for k, s in self.streams.items() if s["channel"] == "book"}

    def books_of(self, venue: str) -> dict[str, dict]:
        """One venue's book streams by symbol."""
        return {s["symbol"]: s for s in self.streams.values() if s["venue"] == venue and s["channel"] == "book"}

    def channel(self, name: str) -> list[dict]:
        return [s for s in self.streams.values() if s["channel"] == name]

    def events_of(self, kind: str, stream: str | None = None) -> list[dict]:
        return [e for e in self.events if e["kind"] == kind and (stream is None or e["stream"] == stream)]

    def fired(self) -> list[tuple[str, float, int]]:
        """The faults the server fired: (kind, time, connections hit)."""
        out = []
        for line in self.server:
            m = FAULT.search(line)
            if m:
                out.append((m.group(1), float(m.group(2)), int(m.group(3))))
        return out

    def fault_time(self) -> float:
        """When the one fault of the run fired (it must have hit a connection)."""
        fired = self.fired()
        assert len(fired) == 1 and fired[0][2] >= 1, self.server
        return fired[0][1]


def watch_sim(venue: str, symbols, *serve_args, faults=(), duration: float = 3.0, rate: int = 50,
              seed: int = 7, path: str = "", extra=()) -> Watched:
    """``wstui serve --sim --rate RATE SERVE_ARGS`` (with ``faults``) and
    ``wstui watch VENUE:SYM... --endpoint VENUE=<it> --headless --json EXTRA``."""
    args = ["--sim", "--rate", rate, "--seed", seed, *serve_args]
    for f in faults:
        args += ["--fault", f]
    with Served(*args) as srv:
        return watch_served(srv, venue, symbols, duration=duration, path=path, extra=extra)


def watch_served(srv: Served, venue: str, symbols, *, duration: float = 3.0, path: str = "",
                 extra=()) -> Watched:
    """``wstui watch VENUE:SYM... --headless --json`` against a simulator already serving (``srv``)."""
    p = subprocess.run(wstui_cmd("watch", *[f"{venue}:{s}" for s in symbols], "--endpoint",
                                 f"{venue}={srv.url(path)}", "--headless", "--json", "--duration", duration, *extra),
                       cwd=ROOT, capture_output=True, text=True, timeout=duration + 40, env=ENV)
    assert p.returncode == 0, p.stderr[-3000:]
    no_traceback(p.stderr)
    return Watched(json.loads(p.stdout), list(srv.lines), p.stderr)


def assert_verified(book: dict) -> None:
    """A book that ended correct: in sync, not crossed, levels on both sides, data flowing."""
    assert book["book_state"] == "ok", book
    assert not book["crossed"], book
    assert book["book_levels"][0] > 0 and book["book_levels"][1] > 0, book
    assert book["state"] == "live", (book["key"], book["state"], book["reason"])


def all_verified(w: Watched, venue: str, symbols, *, checksums: bool = False) -> None:
    """Every book ok at the end, not crossed, with levels on both sides (and matching checksums)."""
    books = w.books_of(venue)
    assert set(books) == set(symbols), set(books)
    for sym, b in books.items():
        assert b["book_state"] == "ok", (sym, b["book_state"], b["reason"])
        assert not b["crossed"], sym
        assert b["book_levels"][0] >= 10 and b["book_levels"][1] >= 10, (sym, b["book_levels"])
        if checksums:
            assert b["checksum_ok"] > 10, (sym, b["checksum_ok"])


def one_repaired(w: Watched, venue: str, *, counter: str) -> tuple[str, float]:
    """Exactly one book has ``counter`` 1 and resyncs 1; the others 0 and 0; no reconnects anywhere.
    Returns the symbol and the seconds from the fault to its book being rebuilt."""
    books = w.books_of(venue)
    hit = [s for s, b in books.items() if b[counter]]
    assert len(hit) == 1, {s: (b[counter], b["resyncs"]) for s, b in books.items()}
    sym = hit[0]
    for s, b in books.items():
        want = 1 if s == sym else 0
        assert (b[counter], b["resyncs"], b["reconnects"]) == (want, want, 0), (s, b[counter], b["resyncs"],
                                                                                b["reconnects"])
    t = w.fault_time()
    rebuilt = [e for e in w.events_of("resync", books[sym]["key"]) if e["ts"] >= t - 0.05]
    assert rebuilt, w.events[-20:]
    return sym, rebuilt[0]["ts"] - t


def reconnected_once(w: Watched, venue: str, symbols) -> None:
    """After one disconnect: the connection came back once, and every book reconnected once, without a gap,
    and ended verified."""
    assert w.summary["connections"][0]["connects"] == 2
    for sym in symbols:
        b = w.streams[f"{venue}:{sym}:book"]
        assert b["reconnects"] == 1 and b["gaps"] == 0, (sym, b["reconnects"], b["gaps"])
        assert_verified(b)


def muted_alone(w: Watched, key: str, *, duration: float, rate: int = 50) -> None:
    """A mute of one market (watched with a short --stale-after): that book alone went stale, soon after the
    fault; the others flowed untouched; the updates it missed were found by the venue's own rule and that book
    alone was repaired, without a reconnect."""
    books = w.books()
    stale = {e["stream"] for e in w.events_of("stale") if e["stream"].endswith(":book")}
    assert stale == {key}, stale
    t_fault = w.fired()[0][1]
    ev = w.events_of("stale", key)[0]
    assert 0.4 <= ev["ts"] - t_fault <= 1.5
    for k, b in books.items():
        if k != key:
            assert b["messages"] >= rate * duration * 0.6 and (b["gaps"], b["resyncs"]) == (0, 0), k
            assert_verified(b)
    muted = books[key]
    assert (muted["gaps"], muted["resyncs"], muted["reconnects"]) == (1, 1, 0)
    assert_verified(muted)


def stale_alone_while_muted(run, t_fault: float, key: str, keys) -> None:
    """An in-process live run (``live_util.run_live``) with one market muted at ``t_fault``: 1.0 to 1.4 s after
    it, that book is stale and every other book in ``keys`` live, and none of those others gapped or resynced."""
    during = [(k, s) for tt, k, s, _ok, _bad in run.timeline if t_fault + 1.0 <= tt <= t_fault + 1.4]
    assert {s for k, s in during if k == key} == {"stale"}
    for other in keys:
        if other != key:
            assert {s for k, s in during if k == other} == {"live"}, other
            assert (run.stream(other).gaps, run.stream(other).resyncs) == (0, 0), other
