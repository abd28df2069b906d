"""A feed plant's start: how long until every book is in sync, and what it cost of the venue's REST budget.

For each case (600 Binance USD-M symbols, 200 Bitfinex, 300 OKX by default) a live client (the same
``Live`` source ``wstui watch`` runs) meets ``wstui serve --sim`` on loopback; every 0.1 s it counts the
books in sync.  Prints per case: connections used, time to the first and to all books synced, REST requests
and weight spent (and the peak weight within one minute against the budget), 429/418 answers (the
watcher's count and the simulator's own), gaps.
With ``--disconnect S`` the simulator drops every connection at S seconds and the figure is the time until
every book is in sync again after its reconnect (a mass reconnect: the books' snapshots meet the budget
already spent on the first ones).
Usage: python bench/fleet_sync.py [--rate EVENTS_PER_S] [--timeout S] [--disconnect S] [CASE ...]
       (CASE: usdm, bitfinex, okx; default all)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from live_util import Served  # noqa: E402
from wstui.core.stream import BOOK_OK  # noqa: E402
from wstui.engine import Engine  # noqa: E402
from wstui.io.live import Live  # noqa: E402
from wstui.io.spec import build_feeds  # noqa: E402
from wstui.runner import run_source  # noqa: E402

CASES = {
    "usdm": ("binance-futures", "binance-futures:X{:04d}USDT", 600),
    "bitfinex": ("bitfinex", "bitfinex:tX{:04d}USD", 200),
    "okx": ("okx", "okx:X{:04d}-USDT", 300),
}


def run_case(name: str, rate: str, timeout: float, disconnect: float | None = None) -> None:
    venue, fmt, n = CASES[name]
    specs = [fmt.format(i) for i in range(n)]
    fault = ("--fault", f"disconnect@{disconnect:g}s") if disconnect else ()
    with Served("--sim", "--rate", rate, "--seed", "5", *fault) as srv:
        engine = Engine(stale_after=30, source="live")
        source = Live(build_feeds(specs, {venue: srv.url()}), duration=timeout)
        first = synced = None
        t0 = time.time()

        async def main() -> None:
            async def watch() -> None:
                nonlocal first, synced
                while True:
                    await asyncio.sleep(0.1)
                    books = [st for st in engine.streams.values() if st.book is not None]
                    ok = sum(st.book_state is BOOK_OK and (not disconnect or st.reconnects > 0) for st in books)
                    if ok and first is None:
                        first = time.time() - t0
                    if len(books) == n and ok == n:
                        synced = time.time() - t0
                        source.stop()
                        return

            w = asyncio.ensure_future(watch())
            try:
                await run_source(engine, source, 10)
            finally:
                w.cancel()

        asyncio.run(main())
        srv.stop()
        time.sleep(0.3)  # the simulator's last lines (its REST answer counts)
    rest = source.rest.stats()
    req = sum(h["requests"] for h in rest)
    weight = sum(h["weight"] for h in rest)
    peak = max((h["peak_weight_per_min"] for h in rest), default=0)
    budget = next((h["budget_per_min"] for h in rest if h["budget_per_min"]), None)
    limited = sum(h["rate_limited"] for h in rest)
    sim_refused = sum(1 for line in srv.lines if line.startswith("wstui serve: rest 4"))
    gaps = sum(st.gaps for st in engine.streams.values())
    conns = len(engine.conns)
    per = max(len(c.streams) for c in engine.conns.values()) if engine.conns else 0
    if disconnect:
        name = f"{name} (all disconnected at {disconnect:g} s; synced again)"
    print(f"{name:>9}: {n} symbols on {conns} connections (at most {per} streams each); first book synced "
          f"{first if first is None else round(first, 2)} s, all {n} synced "
          f"{'NOT within %g s' % timeout if synced is None else '%.2f s' % synced}; REST {req} requests, "
          f"weight {weight} (peak {peak}/min of {budget or '-'}); 429/418: watcher {limited}, simulator "
          f"{sim_refused}; gaps {gaps}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("cases", nargs="*", metavar="CASE", help="usdm, bitfinex, okx (default: all)")
    ap.add_argument("--rate", default="2", help="simulator book events per second per symbol (default 2)")
    ap.add_argument("--timeout", type=float, default=90.0)
    ap.add_argument("--disconnect", type=float, default=None, metavar="S")
    a = ap.parse_args()
    for c in a.cases or list(CASES):
        run_case(c, a.rate, a.timeout, a.disconnect)


if __name__ == "__main__":
    main()
