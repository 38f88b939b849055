"""Tampering with the recorder is prevented or detected, and the test fails naming it.

Item 6: a test that ignores (or blocks) the where-signal, one that stacks a seccomp
filter of its own returning ERRNO(0) (ERRNO outranks TRACE/TRAP: the recorder would
never see the calls it covers), and one that makes a process with CLONE_UNTRACED.
"""

from __future__ import annotations

import pytest
from hostile_support import PRELUDE, attack

WITHOUT_WHERE = (
    PRELUDE
    + """
import signal
import pytest

TARGET = {target!r}


@pytest.mark.sandbox("NET")
def test_without_the_where_signal():
    signal.signal(signal.SIGSYS, lambda *args: None)
    {setup}
    try:
        os.getgroups()
    except OSError:
        pass
    for attempt in range(1000):
        if try_mkdirat(TARGET):
            break
"""
)
#: Ways to keep the where-signal from the recorder's handler.
IGNORE = "[signal.signal(number, signal.SIG_IGN) for number in range(signal.SIGRTMIN, signal.SIGRTMAX + 1)]"
BLOCK = "signal.pthread_sigmask(signal.SIG_BLOCK, set(range(signal.SIGRTMIN, signal.SIGRTMAX + 1)))"

STACKED = (
    PRELUDE
    + """
import pytest

from pytest_syscall_sandbox.engine.compiler import compile_rules
from pytest_syscall_sandbox.engine.install import install_filter
from pytest_syscall_sandbox.kernel.actions import ALLOW, ERRNO

TARGET = {target!r}
HIDE = compile_rules({{258: ERRNO(0)}}, ALLOW)  # mkdirat "succeeds" without running, unseen


@pytest.mark.sandbox("NET")
def test_stacks_a_filter_of_its_own():
    try:
        install_filter(HIDE.program)
    except OSError:
        pass
    try_mkdirat(TARGET)
"""
)

UNTRACED = (
    PRELUDE
    + """
import pytest

TARGET = {target!r}
CLONE_UNTRACED = 0x00800000
SIGCHLD = 17


@pytest.mark.sandbox("NET")
def test_starts_an_untraced_process():
    pid = _libc.syscall(56, CLONE_UNTRACED | SIGCHLD, 0, 0, 0, 0)
    if pid == 0:  # the untraced process: nobody follows it
        try_mkdirat(TARGET)
        os._exit(0)
    if pid > 0:
        os.waitpid(pid, 0)
"""
)


@pytest.mark.parametrize("recorder", ["ptrace", "notify"])  # their where-signal; sigsys: test_hostile_sigsys_records.py
@pytest.mark.parametrize("source", [IGNORE, BLOCK], ids=["ignored", "blocked"])
def test_an_ignored_or_blocked_where_signal_refuses_the_call_and_fails_the_test(
    pytester: pytest.Pytester, recorder: str, abort_mode: str, source: str
) -> None:
    target = pytester.path / "made-without-the-where-signal"
    pytester.makepyfile(WITHOUT_WHERE.format(target=str(target), setup=source))
    run = attack(pytester, recorder, abort_mode)
    assert not target.exists()
    run.result.assert_outcomes(failed=1)
    run.result.stdout.fnmatch_lines(['*The syscall "getgroups" (syscall number 115) is not allowed*'])


@pytest.mark.parametrize("recorder", ["ptrace", "notify"])  # their where-signal; sigsys: test_hostile_sigsys_records.py
def test_an_ignored_where_signal_in_audit_keeps_the_record_and_says_why(
    pytester: pytest.Pytester, recorder: str
) -> None:
    target = pytester.path / "made-in-audit"
    pytester.makepyfile(WITHOUT_WHERE.format(target=str(target), setup=IGNORE))
    run = attack(pytester, recorder, "audit", "-rA")
    assert target.is_dir()  # audit: the calls run
    run.result.assert_outcomes(passed=1)
    (record,) = run.records("getgroups")
    assert record["location"] == ""
    run.result.stdout.fnmatch_lines(["*no Python location*where-signal*"])
    assert "NET: 2 missing: getgroups, mkdirat" in run.output


@pytest.mark.parametrize("mode", ["audit", "log-and-abort"])
def test_a_filter_of_the_tests_own_is_refused(pytester: pytest.Pytester, recorder: str, mode: str) -> None:
    target = pytester.path / "hidden"
    pytester.makepyfile(STACKED.format(target=str(target)))
    run = attack(pytester, recorder, mode, "--sandbox-strict")
    run.result.assert_outcomes(failed=1)
    run.result.stdout.fnmatch_lines(["*prctl(22, 2*seccomp filter of the test's own*refused by the harness guard*"])
    assert run.records("prctl")


@pytest.mark.parametrize("mode", ["audit", "log-and-abort"])
def test_clone_untraced_is_refused(pytester: pytest.Pytester, recorder: str, mode: str) -> None:
    target = pytester.path / "made-untraced"
    pytester.makepyfile(UNTRACED.format(target=str(target)))
    run = attack(pytester, recorder, mode)
    assert not target.exists()
    run.result.assert_outcomes(failed=1)
    run.result.stdout.fnmatch_lines(
        ["*clone(CLONE_UNTRACED|SIGCHLD, 0x0, 0x0, 0x0, 0x0): a process made with CLONE_UNTRACED escapes the tracer*"]
    )
