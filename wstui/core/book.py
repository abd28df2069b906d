"""A price-level order book that keeps the exchange's own number text.

Each side is a plain Python list of float keys kept sorted with ``bisect`` plus a dict from key to the
level.  Keys are arranged so that the *best* level of either side sits at the end of its list
(bids: key = price, asks: key = -price).  Most activity happens near the top of a book, so inserts and
deletes there move little memory, and a top-N read is one slice.  ``bench/book_ops.py`` measured it
against ``sortedcontainers.SortedDict``: a remove-and-add near the top costs 0.16-0.5 us against
0.5-0.8 us, a top-20 read 0.9 us against 2.1 us; only far down a 50,000-level book is it slower
(3.7 us against 1.1 us per change, the memmove of a long list).

A level is stored as ``(price_text, size_text, size_float)``: prices and sizes are shown and checksummed
exactly as the exchange wrote them (Kraken's checksum needs trailing zeros a float would lose).

Every way into a book validates what it is given, so that no venue adapter can forget to: a level is a
list or tuple of at least (price text, size text), both ``str``; the price a finite number > 0, the size a
finite number >= 0.  Anything else (``NaN``, ``Infinity``, ``1e400``, ``-5``, ``5`` as a JSON number,
``"95"`` where a pair belongs) raises :class:`BadLevel` naming the side it was meant for, and the engine
turns that into a counted rejection on the stream that owns the side, its book marked out of sync.  A NaN
key would otherwise break the sorted order for good (a later delete removes the wrong key).
"""

from __future__ import annotations

from bisect import bisect_left, insort
from typing import Iterable, Sequence

Level = tuple[str, str, float]  # (price text, size text, size)

BID = 0
ASK = 1
INF = float("inf")


class BadLevel(ValueError):
    """A level no book may hold.  ``side`` is the :class:`BookSide` it was meant for (None: not known)."""

    def __init__(self, why: str, side: "BookSide | None" = None, stream: object = None) -> None:
        super().__init__(why)
        self.side = side
        self.stream = stream  # set instead of ``side`` for values that are not book levels (trades)


def _why(lv: object) -> str:
    """Why ``lv`` is not a valid level (the slow path, only once a level was refused)."""
    if type(lv) is not list and type(lv) is not tuple:
        return f"level is a {type(lv).__name__}, not a [price, size] list: {str(lv)[:60]!r}"
    if len(lv) < 2:
        return f"level has {len(lv)} element(s), not [price, size]: {str(lv)[:60]!r}"
    p, s = lv[0], lv[1]
    for what, v in (("price", p), ("size", s)):
        if type(v) is not str:
            return f"{what} is a {type(v).__name__}, not text: {str(v)[:40]!r}"
        try:
            float(v)
        except ValueError:
            return f"{what} is not a number: {v[:40]!r}"
    return invalid_numbers(float(p), float(s), p, s) or f"invalid level {str(lv)[:60]!r}"


def invalid_numbers(price: float, size: float, price_text: object = None, size_text: object = None) -> str:
    """Why (price, size) cannot be a level ("" when they can)."""
    pt = str(price if price_text is None else price_text)[:40]
    st = str(size if size_text is None else size_text)[:40]
    if not 0.0 < price < INF:
        return f"invalid price {pt!r} (not a finite number > 0)"
    if not 0.0 <= size < INF:
        return f"invalid size {st!r} (not a finite number >= 0)"
    if type(price_text) is not str or type(size_text) is not str:
        return f"price/size not text: {pt!r} {st!r}"
    return ""


