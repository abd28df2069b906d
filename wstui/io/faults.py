"""The fault language of ``wstui serve`` (``--fault KIND@AT[:ARG...][/EVERY]``) and the frame surgery
faults do: which frames a fault may touch (frame kinds), corrupting sizes, following a Kraken book to tell
top-of-book updates from deep ones.  Pure text work: no sockets here (:mod:`wstui.io.server` applies them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import msgspec

from ..core.book import Book

FAULT_KINDS = ("stall", "disconnect", "gap", "corrupt", "garbage", "slow", "hang", "mute")

FAULT_HELP = """\
fault SPEC: KIND@AT[:ARG[:ARG2]][/EVERY]  (times: 5, 5s, 500ms, 1.5s; counted from the first client
connection; each fault hits every connection open when it fires; repeat with /EVERY)
  stall@AT[:DUR]          send nothing for DUR (default 3s); the connection stays up
  hang@AT[:DUR]           freeze the TCP link for DUR (default 10s): no frames, pings unanswered
  disconnect@AT[:abort]   close the socket (close code 1012); 'abort' drops TCP with no close frame
  gap@AT[:N]              skip the next N book updates (default 3) that touch the top of the book
  corrupt@AT[:N]          change the sizes in the next N book updates (default 1): checksums fail
  garbage@AT[:N]          send N frames (default 1) that are not JSON
  slow@AT[:DUR[:FPS]]     trickle: at most FPS frames per second (default 10) for DUR (default 5s)
  mute@AT:DUR[:SYMBOL[:CHANNEL]]  silence one symbol's streams (CHANNEL: book or trades: one stream)
                          for DUR while the rest of the connection flows; no SYMBOL: the first one
                          subscribed (--sim); serving a capture, frames naming SYMBOL are held back
examples: --fault stall@5s:3s --fault disconnect@20s/30s --fault gap@8s:5
"""

GARBAGE = "\x1b[31mGARBAGE\x07 <this frame is not JSON> {\"unterminated\": "

# frame kinds: what a fault may touch
CTL = 0  # status, acks, heartbeats, pongs
BOOK = 1  # a book update that changes the top of the book (checksum-visible)
BOOK_DEEP = 2  # a book update below the checksummed levels
TRADE = 3
SNAPSHOT = 4


def channel_of(kind: int) -> str:
    """The stream a frame kind belongs to (what ``mute@...:SYMBOL:CHANNEL`` names)."""
    if kind in (BOOK, BOOK_DEEP, SNAPSHOT):
        return "book"
    if kind == TRADE:
        return "trades"
    return ""


# ---------------------------------------------------------------------------------- fault specs
def parse_seconds(text: str) -> float:
    t = text.strip().lower()
    mult = 1.0
    if t.endswith("ms"):
        t, mult = t[:-2], 0.001
    elif t.endswith("s"):
        t = t[:-1]
    elif t.endswith("m"):
        t, mult = t[:-1], 60.0
    try:
        v = float(t) * mult
    except ValueError:
        raise ValueError(f"{text!r} is not a time (e.g. 5, 5s, 500ms)") from None
    if not v >= 0 or v == float("inf"):
        raise ValueError(f"{text!r} is not a time (e.g. 5, 5s, 500ms)")
    return v


@dataclass(frozen=True)
class Fault:
    kind: str
    at: float
    duration: float = 0.0
    count: int = 0
    fps: float = 0.0
    abort: bool = False
    every: float | None = None
    spec: str = ""
    symbol: str | None = None  # mute: the market silenced (None: the first one subscribed)
    channel: str | None = None  # mute: only this stream of it ("book" or "trades")


def parse_fault(spec: str) -> Fault:
    """``stall@5s:3s`` -> Fault("stall", 5.0, duration=3.0).  Raises ValueError with a clear message."""
    s = spec.strip()
    kind, sep, rest = s.partition("@")
    kind = kind.strip().lower()
    if kind not in FAULT_KINDS:
        raise ValueError(f"fault {spec!r}: unknown kind {kind!r} (one of {', '.join(FAULT_KINDS)})")
    if not sep or not rest:
        raise ValueError(f"fault {spec!r}: expected KIND@AT, e.g. {kind}@5s")
    every = None
    if "/" in rest:
        head, ev = rest.rsplit("/", 1)
        try:
            every = parse_seconds(ev)
        except ValueError as exc:
            if kind != "mute":
                raise ValueError(f"fault {spec!r}: /EVERY {exc}") from None
            every = None  # a symbol with a slash (BTC/USD), not /EVERY
        else:
            rest = head
        if every is not None and every <= 0:
            raise ValueError(f"fault {spec!r}: /EVERY must be more than 0")
    parts = rest.split(":")
    if kind == "mute":
        try:
            at = parse_seconds(parts[0])
            if len(parts) < 2:
                raise ValueError("expected mute@AT:DUR[:SYMBOL[:CHANNEL]]")
            dur = parse_seconds(parts[1])
            symbol = parts[2].strip() if len(parts) > 2 and parts[2].strip() else None
            channel = parts[3].strip().lower() if len(parts) > 3 else None
            if len(parts) > 4:
                raise ValueError("too many ':' arguments")
            if channel is not None and channel not in ("book", "trades"):
                raise ValueError(f"CHANNEL {channel!r} is not book or trades")
            if every is not None and every <= dur:
                raise ValueError("/EVERY must be longer than the duration")
        except ValueError as exc:
            raise ValueError(f"fault {spec!r}: {exc}") from None
        return Fault(kind, at, duration=dur, every=every, spec=s, symbol=symbol, channel=channel)
    try:
        at = parse_seconds(parts[0])
        args = parts[1:]
        if len(args) > (2 if kind == "slow" else 1):
            raise ValueError("too many ':' arguments")
        if kind in ("stall", "hang", "slow"):
            dur = parse_seconds(args[0]) if args else {"stall": 3.0, "hang": 10.0, "slow": 5.0}[kind]
            fps = 10.0
            if kind == "slow" and len(args) > 1:
                fps = float(args[1].lower().removesuffix("/s").removesuffix("fps"))
                if not fps > 0 or fps == float("inf"):
                    raise ValueError(f"FPS {args[1]!r} must be a positive number")
            if every is not None and every <= dur:
                raise ValueError("/EVERY must be longer than the duration")
            return Fault(kind, at, duration=dur, fps=fps, every=every, spec=s)
        if kind == "disconnect":
            if args and args[0].lower() != "abort":
                raise ValueError(f"the only option is 'abort', not {args[0]!r}")
            return Fault(kind, at, abort=bool(args), every=every, spec=s)
        n = int(args[0]) if args else (3 if kind == "gap" else 1)
        if n < 1:
            raise ValueError("N must be 1 or more")
        return Fault(kind, at, count=n, every=every, spec=s)
    except ValueError as exc:
        raise ValueError(f"fault {spec!r}: {exc}") from None


# ---------------------------------------------------------------------------------- frame surgery
_KRAKEN_QTY = re.compile(r'("qty":)(\d+(?:\.\d+)?)')
_PAIR_QTY = re.compile(r'(\["[0-9.]+",")([0-9.]+)("\])')


def bump_digit(num: str) -> str:
    """A number's text with its last digit changed, never to zero (the value changes, the text stays a
    valid number, and a size stays a level): what the ``corrupt`` fault does to a venue's sizes."""
    d = int(num[-1])
    return num[:-1] + str(d + 1 if d < 8 else d - 1)


