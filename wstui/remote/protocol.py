"""The viewer protocol: a monitor's snapshots as JSON over a WebSocket (see README, "Attaching to a running
monitor").

Encoding is generic: a frozen dataclass (:class:`StreamView`, :class:`ConnView`, :class:`Snapshot`) travels as
an object of its fields, a named tuple (:class:`Event`, :class:`Problem`, :class:`Trade`) as an array of its
fields in order, a tuple as an array, bytes as ``{"b64": ...}``.  Decoding is driven by the dataclasses' own
type hints, so a field another part of wstui adds travels without a change here, and a value of the wrong
type (a hostile or broken monitor) is a :class:`ProtocolError`, never a crash further on.

Compatibility: the ``protocol`` version is ``MAJOR.MINOR``.  A reader refuses another major version; within
a major version unknown fields are ignored and missing ones take their defaults (a newer or older monitor).
"""

from __future__ import annotations

import base64
import dataclasses
import types
import typing
from typing import Any, Callable

import orjson

from ..core.snapshot import ConnView, Snapshot, StreamView
from ..core.stream import Event

VERSION = "1.0"
MAJOR = 1

# the Snapshot fields sent as their own parts of a state message (the rest go in "snapshot")
PARTS = ("streams", "connections", "events", "events_total")
BOOK_FIELDS = ("bids", "asks", "trades")  # only for streams in the viewer's focus


class ProtocolError(ValueError):
    """A message that does not follow the protocol (its text says what was wrong)."""


def major_of(version: Any) -> int | None:
    if not isinstance(version, str):
        return None
    head = version.split(".", 1)[0]
    return int(head) if head.isdigit() else None


# ------------------------------------------------------------------ encoding
def _default(o: Any) -> Any:
    if isinstance(o, tuple):  # named tuples (Event, Problem, Trade): their fields in order
        return list(o)
    if isinstance(o, (bytes, bytearray, memoryview)):
        return {"b64": base64.b64encode(bytes(o)).decode("ascii")}
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        return {f.name: getattr(o, f.name) for f in dataclasses.fields(o)}
    if isinstance(o, (set, frozenset)):
        return sorted(o)
    raise TypeError(f"cannot encode {type(o).__name__}")


def dumps(msg: dict[str, Any]) -> bytes:
    """One message as JSON (UTF-8 bytes; sent as a text frame)."""
    return orjson.dumps(msg, default=_default)


def loads(data: str | bytes) -> dict[str, Any]:
    try:
        msg = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"not JSON: {exc}") from None
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        raise ProtocolError("a message is a JSON object with a \"type\"")
    return msg


