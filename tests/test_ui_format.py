"""The UI's pure helpers: price grouping in exact units, number and time formatting."""

from __future__ import annotations

from conftest import real_feed, replay

from wstui.ui import fmt
from wstui.ui.widgets.ladder import book_status, group_side, group_steps, units_text


def test_grouping_is_exact_on_a_real_book():
    _, snap = replay(real_feed("kraken_v2_btcusd.jsonl.gz"))
    book = snap.stream("kraken:BTC/USD:book")
    # tick 0.5 (5 units of 0.1): bids round down, asks round up, sizes add up exactly per bucket
    bids = group_side(book.bids, 5, 1, True)
    asks = group_side(book.asks, 5, 1, False)
    assert bids[0][0] == "63418.0" and asks[0][0] == "63418.5"
    assert [p for p, _ in bids] == sorted({p for p, _ in bids}, key=float, reverse=True)
    assert abs(sum(q for _, q in bids) - sum(q for _, _, q in book.bids)) < 1e-9
    assert abs(sum(q for _, q in asks) - sum(q for _, _, q in book.asks)) < 1e-9
    first = sum(q for p, _, q in book.bids if float(p) >= 63418.0)
    assert abs(bids[0][1] - first) < 1e-12
    # tick 10 (100 units): the trailing ".0" is dropped since the tick has no decimals
    assert group_side(book.bids, 100, 1, True)[0][0] == "63410"


def test_grouping_never_shows_float_noise():
    levels = [("0.3", "1", 1.0), ("0.2", "1", 1.0), ("0.1", "2", 2.0)]
    assert group_side(levels, 2, 1, True) == [("0.2", 2.0), ("0.0", 2.0)]
    assert units_text(30000001, 8) == "0.30000001"
    assert group_steps(10)[:4] == [20, 50, 100, 200]
    assert group_steps(1)[:3] == [2, 5, 10]


def test_formatting():
    assert fmt.trim_number("9602.00000000") == "9602"
    assert fmt.trim_number("0.10493450") == "0.1049345"
    assert fmt.trim_number("100") == "100"
    assert fmt.qty(1234567.891, 8) == "1234568"
    assert fmt.qty(123456789012.0, 6) == "123.5B"
    assert len(fmt.qty(0.000012345678, 8)) <= 8
    assert fmt.size_text("0.00005100", 5.1e-05, 10) == "0.000051"
    assert fmt.clock(1626992771.2018) == "22:26:11.201"
    assert fmt.date_clock(1626992771.2018) == "2021-07-22 22:26:11.2 UTC"
    assert fmt.duration(31.02) == "0:31.0" and fmt.duration(3725) == "1:02:05"
    spark = fmt.sparkline((0, 2, 4, 8), 4)
    assert spark[0] == " " and spark[-1] == "█" and len(spark) == 4


def test_book_status_names_every_bad_condition():
    _, snap = replay(real_feed("kraken_v2_btcusd.jsonl.gz"))
    v = snap.stream("kraken:BTC/USD:book")
    from dataclasses import replace

    assert book_status(v) == ("■ ended", "dim", True)
    assert book_status(replace(v, state="live")) == ("● live", "ok", True)
    assert book_status(replace(v, state="quiet")) == ("◦ quiet", "ok", True)  # as its row says, not "live"
    assert book_status(replace(v, state="stale", last_age_s=7.25))[:2] == ("✖ STALE 7.2s", "bad")
    assert book_status(replace(v, book_state="out_of_sync", reason="gap: 5 missing"))[0].startswith("✖ OUT OF SYNC: gap")
    assert book_status(replace(v, state="live", crossed=True))[1:] == ("bad", False)
    assert book_status(replace(v, state="live", book_state="empty"))[2] is False
