"""A second reader of the viewer protocol, written from the README's description alone ("The viewer protocol"):
plain ``websockets`` and ``json``, no wstui import.  It keeps the monitor's state as plain dicts."""

from __future__ import annotations

import json

from websockets.asyncio.client import connect


class Reader:
    def __init__(self, url: str, *, focus=None, fps: float = 10, protocol: str = "1.0", token: str | None = None,
                 book_depth: int | None = None) -> None:
        self.url = url
        self.focus = focus
        self.fps = fps
        self.protocol = protocol
        self.token = token
        self.book_depth = book_depth
        self.ws = None
        self.hello: dict | None = None
        self.snapshot: dict = {}
        self.streams: dict[str, dict] = {}
        self.connections: dict[str, dict] = {}
        self.events: list[list] = []
        self.events_total = 0
        self.states = 0
        self.last: dict | None = None

    async def __aenter__(self) -> "Reader":
        self.ws = await connect(self.url, proxy=None).__aenter__()
        hello = {"type": "hello", "protocol": self.protocol, "fps": self.fps, "focus": self.focus}
        if self.token is not None:
            hello["token"] = self.token
        if self.book_depth is not None:
            hello["book_depth"] = self.book_depth
        await self.ws.send(json.dumps(hello))
        self.hello = json.loads(await self.ws.recv())
        return self

    async def __aexit__(self, *exc) -> None:
        await self.ws.close()

    async def set_focus(self, focus) -> None:
        await self.ws.send(json.dumps({"type": "focus", "focus": focus}))

    async def next_state(self) -> dict:
        """Read messages until a state, apply it, return it."""
        while True:
            msg = json.loads(await self.ws.recv())
            if msg["type"] == "error":
                raise RuntimeError(msg["error"])
            if msg["type"] == "state":
                break
        if msg["full"]:
            self.snapshot, self.streams, self.connections, self.events = {}, {}, {}, []
        self.snapshot.update(msg["snapshot"])
        for s in msg["streams"]:
            self.streams.setdefault(s["key"], {}).update(s)
        for k in msg.get("removed", []):
            self.streams.pop(k, None)
        for c in msg["connections"]:
            self.connections.setdefault(c["conn"], {}).update(c)
        for k in msg.get("connections_removed", []):
            self.connections.pop(k, None)
        self.events.extend(msg["events"])
        self.events_total = msg["events_total"]
        self.states += 1
        self.last = msg
        return msg
