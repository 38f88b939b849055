"""libseccomp (through pyseccomp) as the oracle of argument comparisons.

For each comparison, the same rule is built by libseccomp and by our compiler, and
the emulator runs both programs on the matcher's boundary values: 0, 1, the
constant and its neighbours, 2**32 - 1, 2**32, 2**63, 2**64 - 1, values that differ
only in the high half, and so on. libseccomp 2.5 compares all 64 bits, unsigned
(its GT/GE/LT/LE chain on the high halves, then on the low halves), and so do our
``width=64`` matchers: the verdicts must be identical. It has no "any bit set"
operator; the same thing is one MASKED_EQ(bit, bit) rule per bit, which libseccomp
ORs. Our ``width=32`` matchers read only the low half, on purpose (see
``pytest_syscall_sandbox.engine.rules``): they agree with libseccomp when the high half
is 0 and disagree, as documented, when it is not.
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Sequence

import pytest
from args_support import AF_NETLINK, EPERM, NR, SOCK_RAW, TIOCLINUX, TIOCSETD, TIOCSTI, U32, U64, run

from pytest_syscall_sandbox.engine.bpf import Instruction, unpack, validate
from pytest_syscall_sandbox.engine.compiler import compile_rules
from pytest_syscall_sandbox.engine.rules import ArgEq, ArgGe, ArgGt, ArgLe, ArgLt, ArgMaskedEq, ArgMatcher, ArgNe, Rule
from pytest_syscall_sandbox.kernel.actions import ALLOW, ERRNO, KILL_PROCESS, TRAP, Action
from pytest_syscall_sandbox.roles.hardening import HARDENING_RULES, NAMESPACE_FLAGS

try:
    import pyseccomp as seccomp
except (ImportError, RuntimeError) as exc:  # RuntimeError: libseccomp.so is missing
    pytest.skip(f"pyseccomp and libseccomp are the oracle of these tests: {exc}", allow_module_level=True)

OPS = {ArgEq: seccomp.EQ, ArgNe: seccomp.NE, ArgLt: seccomp.LT, ArgLe: seccomp.LE, ArgGt: seccomp.GT, ArgGe: seccomp.GE}
CONSTANTS = [0, 1, 7, U32 - 1, U32, 1 << 32, (1 << 32) + 1, (3 << 32) | 5, 1 << 63, (1 << 63) - 1, U64 - 1, U64]
MASKS = [(0xF, 3), (U64, 5), (0xFF << 32, 0x12 << 32), (0xFFFF0000FFFF, 0x12340000ABCD), (1 << 63, 1 << 63), (1, 0)]


def _theirs_arg(matcher: ArgMatcher) -> object:
    if isinstance(matcher, ArgMaskedEq):
        return seccomp.Arg(matcher.index, seccomp.MASKED_EQ, matcher.mask, matcher.value)
    return seccomp.Arg(matcher.index, OPS[type(matcher)], matcher.value)


def libseccomp(default: object, rules: Sequence[tuple[object, str, Sequence[object]]]) -> tuple[Instruction, ...]:
    """Export libseccomp's program for ``rules`` (action, syscall, args) and ``default``."""
    f = seccomp.SyscallFilter(defaction=default)
    for action, name, args in rules:
        f.add_rule(action, name, *args)
    with tempfile.TemporaryFile() as out:
        f.export_bpf(out)
        out.seek(0)
        program = tuple(unpack(out.read()))
    validate(program)
    return program


def _matchers() -> list[ArgMatcher]:
    found: list[ArgMatcher] = []
    for (cls, value), index in zip(itertools.product(OPS, CONSTANTS), itertools.cycle(range(6))):
        found.append(cls(index, value))
    found += [ArgMaskedEq(n % 6, mask, value) for n, (mask, value) in enumerate(MASKS)]
    return found


MATCHERS = _matchers()


def _args(matcher: ArgMatcher, value: int) -> list[int]:
    args = [0x55, 0x66, 0x77, 0x88, 0x99, 0xAA]
    args[matcher.index] = value
    return args


@pytest.mark.parametrize("direction", ["refuse-in-allow", "allow-in-refuse"])
@pytest.mark.parametrize("matcher", MATCHERS, ids=[str(m) for m in MATCHERS])
def test_same_verdicts_as_libseccomp(matcher: ArgMatcher, direction: str) -> None:
    if direction == "refuse-in-allow":  # everything allowed, the rule refuses
        ours_default, ours_action, their_default, their_action = ALLOW, ERRNO(5), seccomp.ALLOW, seccomp.ERRNO(5)
    else:  # everything refused, the rule allows
        ours_default, ours_action, their_default, their_action = TRAP, ALLOW, seccomp.TRAP, seccomp.ALLOW
    theirs = libseccomp(their_default, [(their_action, "socket", [_theirs_arg(matcher)])])
    ours = compile_rules({}, ours_default, arg_rules=[Rule("socket", (matcher,), ours_action)]).program
    values = matcher.boundary_values()
    differ = [
        hex(v)
        for v in values
        if run(ours, NR["socket"], _args(matcher, v)) != run(theirs, NR["socket"], _args(matcher, v))
    ]
    assert differ == [], f"{matcher}: verdicts differ for {differ}"
    outcomes = {run(ours, NR["socket"], _args(matcher, v)) for v in values}
    assert len(outcomes) == 2 or matcher.value in (0, U64), outcomes  # the boundary values exercise both sides


