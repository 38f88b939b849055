"""Argument rules compiled into the filter, checked in the emulator against the Python model."""

from __future__ import annotations

import itertools
import random
from functools import cache

import pytest
from args_support import NR, U32, U64, reads_arguments, run

from pytest_syscall_sandbox import BpfError, SyscallSandboxPolicy
from pytest_syscall_sandbox.engine.bpf import BPF_JA, BPF_JMP, BPF_MAXINSNS, disassemble, validate
from pytest_syscall_sandbox.engine.compiler import CompiledFilter, compile_allow_list, compile_rules
from pytest_syscall_sandbox.engine.rules import (
    ArgAnySet,
    ArgEq,
    ArgGe,
    ArgGt,
    ArgLe,
    ArgLt,
    ArgMaskedEq,
    ArgMatcher,
    ArgNe,
    Rule,
    evaluate,
)
from pytest_syscall_sandbox.kernel.actions import ALLOW, ERRNO, KILL_PROCESS, TRACE, TRAP, Action
from pytest_syscall_sandbox.kernel.syscalls import NAMES, NUMBERS
from pytest_syscall_sandbox.roles.builder import build_policy_filter
from pytest_syscall_sandbox.roles.policies import policy_syscalls

CONSTANTS = [0, 1, 5, U32 - 1, U32, 1 << 32, (1 << 32) + 5, (7 << 32) | 9, 1 << 63, U64 - 1, U64, 0xFFFFFFFF00000000]
ORDERED = [ArgEq, ArgNe, ArgLt, ArgLe, ArgGt, ArgGe]


def _matchers() -> list[ArgMatcher]:
    found: list[ArgMatcher] = []
    for cls, value, width in itertools.product(ORDERED, CONSTANTS, (64, 32)):
        if width == 32 and value > U32:
            continue
        found.append(cls(len(found) % 6, value, width=width))
    for mask, value in [(0xF, 3), (U64, 5), (0xFF << 32, 0x12 << 32), (0xFF000000FF, 0x11000000FF), (1 << 63, 0)]:
        found += [ArgMaskedEq(2, mask, value), ArgMaskedEq(3, mask & U32 or 1, value & U32 & (mask or 1), width=32)]
    for bits in (1, 0x7E020000, 1 << 40, (1 << 63) | 1, U64):
        found.append(ArgAnySet(4, bits))
        if bits <= U32:
            found.append(ArgAnySet(5, bits, width=32))
    return found


MATCHERS = _matchers()
BASES = {"allowed": ALLOW, "refused": TRAP}


@pytest.mark.parametrize("base", list(BASES))
@pytest.mark.parametrize("matcher", MATCHERS, ids=[f"{type(m).__name__}:{m}" for m in MATCHERS])
def test_each_matcher_agrees_with_the_model_on_its_boundary_values(matcher: ArgMatcher, base: str) -> None:
    rule = Rule("socket", (matcher,), ERRNO(7))
    allowed = [NR["socket"]] if base == "allowed" else []
    compiled = compile_allow_list(allowed, TRAP, arg_rules=[rule])
    other = [0] * 6
    wrong = []
    for value in matcher.boundary_values():
        args = list(other)
        args[matcher.index] = value
        want = ERRNO(7) if matcher.matches(args) else BASES[base]
        if run(compiled.program, NR["socket"], args) != want:
            wrong.append(hex(value))
    assert wrong == [], compiled.disassemble()


def test_random_rule_lists_agree_with_the_model() -> None:
    """Random rule lists (several rules per syscall, several matchers per rule) against evaluate()."""
    rng = random.Random(6)
    actions = [ALLOW, ERRNO(1), ERRNO(2), TRAP, TRACE(3), KILL_PROCESS]
    for _ in range(60):
        rules = []
        for _ in range(rng.randint(1, 6)):
            matchers = tuple(rng.choice(MATCHERS) for _ in range(rng.randint(0 if rng.random() < 0.1 else 1, 3)))
            rules.append(Rule(rng.choice(["socket", "ioctl", "clone"]), matchers, rng.choice(actions)))
        base = {nr: ALLOW for nr in rng.sample([NR["socket"], NR["ioctl"], NR["clone"], 0, 1], 3)}
        compiled = compile_rules(base, TRAP, arg_rules=rules)
        for _ in range(80):
            nr = rng.choice([NR["socket"], NR["ioctl"], NR["clone"]])
            pool = [v for m in rng.sample(MATCHERS, 4) for v in m.boundary_values()]
            args = [rng.choice(pool) for _ in range(6)]
            assert run(compiled.program, nr, args) == evaluate(rules, nr, args, base, TRAP), (rules, nr, args)


@cache
def netlink_filter() -> CompiledFilter:
    names = policy_syscalls(SyscallSandboxPolicy.NET)
    rules = [
        Rule("socket", (ArgEq(0, 16, width=32, label="AF_NETLINK"),), ERRNO(1), "no netlink"),
        Rule("socket", (ArgMaskedEq(1, 0xF, 3, width=32, label="SOCK_RAW"),), ERRNO(1), "no raw"),
        Rule("ioctl", (ArgEq(1, 0x5412, width=32, label="TIOCSTI"),), ERRNO(1)),
    ]
    return compile_allow_list([NUMBERS[n] for n in names], TRAP, arg_rules=rules)