class BookSide:
    """One side of a book.  ``keys`` ascend; the best level is ``keys[-1]``."""

    __slots__ = ("keys", "levels", "sign")

    def __init__(self, sign: float) -> None:
        self.sign = sign  # +1.0 for bids, -1.0 for asks
        self.keys: list[float] = []
        self.levels: dict[float, Level] = {}

    def __len__(self) -> int:
        return len(self.keys)

    def clear(self) -> None:
        self.keys.clear()
        self.levels.clear()

    def set(self, price: float, price_text: str, size_text: str, size: float) -> None:
        """Set a level; a size of zero removes it.  Raises :class:`BadLevel` for an invalid one."""
        if not (0.0 < price < INF and 0.0 <= size < INF) or type(price_text) is not str \
                or type(size_text) is not str:
            raise BadLevel(invalid_numbers(price, size, price_text, size_text), self)
        key = price * self.sign
        levels = self.levels
        if size == 0.0:
            if key in levels:
                del levels[key]
                keys = self.keys
                i = bisect_left(keys, key)
                del keys[i]
            return
        if key not in levels:
            keys = self.keys
            if not keys or key > keys[-1]:
                keys.append(key)
            else:
                keys.insert(bisect_left(keys, key), key)
        levels[key] = (price_text, size_text, size)

    def set_text(self, price_text: str, size_text: str) -> None:
        """Set a level given as text (size 0 removes it); :class:`BadLevel` when it is no level."""
        try:
            p = float(price_text)
            q = float(size_text)
        except (TypeError, ValueError):
            raise BadLevel(_why((price_text, size_text)), self) from None
        self.set(p, price_text, size_text, q)

    def update(self, items: Iterable[Sequence[str]]) -> None:
        """Apply ``(price_text, size_text, ...)`` changes in order (elements after the size, such as
        timestamps or order counts, are ignored); a size of zero removes the level.  The body of
        :meth:`set` inlined: one call per message instead of one per level (Bybit's hot path).

        Raises :class:`BadLevel` at the first invalid level; the ones before it stay applied (the caller
        marks the book out of sync)."""
        sign = self.sign
        levels = self.levels
        keys = self.keys
        for lv in items:
            if (type(lv) is not list and type(lv) is not tuple) or len(lv) < 2:
                raise BadLevel(_why(lv), self)
            p = lv[0]
            s = lv[1]
            if type(p) is not str or type(s) is not str:
                raise BadLevel(_why(lv), self)
            try:
                pf = float(p)
                q = float(s)
            except ValueError:
                raise BadLevel(_why(lv), self) from None
            if not (0.0 < pf < INF and 0.0 <= q < INF):
                raise BadLevel(_why(lv), self)
            key = pf * sign
            if q == 0.0:
                if key in levels:
                    del levels[key]
                    del keys[bisect_left(keys, key)]
            else:
                if key not in levels:
                    if not keys or key > keys[-1]:
                        keys.append(key)
                    else:
                        insort(keys, key)
                levels[key] = (p, s, q)

    def replace(self, levels: dict[float, Level]) -> None:
        """Replace the whole side with ``levels`` keyed as this side keys them (``price * sign``), zero
        sizes already left out: one sort, for snapshots (Coinbase sends ~46,000 levels)."""
        self.levels = levels
        self.keys = sorted(levels)

    def remove(self, price: float) -> bool:
        key = price * self.sign
        if key in self.levels:
            del self.levels[key]
            del self.keys[bisect_left(self.keys, key)]
            return True
        return False

    def best_price(self) -> float | None:
        return self.keys[-1] * self.sign if self.keys else None

    def top(self, n: int) -> list[Level]:
        """The ``n`` best levels, best first."""
        levels = self.levels
        keys = self.keys
        start = len(keys) - n
        if start < 0:
            start = 0
        return [levels[k] for k in reversed(keys[start:])]

    def truncate(self, depth: int) -> None:
        """Keep only the ``depth`` best levels."""
        keys = self.keys
        extra = len(keys) - depth
        if extra > 0:
            levels = self.levels
            for k in keys[:extra]:
                del levels[k]
            del keys[:extra]


class Book:
    """An order book: two sides plus bookkeeping for snapshots/updates."""

    __slots__ = ("bids", "asks", "updates")

    def __init__(self) -> None:
        self.bids = BookSide(1.0)
        self.asks = BookSide(-1.0)
        self.updates = 0

    def clear(self) -> None:
        self.bids.clear()
        self.asks.clear()

    def side(self, side: int) -> BookSide:
        return self.bids if side == BID else self.asks

    def load(self, bids: Iterable[Sequence[str]], asks: Iterable[Sequence[str]]) -> None:
        """Replace the whole book with ``[(price_text, size_text, ...), ...]`` per side (zero sizes
        skipped; elements after the size are ignored).  All or nothing: an invalid level raises
        :class:`BadLevel` and leaves the book as it was."""
        new = []
        for pairs, side in ((bids, self.bids), (asks, self.asks)):
            sign = side.sign
            levels = {}
            for lv in pairs:
                if (type(lv) is not list and type(lv) is not tuple) or len(lv) < 2:
                    raise BadLevel(_why(lv), side)
                p = lv[0]
                s = lv[1]
                if type(p) is not str or type(s) is not str:
                    raise BadLevel(_why(lv), side)
                try:
                    pf = float(p)
                    q = float(s)
                except ValueError:
                    raise BadLevel(_why(lv), side) from None
                if not (0.0 < pf < INF and 0.0 <= q < INF):
                    raise BadLevel(_why(lv), side)
                if q != 0.0:
                    levels[pf * sign] = (p, s, q)
            new.append(levels)
        self.bids.replace(new[0])
        self.asks.replace(new[1])

    def apply(self, side: int, price_text: str, size_text: str) -> None:
        """Apply one level change given as text; size 0 removes the level."""
        (self.bids if side == BID else self.asks).set_text(price_text, size_text)

    def best_bid(self) -> float | None:
        return self.bids.best_price()

    def best_ask(self) -> float | None:
        return self.asks.best_price()

    def crossed(self) -> bool:
        bk = self.bids.keys
        ak = self.asks.keys
        return bool(bk and ak) and bk[-1] >= -ak[-1]

    def truncate(self, depth: int) -> None:
        self.bids.truncate(depth)
        self.asks.truncate(depth)

    def top(self, n: int) -> tuple[list[Level], list[Level]]:
        return self.bids.top(n), self.asks.top(n)

    def __len__(self) -> int:
        return len(self.bids) + len(self.asks)
