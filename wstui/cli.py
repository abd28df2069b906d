"""Command line: ``wstui [demo] | replay FILE | ...``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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


def worker_count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if not 1 <= n <= 64:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of workers from 1 to 64")
    return n


def port_number(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        v = -1
    if not 0 <= v <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0 to 65535, not {text!r}")
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


THEMES = ("textual-dark", "textual-light", "ansi-dark", "ansi-light", "nord", "gruvbox", "dracula", "tokyo-night",
          "monokai", "solarized-dark", "solarized-light", "catppuccin-mocha", "flexoki")


def add_view_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stale-after", type=positive, default=None, metavar="SECONDS",
                   help="flag a stream stale after this long without data, whatever its channel (default: "
                        "a connection silent 5 s, or a stream silent far beyond its own cadence)")
    p.add_argument("--lag-after", type=positive, default=None, metavar="SECONDS",
                   help="flag a stream lagging when exchange time is this far behind (default 3)")
    p.add_argument("--fps", type=positive, default=10.0, help="snapshots (screen updates) per second (default 10)")
    p.add_argument("--headless", action="store_true", help="no TUI: print a summary when done")
    p.add_argument("--theme", choices=THEMES, metavar="NAME", help="colours: ansi-dark or ansi-light follow the "
                   "terminal's own palette (good over SSH); also textual-dark (default), nord, gruvbox, ... "
                   "(ctrl+p switches at run time)")
    p.add_argument("--json", action="store_true", help="with --headless: the summary as one JSON object")
    p.add_argument("--levels", type=non_negative_int, default=10, metavar="N",
                   help="with --headless: book levels per side in the summary (default 10)")


def add_service_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--metrics", metavar="HOST:PORT", help="serve Prometheus metrics at http://HOST:PORT/metrics "
                   "(e.g. 127.0.0.1:9780; port 0 = any free port, printed on stderr)")
    p.add_argument("--events", metavar="FILE", help="append every event (gap, stale, reconnect, ...) to FILE as "
                   "one JSON line each, flushed at once ('-' = stdout, with --headless)")


@contextlib.contextmanager
def serving(engine: Engine, args):
    """The views a service runs beside the screen or the summary (``--events``, ``--metrics``), for the
    duration of the block.  A file or an address that cannot be used is a clear error, exit 2."""
    from .eventlog import EventLog, EventLogError
    from .metrics import MetricsError, serve_metrics

    out: list = []
    try:
        try:
            if getattr(args, "events", None):
                if args.events == "-" and not args.headless:
                    raise EventLogError("--events - (stdout) needs --headless: the screen belongs to the TUI")
                out.append(EventLog(engine, args.events))
            if getattr(args, "metrics", None):
                srv = serve_metrics(engine, args.metrics)
                out.append(srv)
                print(f"wstui: metrics at {srv.url}", file=sys.stderr, flush=True)
        except (EventLogError, MetricsError) as exc:
            print(f"wstui: error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        yield out
    finally:
        for s in reversed(out):
            try:
                s.close()
            except Exception as exc:  # stopping must not hide the run's own result
                print(f"wstui: warning: {exc}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="wstui", description="Terminal monitor for market-data WebSocket feeds.")
    ap.add_argument("--version", action="version", version=f"wstui {__version__}")
    sub = ap.add_subparsers(dest="cmd")

    rp = sub.add_parser("replay", help="replay a capture file (capture format 2: .jsonl, .jsonl.gz, .jsonl.zst)",
                        description="Replay a recorded capture through the same parsers and health checks as a "
                        "live feed, on the capture's own clock: in the TUI, or with --headless as a summary.")
    rp.add_argument("file", help="the capture to replay")
    rp.add_argument("--speed", type=parse_speed, default=None,
                    help="replay speed: a factor such as 1, 10, 0.5, or 'max' (default: 1 in the TUI, "
                    "max with --headless)")
    rp.add_argument("--loop", type=non_negative_int, default=1, metavar="N",
                    help="play the capture N times (0 = forever)")
    rp.add_argument("--config", metavar="FILE", help="TOML file with stale/lag thresholds (its streams and "
                    "endpoints are for watch and are not used here)")
    add_view_options(rp)
    add_service_options(rp)

    dp = sub.add_parser("demo", help="the TUI on the bundled sample capture, looped at 1x",
                        description="The TUI on the bundled sample capture (Binance futures), looped; "
                        "what 'wstui' with no command opens.")
    dp.add_argument("--speed", type=parse_speed, default=None,
                    help="replay speed: a factor such as 1, 10, 0.5, or 'max' (default: 1 in the TUI, "
                    "max with --headless)")
    add_view_options(dp)

    from .io.faults import FAULT_HELP

    wp = sub.add_parser("watch", help="live public feeds: VENUE:SYMBOL ... (kraken:BTC/USD binance:btcusdt ...)",
                        description="Watch live public market-data feeds (one connection per venue).",
                        epilog=WATCH_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_live_options(wp)
    wp.add_argument("--record", metavar="FILE", help="also record everything received (capture format 2; "
                    ".jsonl.gz or .jsonl.zst)")
    wp.add_argument("--force", action="store_true", help="with --record: overwrite FILE if it exists")
    add_view_options(wp)
    add_service_options(wp)
    wp.add_argument("--listen", metavar="HOST:PORT", help="with --headless: serve this monitor's state to viewers "
                    "('wstui attach ws://HOST:PORT') over a WebSocket (default host 127.0.0.1; port 0 = any free "
                    "port, printed on stderr); any other address needs --token-file")
    wp.add_argument("--token-file", metavar="FILE", help="with --listen: viewers must present the token in FILE "
                    "(its first line)")
    wp.add_argument("--workers", type=worker_count, default=1, metavar="N",
                    help="spread the connections over N worker processes (each its own engine), merged for the "
                    "screen, the metrics and the summary; a worker that dies is restarted (default 1: none)")
    wp.add_argument("--worker", default=None, help=argparse.SUPPRESS)  # I/N: this process is worker I of N
    wp.set_defaults(stale_after=None, lag_after=None)  # None: from --config, else 5 / 3

    rcp = sub.add_parser("record", help="record live feeds to a capture file (format 2), no screen",
                         description="Record live public feeds to a capture file (format 2) without a screen,\n"
                         "until --duration or Ctrl-C.  Progress (connections, frames, bytes) goes to stderr\n"
                         "every few seconds.  'wstui replay FILE' plays the capture back.",
                         epilog=WATCH_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_live_options(rcp)
    rcp.add_argument("-o", "--output", required=True, metavar="FILE",
                     help="the capture to write (.jsonl, .jsonl.gz or .jsonl.zst)")
    rcp.add_argument("--force", action="store_true", help="overwrite FILE if it exists (else refused)")
    rcp.add_argument("--progress", type=positive, default=5.0, metavar="SECONDS",
                     help="seconds between progress lines on stderr (default 5)")

    ap_ = sub.add_parser("attach", help="view running monitors (watch --headless --listen): ws://HOST:PORT ...",
                         description="Attach the TUI (or, with --headless, a summary) to one or more running monitors\n"
                         "('wstui watch --headless --listen HOST:PORT'), merged into one view.  A late viewer\n"
                         "sees every event since each monitor started.  A monitor that cannot be reached\n"
                         "shows its streams down with the reason, and is reconnected.",
                         epilog="examples:\n  wstui watch --headless --listen 127.0.0.1:9781 kraken:BTC/USD &\n"
                         "  wstui attach ws://127.0.0.1:9781\n"
                         "  ssh -N -L 9781:127.0.0.1:9781 monitor-host &  wstui attach ws://127.0.0.1:9781\n"
                         "  wstui attach ws://a:9781 ws://b:9781 --token-file ~/.wstui-token --headless --json "
                         "--duration 10", formatter_class=argparse.RawDescriptionHelpFormatter)
    ap_.add_argument("urls", nargs="+", metavar="URL", help="a monitor's ws://HOST:PORT")
    ap_.add_argument("--token-file", metavar="FILE", help="the token the monitors ask for (its first line)")
    ap_.add_argument("--duration", type=positive, metavar="SECONDS", help="stop after this long (default: until "
                     "Ctrl-C or q)")
    ap_.add_argument("--fps", type=positive, default=10.0, help="frames per second asked of each monitor (default 10)")
    ap_.add_argument("--headless", action="store_true", help="no TUI: print a summary when done")
    ap_.add_argument("--json", action="store_true", help="with --headless: the summary as one JSON object")
    ap_.add_argument("--levels", type=non_negative_int, default=10, metavar="N",
                     help="with --headless: book levels per side in the summary (default 10)")
    ap_.add_argument("--theme", choices=THEMES, metavar="NAME", help="colours (as for watch)")
    add_service_options(ap_)

    # parsed by wstui.check itself (a plugin's bad arguments are UNKNOWN, exit 3); listed here for --help
    sub.add_parser("check", add_help=False, help="a Nagios/Icinga plugin: watch streams for a while, print one "
                   "status line with perfdata, exit 0 OK / 1 WARNING / 2 CRITICAL / 3 UNKNOWN (wstui check -h)")

    sp = sub.add_parser("serve", help="a local WebSocket server replaying a capture (or a simulated market)",
                        description="Serve a capture's received frames (or a simulated market) to every client\n"
                        "that connects, with REST snapshots over HTTP on the same port.",
                        epilog=FAULT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    sp.add_argument("capture", nargs="?", help="capture to serve (format 2); omit with --sim")
    sp.add_argument("--sim", action="store_true", help="serve an endless simulated market in each venue's own "
                    "protocol, picked by the client's path: Kraken v2 /v2, Binance /stream and /ws, OKX /ws/v5/public, "
                    "Bybit /v5/public/spot|linear|inverse, Bitfinex /ws/2, Deribit /ws/api/v2, Gemini /v2/marketdata, "
                    "Coinbase and Bitstamp at / (told apart by their first frame); REST snapshots on the same port")
    sp.add_argument("--rate", type=positive, default=20.0, help="--sim: book events per second per symbol (default 20)")
    sp.add_argument("--seed", type=int, default=None, help="--sim: random seed (a repeatable market)")
    sp.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    sp.add_argument("--port", type=port_number, default=8765, help="port (default 8765; 0 = any free port)")
    sp.add_argument("--speed", type=parse_speed, default=1.0, help="capture pace: a factor such as 1, 10, or 'max'")
    sp.add_argument("--loop", action="store_true", help="start the capture over when it ends (else the "
                    "connection stays open, idle)")
    sp.add_argument("--fault", action="append", default=[], type=fault_arg, metavar="SPEC",
                    help="inject a fault on a schedule (see below); repeatable")
    sp.add_argument("--log", metavar="FILE", help="write every frame sent to clients, as the capture they "
                    "should have received (format 2)")
    return ap


WATCH_EPILOG = """streams: VENUE:SYMBOL (venues: kraken, binance, binance-futures, ...) or a ws:// / wss:// address
examples:
  wstui watch kraken:BTC/USD binance:btcusdt binance-futures:btcusdt
  wstui watch --headless --json --duration 30 kraken:BTC/USD
  wstui serve --sim --port 8765 &  wstui watch kraken:BTC/USD --endpoint kraken=ws://127.0.0.1:8765
  wstui record kraken:BTC/USD -o btc.jsonl.gz --duration 60
