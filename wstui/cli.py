"""Command line: ``wstui [demo] | replay FILE | ...``."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

import orjson

from . import __version__
from .engine import Engine
from .io.capture import CaptureError
from .io.replay import Replay, check_readable
from .runner import run_source
from .summary import summary_json, summary_text


def parse_speed(text: str) -> float | None:
    t = text.strip().lower()
    if t in ("max", "maximum", "fast"):
        return None
    if t.endswith("x"):
        t = t[:-1]
    try:
        v = float(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"speed must be a positive number or 'max', not {text!r}") from None
    if not v > 0 or v != v or v == float("inf"):
        raise argparse.ArgumentTypeError(f"speed must be a positive number or 'max', not {text!r}")
    return v


def positive(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, not {text!r}") from None
    if not v > 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, not {text!r}")
    return v


def non_negative_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, not {text!r}")
    return v


DEMO_CAPTURE = "binance_futures.jsonl.gz"


def sample_capture(name: str = DEMO_CAPTURE) -> Path:
    """A bundled sample capture (``sample_feeds/``, installed as ``wstui.samples``)."""
    cands = []
    try:
        from importlib.resources import files

        cands.append(Path(str(files("wstui.samples") / name)))
    except (ImportError, ModuleNotFoundError, TypeError):
        pass
    cands.append(Path(__file__).resolve().parent.parent / "sample_feeds" / name)
    for cand in cands:
        if cand.is_file():
            return cand
    raise CaptureError(f"the bundled sample capture {name} is missing from this installation")


def add_view_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stale-after", type=positive, default=5.0, metavar="SECONDS",
                   help="flag a stream stale after this long without data (default 5)")
    p.add_argument("--lag-after", type=positive, default=3.0, metavar="SECONDS",
                   help="flag a stream lagging when exchange time is this far behind (default 3)")
    p.add_argument("--fps", type=positive, default=10.0, help="snapshots (screen updates) per second (default 10)")
    p.add_argument("--headless", action="store_true", help="no TUI: print a summary when done")
    p.add_argument("--json", action="store_true", help="with --headless: the summary as one JSON object")
    p.add_argument("--levels", type=non_negative_int, default=10, help="book levels per side in the summary")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="wstui", description="Terminal monitor for market-data WebSocket feeds.")
    ap.add_argument("--version", action="version", version=f"wstui {__version__}")
    sub = ap.add_subparsers(dest="cmd")

    rp = sub.add_parser("replay", help="replay a capture file (capture format 2: .jsonl, .jsonl.gz, .jsonl.zst)")
    rp.add_argument("file", help="the capture to replay")
    rp.add_argument("--speed", type=parse_speed, default=1.0, help="replay speed: a factor such as 1, 10, 0.5, or 'max'")
    rp.add_argument("--loop", type=non_negative_int, default=1, metavar="N",
                    help="play the capture N times (0 = forever)")
    add_view_options(rp)

    dp = sub.add_parser("demo", help="the TUI on the bundled sample capture, looped at 1x")
    dp.add_argument("--speed", type=parse_speed, default=1.0)
    add_view_options(dp)
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    if args.cmd is None:
        args = ap.parse_args(["demo", *(argv or [])])
    try:
        if args.cmd == "replay":
            return cmd_replay(args)
        if args.cmd == "demo":
            return cmd_demo(args)
    except CaptureError as exc:
        print(f"wstui: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    ap.print_help()
    return 2


def make_engine(args, source: str, file: str | None) -> Engine:
    return Engine(stale_after=args.stale_after, lag_after=args.lag_after, source=source, file=file)


def run_headless(engine: Engine, source, args) -> int:
    try:
        asyncio.run(run_source(engine, source, args.fps))
    except KeyboardInterrupt:
        engine.end()
        engine.publish()
    snap = engine.latest or engine.publish()
    text = orjson.dumps(summary_json(snap, args.levels)).decode() if args.json else summary_text(snap)
    return write_out(text + "\n")


def write_out(text: str) -> int:
    """Print to stdout; a reader that went away (``| head``) is not an error worth a traceback."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    return 0


def cmd_replay(args) -> int:
    check_readable(args.file)
    engine = make_engine(args, "replay", str(args.file))
    source = Replay(args.file, speed=args.speed, loops=args.loop)
    if args.headless:
        return run_headless(engine, source, args)
    return run_tui(engine, source, args)


def cmd_demo(args) -> int:
    path = sample_capture()
    engine = make_engine(args, "replay", str(path))
    source = Replay(path, speed=args.speed, loops=0 if not args.headless else 1)
    if args.headless:
        return run_headless(engine, source, args)
    return run_tui(engine, source, args)


def run_tui(engine: Engine, source, args) -> int:
    try:
        from .ui.app import run_app
    except ImportError as exc:  # pragma: no cover - the UI ships with the package
        print(f"wstui: error: the terminal UI is not available ({exc}); use --headless", file=sys.stderr)
        return 2
    return run_app(engine, source, args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
