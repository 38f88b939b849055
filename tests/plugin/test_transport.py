"""Reports cross from the test's child to the main process as they were made (tuples and all)."""

from __future__ import annotations

import math
import os

import pytest

from pytest_syscall_sandbox.plugin import transport


class _Odd:
    def __str__(self) -> str:
        return "an odd object"


@pytest.mark.parametrize(
    "value",
    [
        ("path.py", 5, "Skipped: why"),  # a skip's longrepr
        [("Captured stdout call", "out\n"), ("Captured log call", "")],  # sections
        {"location": ("a.py", None, "test_a"), "user_properties": [("k", (1, [2, (3,)]))]},
        {1: "int key", ("t", 1): "tuple key", None: "none key", "t": "a key that looks like a tag"},
        {"d": [[1, 2]], "t": [3]},  # a dict shaped like an encoded one stays a dict
        [b"\x00\xffbytes", bytearray(b"ba"), {1, 2}, frozenset({"f"}), 1 + 2j, 2**80, -0.5, "\udcff"],
        [True, False, None, 0, 1.0, "", [], (), {}],
    ],
)
def test_values_come_back_with_their_types(value: object) -> None:
    back = transport.loads(transport.dumps(value))
    assert back == value
    assert _types(back) == _types(_normalised(value))


def _normalised(value: object) -> object:
    if isinstance(value, bytearray):
        return bytes(value)
    if isinstance(value, list):
        return [_normalised(v) for v in value]
    return value


def _types(value: object) -> object:
    """The value's shape: the type of every part, recursively."""
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [_types(v) for v in value])
    if isinstance(value, dict):
        return ("dict", sorted((repr(_types(k)), repr(_types(v))) for k, v in value.items()))
    return type(value).__name__


def test_floats_that_json_cannot_spell_and_odd_objects() -> None:
    inf, nan, odd = transport.loads(transport.dumps([math.inf, math.nan, _Odd()]))
    assert inf == math.inf and math.isnan(nan)
    assert odd == "an odd object"  # an object the main process must not rebuild: its text


def test_a_cycle_does_not_recurse_forever() -> None:
    cycle: list[object] = []
    cycle.append(cycle)
    back = transport.loads(transport.dumps(cycle))
    depth = 0
    while isinstance(back, list):
        back, depth = back[0], depth + 1
    assert depth == transport.MAX_DEPTH and back == "[[...]]"


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1}',  # an untagged dict
        '{"t": [1], "d": []}',  # two tags
        '{"x": [1]}',  # an unknown tag
        '{"d": [[[1], 2]]}',  # an unhashable key
        '{"d": [1]}',  # not a pair
        '{"c": ["a", 1]}',
        "not json",
        '{"t": [1]',
    ],
)
def test_what_this_module_did_not_write_is_refused(text: str) -> None:
    with pytest.raises(transport.DecodeError):
        transport.loads(text)


def test_nothing_the_child_writes_is_run_or_imported() -> None:
    # Class-like and pickle-like payloads come back as the inert data they are.
    payload = {"o": "os.system('touch pwned')"}
    assert transport.decode({"d": [["__reduce__", payload]]}) == {"__reduce__": "os.system('touch pwned')"}
    assert not os.path.exists("pwned")
