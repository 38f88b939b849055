"""Threads, forked grandchildren, exec'd programs and escaped process groups."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time

import pytest
from recorders_support import (
    ALL_BUT_GETGROUPS,
    GROUPS,
    SCRIPT_CHECK,
    Child,
    death_signal,
    line_of,
    prints_the_message,
    run_child,
    wait_gone,
)

from pytest_syscall_sandbox.kernel.syscalls import numbers_of
from pytest_syscall_sandbox.lint.drift import BLOCKED, hazards
from pytest_syscall_sandbox.lint.environment import LintEnvironment
from pytest_syscall_sandbox.lint.jobs import FORK
from pytest_syscall_sandbox.sandbox import violation_message

pytestmark = pytest.mark.kernel

ID = shutil.which("id") or "/usr/bin/id"
#: This machine's glibc and CPython, for what the drift data says they do when a process forks.
HERE = LintEnvironment.detect(probe=False)
#: What os.fork() itself makes here (CPython 3.12+ reads /proc/self/stat in the parent).
FORK_CALLS = numbers_of(FORK.calls(HERE))
#: glibc 2.41+ blocks every signal around fork()'s clone: no handler runs at a trap there.
FORK_BLOCKS_SIGNALS = any("clone" in h.syscalls and h.cause == BLOCKED for h in hazards(HERE, FORK.name))
#: What ``id -G`` prints in a child given GROUPS (root only): the gid, then the groups.
ID_GROUPS = {str(os.getgid())} | {str(g) for g in GROUPS}


def in_a_thread(child: Child) -> None:
    def work() -> None:
        child.report(thread_tid=threading.get_native_id())
        os.getgroups()  # THREAD VIOLATION
        child.report(thread_done=True)

    worker = threading.Thread(target=work, name="worker-7")
    worker.start()
    worker.join()
    child.report(main_tid=threading.get_native_id())


@pytest.mark.parametrize("mode", ["audit", "log-and-abort", "abort"])
def test_a_violation_in_a_second_thread_has_that_threads_tid_and_name(
    recorder: str, mode: str, capfd: pytest.CaptureFixture[str]
) -> None:
    run = run_child(recorder, mode, in_a_thread)
    err = capfd.readouterr().err
    record = run.records("getgroups")[0]
    assert record.tid == run.results["thread_tid"] != record.pid
    assert record.thread == "worker-7"
    assert record.location.endswith(line_of(in_a_thread, "# THREAD VIOLATION").rsplit("/", 1)[1])
    assert record.function == "work"
    if mode == "audit":
        assert run.results["thread_done"] and run.outcome.exit_code == 0
        assert run.results["main_tid"] == record.pid
    else:
        assert run.outcome.signal == death_signal(recorder, mode)
        assert (violation_message(115, "worker-7") in err) == (mode == "log-and-abort" and prints_the_message(recorder))


def in_a_grandchild(child: Child) -> None:
    pid = os.fork()
    if pid == 0:
        try:
            child.report(grandchild=os.getpid())
            os.getgroups()  # GRANDCHILD VIOLATION
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    child.report(grandchild_status=status)


@pytest.mark.parametrize("mode", ["audit", "log-and-abort", "abort"])
def test_a_violation_in_a_forked_grandchild_is_recorded_with_its_pid(recorder: str, mode: str) -> None:
    """The role allows what os.fork() itself makes here, so only the grandchild's getgroups violates."""
    run = run_child(recorder, mode, in_a_grandchild, allowed=SCRIPT_CHECK | FORK_CALLS)
    records = run.records("getgroups")  # audit: getgroups(0, NULL), then getgroups(2, list)
    assert len(records) == (2 if mode == "audit" and os.getuid() == 0 else 1)
    record = records[0]
    grandchild = run.results["grandchild"]
    assert all(r.pid == r.tid == grandchild for r in records)
    assert record.location == line_of(in_a_grandchild, "# GRANDCHILD VIOLATION")
    assert run.outcome.exit_code == 0  # the child itself never violated
    status = run.results["grandchild_status"]
    assert (os.WTERMSIG(status) if os.WIFSIGNALED(status) else None) == death_signal(recorder, mode)


def exec_id(child: Child) -> None:
    pid = os.fork()
    if pid == 0:
        try:
            child.report(grandchild=os.getpid())
            os.dup2(child.fd, 1)
            os.execv(ID, ["id", "-G"])  # EXEC
        finally:
            os._exit(127)
    _, status = os.waitpid(pid, 0)
    child.report(exec_status=status)


def test_ptrace_follows_exec_and_records_the_programs_violations(ptrace_recorder: str) -> None:
    run = run_child(ptrace_recorder, "audit", exec_id)
    assert run.outcome.exit_code == 0
    assert os.waitstatus_to_exitcode(run.results["exec_status"]) == 0
    grandchild = run.results["grandchild"]
    (execve,) = [r for r in run.records("execve") if r.pid == grandchild]
    assert execve.location == line_of(exec_id, "# EXEC")  # asked before the exec
    assert ID in execve.decoded_args
    getgroups = [r for r in run.records("getgroups") if r.pid == grandchild]
    assert getgroups, run.outcome.records
    assert all(r.location == "" and r.thread == "id" for r in getgroups)  # exec'd: no Python there
    assert any("exec'd" in note for note in run.outcome.notes)
    if os.getuid() == 0:
        assert set(run.lines[0].split()) == ID_GROUPS  # id ran to the end under the filter


