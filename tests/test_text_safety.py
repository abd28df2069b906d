"""Feed and file text reaching a terminal: control characters neutralised, invisible characters shown
visibly (a symbol cannot pass for another), widths measured in terminal cells."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from rich.cells import cell_len as rich_cell_len

from conftest import ROOT, write_records
from wstui.core.text import cell_len, clean

INVISIBLE = ["\ufeff", "\u2060", "\u2061", "\u2062", "\u2063", "\u2064", "\u180e", "\u00ad", "\u034f", "\u061c",
             "\U000e0041", "\U000e007f", "\U000e0001", "\u200b", "\u200d", "\u202e", "\u2066"]


@pytest.mark.parametrize("ch", INVISIBLE)
def test_invisible_characters_are_shown_visibly(ch):
    out = clean(f"BTC{ch}USD")
    assert ch not in out
    assert out == f"BTC\\u{ord(ch):04x}USD" if ord(ch) <= 0xFFFF else out == f"BTC\\U{ord(ch):08x}USD"
    assert clean("BTCUSD") != out  # the lookalike no longer looks alike


def test_control_characters_still_neutralised():
    assert clean("a\x1b]0;pwned\x07b\nc") == "a?]0;pwned?b c"


@pytest.mark.parametrize("text", ["ＢＴＣ／ＵＳＤ", "比特币/USDT", "BTC/USD", "ｂｔｃ😀x", "e\u0301"])
def test_cell_len_agrees_with_rich(text):
    assert cell_len(text) == rich_cell_len(text)


def test_limit_is_in_cells():
    s = clean("ＢＴＣ／ＵＳＤＴＴＴＴ", 10)
    assert cell_len(s) <= 10 and s.endswith("…")
    assert clean("BTC/USD", 10) == "BTC/USD"


def test_headless_text_summary_escapes_file_name_and_aligns_fullwidth(tmp_path):
    t0 = 1_700_000_000.0
    evil = tmp_path / "x\x1b]0;pwned\x07y.jsonl.gz"
    sub = {"type": "subscribe", "subscriptions": [{"name": "l2", "symbols": ["ＢＴＣＵＳＤ", "BTCUSD"]}]}
    recs = [{"t": "connect", "conn": "G", "ts": t0, "addr": "wss://api.gemini.com/v2/marketdata"},
            {"t": "send", "conn": "G", "ts": t0, "data": json.dumps(sub)},
            {"t": "recv", "conn": "G", "ts": t0 + 1, "data": "not json"}]
    for sym in ("ＢＴＣＵＳＤ", "BTCUSD"):
        recs.append({"t": "recv", "conn": "G", "ts": t0 + 1, "data": json.dumps(
            {"type": "l2_updates", "symbol": sym, "changes": [["buy", "1", "1"], ["sell", "2", "1"]]})})
    recs.append({"t": "bogus", "conn": "G", "ts": t0 + 2})
    write_records(evil, recs)
    p = subprocess.run([sys.executable, "-m", "wstui", "replay", str(evil), "--headless", "--speed", "max"],
                       capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    assert "\x1b" not in p.stdout and "\x07" not in p.stdout, repr(p.stdout[:300])
    assert "pwned" in p.stdout  # shown, harmless
    rows = [ln for ln in p.stdout.splitlines() if ln.startswith("gemini:")]
    assert len(rows) == 4
    # every column starts at the same terminal cell in every row
    state_col = {rich_cell_len(r[: r.index(" ended")]) for r in rows}
    assert len(state_col) == 1, rows


async def test_fullwidth_symbols_keep_the_streams_table_columns(tmp_path):
    """Under Textual's Pilot: a fullwidth symbol (two cells a character) and a symbol with an invisible
    character line up with the others; the invisible one is shown visibly."""

    from wstui.engine import Engine
    from wstui.io.replay import Replay
    from wstui.ui.app import WstuiApp
    from wstui.ui.widgets.streams import StreamsTable

    t0 = 1_700_000_000.0
    syms = ["ＢＴＣＵＳＤＴＴＴＴＴＴＴＴＴＴＴＴＴ", "BTC\u200bUSD", "BTCUSD"]
    sub = {"type": "subscribe", "subscriptions": [{"name": "l2", "symbols": syms}]}
    recs = [{"t": "connect", "conn": "G", "ts": t0, "addr": "wss://api.gemini.com/v2/marketdata"},
            {"t": "send", "conn": "G", "ts": t0, "data": json.dumps(sub)}]
    for sym in syms:
        recs.append({"t": "recv", "conn": "G", "ts": t0 + 1, "data": json.dumps(
            {"type": "l2_updates", "symbol": sym, "changes": [["buy", "1", "1"], ["sell", "2", "1"]]})})
    path = write_records(tmp_path / "wide.jsonl.gz", recs)
    app = WstuiApp(Engine(file=str(path)), Replay(path, speed=None), fps=20.0, engine_mode="task")
    async with app.run_test(size=(140, 40)) as pilot:
        for _ in range(200):
            if app.snap is not None and app.snap.ended:
                break
            await pilot.pause(0.05)
        await pilot.pause(0.2)
        rows = [r for r in app.query_one(StreamsTable).rows_text if r.lstrip().startswith("gemini")]
    assert len(rows) == 6, rows
    assert any("BTC\\u200bUSD" in r for r in rows)
    # the state column ("ended") starts at the same terminal cell on every row
    starts = {rich_cell_len(r[: r.index("ended")]) for r in rows}
    assert len(starts) == 1, rows
