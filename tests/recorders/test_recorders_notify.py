"""What only the notify recorder has: the listener's hand-over, the seal, the supervisor's end.

Real filters in real forked children (``recorders_support.run_child``), checked from
the parent: what the kernel let run, what the supervisor recorded, how the child ended.
"""

from __future__ import annotations

import ctypes
import errno
import itertools
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from recorders_support import ALL_BUT_GETGROUPS, NR_GETGROUPS, ROLE, Child, run_child

from pytest_syscall_sandbox.engine.emulator import SeccompData, emulate
from pytest_syscall_sandbox.kernel.actions import USER_NOTIF, Action
from pytest_syscall_sandbox.kernel.calls import raw_syscall
from pytest_syscall_sandbox.kernel.syscalls import NAMES, syscall_number
from pytest_syscall_sandbox.kernel.trampoline import trusted_syscall
from pytest_syscall_sandbox.recorders.notify import GUARD_DATA, NO_HAND_OVER_EXIT, NotifyRecorder
from pytest_syscall_sandbox.roles.policies import policy_syscalls
from pytest_syscall_sandbox.sandbox import FilterSpec, HarnessGuard, filter_verdict, prepare


@pytest.fixture(autouse=True)
def _notify_available() -> None:
    reason = NotifyRecorder.unavailable_reason()
    if reason is not None:
        pytest.skip(reason)


def test_the_filter_trusts_no_instruction(tmp_path: Path) -> None:
    """The listener leaves with a courier thread, so no instruction is let through: the trampoline's calls stop too."""
    target = tmp_path / "through-the-trampoline"

    def body(child: Child) -> None:
        buffer = ctypes.create_string_buffer(os.fsencode(str(target)))
        child.report(made=trusted_syscall(syscall_number("mkdirat"), -100, ctypes.addressof(buffer), 0o755))

    run = run_child("notify", "log-and-abort", body)
    assert run.outcome.signal == signal.SIGKILL, run
    assert not target.exists()
    (record,) = run.records("mkdirat")
    assert record.outcome == "aborted" and str(target) in record.decoded_args


def test_the_courier_thread_is_gone_and_the_child_holds_no_listener() -> None:
    """After the hand-over the filtered child has only its own threads and no seccomp listener."""

    def body(child: Child) -> None:
        for _ in range(200):  # the courier ends right after it set its flag
            if threading.active_count() == 1:
                break
            time.sleep(0.01)
        threads = sorted(t.name for t in threading.enumerate())
        listeners = [n for n in os.listdir("/proc/self/fd") if "seccomp" in _link(f"/proc/self/fd/{n}")]
        child.report(threads=threads, listeners=listeners)

    run = run_child("notify", "audit", body, allowed=ALL_BUT_GETGROUPS)
    assert run.outcome.exit_code == 0 and run.outcome.incomplete == [], run
    assert run.results == {"threads": ["MainThread"], "listeners": []}


def _link(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return ""


def test_a_supervisor_killed_from_outside_ends_the_test_with_an_incomplete_record() -> None:
    """The kernel fails the stopped call with ENOSYS once the listener is gone; the parent sees no ``end``."""

    def body(child: Child) -> None:
        me = os.getpid()
        with open(f"/proc/{me}/task/{me}/children") as handle:
            (supervisor,) = (int(pid) for pid in handle.read().split())
        os.kill(supervisor, signal.SIGKILL)  # the role here allows kill: the supervisor is not asked
        os.waitpid(supervisor, 0)
        child.report(getgroups=_raw_getgroups())

    run = run_child("notify", "audit", body, allowed=ALL_BUT_GETGROUPS)
    assert run.outcome.exit_code == 0 and not run.outcome.timed_out, run
    assert run.results["getgroups"] == -errno.ENOSYS  # no listener: refused at once, never hung
    assert any("the notify supervisor ended before" in text for text in run.outcome.incomplete)
    assert run.records("getgroups") == []


def _raw_getgroups() -> int:
    result, error = raw_syscall(NR_GETGROUPS, 0, 0)
    return -error if result == -1 else int(result)


def test_guard_refusals_are_told_apart_by_the_filters_own_verdict() -> None:
    """``filter_verdict`` (the table where no argument rule applies) answers as the program does."""
    guard = HarnessGuard.around()
    guard_action = Action(USER_NOTIF.action, GUARD_DATA)
    compiled = prepare(FilterSpec(frozenset(policy_syscalls(ROLE)), USER_NOTIF, guard=guard, guard_action=guard_action))
    pid = os.getpid()
    argument_sets = [
        (0, 0, 0, 0, 0, 0),
        (pid, signal.SIGSTOP, 0, 0, 0, 0),
        (22, 2, 0, 0, 0, 0),
        (0x00800011, 0, 0, 0, 0, 0),
    ]
    for nr, args in itertools.product([*NAMES, 0x40000000 | 39, 1000], argument_sets):
        expected = emulate(compiled.program, SeccompData(nr, instruction_pointer=0x1000, args=args)).action
        assert filter_verdict(compiled, nr, args, 0x1000) == expected, (NAMES.get(nr, nr), args)
    assert filter_verdict(compiled, syscall_number("kill"), (pid, signal.SIGSTOP), 0x1000) == guard_action
    assert filter_verdict(compiled, NR_GETGROUPS, (), 0x1000) == USER_NOTIF


def _close_every_socket() -> None:
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{name}").startswith("socket:"):
                os.close(int(name))
        except OSError:
            pass


def test_a_listener_that_never_reached_the_supervisor_makes_the_record_incomplete() -> None:
    """Setup (unfiltered) closed the hand-over socket: the child exits at the hand-over, and the parent says why."""

    def body(child: Child) -> None:
        child.report(getgroups=_raw_getgroups())

    run = run_child("notify", "audit", body, setup=_close_every_socket)
    assert run.outcome.exit_code == NO_HAND_OVER_EXIT and not run.outcome.timed_out, run
    assert run.results == {}  # the test never ran
    assert any("never received the filter's listener" in text for text in run.outcome.incomplete), run.outcome