def test_two_matchers_in_one_rule_and_with_libseccomp() -> None:
    pairs = [
        (ArgGt(0, (1 << 32) | 3), ArgNe(3, 7)),
        (ArgMaskedEq(1, 0xF, 3), ArgLe(2, U32)),
        (ArgEq(0, 16), ArgEq(1, 3)),
    ]
    for first, second in pairs:
        rule = Rule("socket", (first, second), ERRNO(9))
        ours = compile_rules({}, ALLOW, arg_rules=[rule]).program
        theirs = libseccomp(seccomp.ALLOW, [(seccomp.ERRNO(9), "socket", [_theirs_arg(first), _theirs_arg(second)])])
        for a, b in itertools.product(first.boundary_values(), second.boundary_values()[::3]):
            args = [0, 0, 0, 0, 0, 0]
            args[first.index], args[second.index] = a, b
            assert run(ours, NR["socket"], args) == run(theirs, NR["socket"], args), (first, second, hex(a), hex(b))


@pytest.mark.parametrize("bits", [1, 0x30, NAMESPACE_FLAGS, (1 << 40) | 1, 1 << 63])
def test_any_bit_set_equals_libseccomps_or_of_masked_equals(bits: int) -> None:
    from pytest_syscall_sandbox.engine.rules import ArgAnySet

    matcher = ArgAnySet(0, bits)
    ours = compile_rules({}, ALLOW, arg_rules=[Rule("clone", (matcher,), ERRNO(1))]).program
    singles = [1 << b for b in range(64) if bits >> b & 1]
    theirs = libseccomp(
        seccomp.ALLOW, [(seccomp.ERRNO(1), "clone", [seccomp.Arg(0, seccomp.MASKED_EQ, s, s)]) for s in singles]
    )
    for value in matcher.boundary_values():
        assert run(ours, NR["clone"], [value]) == run(theirs, NR["clone"], [value]), hex(value)


def test_32_bit_matchers_agree_while_the_high_half_is_zero_and_differ_on_purpose_otherwise() -> None:
    matcher = ArgEq(0, AF_NETLINK, width=32)
    ours = compile_rules({}, ALLOW, arg_rules=[Rule("socket", (matcher,), ERRNO(1))]).program
    theirs = libseccomp(seccomp.ALLOW, [(seccomp.ERRNO(1), "socket", [seccomp.Arg(0, seccomp.EQ, AF_NETLINK)])])
    for value in range(0, 40):
        assert run(ours, NR["socket"], [value]) == run(theirs, NR["socket"], [value])
    junk = (1 << 32) | AF_NETLINK  # the kernel reads an int: this is AF_NETLINK
    assert run(ours, NR["socket"], [junk]) == ERRNO(1)
    assert run(theirs, NR["socket"], [junk]) == ALLOW  # libseccomp's 64-bit test lets it through


def _their_hardening() -> tuple[Instruction, ...]:
    """The hardening set as a libseccomp user would write it (one MASKED_EQ rule per namespace flag)."""
    perm = seccomp.ERRNO(EPERM)
    flags = [1 << bit for bit in range(32) if NAMESPACE_FLAGS >> bit & 1]
    rules: list[tuple[object, str, Sequence[object]]] = [
        (perm, "socket", [seccomp.Arg(0, seccomp.EQ, AF_NETLINK)]),
        (perm, "socket", [seccomp.Arg(1, seccomp.MASKED_EQ, 0xF, SOCK_RAW)]),
        *((perm, "ioctl", [seccomp.Arg(1, seccomp.EQ, request)]) for request in (TIOCSTI, TIOCSETD, TIOCLINUX)),
        *((perm, "clone", [seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag)]) for flag in flags),
        (seccomp.ERRNO(38), "clone3", []),
    ]
    return libseccomp(seccomp.ALLOW, rules)


def test_the_hardening_set_matches_its_libseccomp_spelling() -> None:
    theirs = _their_hardening()
    ours = compile_rules({}, ALLOW, arg_rules=HARDENING_RULES).program
    interesting = [0, 1, 2, 3, 10, 16, 17, 3 | 0x800, 3 | 0x80000, 2 | 0x80800, 0x13, TIOCSTI, TIOCSETD, TIOCLINUX]
    interesting += [0x541B, 0x5413, 0x11, 0x11 | 0x10000000, 0x20000 | 0x11, 0x3D0F00, 0x7E020000, 0x80000000, U32]
    for nr in (NR["socket"], NR["ioctl"], NR["clone"], NR["clone3"], NR["read"]):
        for a, b in itertools.product(interesting, repeat=2):
            assert run(ours, nr, [a, b]) == run(theirs, nr, [a, b]), (nr, hex(a), hex(b))


def test_kill_process_rules_agree() -> None:
    """A rule whose action is KILL_PROCESS (the most severe) compiles the same way."""
    matcher = ArgGe(2, 1 << 40)
    ours = compile_rules({NR["socket"]: ALLOW}, TRAP, arg_rules=[Rule("socket", (matcher,), KILL_PROCESS)]).program
    theirs = libseccomp(
        seccomp.TRAP,
        [
            (seccomp.KILL_PROCESS, "socket", [_theirs_arg(matcher)]),
            (seccomp.ALLOW, "socket", [seccomp.Arg(2, seccomp.LT, 1 << 40)]),
        ],
    )
    for value in matcher.boundary_values():
        got: Action = run(ours, NR["socket"], [0, 0, value])
        assert got == run(theirs, NR["socket"], [0, 0, value]), hex(value)
