"""The simulated market itself: one random process per (protocol, symbol) book, and which symbols exist.

Protocol modules (:mod:`wstui.io.sim`) only spell these books and trades the way their venue does.
"""

from __future__ import annotations

import math
import random
import re
import zlib

from ...core.book import Book

MIN_LEVELS = 40
MAX_LEVELS = 120
START_LEVELS = 60

# The assets the simulated venues list.  Everything else is an unknown symbol, refused the way the venue
# refuses it.  Besides the majors, X0000 ... X9999 exist so that thousands of markets can be load-tested.
MAJORS = ("BTC", "XBT", "ETH", "SOL", "XRP", "ADA", "DOGE", "LTC", "DOT", "LINK", "AVAX", "BNB", "TRX", "TON")
QUOTES = ("USDT", "USDC", "USD", "EUR", "BTC", "ETH")
_SYNTH = re.compile(r"X\d{4}")


def known_base(base: str) -> bool:
    b = base.upper()
    return b in MAJORS or bool(_SYNTH.fullmatch(b))


def known_quote(quote: str) -> bool:
    return quote.upper() in QUOTES


def split_concat(symbol: str) -> tuple[str, str] | None:
    """``BTCUSDT`` -> ("BTC", "USDT") when both are listed (the longest listed quote that fits)."""
    s = symbol.upper()
    for q in sorted(QUOTES, key=len, reverse=True):
        if s.endswith(q) and len(s) > len(q) and known_base(s[:-len(q)]):
            return s[:-len(q)], q
    return None


def split_sep(symbol: str, sep: str) -> tuple[str, str] | None:
    """``BTC-USD`` (``sep`` "-") -> ("BTC", "USD") when both are listed."""
    base, s, quote = symbol.upper().partition(sep)
    if s and known_base(base) and known_quote(quote):
        return base, quote
    return None


def base_price(symbol: str) -> float:
    s = symbol.upper()
    if s.startswith(("BTC", "XBT")):
        return 60000.0
    if s.startswith("ETH"):
        return 3000.0
    return 1.0 + zlib.crc32(s.encode()) % 1000


class SimBook:
    """One symbol's book on one protocol style, and the random process that moves it."""

    def __init__(self, style: str, symbol: str, rng: random.Random, qty_decimals: int = 3,
                 qty_mean: float = 5.0, price_decimals: int | None = None) -> None:
        self.style = style
        self.symbol = symbol
        self.rng = rng
        price = base_price(symbol)
        # price decimals: ~6 significant digits unless the protocol fixes them
        self.pd = max(1, 5 - int(math.log10(price))) if price_decimals is None else price_decimals
        self.tick = 10.0 ** -self.pd
        self.qd = qty_decimals
        self.qmean = qty_mean
        self.book = Book()
        self.seq = 1_000_000  # update id of the last change (Binance style)
        self.trade_id = 1
        mid = int(round(price / self.tick))
        b, a = mid - 1, mid + 1
        for _ in range(START_LEVELS):
            self._set(0, b, self._qty())
            self._set(1, a, self._qty())
            b -= rng.randint(1, 3)
            a += rng.randint(1, 3)

    # ---- texts
    def ptext(self, ticks: int) -> str:
        return f"{ticks * self.tick:.{self.pd}f}"

    def qtext(self, q: float) -> str:
        return f"{q:.{self.qd}f}"

    def _qty(self) -> float:
        unit = 10.0 ** -self.qd
        return max(unit, round(self.rng.expovariate(1.0 / self.qmean), self.qd))

    def _side(self, s: int):
        return self.book.bids if s == 0 else self.book.asks

    def _ticks(self, s: int, key: float) -> int:
        return int(round(key * (1.0 if s == 0 else -1.0) / self.tick))

    def _set(self, s: int, ticks: int, q: float) -> tuple[int, str, str]:
        pt = self.ptext(ticks)
        qt = self.qtext(q)
        self._side(s).set(float(pt), pt, qt, float(qt))
        return (s, pt, qt)

    def _level_at(self, s: int, idx: int) -> tuple[float, tuple[str, str, float]]:
        side = self._side(s)
        key = side.keys[-1 - idx]
        return key, side.levels[key]

    # ---- the random process
    def step(self) -> tuple[list[tuple[int, str, str]], tuple[str, str, str] | None]:
        """One market event: (changes [(side, price text, size text)], trade (side, price, size) | None)."""
        rng = self.rng
        changes: list[tuple[int, str, str]] = []
        trade = None
        r = rng.random()
        s = 0 if rng.random() < 0.5 else 1
        side = self._side(s)
        n = len(side)
        idx = min(int(rng.expovariate(0.35)), n - 1)
        if r < 0.08:
            # a market order takes from the best level of the other side
            taker = "buy" if s == 1 else "sell"
            key, (pt, qt, q) = self._level_at(s, 0)
            take = round(q * rng.uniform(0.1, 1.3), self.qd)
            if take >= q or take <= 0:
                take = q
            trade = (taker, pt, self.qtext(take))
            changes.append(self._set(s, self._ticks(s, key), 0.0 if take >= q else q - take))
        elif r < 0.22:
            best_b = self._ticks(0, self.book.bids.keys[-1])
            best_a = self._ticks(1, self.book.asks.keys[-1])
            if best_a - best_b > 1 and rng.random() < 0.5:
                t = rng.randint(best_b + 1, best_a - 1)  # inside the spread
            else:
                k1, _ = self._level_at(s, idx)
                t = self._ticks(s, k1) + (-1 if s == 0 else 1) * rng.randint(1, 2)
            changes.append(self._set(s, t, self._qty()))  # a new level (or new size if it exists)
        elif r < 0.32 and n > MIN_LEVELS:
            key, _ = self._level_at(s, idx)
            changes.append(self._set(s, self._ticks(s, key), 0.0))
        else:
            key, (pt, qt, q) = self._level_at(s, idx)
            changes.append(self._set(s, self._ticks(s, key), self._qty()))
        # keep each side between MIN_LEVELS and MAX_LEVELS
        n = len(side)
        if n < MIN_LEVELS:
            worst = self._ticks(s, side.keys[0])
            changes.append(self._set(s, worst + (-1 if s == 0 else 1) * rng.randint(1, 3), self._qty()))
        elif n > MAX_LEVELS:
            changes.append(self._set(s, self._ticks(s, side.keys[0]), 0.0))
        self.seq += 1
        return changes, trade

    def snapshot_levels(self, depth: int) -> tuple[list, list]:
        return self.book.bids.top(depth), self.book.asks.top(depth)


