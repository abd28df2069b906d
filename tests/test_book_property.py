"""Property-based: random snapshots and deltas through the Book agree with a naive dict model."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from wstui.core.book import ASK, BID, Book

prices = st.integers(min_value=1, max_value=400).map(lambda i: f"{i / 4:.2f}")
positive = st.integers(1, 10**6).map(lambda i: f"{i / 1000:.3f}")
sizes = st.one_of(st.just("0"), st.just("0.000"), positive)
levels = st.lists(st.tuples(prices, positive), max_size=40)
deltas = st.lists(st.tuples(st.sampled_from([BID, ASK]), prices, sizes), max_size=200)


class Naive:
    def __init__(self):
        self.side = {BID: {}, ASK: {}}

    def load(self, bids, asks):
        self.side = {BID: {}, ASK: {}}
        for s, lv in ((BID, bids), (ASK, asks)):
            for p, q in lv:
                self.apply(s, p, q)

    def apply(self, s, p, q):
        if float(q) == 0:
            self.side[s].pop(float(p), None)
        else:
            self.side[s][float(p)] = (p, q)

    def top(self, s, n):
        keys = sorted(self.side[s], reverse=(s == BID))[:n]
        return [self.side[s][k] for k in keys]

    def truncate(self, depth):
        for s in (BID, ASK):
            for k in sorted(self.side[s], reverse=(s == BID))[depth:]:
                del self.side[s][k]


@settings(max_examples=300, deadline=None)
@given(bids=levels, asks=levels, ops=deltas, depth=st.one_of(st.none(), st.integers(1, 30)),
       resnap=st.integers(0, 200))
def test_book_matches_naive_model(bids, asks, ops, depth, resnap):
    book, ref = Book(), Naive()
    book.load(bids, asks)
    ref.load(bids, asks)
    for i, (side, p, q) in enumerate(ops):
        if i == resnap:  # a snapshot in the middle resets everything
            book.load(asks, bids)
            ref.load(asks, bids)
        book.apply(side, p, q)
        ref.apply(side, p, q)
        if depth is not None:
            book.truncate(depth)
            ref.truncate(depth)
        for s, name in ((BID, "bids"), (ASK, "asks")):
            got = [(pt, qt) for pt, qt, _ in book.side(s).top(50)]
            assert got == ref.top(s, 50), name
            assert len(book.side(s)) == len(ref.side[s])
        bb, ba = book.best_bid(), book.best_ask()
        rb = max(ref.side[BID], default=None)
        ra = min(ref.side[ASK], default=None)
        assert (bb, ba) == (rb, ra)
        assert book.crossed() == (rb is not None and ra is not None and rb >= ra)
