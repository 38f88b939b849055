"""The BPF compiler, checked by running its programs in the emulator (pure, no kernel)."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from functools import cache

import pytest
from core_support import (
    AUDIT_ARCH_AARCH64,
    AUDIT_ARCH_I386,
    AUDIT_ARCH_X86_64,
    X32_BIT,
    expected_allowed,
)

from pytest_syscall_sandbox import BpfError, SyscallSandboxPolicy
from pytest_syscall_sandbox.engine.bpf import BPF_JA, BPF_JEQ, BPF_JGE, BPF_JMP, BPF_K, BPF_MAXINSNS, pack, validate
from pytest_syscall_sandbox.engine.compiler import CompiledFilter, compile_allow_list, compile_rules
from pytest_syscall_sandbox.engine.emulator import SeccompData, emulate
from pytest_syscall_sandbox.kernel.actions import ALLOW, ERRNO, KILL_PROCESS, LOG, TRACE, TRAP, Action
from pytest_syscall_sandbox.kernel.syscalls import NAMES, NUMBERS
from pytest_syscall_sandbox.roles.builder import build_policy_filter

ACTIONS: dict[str, Action] = {
    "KILL_PROCESS": KILL_PROCESS,
    "TRAP": TRAP,
    "TRACE": TRACE(7),
    "ERRNO": ERRNO(1),
    "LOG": LOG,
}
NATIVE = range(1024)
X32 = [X32_BIT | n for n in range(1024)] + [0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF]
FOREIGN_ARCHES = [AUDIT_ARCH_I386, AUDIT_ARCH_AARCH64, 0, 0xFFFFFFFF, 0x4000003E]  # last: x32's EM with no 64BIT bit
JA = BPF_JMP | BPF_JA


@cache
def policy_filter(policy_name: str, action: str, layout: str = "tree") -> CompiledFilter:
    return build_policy_filter(SyscallSandboxPolicy[policy_name], ACTIONS[action], layout=layout)


@cache
def allowed_numbers(policy_name: str) -> frozenset[int]:
    return frozenset(NUMBERS[name] for name in expected_allowed(policy_name))


def verdict(program: Iterable, nr: int, arch: int = AUDIT_ARCH_X86_64) -> int:
    return emulate(tuple(program), SeccompData(nr, arch), check=False).ret


def check_membership(compiled: CompiledFilter, allowed: frozenset[int], default: Action, probes: Iterable[int]) -> None:
    program = compiled.program
    wrong = [nr for nr in probes if verdict(program, nr) != (ALLOW.ret if nr in allowed else default.ret)]
    assert wrong == [], f"{len(wrong)} wrong verdicts, first {wrong[:5]}"


# --------------------------------------------------------------------------- the fifteen policies


@pytest.mark.parametrize("action", list(ACTIONS))
def test_policy_native_numbers(policy_name: str, action: str) -> None:
    compiled = policy_filter(policy_name, action)
    validate(compiled.program)
    assert compiled.default == ACTIONS[action]
    check_membership(compiled, allowed_numbers(policy_name), ACTIONS[action], NATIVE)


@pytest.mark.parametrize("action", list(ACTIONS))
def test_policy_x32_numbers_get_the_default(policy_name: str, action: str) -> None:
    program = policy_filter(policy_name, action).program
    wrong = [nr for nr in X32 if verdict(program, nr) != ACTIONS[action].ret]
    assert wrong == []


@pytest.mark.parametrize("action", list(ACTIONS))
def test_policy_foreign_arches_are_killed(policy_name: str, action: str) -> None:
    program = policy_filter(policy_name, action).program
    for arch in FOREIGN_ARCHES:
        for nr in (0, 3, 39, 115, 20, 0x40000027, 0xFFFFFFFF):  # 20 = getpid for i386
            assert verdict(program, nr, arch) == KILL_PROCESS.ret, (hex(arch), nr)


def test_policy_linear_layout_agrees(policy_name: str) -> None:
    for action in ("KILL_PROCESS", "TRAP"):
        tree = policy_filter(policy_name, action).program
        linear = policy_filter(policy_name, action, "linear")
        assert linear.layout == "linear"
        check_membership(linear, allowed_numbers(policy_name), ACTIONS[action], [*NATIVE, *X32])
        for arch in FOREIGN_ARCHES:
            assert verdict(linear.program, 39, arch) == verdict(tree, 39, arch) == KILL_PROCESS.ret


def _executed(program: tuple, probes: Iterable[int]) -> list[int]:
    return [len(emulate(program, SeccompData(nr), check=False).executed) for nr in probes]


def test_tree_executes_far_fewer_instructions_than_linear(policy_name: str) -> None:
    tree = policy_filter(policy_name, "TRAP")
    linear = policy_filter(policy_name, "TRAP", "linear")
    probes = [*sorted(NAMES), 470, 1023, 0x40000000 | 39]
    tree_counts, linear_counts = _executed(tree.program, probes), _executed(linear.program, probes)
    n_allowed = len(expected_allowed(policy_name))
    assert max(tree_counts) <= 16
    # a disallowed number runs every JEQ: A = arch, its JEQ, A = sys_number, n JEQs, the return
    assert max(linear_counts) == n_allowed + 4
    assert sum(tree_counts) * 4 < sum(linear_counts)
    # A search tree over r runs needs about log2(r) comparisons.
    runs = tree.comparisons + 1
    assert max(tree_counts) <= 5 + math.ceil(math.log2(runs))
    assert linear.comparisons == n_allowed
    # README: upstream needs about 120 comparisons for getgroups under NET, the search at most 8
    is_cmp = {pc for pc, i in enumerate(tree.program) if i.code == BPF_JMP | BPF_JGE | BPF_K and pc > 4}
    for nr in probes:
        taken = emulate(tree.program, SeccompData(nr), check=False).executed
        assert sum(pc in is_cmp for pc in taken) <= 8
    linear_getgroups = emulate(linear.program, SeccompData(115), check=False).executed
    assert sum(linear.program[pc].code == BPF_JMP | BPF_JEQ | BPF_K for pc in linear_getgroups) == n_allowed + 1


def test_policy_filter_shape(policy_name: str) -> None:
    compiled = policy_filter(policy_name, "KILL_PROCESS")
    program = compiled.program
    assert program[:4] == (
        (0x20, 0, 0, 4),  # A = arch
        (0x15, 1, 0, AUDIT_ARCH_X86_64),  # if (A == X86_64) skip the kill
        (0x06, 0, 0, 0x80000000),  # return KILL_PROCESS
        (0x20, 0, 0, 0),  # A = sys_number
    )
    assert program[4] == (BPF_JMP | BPF_JGE | BPF_K, 0, 1, X32_BIT)
    assert program[5] == (0x06, 0, 0, KILL_PROCESS.ret)
    assert len(compiled) == len(program) <= 256
    assert compiled.packed() == pack(program) and len(compiled.packed()) == 8 * len(program)
    # comparisons counts the dispatch JGEs, not the x32 check
    assert compiled.comparisons == sum(1 for insn in program if insn.code == BPF_JMP | BPF_JGE | BPF_K) - 1
    assert set(compiled.rules) == allowed_numbers(policy_name)
    assert all(a == ALLOW for a in compiled.rules.values())


# --------------------------------------------------------------------------- random allow-lists


def _random_cases() -> list[tuple[str, frozenset[int]]]:
    rng = random.Random(20487)  # upstream's PR number, for luck
    table = sorted(NAMES)
    cases: list[tuple[str, frozenset[int]]] = [
        ("empty", frozenset()),
        ("zero", frozenset({0})),
        ("max", frozenset({X32_BIT - 1})),
        ("all-0..1023", frozenset(range(1024))),
        ("all-table", frozenset(table)),
        ("alternating-even-0..1023", frozenset(range(0, 1024, 2))),
        ("alternating-odd-0..1023", frozenset(range(1, 1024, 2))),
        ("alternating-even-0..1535", frozenset(range(0, 1536, 2))),
        ("alternating-table", frozenset(table[::2])),
    ]
    for size in (1, 2, 3, 5, 8, 13, 40, 64, 127, 128, 129, 200, 255, 256, 300, 400, 500, 700):
        cases.append((f"random-{size}-of-1024", frozenset(rng.sample(range(1024), size))))
    for size in (10, 100, 250):
        cases.append((f"random-{size}-of-table", frozenset(rng.sample(table, size))))
    for size in (1, 20, 300, 1000):
        cases.append((f"random-{size}-wide", frozenset(rng.randrange(X32_BIT) for _ in range(size))))
    return cases


RANDOM_CASES = _random_cases()


@cache
def random_filter(case: str, action: str = "TRAP", layout: str = "tree") -> CompiledFilter:
    allowed = dict(RANDOM_CASES)[case]
    return compile_allow_list(allowed, ACTIONS[action], layout=layout)


def _probes(allowed: frozenset[int]) -> list[int]:
    near = {m for nr in allowed for m in (nr - 1, nr, nr + 1) if 0 <= m < X32_BIT}
    return sorted(near | set(NATIVE) | {X32_BIT - 1})


def _boundaries(allowed: frozenset[int]) -> int:
    """Where the verdict changes along 0 .. X32_BIT - 1, counted independently of the compiler."""
    starts = sum(1 for nr in allowed if nr != 0 and nr - 1 not in allowed)
    ends = sum(1 for nr in allowed if nr + 1 < X32_BIT and nr + 1 not in allowed)
    return starts + ends


@pytest.mark.parametrize("case", [c for c, _ in RANDOM_CASES])
def test_random_allow_list(case: str) -> None:
    allowed = dict(RANDOM_CASES)[case]
    for action in ("TRAP", "KILL_PROCESS"):
        compiled = random_filter(case, action)
        assert len(compiled.program) <= BPF_MAXINSNS
        validate(compiled.program)
        check_membership(compiled, allowed, ACTIONS[action], _probes(allowed))
        check_membership(compiled, frozenset(), ACTIONS[action], [*X32[::64], 0xFFFFFFFF])
        for arch in FOREIGN_ARCHES:
            assert verdict(compiled.program, min(allowed, default=0), arch) == KILL_PROCESS.ret


@pytest.mark.parametrize("case", [c for c, s in RANDOM_CASES if len(s) <= 400])
def test_random_allow_list_linear(case: str) -> None:
    allowed = dict(RANDOM_CASES)[case]
    compiled = random_filter(case, "TRAP", "linear")
    assert len(compiled.program) == 4 + 2 * len(allowed) + 1
    check_membership(compiled, allowed, TRAP, _probes(allowed))


@pytest.mark.parametrize("case", [c for c, _ in RANDOM_CASES])
def test_random_tree_depth_is_logarithmic(case: str) -> None:
    allowed = dict(RANDOM_CASES)[case]
    compiled = random_filter(case)
    jumps = sum(1 for i in compiled.program if i.code in (JA, BPF_JMP | BPF_JGE | BPF_K))
    runs = len(compiled.program) - jumps - 5  # prologue: 2 loads, the arch JEQ, 2 returns
    assert runs == compiled.comparisons + 1  # one return per run
    probes = _probes(allowed)
    worst = max(_executed(compiled.program, probes[:: max(1, len(probes) // 2048)]))
    depth = math.ceil(math.log2(runs)) if runs > 1 else 0
    # A = arch, its JEQ, A = sys_number, the x32 JGE, the return: 5; per level one JGE, plus a JA
    # where the left side is longer than a conditional jump reaches
    assert worst <= 5 + 2 * depth
    if JA not in {i.code for i in compiled.program}:
        assert worst <= 5 + depth


def test_long_jumps_are_used_and_taken() -> None:
    with_ja = [c for c, _ in RANDOM_CASES if any(i.code == JA for i in random_filter(c).program)]
    assert "alternating-even-0..1023" in with_ja
    assert "alternating-even-0..1535" in with_ja
    assert "zero" not in with_ja and "random-40-of-1024" not in with_ja
    # every JA jumps forward past a subtree longer than a conditional jump reaches
    program = random_filter("alternating-even-0..1535").program
    assert len(program) > 3000
    for pc, insn in enumerate(program):
        if insn.code == JA:
            assert insn.k > 255
            assert program[pc - 1].code == BPF_JMP | BPF_JGE | BPF_K and program[pc - 1][1:3] == (0, 1)
    # and the emulator actually goes through some of them
    taken = {
        pc
        for nr in range(0, 1536, 7)
        for pc in emulate(program, SeccompData(nr), check=False).executed
        if program[pc].code == JA
    }
    assert len(taken) >= 2


def test_too_many_runs_is_refused() -> None:
    with pytest.raises(BpfError, match="4096"):
        compile_allow_list(range(0, 4096, 2), TRAP)


def test_a_contiguous_block_compiles_to_two_runs() -> None:
    compiled = random_filter("all-0..1023")
    assert compiled.comparisons == 1
    assert len(compiled.program) == 6 + 3


def test_run_count_matches_independent_count() -> None:
    for case, allowed in RANDOM_CASES:
        if case != "max":  # see test_highest_native_number_adds_no_dead_comparison
            assert random_filter(case).comparisons == _boundaries(allowed), case
    assert _boundaries(frozenset({5})) == 2
    assert _boundaries(frozenset({0, 1, 2})) == 1


# --------------------------------------------------------------------------- rules and errors


def test_compile_rules_with_several_actions() -> None:
    rules = {0: ALLOW, 1: ALLOW, 39: ERRNO(1), 40: ERRNO(1), 115: TRACE(5), 500: LOG, 501: ALLOW, 1000: TRAP}
    compiled = compile_rules(rules, TRAP, arch_action=ERRNO(38))
    assert 1000 not in compiled.rules  # same as the default: dropped
    for nr in range(1100):
        want = rules.get(nr, TRAP)
        assert emulate(compiled.program, SeccompData(nr)).action == want, nr
    assert emulate(compiled.program, SeccompData(0, AUDIT_ARCH_I386)).action == ERRNO(38)


@pytest.mark.parametrize("bad", [-1, X32_BIT, X32_BIT | 39, 0xFFFFFFFF])
def test_numbers_outside_the_native_range_are_refused(bad: int) -> None:
    with pytest.raises(BpfError, match=str(bad)):
        compile_allow_list([0, bad], TRAP)


def test_highest_native_number_compiles() -> None:
    compiled = compile_allow_list([X32_BIT - 1], TRAP)
    assert emulate(compiled.program, SeccompData(X32_BIT - 1)).action == ALLOW
    assert emulate(compiled.program, SeccompData(X32_BIT - 2)).action == TRAP
    assert emulate(compiled.program, SeccompData(X32_BIT)).action == TRAP


def test_highest_native_number_adds_no_dead_comparison() -> None:
    """Allowing 0x3FFFFFFF must not add a run starting at 0x40000000: the x32 check already
    sent every such number to the default, so that comparison and return are dead code."""
    compiled = compile_allow_list([X32_BIT - 1], TRAP)
    dispatch = compiled.program[6:]
    assert [i.k for i in dispatch if i.code == BPF_JMP | BPF_JGE | BPF_K] == [X32_BIT - 1]
    assert compiled.comparisons == 1


def test_unknown_layout() -> None:
    with pytest.raises(ValueError, match="tree, linear"):
        compile_allow_list([1], TRAP, layout="zigzag")


def test_empty_allow_list_is_all_default() -> None:
    compiled = compile_allow_list([], ERRNO(1))
    assert compiled.comparisons == 0
    assert {emulate(compiled.program, SeccompData(nr)).ret for nr in range(600)} == {ERRNO(1).ret}


def test_same_input_same_program() -> None:
    a = compile_allow_list([5, 3, 1, 2], TRAP)
    b = compile_allow_list(iter([1, 2, 3, 5, 5]), TRAP)
    assert a.program == b.program


# --------------------------------------------------------------------------- trusted instruction pointer

TRUSTED = 0x00007F12_3456789A


@pytest.mark.parametrize("action", ["KILL_PROCESS", "TRAP"])
def test_trusted_ip_allows_everything_from_that_address_only(action: str) -> None:
    allowed = allowed_numbers("NET")
    compiled = compile_allow_list(allowed, ACTIONS[action], trusted_ip=TRUSTED)
    plain = policy_filter("NET", action).program
    default = ACTIONS[action].ret

    def run(nr: int, ip: int, arch: int = AUDIT_ARCH_X86_64) -> int:
        return emulate(compiled.program, SeccompData(nr, arch, ip), check=False).ret

    for nr in [*NATIVE, X32_BIT | 39, 0xFFFFFFFF]:
        assert run(nr, TRUSTED) == ALLOW.ret, nr
        # any other address: exactly the plain filter's verdict
        assert run(nr, 0) == verdict(plain, nr), nr
    for ip in (TRUSTED + 1, TRUSTED - 1, TRUSTED & 0xFFFFFFFF, TRUSTED ^ (1 << 40), TRUSTED ^ (1 << 32)):
        assert run(115, ip) == default, hex(ip)  # only one half matches, or neither
    for arch in FOREIGN_ARCHES:
        assert run(115, TRUSTED, arch) == KILL_PROCESS.ret  # the arch check comes first
    validate(compiled.program)


@pytest.mark.parametrize("bad", [0, -1, 1 << 64])
def test_trusted_ip_must_be_a_user_address(bad: int) -> None:
    with pytest.raises(BpfError, match="trusted_ip"):
        compile_allow_list([0], TRAP, trusted_ip=bad)
