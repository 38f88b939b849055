"""Matchers and rules as values: construction, the Python model of each comparison, descriptions."""

from __future__ import annotations

import dataclasses

import pytest
from args_support import AF_NETLINK, NR, U32, U64

from pytest_syscall_sandbox import UnknownSyscallError
from pytest_syscall_sandbox.engine.rules import (
    MATCHER_TYPES,
    ArgAnySet,
    ArgEq,
    ArgGe,
    ArgGt,
    ArgLe,
    ArgLt,
    ArgMaskedEq,
    ArgNe,
    Rule,
    deciding_rule,
    evaluate,
    rules_by_number,
)
from pytest_syscall_sandbox.kernel.actions import ALLOW, ERRNO, KILL_PROCESS, TRAP

# (matcher, argument value, expected): the comparisons written out by hand
MODEL_CASES = [
    (ArgEq(0, 5), 5, True),
    (ArgEq(0, 5), 5 | 1 << 32, False),  # 64-bit: the high half counts
    (ArgEq(0, 5, width=32), 5 | 1 << 32, True),  # 32-bit: only the low half, as the kernel reads an int
    (ArgEq(0, -1), U64, True),
    (ArgEq(0, -100, width=32), U32 - 99, True),  # AT_FDCWD
    (ArgNe(0, 5), 4, True),
    (ArgNe(0, 5), 5, False),
    (ArgLt(0, 1 << 32), U32, True),
    (ArgLt(0, 1 << 32), 1 << 32, False),
    (ArgLt(0, 7), U64, False),  # unsigned: -1 is the largest value
    (ArgLe(0, 7), 7, True),
    (ArgLe(0, 7), 8, False),
    (ArgGt(0, 7), 8, True),
    (ArgGt(0, 7), 7, False),
    (ArgGt(0, (3 << 32) | 5), 4 << 32, True),  # higher high half, lower low half
    (ArgGt(0, (3 << 32) | 5), (3 << 32) | 4, False),
    (ArgGe(0, (3 << 32) | 5), (3 << 32) | 5, True),
    (ArgGe(0, (3 << 32) | 5), (2 << 32) | U32, False),
    (ArgMaskedEq(1, 0xF, 3), 3 | 0x80000 | 0x800, True),
    (ArgMaskedEq(1, 0xF, 3), 2, False),
    (ArgMaskedEq(1, 0xF << 32, 1 << 32), (1 << 32) | 0xFF, True),
    (ArgAnySet(0, 0x30), 0x10, True),
    (ArgAnySet(0, 0x30), 0x0F, False),
    (ArgAnySet(0, 1 << 40), 1 << 40, True),
    (ArgAnySet(0, 1 << 40, width=64), (1 << 40) - 1, False),
]