def test_sigsys_cannot_follow_exec_and_says_so(sigsys_recorder: str) -> None:
    run = run_child(sigsys_recorder, "audit", exec_id)
    assert run.outcome.exit_code == 0
    status = run.results["exec_status"]
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGSYS  # id's first disallowed call
    (execve,) = run.records("execve")
    assert execve.location == line_of(exec_id, "# EXEC")
    (lost,) = [text for text in run.outcome.incomplete if "without the recorder's SIGSYS handler" in text]
    assert f"process {run.results['grandchild']} exec'd {ID}" in lost  # audit: incomplete, and a note
    assert lost in run.outcome.notes


def run_subprocess(child: Child) -> None:
    result = subprocess.run([ID, "-G"], capture_output=True, text=True, check=False)  # SUBPROCESS
    child.report(stdout=result.stdout, returncode=result.returncode)


def test_ptrace_records_a_subprocess_through_vfork_and_exec(ptrace_recorder: str) -> None:
    run = run_child(ptrace_recorder, "audit", run_subprocess)
    assert run.outcome.exit_code == 0
    assert run.results["returncode"] == 0
    if os.getuid() == 0:
        assert set(run.results["stdout"].split()) == ID_GROUPS
    main = [r for r in run.outcome.records if r.location]
    marker = line_of(run_subprocess, "# SUBPROCESS")
    assert any(f"{marker} in run_subprocess" in r.stack for r in main)  # e.g. the vfork
    others = {r.pid for r in run.records("getgroups")}
    assert others and all(r.location == "" for r in run.records("getgroups"))


def escape_the_process_group(child: Child) -> None:
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()  # trapped (not in the role), run: a new session and process group
            child.report(grandchild=os.getpid(), pgid=os.getpgid(0))
            os.getgroups()  # ESCAPED VIOLATION
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def test_a_grandchild_outside_the_process_group_is_still_recorded(recorder: str) -> None:
    run = run_child(recorder, "audit", escape_the_process_group)
    assert run.outcome.exit_code == 0
    grandchild = run.results["grandchild"]
    assert run.results["pgid"] == grandchild
    record = run.records("getgroups")[0]
    assert record.pid == grandchild
    assert record.location == line_of(escape_the_process_group, "# ESCAPED VIOLATION")


def leave_a_sleeper(child: Child) -> None:
    pid = os.fork()
    if pid == 0:
        try:
            child.report(sleeper=os.getpid())
            os.getgroups()  # SLEEPER VIOLATION
            time.sleep(600)
        finally:
            os._exit(0)
    time.sleep(0.3)  # let the sleeper make its call, then leave it behind


def test_grandchildren_left_behind_are_killed_when_the_child_exits(recorder: str) -> None:
    run = run_child(recorder, "audit", leave_a_sleeper, timeout=60)
    assert run.outcome.exit_code == 0 and not run.outcome.timed_out
    assert run.elapsed < 10
    assert wait_gone(run.results["sleeper"])
    assert {r.pid for r in run.records("getgroups")} == {run.results["sleeper"]}


NO_PROCESS_CREATION = ALL_BUT_GETGROUPS - numbers_of(["fork", "vfork", "clone", "clone3"])


def fork_and_start_a_thread(child: Child) -> None:
    pid = os.fork()  # FORK
    if pid == 0:
        try:
            child.report(grandchild=os.getpid())
        finally:
            os._exit(7)
    _, status = os.waitpid(pid, 0)
    child.report(grandchild_exit=os.waitstatus_to_exitcode(status))
    worker = threading.Thread(target=lambda: child.report(thread_ran=True))
    worker.start()
    worker.join()


def had_a_thread() -> None:
    """Once a process had a thread, glibc's fork() holds its malloc lock across the clone call."""
    thread = threading.Thread(target=lambda: None)
    thread.start()
    thread.join()


def test_trapped_process_and_thread_creation(recorder: str) -> None:
    """fork runs through every recorder; thread creation (all signals blocked) only under ptrace and notify.

    Where glibc blocks every signal around fork()'s clone too (the drift data's hazards:
    glibc 2.41+), the fork's trap cannot be asked for its Python location under ptrace,
    and under sigsys it kills the child before any handler runs.
    """
    run = run_child(recorder, "audit", fork_and_start_a_thread, allowed=NO_PROCESS_CREATION, setup=had_a_thread)
    assert not run.outcome.timed_out  # no handler deadlocked on glibc's fork-time locks
    if recorder == "sigsys" and FORK_BLOCKS_SIGNALS:  # the fork's trap itself, with SIGSYS blocked
        assert run.records() == [] and run.outcome.signal == signal.SIGSYS
        assert any("SIGSYS was blocked" in text and "forks" in text for text in run.outcome.incomplete)
        return
    fork = run.records()[0]
    where = "" if FORK_BLOCKS_SIGNALS else line_of(fork_and_start_a_thread, "# FORK")
    assert fork.syscall == "clone" and fork.location == where
    assert run.results["grandchild_exit"] == 7  # both sides returned through the recorder
    if recorder in ("ptrace", "notify"):  # both see the kernel's stops, also with signals blocked
        assert run.outcome.exit_code == 0 and run.results["thread_ran"]
        (clone3,) = run.records("clone3")
        assert clone3.location == "" and any("blocked" in note for note in run.outcome.notes)
    else:  # the kernel kills a thread trapping with SIGSYS blocked: what upstream would see too
        assert run.outcome.signal == signal.SIGSYS
        assert any("SIGSYS was blocked" in text for text in run.outcome.incomplete)


def test_sigsys_cannot_audit_a_subprocess_and_says_so(sigsys_recorder: str) -> None:
    """CPython's subprocess spawns with every signal blocked and the handlers reset: a trap there
    kills, before any handler (3.11: the child itself, at its vfork; 3.13+: the posix_spawn child,
    which the parent saw start)."""
    run = run_child(sigsys_recorder, "audit", run_subprocess)
    assert any("CPython's subprocess" in text for text in run.outcome.incomplete), run.outcome