def test_only_the_checked_numbers_change_and_only_they_read_arguments() -> None:
    plain = build_policy_filter(SyscallSandboxPolicy.NET, TRAP)
    checked = netlink_filter()
    assert checked.checked == ("ioctl", "socket")
    for nr in range(1024):
        if nr in (NR["socket"], NR["ioctl"]):
            assert reads_arguments(checked.program, nr)
            continue
        # the kernel's action cache sees an argument-free path and the same verdict as before
        assert run(checked.program, nr, [16, 3, 0x5412]) == run(plain.program, nr), nr
        assert not reads_arguments(checked.program, nr, [16, 3, 0x5412]), nr
    assert run(checked.program, NR["socket"], [16, 1]) == ERRNO(1)
    assert run(checked.program, NR["socket"], [2, 3 | 0x80800]) == ERRNO(1)
    assert run(checked.program, NR["socket"], [2, 1]) == ALLOW
    assert run(checked.program, NR["ioctl"], [0, 0x5412]) == ERRNO(1)
    assert run(checked.program, NR["ioctl"], [0, 0x541B]) == ALLOW


def test_no_rules_gives_exactly_the_old_program() -> None:
    for policy in (SyscallSandboxPolicy.NET, SyscallSandboxPolicy.VALIDATION_SCRIPT_CHECK):
        names = [NUMBERS[n] for n in policy_syscalls(policy)]
        old = build_policy_filter(policy, TRAP)
        new = compile_allow_list(names, TRAP, arg_rules=())
        assert new.program == old.program
        assert new.disassemble() == disassemble(old.program, dict(NAMES))
        assert new.checked == () and new.notes == {} and new.arg_rules == ()


@pytest.mark.parametrize(
    ("rules", "verdict"),
    [
        ([Rule("clone3", (), ERRNO(38))], ERRNO(38)),  # no matchers: a plain leaf
        ([Rule("clone3", (ArgEq(0, 1),), ALLOW)], ALLOW),  # same action as the base: nothing to check
        ([Rule("clone3", (ArgEq(0, 1),), TRAP), Rule("clone3", (), TRAP)], TRAP),  # all roads lead to TRAP
        ([Rule("clone3", (), ERRNO(38)), Rule("clone3", (ArgEq(0, 1),), ALLOW)], ERRNO(38)),  # the second is dead
    ],
)
def test_rules_that_cannot_depend_on_arguments_compile_argument_free(rules: list[Rule], verdict: Action) -> None:
    compiled = compile_allow_list([NR["clone3"], NR["read"]], TRAP, arg_rules=rules)
    assert compiled.checked == ()
    assert compiled.rules.get(NR["clone3"], compiled.default) == verdict
    for args in ([0, 0], [1, 0], [U64, U64]):
        assert run(compiled.program, NR["clone3"], args) == verdict
        assert not reads_arguments(compiled.program, NR["clone3"], args)


def test_a_refused_syscall_can_be_allowed_by_its_arguments() -> None:
    rule = Rule("socket", (ArgEq(0, 1),), ALLOW)  # socket(AF_UNIX, ...) only
    compiled = compile_allow_list([NR["read"]], ERRNO(13), arg_rules=[rule])
    assert run(compiled.program, NR["socket"], [1, 1]) == ALLOW
    assert run(compiled.program, NR["socket"], [2, 1]) == ERRNO(13)
    assert NR["socket"] not in compiled.rules  # its fallback is the default
    assert compiled.checked == ("socket",)


def test_a_subprogram_longer_than_a_jump_reaches_its_returns() -> None:
    """120 rules on one syscall: far more than 255 instructions between a test and its target."""
    rules = [Rule("ioctl", (ArgEq(1, (n << 32) | n),), ERRNO(n % 7 + 1)) for n in range(1, 121)]
    rules.append(Rule("ioctl", (ArgGt(1, 1000 << 32),), KILL_PROCESS))
    allowed = [NUMBERS[n] for n in policy_syscalls(SyscallSandboxPolicy.NET)]
    compiled = compile_allow_list(allowed, TRAP, arg_rules=rules)
    validate(compiled.program)
    assert len(compiled) > 500
    assert any(insn.code == BPF_JMP | BPF_JA for insn in compiled.program)
    base = dict.fromkeys(allowed, ALLOW)
    for n in (1, 2, 60, 119, 120, 121, 1000, 1001):
        for args in ([0, (n << 32) | n], [0, n], [0, (n << 32) | n + 1], [0, n << 32]):
            assert run(compiled.program, NR["ioctl"], args) == evaluate(rules, NR["ioctl"], args, base, TRAP)
    # and the tree around it still works
    for nr in range(600):
        if nr != NR["ioctl"]:
            assert run(compiled.program, nr) == (ALLOW if nr in allowed else TRAP), nr