@pytest.mark.parametrize(("matcher", "value", "expected"), MODEL_CASES, ids=[f"{c[0]}@{c[1]:#x}" for c in MODEL_CASES])
def test_model(matcher: object, value: int, expected: bool) -> None:
    args = [0] * 6
    args[matcher.index] = value  # type: ignore[attr-defined]
    assert matcher.matches(args) is expected  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: ArgEq(6, 1), "argument index must be 0..5"),
        (lambda: ArgEq(-1, 1), "argument index must be 0..5"),
        (lambda: ArgEq(0, 1, width=16), "width must be 32 or 64"),
        (lambda: ArgEq(0, 1 << 64), "does not fit in 64 bits"),
        (lambda: ArgEq(0, 1 << 32, width=32), "does not fit in 32 bits"),
        (lambda: ArgLt(0, -(1 << 63) - 1), "does not fit in 64 bits"),
        (lambda: ArgMaskedEq(0, 0, 0), "mask 0 matches every value"),
        (lambda: ArgMaskedEq(0, 0xF, 0x10), "has bits outside mask"),
        (lambda: ArgAnySet(0, 0), "could never match"),
    ],
)
def test_bad_matchers_are_refused(build: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()  # type: ignore[operator]


def test_negative_constants_wrap_to_the_width() -> None:
    assert ArgEq(0, -1).value == U64
    assert ArgEq(0, -1, width=32).value == U32
    assert ArgMaskedEq(0, -1, -2).mask == U64


def test_matchers_are_immutable_and_compare_by_type() -> None:
    m = ArgEq(0, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.value = 2  # type: ignore[misc]
    assert ArgEq(0, 1) == ArgEq(0, 1)
    assert ArgEq(0, 1) != ArgNe(0, 1)
    assert len({ArgEq(0, 1), ArgEq(0, 1), ArgGe(0, 1)}) == 2


@pytest.mark.parametrize(
    ("matcher", "text"),
    [
        (ArgEq(0, AF_NETLINK, width=32, label="AF_NETLINK"), "(u32)args[0] == AF_NETLINK"),
        (ArgEq(2, 0x5412), "args[2] == 0x5412"),
        (ArgNe(1, 3), "args[1] != 3"),
        (ArgLt(3, 100), "args[3] < 0x64"),
        (ArgLe(3, 9), "args[3] <= 9"),
        (ArgGt(4, 1 << 32), "args[4] > 0x100000000"),
        (ArgGe(5, 0), "args[5] >= 0"),
        (ArgMaskedEq(1, 0xF, 3, width=32, label="SOCK_RAW"), "((u32)args[1] & 0xf) == SOCK_RAW"),
        (ArgAnySet(0, 0x7E020000, label="CLONE_NEW*"), "args[0] & CLONE_NEW*"),
    ],
)
def test_matchers_describe_themselves(matcher: object, text: str) -> None:
    assert str(matcher) == text


@pytest.mark.parametrize("cls", [ArgEq, ArgNe, ArgLt, ArgLe, ArgGt, ArgGe])
def test_boundary_values_surround_the_constant(cls: type) -> None:
    value = (7 << 32) | 9
    values = cls(0, value).boundary_values()
    for v in (value - 1, value, value + 1, 0, U32, 1 << 32, 1 << 63, U64, 9, (8 << 32) | 9, (9 << 32) | 9):
        assert v in values, hex(v)
    assert all(0 <= v <= U64 for v in values)
    assert list(values) == sorted(set(values))
    # both outcomes occur, so a test over them can fail either way
    outcomes = {cls(0, value).matches([v]) for v in values}
    assert outcomes == {True, False}


def test_boundary_values_of_bit_matchers() -> None:
    any_set = ArgAnySet(0, 0b1010_0000)
    values = any_set.boundary_values()
    assert {0b1000_0000, 0b0010_0000, ~0b1010_0000 & U64} <= set(values)
    masked = ArgMaskedEq(0, 0xF, 3)
    assert {3, 3 | ~0xF & U64, 2, 0xF} <= set(masked.boundary_values())
    for matcher in (any_set, masked):
        assert {matcher.matches([v]) for v in matcher.boundary_values()} == {True, False}


def test_every_matcher_type_is_listed() -> None:
    assert set(MATCHER_TYPES) == {ArgEq, ArgNe, ArgLt, ArgLe, ArgGt, ArgGe, ArgMaskedEq, ArgAnySet}


def test_rule_checks_its_syscall_and_matchers() -> None:
    rule = Rule("socket", [ArgEq(0, 16)], ERRNO(1), "no netlink")  # type: ignore[arg-type]
    assert rule.matchers == (ArgEq(0, 16),)  # a list becomes a tuple
    assert rule.nr == NR["socket"]
    with pytest.raises(UnknownSyscallError):
        Rule("sockets", (), ALLOW)
    with pytest.raises(TypeError, match="not an argument matcher"):
        Rule("socket", ((0, 16),), ALLOW)  # type: ignore[arg-type]


def test_rule_text() -> None:
    rule = Rule("socket", (ArgEq(0, 16, label="AF_NETLINK"), ArgNe(1, 1)), ERRNO(1), "why")
    assert str(rule) == "socket: args[0] == AF_NETLINK && args[1] != 1 -> ERRNO(1) (why)"
    assert str(Rule("clone3", (), ERRNO(38))) == "clone3: always -> ERRNO(38)"


def test_first_matching_rule_decides_then_the_base_verdict() -> None:
    rules = [
        Rule("socket", (ArgEq(0, 16),), ERRNO(1)),
        Rule("socket", (ArgEq(1, 3),), ERRNO(2)),
        Rule("socket", (), TRAP),
        Rule("socket", (ArgEq(0, 1),), ALLOW),  # dead: the rule before always matches
        Rule("ioctl", (ArgEq(1, 0x5412),), KILL_PROCESS),
    ]
    base = {NR["socket"]: ALLOW, NR["ioctl"]: ALLOW}
    assert evaluate(rules, NR["socket"], (16, 3), base, TRAP) == ERRNO(1)
    assert evaluate(rules, NR["socket"], (2, 3), base, TRAP) == ERRNO(2)
    assert evaluate(rules, NR["socket"], (1, 1), base, TRAP) == TRAP
    assert evaluate(rules, NR["ioctl"], (0, 0x5413), base, TRAP) == ALLOW
    assert evaluate(rules, NR["ioctl"], (0, 0x5412), base, TRAP) == KILL_PROCESS
    assert evaluate(rules, NR["read"], (), base, ERRNO(9)) == ERRNO(9)
    assert deciding_rule(rules, NR["socket"], (16,)) is rules[0]
    assert deciding_rule(rules, NR["read"], ()) is None
    grouped = rules_by_number(rules)
    assert list(grouped) == [NR["socket"], NR["ioctl"]]
    assert grouped[NR["socket"]] == tuple(rules[:4])


def test_missing_arguments_count_as_zero() -> None:
    assert Rule("socket", (ArgEq(5, 0),), ALLOW).matches(())
    assert not Rule("socket", (ArgNe(5, 0),), ALLOW).matches((1,))