def fields_of(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


STREAM_FIELDS = fields_of(StreamView)
CONN_FIELDS = fields_of(ConnView)
LOCAL = ("index",)  # a publisher's own lookup table: each side builds its own
SNAPSHOT_FIELDS = tuple(f for f in fields_of(Snapshot) if f not in PARTS and f not in LOCAL)


def stream_dict(v: StreamView, focused: bool) -> dict[str, Any]:
    d = {f: getattr(v, f) for f in STREAM_FIELDS}
    if not focused:
        for f in BOOK_FIELDS:
            d[f] = ()
    return d


def stream_delta(old: StreamView, old_focused: bool, new: StreamView, focused: bool) -> dict[str, Any] | None:
    """The fields of ``new`` that differ from ``old`` as the viewer got it (None: nothing), with its key."""
    out: dict[str, Any] = {}
    for f in STREAM_FIELDS:
        b = getattr(new, f)
        if not focused and f in BOOK_FIELDS:
            b = ()
        a = getattr(old, f)
        if not old_focused and f in BOOK_FIELDS:
            a = ()
        if a is b or a == b:
            continue
        out[f] = b
    if not out:
        return None
    out["key"] = new.key
    return out


def obj_delta(old: Any, new: Any, names: tuple[str, ...], key: str) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    for f in names:
        a, b = getattr(old, f), getattr(new, f)
        if a is b or a == b:
            continue
        out[f] = b
    if not out:
        return None
    out[key] = getattr(new, key)
    return out


# ------------------------------------------------------------------ decoding
Conv = Callable[[Any], Any]
_CONVS: dict[Any, Conv] = {}


def _bad(what: str, v: Any) -> ProtocolError:
    return ProtocolError(f"expected {what}, got {type(v).__name__} {str(v)[:40]!r}")


def _c_int(v: Any) -> int:
    if type(v) is int:
        return v
    raise _bad("an integer", v)


def _c_float(v: Any) -> float:
    t = type(v)
    if t is float:
        return v
    if t is int:
        return float(v)
    raise _bad("a number", v)


def _c_str(v: Any) -> str:
    if type(v) is str:
        return v
    raise _bad("text", v)


def _c_bool(v: Any) -> bool:
    if type(v) is bool:
        return v
    raise _bad("true or false", v)


def _c_bytes(v: Any) -> bytes:
    if isinstance(v, dict) and isinstance(v.get("b64"), str):
        try:
            return base64.b64decode(v["b64"], validate=True)
        except ValueError:
            pass
    raise _bad("bytes as {\"b64\": ...}", v)


def _c_any(v: Any) -> Any:
    return v


def converter(tp: Any) -> Conv:
    """A function turning a decoded JSON value into a value of type ``tp`` (or raising ProtocolError)."""
    hit = _CONVS.get(tp)
    if hit is not None:
        return hit
    conv = _make(tp)
    _CONVS[tp] = conv
    return conv


def _make(tp: Any) -> Conv:
    if tp is int:
        return _c_int
    if tp is float:
        return _c_float
    if tp is str:
        return _c_str
    if tp is bool:
        return _c_bool
    if tp is bytes:
        return _c_bytes
    if tp is type(None):
        def c_none(v: Any) -> None:
            if v is None:
                return None
            raise _bad("null", v)
        return c_none
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        convs = [converter(a) for a in args if a is not type(None)]
        nullable = type(None) in args

        def c_union(v: Any) -> Any:
            if v is None and nullable:
                return None
            for c in convs:
                try:
                    return c(v)
                except ProtocolError:
                    continue
            raise _bad(str(tp), v)
        return c_union
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            item = converter(args[0])

            def c_tuple(v: Any) -> tuple:
                if type(v) is not list:
                    raise _bad("an array", v)
                return tuple([item(x) for x in v])
            return c_tuple
        items = [converter(a) for a in args]

        def c_fixed(v: Any) -> tuple:
            if type(v) is not list or len(v) != len(items):
                raise _bad(f"an array of {len(items)}", v)
            return tuple([c(x) for c, x in zip(items, v)])
        return c_fixed
    if isinstance(tp, type) and issubclass(tp, tuple) and hasattr(tp, "_fields"):
        return _named_tuple(tp)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        convs = field_converters(tp)

        def c_dc(v: Any) -> Any:
            if type(v) is not dict:
                raise _bad(f"a {tp.__name__} object", v)
            return build(tp, v, convs)
        return c_dc
    return _c_any  # a type this protocol does not know: passed as decoded (a newer field's own type)


def _named_tuple(tp: type) -> Conv:
    th = hints(tp)
    names = tp._fields  # type: ignore[attr-defined]
    convs = [converter(th.get(n, Any)) for n in names]
    defaults = getattr(tp, "_field_defaults", {})
    need = sum(1 for n in names if n not in defaults)

    def c_nt(v: Any) -> Any:
        if type(v) is not list or len(v) < need:
            raise _bad(f"a {tp.__name__} array", v)
        return tp(*[c(x) for c, x in zip(convs, v)])  # extra items (a newer monitor's fields) ignored
    return c_nt


_FIELD_CONVS: dict[type, dict[str, Conv]] = {}


def hints(cls: type) -> dict[str, Any]:
    """``cls``'s field types, resolved in its module (not its own namespace: a field named ``bytes`` must
    not stand for the type ``bytes`` in another field's annotation)."""
    import sys

    return typing.get_type_hints(cls, globalns=vars(sys.modules[cls.__module__]), localns={})


def field_converters(cls: type) -> dict[str, Conv]:
    hit = _FIELD_CONVS.get(cls)
    if hit is None:
        th = hints(cls)
        hit = {f.name: converter(th.get(f.name, Any)) for f in dataclasses.fields(cls)}
        _FIELD_CONVS[cls] = hit
    return hit


def convert_fields(cls: type, d: dict[str, Any], convs: dict[str, Conv] | None = None) -> dict[str, Any]:
    """The known fields of ``d`` converted to ``cls``'s field types (unknown ones dropped)."""
    convs = convs or field_converters(cls)
    out = {}
    for k, v in d.items():
        c = convs.get(k)
        if c is None:
            continue
        try:
            out[k] = c(v)
        except ProtocolError as exc:
            raise ProtocolError(f"{cls.__name__}.{k}: {exc}") from None
    return out


def build(cls: type, d: dict[str, Any], convs: dict[str, Conv] | None = None) -> Any:
    try:
        return cls(**convert_fields(cls, d, convs))
    except TypeError as exc:  # a required field missing
        raise ProtocolError(f"{cls.__name__}: {exc}") from None


def decode_stream(d: Any) -> StreamView:
    if type(d) is not dict:
        raise _bad("a stream object", d)
    return build(StreamView, d)


def decode_conn(d: Any) -> ConnView:
    if type(d) is not dict:
        raise _bad("a connection object", d)
    return build(ConnView, d)


def decode_events(v: Any) -> list[Event]:
    if type(v) is not list:
        raise _bad("an array of events", v)
    c = converter(Event)
    return [c(x) for x in v]


def patch(obj: Any, d: dict[str, Any]) -> Any:
    """``obj`` with the fields in ``d`` replaced (converted to their types)."""
    ch = convert_fields(type(obj), d)
    return dataclasses.replace(obj, **ch) if ch else obj


__all__ = ["VERSION", "MAJOR", "ProtocolError", "dumps", "loads", "major_of", "stream_dict", "stream_delta",
           "obj_delta", "decode_stream", "decode_conn", "decode_events", "patch", "convert_fields", "build",
           "STREAM_FIELDS", "CONN_FIELDS", "SNAPSHOT_FIELDS"]
