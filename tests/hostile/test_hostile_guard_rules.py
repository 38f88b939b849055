"""The harness guard as filter rules: what it refuses, what it leaves alone (emulator only).

The pytester attacks in this folder show the same rules against the real kernel,
through both recorders; here every edge is checked cheaply in the BPF emulator.
"""

from __future__ import annotations

import pytest

from pytest_syscall_sandbox.engine.emulator import SeccompData, emulate
from pytest_syscall_sandbox.kernel.actions import ALLOW, ERRNO, TRACE, Action
from pytest_syscall_sandbox.kernel.syscalls import syscall_number
from pytest_syscall_sandbox.roles.guard import HarnessGuard, explain, guard_rules
from pytest_syscall_sandbox.roles.registry import RoleRegistry
from pytest_syscall_sandbox.sandbox import FilterSpec, allow_list_filter, prepare

# By hand, independent of the package.
PR_SET_SECCOMP, PR_SET_NAME = 22, 15
CLONE_UNTRACED, CLONE_THREAD_FLAGS, SIGCHLD = 0x00800000, 0x3D0F00, 17
SIGSTOP, SIGTERM = 19, 15
U64 = 2**64 - 1
ROLE = TRACE(1)
GUARD = TRACE(2)
HARNESS = HarnessGuard(targets=frozenset({4242, 4243, 5000}), groups=frozenset({4242, 77}))
NET = RoleRegistry().get("NET").allowed


def verdict(nr_name: str, *args: int, allowed: frozenset[str] = NET, guard: HarnessGuard = HARNESS) -> Action:
    compiled = allow_list_filter(allowed, ROLE, guard=guard, guard_action=GUARD)
    padded = (tuple(args) + (0,) * 6)[:6]
    return emulate(compiled.program, SeccompData(syscall_number(nr_name), args=padded), check=False).action


@pytest.mark.parametrize(
    ("call", "args", "expected"),
    [
        ("prctl", (PR_SET_SECCOMP, 2, 0), GUARD),
        ("prctl", ((7 << 32) | PR_SET_SECCOMP, 2, 0), GUARD),  # the kernel reads an int
        ("prctl", (PR_SET_NAME, 0), ALLOW),
        ("seccomp", (1, 0, 0), GUARD),
        ("seccomp", (0, 0, 0), GUARD),
        ("seccomp", (2, 0, 0), ROLE),  # GET_ACTION_AVAIL: a question; NET does not allow seccomp
        ("clone", (CLONE_UNTRACED | SIGCHLD, 0), GUARD),
        ("clone", (CLONE_THREAD_FLAGS, 0), ALLOW),
        ("clone", (SIGCHLD, 0), ALLOW),
        ("clone3", (0, 88), ERRNO(38)),
        ("kill", (4242, SIGSTOP), GUARD),
        ("kill", (5000, SIGTERM), GUARD),  # a thread id signals its whole process
        ("kill", (U64, SIGSTOP), GUARD),  # -1: everyone we may signal
        ("kill", ((1 << 32) - 77, SIGSTOP), GUARD),  # -77: a harness process group
        ("kill", ((1 << 32) - 4242, SIGSTOP), GUARD),
        ("kill", (4244, SIGSTOP), ROLE),  # any other process: the role decides (NET lacks kill)
        ("kill", (0, SIGTERM), ROLE),
        ("kill", ((9 << 32) | 4242, SIGSTOP), GUARD),
        ("tgkill", (4242, 4243, SIGSTOP), GUARD),
        ("tgkill", (4244, 4244, SIGSTOP), ALLOW),
        ("tkill", (4243, SIGSTOP), GUARD),
        ("rt_sigqueueinfo", (4242, SIGSTOP, 0), GUARD),
        ("rt_tgsigqueueinfo", (4242, 4242, SIGSTOP, 0), GUARD),
        ("pidfd_open", (4242, 0), GUARD),
        ("pidfd_open", (4244, 0), ROLE),  # not the harness: the role decides (NET lacks it)
        ("ptrace", (16, 4242, 0, 0), GUARD),  # PTRACE_ATTACH
        ("ptrace", (16, 4244, 0, 0), ROLE),
        ("process_vm_writev", (4242, 0, 1, 0, 1, 0), GUARD),
        ("setpgid", (0, 4242), GUARD),
        ("setpgid", (0, 0), ROLE),
        ("pidfd_send_signal", (3, SIGSTOP, 0, 0), GUARD),
        ("pidfd_getfd", (3, 4, 0), GUARD),
    ],
)
def test_the_guard_refuses_what_reaches_the_harness(call: str, args: tuple[int, ...], expected: Action) -> None:
    assert verdict(call, *args) == expected