def test_many_checked_syscalls_force_long_tree_jumps() -> None:
    rules = [Rule(name, (ArgEq(0, 1), ArgLt(1, 1 << 40)), ERRNO(1)) for name in list(NUMBERS)[:200]]
    compiled = compile_allow_list(list(NUMBERS.values()), TRAP, arg_rules=rules)
    assert len(compiled.checked) == 200
    assert len(compiled) < BPF_MAXINSNS
    for rule in rules[::7]:
        assert run(compiled.program, rule.nr, [1, 5]) == ERRNO(1)
        assert run(compiled.program, rule.nr, [1, 1 << 40]) == ALLOW
        assert run(compiled.program, rule.nr, [0, 5]) == ALLOW


def test_too_many_rules_is_refused_by_the_validator() -> None:
    rules = [Rule("ioctl", (ArgEq(1, n << 32 | n),), ERRNO(1)) for n in range(1100)]
    with pytest.raises(BpfError, match="4096"):
        compile_allow_list([NR["ioctl"]], TRAP, arg_rules=rules)


@pytest.mark.parametrize("layout", ["tree", "linear"])
def test_layouts_and_trusted_ip_agree(layout: str) -> None:
    rules = [
        Rule("socket", (ArgEq(0, 16),), ERRNO(1)),
        Rule("ioctl", (ArgAnySet(1, 0xFF00, width=32),), ERRNO(2)),
        *(Rule("clone", (ArgNe(0, n),), ERRNO(3)) for n in range(70)),  # a sub-program over 255 instructions
    ]
    allowed = [NR["socket"], NR["ioctl"], NR["read"], NR["clone"]]
    trusted = 0x7F00_1234_5678
    compiled = compile_allow_list(allowed, TRAP, layout=layout, trusted_ip=trusted, arg_rules=rules)
    base = dict.fromkeys(allowed, ALLOW)
    for nr in (*allowed, NR["getppid"]):
        for args in ([16, 0], [2, 0x100], [2, 0x1], [0, 0], [69, 0]):
            assert run(compiled.program, nr, args) == evaluate(rules, nr, args, base, TRAP), (nr, args)
    from pytest_syscall_sandbox.engine.emulator import SeccompData, emulate

    trusted_call = SeccompData(NR["socket"], instruction_pointer=trusted, args=(16, 0, 0, 0, 0, 0))
    assert emulate(compiled.program, trusted_call).action == ALLOW


def test_disassembly_marks_the_argument_checked_syscalls() -> None:
    listing = netlink_filter().disassemble()
    lines = listing.splitlines()
    assert lines[0] == "# argument-checked: ioctl (16), socket (41)"
    assert lines[1:3] == [" line  CODE  JT   JF      K", "================================="]
    assert len(lines) == 3 + len(netlink_filter())
    assert "# socket rule 1/2: (u32)args[0] == AF_NETLINK -> ERRNO(1) (no netlink)" in listing
    assert "# socket rule 2/2: ((u32)args[1] & 0xf) == SOCK_RAW -> ERRNO(1) (no raw)" in listing
    assert "# ioctl rule 1/1: (u32)args[1] == TIOCSTI -> ERRNO(1)" in listing
    assert "# socket: no rule matched -> ALLOW" in listing
    assert "A = args[0]" in listing and "A = args[1]" in listing and "A &= 0xf" in listing
    # the search tree still names its numbers, also after a sub-program that loaded an argument
    after = listing[listing.index("# socket rule 2/2") :]
    assert "if (A >= " in after and any(f"if (A >= {n})" in after for n in NAMES.values())
    plain = disassemble(netlink_filter().program, dict(NAMES)).splitlines()
    for ours, theirs in zip(lines[1:], plain, strict=False):  # same lines as the plain listing, comments aside
        assert ours.split("  # ")[0].rstrip() == theirs or "A >= " in theirs or "A < " in theirs


def test_multi_matcher_rules_show_each_condition() -> None:
    rule = Rule("socket", (ArgEq(0, 2, label="AF_INET"), ArgEq(1, 3, label="SOCK_RAW")), ERRNO(1))
    listing = compile_allow_list([NR["socket"]], TRAP, arg_rules=[rule]).disassemble()
    assert "socket rule 1/1: args[0] == AF_INET && args[1] == SOCK_RAW -> ERRNO(1)" in listing
    assert "socket rule 1/1, and args[1] == SOCK_RAW" in listing


def test_compiled_filter_keeps_the_rules_it_used() -> None:
    kept = Rule("socket", (ArgEq(0, 16),), ERRNO(1))
    dropped = Rule("socket", (ArgEq(0, 17),), ALLOW)  # trailing, same as the base
    compiled = compile_allow_list([NR["socket"]], TRAP, arg_rules=[kept, dropped])
    assert compiled.arg_rules == (kept,)
    assert compiled.rules == {NR["socket"]: ALLOW}
    assert [name for name, _s, _e in compiled.subprograms] == ["socket"]
