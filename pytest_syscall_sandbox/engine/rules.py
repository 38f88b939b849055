"""Argument rules: verdicts that depend on a syscall's arguments.

A :class:`Rule` names a syscall, a tuple of argument matchers that must all match,
an action and a reason for people::

    Rule("socket", (ArgEq(0, 16, width=32, label="AF_NETLINK"),), ERRNO(1),
         "domain AF_NETLINK refused by the hardening set")

Matchers compare one argument ``args[index]`` (0..5) with a constant:

- ``ArgEq(i, v)``, ``ArgNe(i, v)``: ``args[i] == v``, ``args[i] != v``;
- ``ArgLt``, ``ArgLe``, ``ArgGt``, ``ArgGe``: unsigned ``<``, ``<=``, ``>``, ``>=``;
- ``ArgMaskedEq(i, mask, v)``: ``(args[i] & mask) == v``;
- ``ArgAnySet(i, bits)``: ``(args[i] & bits) != 0``.

Each renders itself for people (``str``: ``args[0] == AF_NETLINK`` when given a
``label``), evaluates itself in Python (``matches``) and lists the argument values
on its edges (``boundary_values``), which the tests feed to the emulator, the
libseccomp oracle and the kernel.

**Width.** Every comparison is unsigned. With ``width=64`` (the default) it covers
the whole 64-bit register, as libseccomp does: the compiled filter tests the high
32-bit half (``seccomp_data.args[i] >> 32``) and the low half separately, and the
libseccomp oracle agrees on every boundary value. With ``width=32`` only the low
half is tested. Use it for parameters the kernel declares ``int`` or ``unsigned
int`` (socket's ``domain`` and ``type``, ioctl's ``cmd``): the syscall entry code
truncates them, so ``socket(0x1_0000_0010, ...)`` creates an ``AF_NETLINK`` socket,
and a 64-bit ``== 16`` test would let it through (the TIOCSTI filter bypass of
CVE-2019-10063 in Flatpak was that mistake). Negative constants are taken modulo
``2**width``, so ``ArgEq(0, -100, width=32)`` is ``AT_FDCWD``.

**Semantics.** For one syscall, its rules are tried in order and the first whose
matchers all match decides; a rule without matchers always matches. When none
matches, the syscall's argument-free verdict applies (ALLOW if allowed, else the
filter's default). :func:`evaluate` is that model in Python; the compiler's BPF
must agree with it, which the tests check in the emulator and the kernel.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Union

from ..kernel.actions import Action
from ..kernel.syscalls import check_names, syscall_number

MAX_ARGS = 6
_WIDTHS = (32, 64)
_U64 = (1 << 64) - 1
_U32 = (1 << 32) - 1


def _norm(value: int, width: int, what: str) -> int:
    if not -(1 << (width - 1)) <= value < 1 << width:
        raise ValueError(f"{what} {value:#x} does not fit in {width} bits")
    return value & ((1 << width) - 1)


class _Matcher:
    """What every matcher has: the argument index, the width, and a label for its constant."""

    index: int
    width: int
    label: str
    #: The comparison's symbol in :meth:`__str__` (``==``, ``<``, ...).
    symbol: ClassVar[str] = "?"

    def _check(self) -> None:
        if not 0 <= self.index < MAX_ARGS:
            raise ValueError(f"argument index must be 0..{MAX_ARGS - 1}, got {self.index}")
        if self.width not in _WIDTHS:
            raise ValueError(f"width must be 32 or 64, got {self.width}")

    def _set(self, name: str, value: int) -> None:
        object.__setattr__(self, name, _norm(value, self.width, name))

    @property
    def limit(self) -> int:
        """The largest value of the compared part (``2**width - 1``)."""
        return (1 << self.width) - 1

    def part(self, args: Sequence[int]) -> int:
        """The compared part of ``args[index]``: all 64 bits, or the low 32 for ``width=32``."""
        value = args[self.index] if self.index < len(args) else 0
        return value & self.limit

    def subject(self) -> str:
        """``args[1]``, or ``(u32)args[1]`` for a 32-bit comparison."""
        return f"args[{self.index}]" if self.width == 64 else f"(u32)args[{self.index}]"

    def matches(self, args: Sequence[int]) -> bool:
        """Does the argument satisfy the comparison?"""
        raise NotImplementedError

    def boundary_values(self) -> tuple[int, ...]:
        """64-bit argument values that sit on the edges of this comparison (for tests)."""
        raise NotImplementedError

    def _edges(self, *constants: int) -> tuple[int, ...]:
        values = {0, 1, _U32 - 1, _U32, 1 << 32, (1 << 32) + 1, 1 << 31, 1 << 63, _U64 - 1, _U64}
        for c in constants:
            for v in (c - 1, c, c + 1):
                values.update({v, v ^ (1 << 32), v | (1 << 32), v & _U32, v ^ (1 << 63), v ^ _U32})
                values.add(((v & _U32) << 32) | (v & _U32))  # the low half copied into the high half
                values.add((v & _U32) | (((c >> 32) + 1) << 32))  # same low half, a higher high half
        return tuple(sorted(v for v in values if 0 <= v <= _U64))


def _value_text(value: int, label: str) -> str:
    return label or (str(value) if value < 10 else f"{value:#x}")


@dataclass(frozen=True)
class _Compare(_Matcher):
    """A comparison of ``args[index]`` with ``value``."""

    index: int
    value: int
    width: int = 64
    label: str = ""

    def __post_init__(self) -> None:
        self._check()
        self._set("value", self.value)

    def __str__(self) -> str:
        return f"{self.subject()} {self.symbol} {_value_text(self.value, self.label)}"

    def boundary_values(self) -> tuple[int, ...]:
        return self._edges(self.value)


@dataclass(frozen=True)
class ArgEq(_Compare):
    """``args[index] == value``."""

    symbol: ClassVar[str] = "=="

    def matches(self, args: Sequence[int]) -> bool:
        return self.part(args) == self.value


@dataclass(frozen=True)
class ArgNe(_Compare):
    """``args[index] != value``."""

    symbol: ClassVar[str] = "!="

    def matches(self, args: Sequence[int]) -> bool:
        return self.part(args) != self.value


@dataclass(frozen=True)
class ArgLt(_Compare):
    """``args[index] < value`` (unsigned)."""

    symbol: ClassVar[str] = "<"

    def matches(self, args: Sequence[int]) -> bool:
        return self.part(args) < self.value


@dataclass(frozen=True)
class ArgLe(_Compare):
    """``args[index] <= value`` (unsigned)."""

    symbol: ClassVar[str] = "<="

    def matches(self, args: Sequence[int]) -> bool:
        return self.part(args) <= self.value


@dataclass(frozen=True)
class ArgGt(_Compare):
    """``args[index] > value`` (unsigned)."""

    symbol: ClassVar[str] = ">"

    def matches(self, args: Sequence[int]) -> bool:
        return self.part(args) > self.value


@dataclass(frozen=True)
class ArgGe(_Compare):
    """``args[index] >= value`` (unsigned)."""

    symbol: ClassVar[str] = ">="

    def matches(self, args: Sequence[int]) -> bool:
        return self.part(args) >= self.value


@dataclass(frozen=True)
class ArgMaskedEq(_Matcher):
    """``(args[index] & mask) == value``; ``value`` may only use bits of ``mask``."""

    index: int
    mask: int
    value: int
    width: int = 64
    label: str = ""
    symbol: ClassVar[str] = "=="

    def __post_init__(self) -> None:
        self._check()
        self._set("mask", self.mask)
        self._set("value", self.value)
        if self.mask == 0:
            raise ValueError("mask 0 matches every value; use a rule without matchers")
        if self.value & ~self.mask:
            raise ValueError(f"value {self.value:#x} has bits outside mask {self.mask:#x}: it could never match")

    def matches(self, args: Sequence[int]) -> bool:
        return self.part(args) & self.mask == self.value

    def __str__(self) -> str:
        return f"({self.subject()} & {self.mask:#x}) == {_value_text(self.value, self.label)}"

    def boundary_values(self) -> tuple[int, ...]:
        lowest = self.mask & -self.mask
        return self._edges(self.value, self.value | ~self.mask & self.limit, self.value ^ lowest, self.mask)


@dataclass(frozen=True)
class ArgAnySet(_Matcher):
    """``(args[index] & bits) != 0``: at least one of ``bits`` is set."""

    index: int
    bits: int
    width: int = 64
    label: str = ""
    symbol: ClassVar[str] = "&"

    def __post_init__(self) -> None:
        self._check()
        self._set("bits", self.bits)
        if self.bits == 0:
            raise ValueError("bits 0 can never be set; the matcher could never match")

    def matches(self, args: Sequence[int]) -> bool:
        return bool(self.part(args) & self.bits)

    def __str__(self) -> str:
        return f"{self.subject()} & {_value_text(self.bits, self.label)}"

    def boundary_values(self) -> tuple[int, ...]:
        singles = [1 << b for b in range(self.width) if self.bits >> b & 1]
        return self._edges(self.bits, ~self.bits & self.limit, *singles[:8], *singles[-8:])


#: Any argument matcher.
ArgMatcher = Union[ArgEq, ArgNe, ArgLt, ArgLe, ArgGt, ArgGe, ArgMaskedEq, ArgAnySet]
MATCHER_TYPES: tuple[type[_Matcher], ...] = (ArgEq, ArgNe, ArgLt, ArgLe, ArgGt, ArgGe, ArgMaskedEq, ArgAnySet)


@dataclass(frozen=True)
class Rule:
    """``action`` for ``syscall`` when every matcher matches (a rule without matchers always does)."""

    syscall: str
    matchers: tuple[ArgMatcher, ...]
    action: Action
    reason: str = ""

    def __post_init__(self) -> None:
        check_names([self.syscall])
        object.__setattr__(self, "matchers", tuple(self.matchers))
        for matcher in self.matchers:
            if not isinstance(matcher, MATCHER_TYPES):
                raise TypeError(f"rule for {self.syscall}: {matcher!r} is not an argument matcher")

    @property
    def nr(self) -> int:
        """The syscall's x86-64 number."""
        return syscall_number(self.syscall)

    def matches(self, args: Sequence[int]) -> bool:
        """Do all matchers match ``args`` (missing arguments count as 0)?"""
        return all(m.matches(args) for m in self.matchers)

    def condition(self) -> str:
        """``args[0] == AF_NETLINK && ...``, or ``always`` for a rule without matchers."""
        return " && ".join(str(m) for m in self.matchers) or "always"

    def __str__(self) -> str:
        text = f"{self.syscall}: {self.condition()} -> {self.action}"
        return f"{text} ({self.reason})" if self.reason else text


def rules_by_number(rules: Iterable[Rule]) -> dict[int, tuple[Rule, ...]]:
    """Group rules per syscall number, keeping their order."""
    grouped: dict[int, list[Rule]] = {}
    for rule in rules:
        grouped.setdefault(rule.nr, []).append(rule)
    return {nr: tuple(group) for nr, group in grouped.items()}


def deciding_rule(rules: Iterable[Rule], nr: int, args: Sequence[int]) -> Rule | None:
    """The first rule for ``nr`` whose matchers all match ``args``, or None."""
    for rule in rules:
        if rule.nr == nr and rule.matches(args):
            return rule
    return None


def evaluate(
    rules: Iterable[Rule], nr: int, args: Sequence[int], base: Mapping[int, Action], default: Action
) -> Action:
    """The verdict a filter built from ``base`` (argument-free actions), ``default`` and ``rules`` gives."""
    rule = deciding_rule(rules, nr, args)
    if rule is not None:
        return rule.action
    return base.get(nr, default)
