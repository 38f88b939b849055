"""An independent oracle: libseccomp (through pyseccomp) builds each policy's allow-list,
and our emulator runs both its program and ours on every number; the verdicts must agree.

What libseccomp 2.5 returns, for the record (asserted in test_libseccomp_behaviour):
native numbers get ALLOW or the default action, as ours; a foreign arch and every x32
number (0x40000000 ..  0xFFFFFFFE) get its bad-arch action, KILL_THREAD (0) unless set;
0xFFFFFFFF passes its x32 check (it is the "no syscall" value ptrace uses) and gets the
default action. Ours gives foreign arches KILL_PROCESS and x32 numbers the default action,
so those are compared as ALLOW against not-ALLOW, and exactly when libseccomp's bad-arch
action is set to KILL_PROCESS and the default is KILL_PROCESS too.
"""

from __future__ import annotations

import tempfile
from functools import cache

import pytest
from core_support import AUDIT_ARCH_AARCH64, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, X32_BIT, expected_allowed

from pytest_syscall_sandbox import SyscallSandboxPolicy
from pytest_syscall_sandbox.engine.bpf import Instruction, unpack, validate
from pytest_syscall_sandbox.engine.emulator import SeccompData, emulate
from pytest_syscall_sandbox.kernel.actions import ALLOW, KILL_PROCESS, KILL_THREAD, TRAP, Action
from pytest_syscall_sandbox.roles.builder import build_policy_filter

try:
    import pyseccomp as seccomp
except (ImportError, RuntimeError) as exc:  # pyseccomp raises RuntimeError when libseccomp.so is missing
    pytest.skip(f"pyseccomp and libseccomp are the oracle of these tests: {exc}", allow_module_level=True)

ACTIONS = {"KILL_PROCESS": KILL_PROCESS, "TRAP": TRAP}
LIBSECCOMP_ACTION = {"KILL_PROCESS": seccomp.KILL_PROCESS, "TRAP": seccomp.TRAP}
NATIVE = range(1024)
X32 = [X32_BIT | n for n in range(1024)] + [0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF]
FOREIGN = [AUDIT_ARCH_I386, AUDIT_ARCH_AARCH64, 0, 0xFFFFFFFF]


@cache
def libseccomp_program(
    names: frozenset[str], action: str, optimize: int = 1, badarch_kill_process: bool = False
) -> tuple[Instruction, ...]:
    f = seccomp.SyscallFilter(defaction=LIBSECCOMP_ACTION[action])
    f.set_attr(seccomp.Attr.CTL_OPTIMIZE, optimize)  # 1: libseccomp's priority list, 2: its binary tree
    if badarch_kill_process:
        f.set_attr(seccomp.Attr.ACT_BADARCH, seccomp.KILL_PROCESS)
    for name in sorted(names):
        f.add_rule(seccomp.ALLOW, name)
    with tempfile.TemporaryFile() as out:
        f.export_bpf(out)
        out.seek(0)
        return tuple(unpack(out.read()))


@cache
def our_program(policy_name: str, action: str) -> tuple[Instruction, ...]:
    return build_policy_filter(SyscallSandboxPolicy[policy_name], ACTIONS[action]).program


def run(program: tuple[Instruction, ...], nr: int, arch: int = AUDIT_ARCH_X86_64) -> int:
    return emulate(program, SeccompData(nr, arch), check=False).ret


def test_pyseccomp_works() -> None:
    f = seccomp.SyscallFilter(defaction=seccomp.KILL_PROCESS)
    f.add_rule(seccomp.ALLOW, "getpid")
    assert seccomp.resolve_syscall(seccomp.Arch.X86_64, "getgroups") == 115
    program = libseccomp_program(frozenset({"getpid"}), "KILL_PROCESS")
    assert len(program) > 3


def test_libseccomp_behaviour() -> None:
    """Pin down what libseccomp returns, so the comparisons below mean what they say."""
    program = libseccomp_program(frozenset({"getpid", "read"}), "TRAP")
    validate(program)
    assert run(program, 39) == ALLOW.ret
    assert run(program, 115) == TRAP.ret
    assert run(program, X32_BIT | 39) == KILL_THREAD.ret
    assert run(program, 0xFFFFFFFE) == KILL_THREAD.ret
    assert run(program, 0xFFFFFFFF) == TRAP.ret
    assert run(program, 39, AUDIT_ARCH_I386) == KILL_THREAD.ret
    program = libseccomp_program(frozenset({"getpid"}), "TRAP", badarch_kill_process=True)
    assert run(program, X32_BIT | 39) == KILL_PROCESS.ret
    assert run(program, 20, AUDIT_ARCH_I386) == KILL_PROCESS.ret


@pytest.mark.parametrize("optimize", [1, 2], ids=["libseccomp-list", "libseccomp-tree"])
@pytest.mark.parametrize("action", list(ACTIONS))
def test_same_verdicts_as_libseccomp(policy_name: str, action: str, optimize: int) -> None:
    theirs = libseccomp_program(expected_allowed(policy_name), action, optimize)
    ours = our_program(policy_name, action)
    # our validator and emulator must take libseccomp's program as the kernel does
    validate(theirs)
    emulate(theirs, SeccompData(0), check=True)

    native = [nr for nr in NATIVE if run(ours, nr) != run(theirs, nr)]
    assert native == [], f"native numbers where the verdicts differ: {native[:10]}"
    assert sum(run(ours, nr) == ALLOW.ret for nr in NATIVE) == len(expected_allowed(policy_name))

    for nr in X32:
        assert run(ours, nr) == ACTIONS[action].ret, hex(nr)
        assert (run(theirs, nr) == ALLOW.ret) is False, hex(nr)
    for arch in FOREIGN:
        for nr in (0, 20, 39, 115, 0x40000027):
            assert run(ours, nr, arch) == KILL_PROCESS.ret
            assert run(theirs, nr, arch) != ALLOW.ret


def test_exactly_the_same_as_libseccomp_when_everything_kills_the_process(policy_name: str) -> None:
    theirs = libseccomp_program(expected_allowed(policy_name), "KILL_PROCESS", 2, badarch_kill_process=True)
    ours = our_program(policy_name, "KILL_PROCESS")
    for nr in [*NATIVE, *X32]:
        assert run(ours, nr) == run(theirs, nr), hex(nr)
    for arch in FOREIGN:
        assert run(ours, 39, arch) == run(theirs, 39, arch) == KILL_PROCESS.ret


def test_libseccomp_and_our_builder_agree_on_a_custom_list() -> None:
    from pytest_syscall_sandbox import SeccompPolicyBuilder

    # (libseccomp 2.5 predates mseal and the 6.13+ numbers, so the list stays within its table)
    builder = SeccompPolicyBuilder().allow("getgroups", "memfd_create", "pidfd_open", "close_range").deny("read")
    ours = builder.build_filter(TRAP).program
    theirs = libseccomp_program(builder.allowed, "TRAP", 2)
    assert [nr for nr in range(600) if run(ours, nr) != run(theirs, nr)] == []
    assert Action.from_ret(run(ours, 436)) == ALLOW
    assert Action.from_ret(run(ours, 0)) == TRAP
