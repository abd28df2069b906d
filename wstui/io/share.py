"""How ``watch --workers N`` spreads a plant over N worker processes.

Every worker runs this same, deterministic computation from the same command line and keeps its own share:
each venue's symbols (and the raw ``ws://`` feeds) are dealt in turn over the workers, each worker's share is
planned into connections by the usual planner (:func:`~wstui.io.spec.build_feeds`, within the venue's
limits), and connections are numbered across all workers (``KRAKEN.ws.1`` lives in one worker only), so the
merged view names every connection once.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable

from .spec import Feed, SpecError, build_feeds, parse_stream


def parse_worker(text: str) -> tuple[int, int]:
    """``"2/4"`` -> (1, 4): the second of four workers (0-based index)."""
    i, sep, n = text.partition("/")
    try:
        idx, total = int(i), int(n)
    except ValueError:
        idx = total = 0
    if not sep or total < 1 or not 1 <= idx <= total:
        raise SpecError(f"--worker {text!r} is not I/N with 1 <= I <= N")
    return idx - 1, total


def deal(specs: Iterable[str], n: int) -> list[list[str]]:
    """The stream specs dealt over ``n`` workers: per venue in turn (so every worker gets its part of every
    venue), raw addresses likewise.  Duplicates are dropped the way the planner drops them."""
    shares: list[list[str]] = [[] for _ in range(n)]
    dealt: dict[str, int] = defaultdict(int)
    seen: set[tuple[str, str | None, str | None]] = set()
    for spec in specs:
        cls, sym, url = parse_stream(spec)
        key = (cls.name, sym, url)
        if key in seen:
            continue
        seen.add(key)
        group = cls.name if url is None else "ws://"
        shares[dealt[group] % n].append(spec)
        dealt[group] += 1
    return shares


def worker_feeds(specs: list[str], endpoints: dict[str, str], send: Iterable[str], index: int,
                 n: int) -> list[Feed]:
    """Worker ``index`` (0-based) of ``n``: its feeds, with connection ids numbered across all workers."""
    send = list(send)
    counters: dict[str, int] = defaultdict(int)
    for w, share in enumerate(deal(specs, n)):
        if not share:
            continue
        feeds = build_feeds(share, endpoints, send=send)
        for f in feeds:
            prefix, _, _ = f.conn_id.rpartition(".")  # "KRAKEN.ws" / "127.0.0.1.ws"-style host ids
            counters[prefix] += 1
            f.conn_id = f"{prefix}.{counters[prefix]}"
        if w == index:  # (the workers after it number their own connections after these)
            return feeds
    return []
