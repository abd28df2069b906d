"""Reconnect pacing."""

from __future__ import annotations

import random

from .spec import SpecError


class Backoff:
    """Capped exponential backoff with "equal jitter": the n-th delay after consecutive failures lies
    in ``[c/2, c]`` with ``c = min(cap, base * factor**n)``."""

    def __init__(self, base: float = 0.5, cap: float = 30.0, factor: float = 2.0,
                 rng=random.random) -> None:
        if not (0 < base <= cap) or factor < 1:
            raise SpecError(f"backoff needs 0 < base <= cap and factor >= 1 (base={base}, cap={cap})")
        self.base = base
        self.cap = cap
        self.factor = factor
        self.n = 0
        self._rng = rng

    def bounds(self, n: int) -> tuple[float, float]:
        c = min(self.cap, self.base * self.factor ** min(n, 64))
        return c / 2.0, c

    def next(self) -> float:
        lo, hi = self.bounds(self.n)
        self.n += 1
        return lo + (hi - lo) * self._rng()

    def reset(self) -> None:
        self.n = 0


