"""The ptrace recorder decides from the kernel's view only; the child's word is a label.

Recorder-level counterparts of tests/hostile: the phase label costs no syscall, the
record path survives ``closerange``, a where-handler that never answers does not
keep a doomed process alive, pytest's own (harness-labelled) calls are refused in the
abort modes without stopping pytest, and the harness guard refuses in audit too.
"""

from __future__ import annotations

import ctypes
import errno
import os
import signal
import time
from pathlib import Path

import pytest
from recorders_support import ALL_BUT_GETGROUPS, Child, line_of, run_child

from pytest_syscall_sandbox.kernel.signals import install_handler
from pytest_syscall_sandbox.kernel.syscalls import NUMBERS
from pytest_syscall_sandbox.recorders.ptrace import WHERE_SIGNAL, WHERE_TIMEOUT
from pytest_syscall_sandbox.recorders.record import GUARD_REFUSED, HARNESS, REFUSED

pytestmark = pytest.mark.kernel
NO_WRITE = ALL_BUT_GETGROUPS - {NUMBERS["write"]}


def test_the_phase_label_costs_no_syscall(ptrace_recorder: str) -> None:
    def body(child: Child) -> None:
        for phase in ("teardown", HARNESS, "call", "teardown"):
            child.context.phase = phase
        os.getgroups()

    run = run_child(ptrace_recorder, "audit", body, allowed=NO_WRITE, setup=None)
    assert run.outcome.exit_code == 0, run
    (record,) = run.records()  # no write of the recorder's own: only the test's getgroups
    assert (record.syscall, record.phase) == ("getgroups", "teardown")


def closes_everything(directory: Path) -> None:
    os.closerange(3, 1 << 16)
    files = [os.open(directory / f"f{index}", os.O_WRONLY | os.O_CREAT, 0o644) for index in range(40)]
    for fd in files:
        os.write(fd, b"before\n")
    os.getgroups()  # AFTER CLOSERANGE
    for fd in files:
        os.write(fd, b"after\n")


def test_closerange_in_audit_keeps_the_files_clean_and_the_location(ptrace_recorder: str, tmp_path: Path) -> None:
    run = run_child(ptrace_recorder, "audit", lambda child: closes_everything(tmp_path), allowed=ALL_BUT_GETGROUPS)
    assert run.outcome.exit_code == 0, run
    assert sorted(path.read_bytes() for path in tmp_path.iterdir()) == [b"before\nafter\n"] * 40
    records = run.records("getgroups")  # getgroups(0, NULL), then (as root) getgroups(n, list)
    assert records and all(r.location == line_of(closes_everything, "# AFTER CLOSERANGE") for r in records)


def test_a_where_handler_that_never_answers_does_not_keep_the_process_alive(ptrace_recorder: str) -> None:
    def body(child: Child) -> None:
        def spin(_info: object, _frame: object) -> None:
            while True:  # no syscall, never returns: the rewound call never comes back
                pass

        install_handler(WHERE_SIGNAL, spin)
        os.getgroups()
        child.report(survived=True)

    started = time.monotonic()
    run = run_child(ptrace_recorder, "log-and-abort", body)
    assert run.outcome.signal == signal.SIGKILL
    assert WHERE_TIMEOUT <= time.monotonic() - started < WHERE_TIMEOUT + 10
    assert "survived" not in run.results
    (record,) = run.records("getgroups")
    assert record.location == ""
    assert any("did not answer the where-signal" in note for note in run.outcome.notes)


def test_a_harness_labelled_call_is_refused_in_the_abort_modes_and_pytest_goes_on(ptrace_recorder: str) -> None:
    def body(child: Child) -> None:
        child.context.phase = HARNESS
        try:
            os.getgroups()
        except OSError as exc:
            child.report(errno=exc.errno)

    run = run_child(ptrace_recorder, "log-and-abort", body)
    assert run.outcome.exit_code == 0, run
    assert run.results["errno"] == errno.ENOSYS  # never ran
    (record,) = run.records("getgroups")
    assert (record.phase, record.outcome) == (HARNESS, REFUSED)
    assert record.function == "body"


def test_the_guard_refuses_in_audit_and_says_when_it_is_tampering(ptrace_recorder: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)

    def body(child: Child) -> None:
        try:
            os.kill(os.getppid(), 0)  # only a probe, but aimed at the tracer
        except OSError as exc:
            child.report(kill=exc.errno)
        child.report(prctl=libc.prctl(22, 2, 0, 0, 0), prctl_errno=ctypes.get_errno())

    run = run_child(ptrace_recorder, "audit", body, guard=True)
    assert run.outcome.exit_code == 0, run
    assert run.results["kill"] == errno.EPERM
    assert (run.results["prctl"], run.results["prctl_errno"]) == (-1, errno.EPERM)
    assert [(r.syscall, r.outcome, r.reason) for r in run.records()] == [
        ("kill", REFUSED, GUARD_REFUSED),
        ("prctl", REFUSED, GUARD_REFUSED),
    ]
    assert len(run.outcome.incomplete) == 1 and "seccomp filter of its own" in run.outcome.incomplete[0]
