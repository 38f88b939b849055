"""A JSON encoding that keeps what pytest's serialized reports hold: tuples, bytes, any keys.

pytest's ``pytest_report_to_serializable`` returns builtin values (dicts, lists,
tuples, strings, numbers) and relies on the transport to give them back as they
were: pytest-xdist's execnet keeps tuples, and pytest asserts that a skip's
``longrepr`` is a ``(path, lineno, reason)`` tuple. Plain JSON turns tuples into
lists, so every value here is written with a tag where JSON alone would lose its
type:

=====================  ====================================
value                  encoded as
=====================  ====================================
str, int, bool, None   itself
float                  itself (``NaN``, ``Infinity`` as Python's json writes them)
list                   a JSON list of encoded items
tuple                  ``{"t": [items]}``
dict                   ``{"d": [[key, value], ...]}`` (keys of any encodable type)
set, frozenset         ``{"s": [items]}``, ``{"f": [items]}``
bytes                  ``{"b": "latin-1 text"}``
complex                ``{"c": [real, imag]}``
anything else          ``{"o": str(value)}``, decoded as that string
=====================  ====================================

Every dict is tagged, so no value can pass for a tag. Decoding builds only these
builtin values: nothing the sandboxed child wrote can run code in the main process
(which is why this is not pickle).
"""

from __future__ import annotations

import json
from typing import Any

#: Containers nested deeper than this are written as their ``str`` (a cycle, or a runaway value).
MAX_DEPTH = 200


class DecodeError(ValueError):
    """The text is not a value this module wrote."""


def dumps(value: Any) -> str:
    """``value`` as one line of JSON (no newline in it)."""
    return json.dumps(encode(value), separators=(",", ":"))


def loads(text: str | bytes) -> Any:
    """The value :func:`dumps` wrote; :class:`DecodeError` if ``text`` is not such a value."""
    try:
        return json.loads(text, object_hook=_untag)  # inner objects first: each tag's body is decoded
    except (ValueError, TypeError, RecursionError) as exc:
        raise DecodeError(str(exc)) from None


def encode(value: Any, depth: int = 0) -> Any:
    """``value`` as a JSON-ready structure (see the module's table)."""
    kind = type(value)
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value
    if depth >= MAX_DEPTH:
        return {"o": _text(value)}
    depth += 1
    if kind is list:
        return [encode(v, depth) for v in value]
    if kind is tuple:
        return {"t": [encode(v, depth) for v in value]}
    if kind is dict:
        return {"d": [[encode(k, depth), encode(v, depth)] for k, v in value.items()]}
    return _encode_other(value, depth)


def _encode_other(value: Any, depth: int) -> Any:
    """Subclasses of the builtin types, and the rarer types."""
    if isinstance(value, (str, int, float)):  # enums and the like: the plain value, as JSON writes it
        return _plain(value)
    if isinstance(value, list):
        return [encode(v, depth) for v in value]
    if isinstance(value, tuple):
        return {"t": [encode(v, depth) for v in value]}
    if isinstance(value, dict):
        return {"d": [[encode(k, depth), encode(v, depth)] for k, v in value.items()]}
    if isinstance(value, frozenset):
        return {"f": [encode(v, depth) for v in value]}
    if isinstance(value, set):
        return {"s": [encode(v, depth) for v in value]}
    if isinstance(value, (bytes, bytearray)):
        return {"b": bytes(value).decode("latin-1")}
    if isinstance(value, complex):
        return {"c": [value.real, value.imag]}
    return {"o": _text(value)}


def decode(data: Any) -> Any:
    """The value :func:`encode` made ``data`` from; :class:`DecodeError` on anything else."""
    if isinstance(data, list):
        return [decode(v) for v in data]
    if isinstance(data, dict):
        return _untag({k: decode(v) for k, v in data.items()})
    return data


def _untag(data: dict[str, Any]) -> Any:
    """One tagged object (its body decoded already) as the value it stands for."""
    if len(data) != 1:
        raise DecodeError(f"not an encoded value: {data!r:.80}")
    [(tag, body)] = data.items()
    if tag == "o" and isinstance(body, str):
        return body
    if tag == "b" and isinstance(body, str):
        return body.encode("latin-1")
    if not isinstance(body, list):
        raise DecodeError(f"bad body for tag {tag!r}")
    if tag == "t":
        return tuple(body)
    if tag == "d":
        result = {}
        for pair in body:
            if not isinstance(pair, list) or len(pair) != 2:
                raise DecodeError("a dict entry is not a [key, value] pair")
            result[_hashable(pair[0])] = pair[1]
        return result
    if tag == "s":
        return {_hashable(v) for v in body}
    if tag == "f":
        return frozenset(_hashable(v) for v in body)
    if tag == "c" and len(body) == 2 and all(isinstance(v, (int, float)) for v in body):
        return complex(body[0], body[1])
    raise DecodeError(f"unknown tag {tag!r}")


def _plain(value: Any) -> Any:
    """An int, float or str subclass's value as the plain type."""
    for kind in (int, float, str):
        if isinstance(value, kind):
            return kind(value)
    raise AssertionError(value)  # pragma: no cover - only called for those types


def _text(value: Any) -> str:
    try:
        return str(value)
    except Exception as exc:  # a broken __str__ must not lose the whole report
        return f"<{type(value).__name__} object: str() failed: {exc!r}>"


def _hashable(value: Any) -> Any:
    try:
        hash(value)
    except TypeError:
        raise DecodeError(f"unhashable key {value!r:.80}") from None
    return value
