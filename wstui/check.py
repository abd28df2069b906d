"""``wstui check STREAMS...``: a Nagios/Icinga plugin.

Watches the streams for ``--duration`` seconds, then prints one status line

    WSTUI OK|WARNING|CRITICAL|UNKNOWN - what is wrong (or how many streams are fine) | perfdata

and exits 0/1/2/3 (the plugin convention; 3 also for bad arguments and internal failures: argparse's own
exit 2 would read as CRITICAL).  ``--warn``/``--crit`` are comma-separated conditions, each a health state
(``stale``, ``down``, ...) a stream ends the check in, or a comparison on a figure of the stream over the
check: ``gaps>0``, ``checksum_failed>0``, ``resyncs>2``, ``reconnects>0``, ``parse_errors>0`` (counted during
the check), ``age>2`` (seconds since its last message), ``rate<1`` (messages per second), ``latency_ms>500``
(median exchange-to-receive delay).  A critical condition wins over a warning one.

Feed text in the status line and the perfdata labels is cleaned of control characters and of the
characters the plugin format gives a meaning (``|``, ``'``, ``=``).
"""

from __future__ import annotations

import argparse
import asyncio
import operator
import re
import signal
from dataclasses import dataclass
from typing import Any, Callable, NoReturn

from .core.snapshot import Snapshot, StreamView
from .core.stream import STATES
from .core.text import clean

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
NAMES = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}
DEFAULT_WARN = "lagging,out_of_sync,connecting,checksum_failed>0,gaps>0"
DEFAULT_CRIT = "stale,down"
COUNTERS = ("gaps", "checksum_failed", "resyncs", "reconnects", "parse_errors")
FIGURES = (*COUNTERS, "age", "rate", "latency_ms")
OPS: dict[str, Callable[[float, float], bool]] = {">=": operator.ge, "<=": operator.le, ">": operator.gt,
                                                    "<": operator.lt}
COND = re.compile(r"^\s*([a-z_]+)\s*(>=|<=|>|<)\s*(-?[0-9]+(?:\.[0-9]*)?)\s*$")
MAX_LINE = 900  # status text before the perfdata (Nagios keeps the first 4 KB of output)


class Usage(Exception):
    """Bad arguments: UNKNOWN, exit 3."""


@dataclass(frozen=True)
class Condition:
    text: str
    state: str | None = None  # a health state, or a figure compared with a number
    figure: str = ""
    op: str = ""
    limit: float = 0.0

    def matches(self, s: StreamView, figures: dict[str, float | None]) -> bool:
        if self.state is not None:
            return s.state == self.state
        v = figures.get(self.figure)
        return v is not None and OPS[self.op](v, self.limit)


def parse_conditions(text: str, what: str) -> list[Condition]:
    out = []
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        if item in STATES:
            out.append(Condition(item, state=item))
            continue
        m = COND.match(item)
        if m is None or m.group(1) not in FIGURES:
            raise Usage(f"{what} {item!r} is neither a state ({', '.join(STATES)}) nor FIGURE>N / FIGURE<N with "
                        f"FIGURE one of {', '.join(FIGURES)}")
        out.append(Condition(item, figure=m.group(1), op=m.group(2), limit=float(m.group(3))))
    return out


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise Usage(message)


def build_parser() -> argparse.ArgumentParser:
    from .cli import positive

    p = _Parser(prog="wstui check", description="A Nagios/Icinga plugin: watch the streams for a while, print "
                "one status line with performance data, exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
                epilog=f"conditions: a state ({', '.join(STATES)}) or FIGURE>N / FIGURE<N, FIGURE one of "
                f"{', '.join(FIGURES)}.  example: wstui check kraken:BTC/USD --duration 15 --warn gaps>0,lagging "
                "--crit stale,down,checksum_failed>2")
    p.add_argument("streams", nargs="*", metavar="STREAM", help="VENUE:SYMBOL or a ws:// address")
    p.add_argument("--config", metavar="FILE", help="TOML file with streams, endpoints and stale thresholds")
    p.add_argument("--endpoint", action="append", default=[], metavar="VENUE=URL",
                   help="connect VENUE to URL instead of its public endpoint; repeatable")
    p.add_argument("--send", action="append", default=[], metavar="TEXT", help="a frame sent on ws:// streams")
    p.add_argument("--duration", type=positive, default=10.0, metavar="SECONDS",
                   help="how long to watch (default 10)")
    p.add_argument("--warn", default=DEFAULT_WARN, metavar="CONDITIONS",
                   help=f"WARNING when a stream meets one of these (default {DEFAULT_WARN})")
    p.add_argument("--crit", default=DEFAULT_CRIT, metavar="CONDITIONS",
                   help=f"CRITICAL when a stream meets one of these (default {DEFAULT_CRIT})")
    p.add_argument("--stale-after", type=positive, default=None, metavar="SECONDS",
                   help="a stream is stale after this long without data (default: --config, else 5)")
    p.add_argument("--lag-after", type=positive, default=None, metavar="SECONDS",
                   help="lagging when exchange time is this far behind (default: --config, else 3)")
    p.add_argument("--ping-interval", type=positive, default=5.0, metavar="SECONDS", help=argparse.SUPPRESS)
    p.add_argument("--ping-timeout", type=positive, default=5.0, metavar="SECONDS", help=argparse.SUPPRESS)
    p.add_argument("--backoff-max", type=positive, default=30.0, metavar="SECONDS", help=argparse.SUPPRESS)
    return p


