"""Every record without a Python location says why, in its own words (ptrace, real children).

The tracer asks a trapping thread for its location with a signal; where it cannot,
the record's ``blank`` names the case: the exec'd program, the vfork child, who
blocked the signals and for what. Never a generic sentence, never a wrong one (a
subprocess's vfork is not a thread's creation).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading

import pytest
from recorders_support import ALL_BUT_GETGROUPS, Child, line_of, run_child

from pytest_syscall_sandbox.kernel.syscalls import numbers_of
from pytest_syscall_sandbox.recorders._blanks import GLIBC_FORK_BLOCKS

pytestmark = pytest.mark.kernel

TRUE = "/bin/true"
#: Process creation, exec and what a vfork child and /bin/true call first: trapped, and they run (audit).
TRAPPED = numbers_of(["fork", "vfork", "clone", "clone3", "close_range", "execve", "access"])
ROLE = ALL_BUT_GETGROUPS - TRAPPED


def spawn_true(child: Child) -> None:
    result = subprocess.run([TRUE], check=False)  # SPAWN
    child.report(returncode=result.returncode, pid=os.getpid())


def test_a_subprocess_vfork_its_child_and_the_exec_d_program_each_say_why(ptrace_recorder: str) -> None:
    run = run_child(ptrace_recorder, "audit", spawn_true, allowed=ROLE)
    assert run.outcome.exit_code == 0 and run.results["returncode"] == 0
    parent = run.results["pid"]
    (vfork,) = [r for r in run.records() if r.pid == parent and r.syscall in ("vfork", "clone", "clone3")]
    assert vfork.location == "" and "to spawn a child by vfork" in vfork.blank
    assert "CPython's subprocess" in vfork.blank and "thread" not in vfork.blank  # not the thread sentence
    spawned = [r for r in run.records() if r.pid != parent]
    before_exec = [r for r in spawned if r.syscall in ("close_range", "execve")]
    assert before_exec and all(
        r.blank == f"in a vfork child of process {parent} (it runs on its parent's memory until it execs)"
        for r in before_exec
    )
    in_true = [r for r in spawned if r.syscall == "access"]
    assert in_true and all(r.blank == f"in the exec'd program {TRUE}" for r in in_true)
    assert all(r.location or r.blank for r in run.records())
    assert f"no Python location for some calls: in the exec'd program {TRUE}" in run.outcome.notes


def start_a_thread(child: Child) -> None:
    worker = threading.Thread(target=lambda: None)
    worker.start()  # THREAD
    worker.join()


def test_a_thread_s_creation_says_glibc_blocked_the_signals_to_create_it(ptrace_recorder: str) -> None:
    run = run_child(ptrace_recorder, "audit", start_a_thread, allowed=ROLE)
    assert run.outcome.exit_code == 0
    (creation,) = [r for r in run.records() if r.syscall in ("clone", "clone3")]
    assert creation.location == ""
    assert creation.blank == "made while glibc blocked all signals to create a thread (pthread_create)"


def fork_with_every_signal_blocked(child: Child) -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, set(signal.valid_signals()))
    pid = os.fork()  # FORK
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)


def test_a_fork_with_signals_blocked_says_who_blocks_them(ptrace_recorder: str) -> None:
    """glibc 2.41+ blocks every signal around fork()'s clone itself; before, only the test can have."""
    run = run_child(ptrace_recorder, "audit", fork_with_every_signal_blocked, allowed=ROLE)
    assert run.outcome.exit_code == 0
    (fork,) = [r for r in run.records() if r.syscall in ("clone", "fork")]
    assert fork.location == ""
    if GLIBC_FORK_BLOCKS:
        assert fork.blank == "made while glibc's fork() blocked all signals around its clone (glibc 2.41+)"
    else:
        assert fork.blank.startswith("made while all signals were blocked (the where-signal, signal ")
        assert fork.blank.endswith("by the test or a library it uses") and "glibc's fork" not in fork.blank


def block_the_where_signal(child: Child) -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGRTMAX - 3})
    os.getgroups()  # BLOCKED
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGRTMAX - 3})
    os.getgroups()  # ASKED


def ignore_the_where_signal(child: Child) -> None:
    signal.signal(signal.SIGRTMAX - 3, signal.SIG_IGN)
    os.getgroups()


def test_a_where_signal_the_test_blocked_or_ignored_says_so(ptrace_recorder: str) -> None:
    run = run_child(ptrace_recorder, "audit", block_the_where_signal)
    records = run.records("getgroups")  # os.getgroups() asks for the count, then the groups
    blocked = [r for r in records if not r.location]
    asked = [r for r in records if r.location == line_of(block_the_where_signal, "# ASKED")]
    assert blocked and asked and len(blocked) + len(asked) == len(records)
    sentence = f"made with the where-signal (signal {signal.SIGRTMAX - 3}) blocked by the test or a library it uses"
    assert all(r.blank == sentence for r in blocked) and all(r.blank == "" for r in asked)
    ignored = run_child(ptrace_recorder, "audit", ignore_the_where_signal).records("getgroups")
    assert ignored and all(
        r.blank == f"the test ignored or reset the where-signal (signal {signal.SIGRTMAX - 3})" for r in ignored
    )
