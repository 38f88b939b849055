"""Where the drift data says a handler cannot run Python: a lock glibc holds at thread start.

CPython 3.14+ calls pthread_getattr_np() at every thread start, and glibc makes
sched_getaffinity there on the thread's own tid while holding the thread's lock
(:data:`~pytest_syscall_sandbox.lint.drift.HAZARDS`, cause LOCKED). Python run by a
handler at that trap reaches pthread_getattr_np() again and waits on the lock for ever,
so the ptrace recorder must not ask that thread for its location. Elsewhere no thread
start makes the call, and nothing is recorded.
"""

from __future__ import annotations

import signal
import threading

import pytest
from recorders_support import ALL_BUT_GETGROUPS, Child, run_child

from pytest_syscall_sandbox.kernel.syscalls import numbers_of
from pytest_syscall_sandbox.lint.drift import HAZARDS, LOCKED, hazards
from pytest_syscall_sandbox.lint.environment import LintEnvironment
from pytest_syscall_sandbox.lint.jobs import THREAD
from pytest_syscall_sandbox.recorders._child import UNDER_LOCK

pytestmark = pytest.mark.kernel

HERE = LintEnvironment.detect(probe=False)
#: Does a thread start make sched_getaffinity here, holding glibc's thread lock?
LOCKED_AT_THREAD_START = "sched_getaffinity" in THREAD.calls(HERE) and any(
    h.cause == LOCKED and "sched_getaffinity" in h.syscalls for h in hazards(HERE, THREAD.name)
)
WITHOUT_AFFINITY = ALL_BUT_GETGROUPS - numbers_of(["sched_getaffinity"])


def start_one_thread(child: Child) -> None:
    worker = threading.Thread(target=lambda: child.report(thread_ran=True), name="affine")
    worker.start()
    worker.join()
    child.report(joined=True)


def test_the_recorders_know_the_locked_calls_of_the_drift_data() -> None:
    assert {name for h in HAZARDS if h.cause == LOCKED for name in h.syscalls} == UNDER_LOCK


@pytest.mark.parametrize("mode", ["audit", "log-and-abort", "abort"])
def test_ptrace_never_asks_a_thread_inside_pthread_getattr_np(ptrace_recorder: str, mode: str) -> None:
    run = run_child(ptrace_recorder, mode, start_one_thread, allowed=WITHOUT_AFFINITY, timeout=20)
    assert not run.outcome.timed_out, run.outcome.notes  # it deadlocked here before
    records = run.records("sched_getaffinity")
    if not LOCKED_AT_THREAD_START:
        assert records == [] and run.outcome.exit_code == 0 and run.results["joined"]
        return
    (record,) = records
    assert record.location == "" and record.tid != record.pid
    assert any("pthread_getattr_np" in note for note in run.outcome.notes)
    if mode == "audit":
        assert run.outcome.exit_code == 0 and run.results["thread_ran"] and run.results["joined"]
    else:  # not asked, so not aborted by the handler: the tracer's SIGSYS, as the kernel's would
        assert run.outcome.signal == signal.SIGSYS


def test_sigsys_ends_such_a_thread_start_by_the_timeout_at_worst(sigsys_recorder: str) -> None:
    """The sigsys recorder's handler is Python itself: where it deadlocks, the run still ends on time."""
    run = run_child(sigsys_recorder, "audit", start_one_thread, allowed=WITHOUT_AFFINITY, timeout=5)
    if LOCKED_AT_THREAD_START:
        assert run.outcome.timed_out or run.outcome.signal is not None
        assert run.elapsed < 15
    else:
        assert not run.outcome.timed_out and run.outcome.exit_code == 0 and run.results["joined"]