def test_the_guard_applies_whatever_the_role_allows() -> None:
    everything = frozenset({"prctl", "seccomp", "clone", "kill", "pidfd_open", "ptrace"}) | NET
    assert verdict("seccomp", 1, 0, 0, allowed=everything) == GUARD
    assert verdict("pidfd_open", 4242, 0, allowed=everything) == GUARD
    assert verdict("pidfd_open", 4244, 0, allowed=everything) == ALLOW
    assert verdict("kill", 4244, SIGSTOP, allowed=everything) == ALLOW
    assert verdict("kill", 0, SIGTERM, allowed=everything) == ALLOW  # the test's own process group
    assert verdict("kill", 4242, SIGSTOP, allowed=frozenset()) == GUARD
    assert verdict("kill", 4244, SIGSTOP, allowed=frozenset()) == ROLE


TRUSTED_IP = 0x7F00_1234_5678
X32_SYSCALL_BIT = 0x40000000


def trusted_verdict(nr: int, *args: int, ip: int = TRUSTED_IP) -> Action:
    """The verdict of a sigsys audit filter (trusting ``TRUSTED_IP``) on a call made from ``ip``."""
    compiled = allow_list_filter(NET, ROLE, trusted_ip=TRUSTED_IP, guard=HARNESS, guard_action=GUARD)
    padded = (tuple(args) + (0,) * 6)[:6]
    return emulate(compiled.program, SeccompData(nr, instruction_pointer=ip, args=padded), check=False).action


def test_the_trusted_instruction_skips_the_role_never_the_guard() -> None:
    """The trampoline re-issues what the role trapped; it can never reach the harness."""
    mkdirat, kill = syscall_number("mkdirat"), syscall_number("kill")
    assert trusted_verdict(mkdirat, 2**64 - 100, 0, 0o755) == ALLOW  # NET lacks it: re-issued, runs
    assert trusted_verdict(mkdirat, 2**64 - 100, 0, 0o755, ip=TRUSTED_IP + 2) == ROLE  # elsewhere: the role
    assert trusted_verdict(kill, 4244, SIGSTOP) == ALLOW
    assert trusted_verdict(kill, 4242, SIGSTOP) == GUARD
    assert trusted_verdict(syscall_number("prctl"), PR_SET_SECCOMP, 2, 0) == GUARD
    assert trusted_verdict(syscall_number("clone"), CLONE_UNTRACED | SIGCHLD, 0) == GUARD
    assert trusted_verdict(syscall_number("clone3"), 0, 88) == ERRNO(38)
    assert trusted_verdict(syscall_number("pidfd_send_signal"), 3, SIGSTOP, 0, 0) == GUARD


def test_x32_numbers_are_refused_by_the_guard_in_every_mode() -> None:
    """The guard cannot read an x32 call's arguments (x32 ``kill`` is 62 | X32_SYSCALL_BIT): it never runs."""
    x32_kill = X32_SYSCALL_BIT | syscall_number("kill")
    assert trusted_verdict(x32_kill, 4242, SIGSTOP) == GUARD
    assert trusted_verdict(x32_kill, 4242, SIGSTOP, ip=0x1000) == GUARD
    assert trusted_verdict(X32_SYSCALL_BIT | 1023, ip=0x1000) == GUARD
    assert trusted_verdict(X32_SYSCALL_BIT | 1024, ip=0x1000) == ROLE  # ENOSYS in the kernel: the role's default
    assert trusted_verdict(2**32 - 1, ip=0x1000) == ROLE  # syscall(-1)
    unguarded = allow_list_filter(NET, ROLE)
    assert emulate(unguarded.program, SeccompData(x32_kill), check=False).action == ROLE  # upstream: the default


def test_around_names_this_process_its_threads_and_its_parent() -> None:
    import os
    import threading

    guard = HarnessGuard.around()
    assert {os.getpid(), os.getppid(), threading.get_native_id()} <= guard.targets
    assert os.getpgrp() in guard.groups
    assert 0 not in guard.targets and 1 not in guard.targets


def test_the_guard_is_part_of_the_cache_key() -> None:
    other = HarnessGuard(targets=frozenset({9999}), groups=frozenset())
    first = prepare(FilterSpec(NET, ROLE, guard=HARNESS, guard_action=GUARD))
    assert prepare(FilterSpec(NET, ROLE, guard=HARNESS, guard_action=GUARD)) is first
    assert prepare(FilterSpec(NET, ROLE, guard=other, guard_action=GUARD)).program != first.program


def test_a_guard_action_equal_to_the_role_action_is_refused() -> None:
    with pytest.raises(ValueError, match="must differ"):
        allow_list_filter(NET, ROLE, guard=HARNESS, guard_action=ROLE)


def test_every_guard_rule_says_why() -> None:
    assert all(rule.reason for rule in guard_rules(HARNESS))
    assert explain(syscall_number("kill"), (4242, SIGSTOP), HARNESS) == (
        "kill(4242, SIGSTOP): the target is one of the harness's processes: refused by the harness guard"
    )
    assert explain(syscall_number("kill"), (4244, SIGSTOP), HARNESS) is None
    assert explain(syscall_number("clone3"), (0, 88), HARNESS) is None  # a fallback, not a refusal
