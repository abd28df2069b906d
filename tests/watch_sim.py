"""Running ``wstui watch VENUE:SYM ... --headless --json`` against ``wstui serve --sim`` on loopback, the way a
user does, and reading what it printed: books per symbol, events, and the server's fault lines."""

from __future__ import annotations

import json
import subprocess

from live_util import ENV, ROOT, Served, no_traceback, wstui_cmd


class Watched:
    def __init__(self, out: dict, srv: Served, stderr: str) -> None:
        self.out = out
        self.srv = srv
        self.stderr = stderr

    def stream(self, key: str) -> dict:
        found = [s for s in self.out["streams"] if s["key"] == key]
        assert found, (key, [s["key"] for s in self.out["streams"]])
        return found[0]

    def books(self, venue: str) -> dict[str, dict]:
        return {s["symbol"]: s for s in self.out["streams"] if s["venue"] == venue and s["channel"] == "book"}

    def events(self, kind: str, stream: str | None = None) -> list[dict]:
        return [e for e in self.out["events"] if e["kind"] == kind and (stream is None or e["stream"] == stream)]

    def fault_time(self) -> float:
        fired = self.srv.faults()
        assert len(fired) == 1 and fired[0][2] >= 1, self.srv.lines
        return fired[0][1]


def watch_sim(venue: str, symbols, *serve_args, duration: float = 4.0, rate: int = 50, path: str = "",
              watch_args=()) -> Watched:
    """``wstui serve --sim --rate RATE SERVE_ARGS`` and ``wstui watch VENUE:SYM... --endpoint VENUE=<it>``."""
    with Served("--sim", "--rate", rate, "--seed", 7, *serve_args) as srv:
        p = subprocess.run(wstui_cmd("watch", *[f"{venue}:{s}" for s in symbols], "--endpoint",
                                     f"{venue}={srv.url(path)}", "--headless", "--json", "--duration", duration,
                                     *watch_args),
                           cwd=ROOT, capture_output=True, text=True, timeout=duration + 40, env=ENV)
    assert p.returncode == 0, p.stderr[-3000:]
    no_traceback(p.stderr)
    return Watched(json.loads(p.stdout), srv, p.stderr)


def all_verified(w: Watched, venue: str, symbols, *, checksums: bool = False) -> None:
    """Every book ok at the end, not crossed, with levels on both sides (and matching checksums)."""
    books = w.books(venue)
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
    books = w.books(venue)
    hit = [s for s, b in books.items() if b[counter]]
    assert len(hit) == 1, {s: (b[counter], b["resyncs"]) for s, b in books.items()}
    sym = hit[0]
    for s, b in books.items():
        want = 1 if s == sym else 0
        assert (b[counter], b["resyncs"], b["reconnects"]) == (want, want, 0), (s, b[counter], b["resyncs"],
                                                                                b["reconnects"])
    t = w.fault_time()
    rebuilt = [e for e in w.events("resync", books[sym]["key"]) if e["ts"] >= t - 0.05]
    assert rebuilt, w.out["events"][-20:]
    return sym, rebuilt[0]["ts"] - t
