"""The UI paces Python's garbage collector: once the streams hold still, what is alive is collected once
and frozen, so later collections look only at what was made since; every quarter hour everything is
thawed and collected in full (a frozen object that died in a reference cycle is not kept for ever)."""

from __future__ import annotations

import gc

from test_ui_app import FUTURES, make_app, until

from wstui.ui.gcpace import GcPacer


class FakeGc:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def collect(self) -> int:
        self.calls.append("collect")
        return 0

    def freeze(self) -> None:
        self.calls.append("freeze")

    def unfreeze(self) -> None:
        self.calls.append("unfreeze")


def test_the_pacer_freezes_once_the_streams_hold_still_refreezes_and_thaws_for_a_full_pass():
    now = [0.0]
    fake = FakeGc()
    p = GcPacer(settle_s=2.0, refreeze_s=60.0, full_s=900.0, clock=lambda: now[0], collector=fake)

    def run(until_t: float, streams: int) -> None:
        while now[0] < until_t:
            now[0] = round(now[0] + 0.1, 6)
            p.frame(streams)

    run(5.0, 0)  # no stream yet: nothing to set aside
    assert fake.calls == []
    run(6.0, 10)
    run(7.0, 400)  # streams still coming
    assert fake.calls == []
    run(9.05, 400)  # 2 s without a new stream: one full collection, then freeze
    assert fake.calls == ["unfreeze", "collect", "freeze"] and p.freezes == 1 and p.fulls == 1
    fake.calls.clear()
    run(69.05, 400)  # a minute later: the churn since is collected (frozen objects skipped), frozen again
    assert fake.calls == ["collect", "freeze"] and p.fulls == 1
    fake.calls.clear()
    run(70.0, 500)  # new streams: frozen with the next pass once they hold still, not a minute later
    assert fake.calls == []
    run(72.1, 500)
    assert fake.calls == ["collect", "freeze"]
    fake.calls.clear()
    run(910.0, 500)  # a quarter of an hour after the full pass: thaw, collect everything, freeze
    assert fake.calls.count("unfreeze") == 1 and p.fulls == 2
    assert fake.calls[fake.calls.index("unfreeze"):][:3] == ["unfreeze", "collect", "freeze"]
    fake.calls.clear()
    p.stop()
    assert fake.calls == ["unfreeze"]
    p.stop()  # (twice: nothing more)
    assert fake.calls == ["unfreeze"]


async def test_the_app_sets_the_live_objects_aside_and_gives_them_back_when_it_closes():
    app = make_app(FUTURES, speed=1.0, loops=0, mode="thread", fps=10.0)
    async with app.run_test(size=(100, 30)) as pilot:
        assert await until(pilot, lambda: app.gc_pacer.freezes >= 1, timeout=20.0)
        frozen = gc.get_freeze_count()
        # what a collection still looks at is a small part of what the process holds
        assert frozen > 20_000 and len(gc.get_objects()) < frozen / 3, (frozen, len(gc.get_objects()))
        assert app.snap is not None and app.snap.streams and app.gc_pacer.last_pause_s < 2.0
        await pilot.press("q")
    assert gc.get_freeze_count() == 0
