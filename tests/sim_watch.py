"""``wstui watch`` (a subprocess, as a user runs it) against ``wstui serve --sim`` on loopback: the summary it
prints with ``--json``, by stream key, and what the server said (faults fired, connections)."""

from __future__ import annotations

import json
import subprocess

from live_util import ENV, ROOT, Served, no_traceback, wstui_cmd


class Watched:
    def __init__(self, summary: dict, server_lines: list[str], stderr: str) -> None:
        self.summary = summary
        self.server = server_lines
        self.stderr = stderr
        self.streams = {s["key"]: s for s in summary["streams"]}
        self.events = summary["events"]

    def books(self) -> dict[str, dict]:
        return {k: s for k, s in self.streams.items() if s["channel"] == "book"}

    def events_of(self, kind: str, stream: str | None = None) -> list[dict]:
        return [e for e in self.events if e["kind"] == kind and (stream is None or e["stream"] == stream)]

    def fired(self) -> list[tuple[str, float, int]]:
        from live_util import FAULT

        out = []
        for line in self.server:
            m = FAULT.search(line)
            if m:
                out.append((m.group(1), float(m.group(2)), int(m.group(3))))
        return out


def watch_sim(venue: str, symbols, *, path: str = "", faults=(), duration: float = 3.0, rate: int = 50,
              seed: int = 7, extra=()) -> Watched:
    """Serve the simulated market (with ``faults``) and watch ``venue:SYMBOL`` for each symbol."""
    args = ["--sim", "--rate", rate, "--seed", seed]
    for f in faults:
        args += ["--fault", f]
    with Served(*args) as srv:
        p = subprocess.run(wstui_cmd("watch", *[f"{venue}:{s}" for s in symbols], "--endpoint",
                                     f"{venue}={srv.url(path)}", "--headless", "--json", "--duration", duration,
                                     *extra),
                           cwd=ROOT, capture_output=True, text=True, timeout=duration + 30, env=ENV)
    assert p.returncode == 0, p.stderr[-3000:]
    no_traceback(p.stderr)
    return Watched(json.loads(p.stdout), srv.lines, p.stderr)


def assert_verified(book: dict) -> None:
    """A book that ended correct: in sync, not crossed, levels on both sides, data flowing."""
    assert book["book_state"] == "ok", book
    assert not book["crossed"], book
    assert book["book_levels"][0] > 0 and book["book_levels"][1] > 0, book
    assert book["state"] == "live", (book["key"], book["state"], book["reason"])