"""


def fault_arg(text: str):
    from .io.faults import parse_fault

    try:
        return parse_fault(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_live_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("streams", nargs="*", metavar="STREAM", help="VENUE:SYMBOL or a ws:// address")
    p.add_argument("--config", metavar="FILE", help="TOML file with streams, endpoints and stale thresholds")
    p.add_argument("--endpoint", action="append", default=[], metavar="VENUE=URL",
                   help="connect VENUE to URL instead of its public endpoint (REST goes there too); repeatable")
    p.add_argument("--send", action="append", default=[], metavar="TEXT",
                   help="a frame (e.g. a JSON subscribe message) sent on every ws:// stream after it connects; "
                        "repeatable")
    p.add_argument("--duration", type=positive, metavar="SECONDS", help="stop after this long (default: until Ctrl-C)")
    p.add_argument("--ping-interval", type=positive, default=5.0, metavar="SECONDS",
                   help="WebSocket ping period (default 5)")
    p.add_argument("--ping-timeout", type=positive, default=5.0, metavar="SECONDS",
                   help="a connection whose pong is this late is dead (default 5)")
    p.add_argument("--backoff-max", type=positive, default=30.0, metavar="SECONDS",
                   help="longest wait between reconnect attempts (default 30)")


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["check"]:
        from .check import main as check_main

        return check_main(argv[1:])
    ap = build_parser()
    args = ap.parse_args(argv)
    if args.cmd is None:
        args = ap.parse_args(["demo", *(argv or [])])
    try:
        if args.cmd == "replay":
            return cmd_replay(args)
        if args.cmd == "demo":
            return cmd_demo(args)
        if args.cmd == "watch" and args.workers > 1:
            from .workers import cmd_workers

            return cmd_workers(args)
        if args.cmd in ("watch", "record"):
            return service_exit(args, cmd_live(args))
        if args.cmd == "attach":
            from .remote.client import cmd_attach

            return cmd_attach(args)
        if args.cmd == "serve":
            return cmd_serve(args)
    except CaptureError as exc:
        print(f"wstui: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    ap.print_help()
    return 2


def service_exit(args, status: int) -> int:
    """``watch --headless`` without ``--duration`` is a service: it ends only when told to (SIGTERM, SIGINT),
    and a service that stopped when told did its job: exit 0, whatever the streams' health at that moment
    (a plain ``systemctl stop`` must not leave the unit failed).  An error (2), or a recording that lost data
    (1, with --record), keeps its status."""
    service = args.cmd == "watch" and args.headless and args.duration is None and not args.record
    return 0 if service and status == 1 else status


def make_engine(args, source: str, file: str | None) -> Engine:
    stale, lag, overrides = args.stale_after, args.lag_after, {}
    if getattr(args, "config", None):
        from .io.config import load_config

        cfg = load_config(args.config)
        stale = stale or cfg.stale_after
        lag = lag or cfg.lag_after
        overrides = cfg.stale_overrides
    engine = Engine(stale_after=stale, lag_after=lag or 3.0, stale_overrides=overrides, source=source, file=file)
    engine.focus = frozenset()  # nothing shows books while it runs (the TUI sets its own); the end is full
    return engine


def run_headless(engine: Engine, source, args) -> int:
    with serving(engine, args):
        try:
            asyncio.run(run_source(engine, source, args.fps))
        except KeyboardInterrupt:
            engine.end()
            engine.publish()
        snap = engine.latest or engine.publish()
    text = orjson.dumps(summary_json(snap, args.levels)).decode() if args.json else summary_text(snap)
    write_out(text + "\n")
    return exit_status(snap)


EXIT_HEALTHY = 0  # every stream healthy when the run ended
EXIT_UNHEALTHY = 1  # some stream stale, down, out of sync or lagging when it ended
EXIT_ERROR = 2  # could not run: bad arguments, an unreadable capture or config


def exit_status(snap) -> int:
    """The headless exit status: 0 all healthy at the end, 1 some stream unhealthy."""
    return EXIT_UNHEALTHY if snap.unhealthy else EXIT_HEALTHY


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


def default_speed(args) -> float | None:
    """--speed as given, else 1x in the TUI and max headless (nobody watches a headless replay, and a
    long capture at 1x would look hung)."""
    if args.speed is not None:
        return args.speed
    return None if args.headless else 1.0


def cmd_replay(args) -> int:
    check_readable(args.file)
    from .io.config import ConfigError

    try:
        engine = make_engine(args, "replay", str(args.file))
    except ConfigError as exc:
        print(f"wstui: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    source = Replay(args.file, speed=default_speed(args), loops=args.loop)
    if args.headless:
        return run_headless(engine, source, args)
    return run_tui(engine, source, args)


def cmd_demo(args) -> int:
    path = sample_capture()
    engine = make_engine(args, "replay", str(path))
    source = Replay(path, speed=default_speed(args), loops=0 if not args.headless else 1)
    if args.headless:
        return run_headless(engine, source, args)
    return run_tui(engine, source, args)


def live_setup(args):
    """(engine, Live source, recorder) for ``watch``/``record``; raises SpecError on bad input."""
    from .io.config import WatchConfig, load_config
    from .io.live import Live
    from .io.spec import SpecError, build_feeds, parse_endpoint
    from .io.record import Recorder, capture_config, capture_exchange

    cfg = load_config(args.config) if args.config else WatchConfig()
    specs = [*cfg.streams, *args.streams]
    if not specs:
        raise SpecError("name at least one stream (e.g. kraken:BTC/USD) or give --config FILE")
    endpoints = dict(cfg.endpoints)
    for e in args.endpoint:
        venue, url = parse_endpoint(e)
        endpoints[venue] = url
    feeds = build_feeds(specs, endpoints, send=args.send)
    if args.send and not any(f.send for f in feeds):
        raise SpecError("--send goes to ws:// streams, and none was named")
    unused = set(endpoints) - {f.venue.name for f in feeds}
    if unused:
        raise SpecError(f"--endpoint for {', '.join(sorted(unused))} but no stream of that venue")
    share = 1.0
    if getattr(args, "worker", None):  # one worker of watch --workers N: its share of the plant
        from .io.share import parse_worker, worker_feeds

        index, n = parse_worker(args.worker)
        feeds = worker_feeds(specs, endpoints, args.send, index, n)
        share = 1.0 / n  # and of the venues' per-address budgets
    stale = getattr(args, "stale_after", None) or cfg.stale_after  # None: the default, learned per stream
    lag = getattr(args, "lag_after", None) or cfg.lag_after or 3.0
    args.stale_after, args.lag_after = stale, lag  # what the UI shows is what the engine uses
    out = args.output if args.cmd == "record" else args.record
    if out and Path(out).is_file() and not args.force:  # a capture is never overwritten by mistake (a device
        # or a pipe, /dev/stdout, is no capture to lose)
        raise SpecError(f"{out} already exists: give another file name, or --force to overwrite it")
    engine = Engine(stale_after=stale, lag_after=lag, stale_overrides=cfg.stale_overrides, source="live", file=out)
    engine.focus = frozenset()  # nothing shows books while it runs (the TUI sets its own); the end is full
    recorder = None
    if out:
        recorder = Recorder(out, exchange=capture_exchange(feeds), config=capture_config(feeds, specs))
    source = Live(feeds, duration=args.duration, recorder=recorder, ping_interval=args.ping_interval,
                  ping_timeout=args.ping_timeout, backoff_cap=args.backoff_max, share=share)
    return engine, source, recorder


def cmd_live(args) -> int:
    import signal

    from .io.spec import SpecError

    early: list[int] = []  # a SIGTERM/SIGINT before the loop runs still ends the service cleanly
    if args.cmd == "record" or args.headless:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda signum, frame: early.append(signum))
    from .remote.server import ListenError

    try:
        listen = listen_setup(args)
        engine, source, recorder = live_setup(args)
    except (SpecError, ListenError) as exc:
        print(f"wstui: error: {exc}", file=sys.stderr)
        return 2
    if args.cmd == "record" or args.headless:
        for sig in (signal.SIGINT, signal.SIGTERM):  # until the event loop takes them over
            signal.signal(sig, lambda signum, frame: source.stop())
        if early:
            source.stop()
    if getattr(args, "worker", None):
        from .io.workers import stop_with_parent

        stop_with_parent(source.stop)
    try:
        if args.cmd == "record" or args.headless:
            async def main() -> None:
                loop = asyncio.get_running_loop()
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.add_signal_handler(sig, source.stop)
                ticker = None
                if args.cmd == "record":
                    ticker = asyncio.ensure_future(record_progress(engine, recorder, args.progress))
                viewers = None
                try:
                    if listen is not None:
                        viewers = await start_listening(engine, *listen)
                    await run_source(engine, source, args.fps if args.cmd == "watch" else 5.0)
                finally:
                    if ticker is not None:
                        ticker.cancel()
                    if viewers is not None:
                        await viewers.close()

            with serving(engine, args):
                try:
                    asyncio.run(main())
                except ListenError as exc:  # --listen: the address is taken or not ours
                    print(f"wstui: error: {exc}", file=sys.stderr)
                    return 2
            snap = engine.latest or engine.publish()
            if args.cmd == "record":
                lost = f"; {recorder.dropped} records NOT written" if recorder.dropped else ""
                print(f"wstui record: {recorder.frames} frames ({recorder.records} records) from "
                      f"{sum(f.sessions for f in source.feeds)} connection(s) written to {recorder.path}{lost}",
                      file=sys.stderr)
            elif args.json:
                sys.stdout.write(orjson.dumps(summary_json(snap, args.levels)).decode() + "\n")
            else:
                print(summary_text(snap))
            if recorder is not None and (recorder.error or recorder.dropped):
                return 1  # the recording lost data
            return 0 if args.cmd == "record" else exit_status(snap)

        def on_term(signum, frame):  # the TUI: whatever was received is on disk before we go
            source.stop()
            if recorder is not None:
                recorder.close()
            raise SystemExit(128 + signum)

        signal.signal(signal.SIGTERM, on_term)
        return run_tui(engine, source, args)
    finally:
        if recorder is not None:
            recorder.close()
            if recorder.error or recorder.dropped:
                what = recorder.error or recorder.overflow_note() or "recording incomplete"
                print(f"wstui: error: {what}; {recorder.dropped} records dropped", file=sys.stderr)


def listen_setup(args) -> tuple[str, int, str | None] | None:
    """``--listen HOST:PORT [--token-file F]`` checked before anything starts: (host, port, token) or None."""
    from .remote.server import ListenError, check_bind, parse_listen, read_token

    listen = getattr(args, "listen", None)
    if not listen:
        if getattr(args, "token_file", None):
            raise ListenError("--token-file goes with --listen")
        return None
    if not args.headless:
        raise ListenError("--listen needs --headless (attach a viewer to it: wstui attach ws://HOST:PORT)")
    host, port = parse_listen(listen)
    token = read_token(args.token_file) if args.token_file else None
    check_bind(host, token)
    return host, port, token


async def start_listening(engine: Engine, host: str, port: int, token: str | None):
    from .remote.server import ListenError, ViewerServer

    try:
        srv = await ViewerServer(engine, host, port, token).start()
    except OSError as exc:
        raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    print(f"wstui: viewers at {srv.url}", file=sys.stderr, flush=True)
    return srv


async def record_progress(engine: Engine, recorder, every: float) -> None:
    """``wstui record``: a line on stderr every ``every`` seconds, so a long recording is seen to work."""
    import time

    t0 = time.monotonic()
    while True:
        await asyncio.sleep(every)
        snap = engine.latest
        up = sum(1 for c in snap.connections if c.up) if snap is not None else 0
        total = len(snap.connections) if snap is not None else 0
        print(f"wstui record: {time.monotonic() - t0:.0f}s  {up}/{total} connection(s) up  "
              f"{recorder.frames:,} frames  {recorder.bytes_written:,} bytes written to {recorder.path}",
              file=sys.stderr, flush=True)


def cmd_serve(args) -> int:
    from .io.server import run_server
    from .io.sim import Sim

    if args.sim == (args.capture is not None):
        print("wstui: error: serve needs a CAPTURE file or --sim (not both)", file=sys.stderr)
        return 2
    if args.capture is not None:
        check_readable(args.capture)
    sim = Sim(rate=args.rate, seed=args.seed) if args.sim else None
    try:
        return asyncio.run(run_server(host=args.host, port=args.port, capture=args.capture, sim=sim,
                                      speed=args.speed, loop=args.loop, faults=args.fault, log_path=args.log))
    except OSError as exc:
        print(f"wstui: error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"wstui: error: {exc}", file=sys.stderr)
        return 2


def run_tui(engine: Engine, source, args) -> int:
    try:
        from .ui.app import run_app
    except ImportError as exc:  # pragma: no cover - the UI ships with the package
        print(f"wstui: error: the terminal UI is not available ({exc}); use --headless", file=sys.stderr)
        return 2
    with serving(engine, args):
        return run_app(engine, source, args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