def _text(s: str, n: int = 200) -> str:
    return clean(s, n).replace("|", "/")


def _label(s: str) -> str:
    return re.sub(r"[|'=\s]", "_", clean(s, 120))


def figures_of(s: StreamView, elapsed: float) -> dict[str, float | None]:
    f: dict[str, float | None] = {k: float(getattr(s, k)) for k in COUNTERS}
    f["age"] = s.last_age_s
    f["rate"] = s.messages / elapsed if elapsed > 0 else None
    f["latency_ms"] = s.latency_ms_p50
    return f


def verdict(snap: Snapshot, warn: list[Condition], crit: list[Condition]) -> tuple[int, str]:
    """(exit status, the whole output line) for the snapshot at the end of the check."""
    elapsed = max(snap.elapsed_s, 1e-9)
    worst = OK
    problems: list[tuple[int, str]] = []
    perf: list[str] = []
    for s in snap.streams:
        figs = figures_of(s, elapsed)
        hit_c = [c.text for c in crit if c.matches(s, figs)]
        hit_w = [c.text for c in warn if c.matches(s, figs)] if not hit_c else []
        level = CRITICAL if hit_c else WARNING if hit_w else OK
        worst = max(worst, level)
        if level:
            cause = getattr(s, "cause", "") or ""
            why = s.reason or cause or s.state
            problems.append((level, f"{_text(s.key, 80)} {s.state} ({_text(why, 120)}; "
                                    f"{', '.join(hit_c or hit_w)})"))
        k = _label(s.key)
        perf.append(f"'{k}_rate'={figs['rate']:.2f};;;0")
        if s.last_age_s is not None:
            perf.append(f"'{k}_age'={s.last_age_s:.3f}s;;;0")
        if s.latency_ms_p50 is not None:
            perf.append(f"'{k}_latency'={s.latency_ms_p50 / 1000:.4f}s")
        if s.has_book:
            perf.append(f"'{k}_gaps'={s.gaps}c;;;0")
            perf.append(f"'{k}_checksum_failed'={s.checksum_failed}c;;;0")
        perf.append(f"'{k}_reconnects'={s.reconnects}c;;;0")
    n = len(snap.streams)
    if n == 0:
        return UNKNOWN, "WSTUI UNKNOWN - no stream was declared (nothing connected?)"
    counts = {lv: sum(1 for p in problems if p[0] == lv) for lv in (WARNING, CRITICAL)}
    if worst == OK:
        text = f"{n} stream(s) OK over {snap.elapsed_s:.1f} s"
    else:
        problems.sort(key=lambda p: -p[0])
        text = (f"{counts[CRITICAL]} critical, {counts[WARNING]} warning of {n} stream(s): "
                + "; ".join(p[1] for p in problems))
    if len(text) > MAX_LINE:
        text = text[: MAX_LINE - 3] + "..."
    perf[:0] = [f"streams={n};;;0", f"critical={counts[CRITICAL]};;;0", f"warning={counts[WARNING]};;;0",
                f"messages={snap.messages}c;;;0"]
    return worst, f"WSTUI {NAMES[worst]} - {text} | {' '.join(perf)}"


def run_check(args: Any) -> Snapshot:
    from .cli import live_setup
    from .runner import run_source

    args.cmd, args.record, args.headless = "check", None, True
    engine, source, _rec = live_setup(args)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):  # a plugin timeout: report what was seen so far
            loop.add_signal_handler(sig, source.stop)
        await run_source(engine, source, 5.0)

    asyncio.run(main())
    engine.publish()
    return engine.latest


def main(argv: list[str]) -> int:
    try:
        args = build_parser().parse_args(argv)
        warn = parse_conditions(args.warn, "--warn")
        crit = parse_conditions(args.crit, "--crit")
        snap = run_check(args)
        status, line = verdict(snap, warn, crit)
    except (Usage, ValueError) as exc:  # ValueError: SpecError, ConfigError (a stream, endpoint or config)
        status, line = UNKNOWN, f"WSTUI UNKNOWN - bad arguments: {_text(str(exc), 400)}"
    except Exception as exc:  # a plugin must answer, whatever went wrong
        status, line = UNKNOWN, f"WSTUI UNKNOWN - internal error: {type(exc).__name__}: {_text(str(exc), 300)}"
    print(line, flush=True)
    return status