def corrupt_frame(text: str) -> str:
    """Every size in a book frame changed by one unit in its last digit (Kraken levels, Binance pairs)."""
    out = _KRAKEN_QTY.sub(lambda m: m.group(1) + bump_digit(m.group(2)), text)
    if out == text:
        out = _PAIR_QTY.sub(lambda m: m.group(1) + bump_digit(m.group(2)) + m.group(3), text)
    return out


_kdecode = msgspec.json.Decoder(float_hook=str).decode


class KrakenTracker:
    """Follows a Kraken v2 book through replayed frames to tell updates that touch the checksummed top
    10 levels (a skipped or corrupted one is then certain to fail the next checksum) from deep ones."""

    def __init__(self) -> None:
        self.books: dict[str, Book] = {}
        self.depth = 10

    def kind(self, text: str) -> int:
        if '"channel":"book"' not in text:
            if '"channel":"trade"' in text:
                return TRADE
            m = re.search(r'"depth":(\d+)', text)
            if m and '"method":"subscribe"' in text:
                self.depth = int(m.group(1))
            return CTL
        try:
            msg = _kdecode(text)
            typ = msg.get("type")
            top = False
            for entry in msg.get("data") or ():
                book = self.books.setdefault(entry.get("symbol", ""), Book())
                if typ == "snapshot":
                    book.clear()
                before = _top_keys(book)
                for side, levels in ((book.bids, entry.get("bids") or ()), (book.asks, entry.get("asks") or ())):
                    for lv in levels:
                        p, q = str(lv["price"]), str(lv["qty"])
                        side.set(float(p), p, q, float(q))
                book.truncate(self.depth)
                after = _top_keys(book)
                for side, levels, sign in ((0, entry.get("bids") or (), 1.0), (1, entry.get("asks") or (), -1.0)):
                    for lv in levels:
                        k = float(str(lv["price"])) * sign
                        if k in before[side] or k in after[side]:
                            top = True
            if typ == "snapshot":
                return SNAPSHOT
            return BOOK if top else BOOK_DEEP
        except Exception:
            return CTL


def _top_keys(book: Book, n: int = 10) -> tuple[set[float], set[float]]:
    return set(book.bids.keys[-n:]), set(book.asks.keys[-n:])



def frame_kind(data: str | bytes) -> int:
    """Frame kind from its text, without parsing (capture frames when no tracker is needed)."""
    if not isinstance(data, str):
        return CTL
    if '"depthUpdate"' in data:
        return BOOK
    if '"channel":"book"' in data:
        return SNAPSHOT if '"type":"snapshot"' in data else BOOK
    if "trade" in data[:80].lower():
        return TRADE
    return CTL

