"""How children end (exit codes, crashes, hangs) and load: the recorders never hang or lose records."""

from __future__ import annotations

import ctypes
import os
import signal
import time

import pytest
from recorders_support import ALL_BUT_GETGROUPS, NR_GETGROUPS, RECORDERS, Child, line_of, run_child

from pytest_syscall_sandbox.kernel.calls import raw_syscall
from pytest_syscall_sandbox.recorders.base import ChildContext

pytestmark = pytest.mark.kernel


def hang_after_a_violation(child: Child) -> None:
    os.getgroups()
    child.report(before_the_hang=True)
    time.sleep(600)


def test_a_hanging_child_is_killed_at_the_deadline_and_its_records_kept(recorder: str) -> None:
    # 3 s: on a loaded machine the child may need more than 1 s to reach its hang (the notify
    # supervisor's start, a located trap); it then sleeps 600 s, so only the deadline ends it.
    run = run_child(recorder, "audit", hang_after_a_violation, timeout=3.0)
    assert run.outcome.timed_out
    assert run.outcome.signal == signal.SIGKILL and run.outcome.exit_code is None
    assert run.elapsed < 8.0
    assert run.results["before_the_hang"]
    assert run.records("getgroups")


def test_an_early_exit_code_is_reported(recorder: str) -> None:
    run = run_child(recorder, "audit", lambda child: os._exit(3))
    assert (run.outcome.exit_code, run.outcome.signal, run.outcome.timed_out) == (3, None, False)
    assert run.outcome.records == []


def test_a_segfault_is_reported_as_sigsegv(recorder: str) -> None:
    def crash(child: Child) -> None:
        import faulthandler

        faulthandler.disable()  # keep pytest's fault handler quiet about the intended crash
        ctypes.string_at(0)

    run = run_child(recorder, "audit", crash)
    assert run.outcome.signal == signal.SIGSEGV and run.outcome.exit_code is None


def many_violations(child: Child) -> None:
    ok = 0
    for _ in range(5000):
        result, _ = raw_syscall(NR_GETGROUPS, 0, 0)  # MANY
        ok += result >= 0
    child.report(ok=ok)


def test_thousands_of_violations_are_all_recorded_without_deadlock(recorder: str) -> None:
    run = run_child(recorder, "audit", many_violations, timeout=120)
    assert run.outcome.exit_code == 0 and not run.outcome.timed_out
    assert run.results["ok"] == 5000  # every call ran
    records = run.records("getgroups")
    assert len(records) == 5000
    caller = f"{line_of(many_violations, '# MANY')} in many_violations"
    assert {r.function for r in records} == {"raw_syscall"}  # the innermost Python frame
    assert all(r.stack[-2] == caller for r in records)


def signals_and_job_control(child: Child) -> None:
    got: list[int] = []
    signal.signal(signal.SIGUSR1, lambda signum, frame: got.append(signum))
    signal.raise_signal(signal.SIGUSR1)
    parent = os.getpid()
    helper = os.fork()
    if helper == 0:
        try:
            time.sleep(0.3)
            os.kill(parent, signal.SIGCONT)
        finally:
            os._exit(0)
    stopped = time.monotonic()
    signal.raise_signal(signal.SIGSTOP)  # stopped until the helper's SIGCONT
    stopped = time.monotonic() - stopped
    os.waitpid(helper, 0)
    child.report(got=got, resumed=stopped > 0.2)
    os.getgroups()


def test_signals_reach_the_child_and_stops_stay_stops(recorder: str) -> None:
    run = run_child(recorder, "audit", signals_and_job_control, allowed=ALL_BUT_GETGROUPS, timeout=20)
    assert run.outcome.exit_code == 0, run
    assert run.results == {"got": [signal.SIGUSR1], "resumed": True}
    assert len(run.records("getgroups")) >= 1


def test_wait_is_idempotent(recorder: str) -> None:
    """The plugin calls wait() again after a KeyboardInterrupt: it must return the same outcome."""
    session = RECORDERS[recorder]().start(ChildContext("VALIDATION_SCRIPT_CHECK", "audit", "x"))
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            session.in_child()
        finally:
            os._exit(4)
    session.in_parent(pid)
    first = session.wait(time.monotonic() + 10)
    assert first.exit_code == 4
    assert session.wait(time.monotonic() + 10) is first
