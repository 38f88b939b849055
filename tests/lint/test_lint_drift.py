"""The drift data for glibc 2.37-2.43 and CPython 3.12-3.14, and what the lint makes of it.

The environments here are made up (``LintEnvironment.assume``), so each case says what
the lint predicts for a glibc and CPython pair, whatever machine runs the suite; the
real machine's side is ``test_lint_jobs.py`` (the jobs against the kernel) and
``tests/bundled`` (the lint against an audit run of the sample project).
"""

from __future__ import annotations

import pytest

from pytest_syscall_sandbox.lint.drift import BLOCKED, HAZARDS, LIBRARY_DRIFT, LOCKED, hazards
from pytest_syscall_sandbox.lint.environment import LintEnvironment
from pytest_syscall_sandbox.lint.facts import Job, Span, parse_version, spans
from pytest_syscall_sandbox.lint.findings import CERTAIN, LIKELY, NOTE, lint_role
from pytest_syscall_sandbox.lint.jobs import BARE, EXEC_FAILS, FORK, JOBS, OPEN, PATH, PROGRAM, SUBPROCESS, THREAD
from pytest_syscall_sandbox.roles.policies import SyscallSandboxPolicy, policy_syscalls

BOOKWORM = LintEnvironment.assume(libc_version="2.36", python="3.11")
TRIXIE = LintEnvironment.assume(libc_version="2.41", python="3.13")
SID = LintEnvironment.assume(libc_version="2.43", python="3.14")
NET = policy_syscalls(SyscallSandboxPolicy.NET)
SCRIPT_CHECK = policy_syscalls(SyscallSandboxPolicy.VALIDATION_SCRIPT_CHECK)


def steps(job: Job, syscall: str) -> list[str]:
    """The version spans of each step of ``job`` that makes ``syscall``."""
    return [", ".join(s.describe() for s in step.spans) for step in job.steps if step.syscall == syscall]


def test_each_fact_the_issue_names_is_there_with_its_version_and_source() -> None:
    drift = {(d.syscall, d.by): d for d in LIBRARY_DRIFT}
    assert drift[("fstat", "glibc")].since == "2.39" and "551101e824" in drift[("fstat", "glibc")].source
    assert drift[("waitid", "glibc")].since == "2.40" and "c90cfce849" in drift[("waitid", "glibc")].source
    assert steps(OPEN, "fstat")[:2] == ["CPython before 3.14, glibc 2.39+", "CPython 3.14+, glibc 2.39+"]
    assert steps(OPEN, "newfstatat") == ["CPython, glibc 2.33 to 2.39"]
    assert steps(SUBPROCESS, "clone3") == ["CPython 3.13+, glibc 2.34+"]  # posix_spawn, a program path
    assert steps(SUBPROCESS, "close_range") == ["CPython 3.10+"]
    assert steps(SUBPROCESS, "vfork") == ["CPython 3.10 to 3.13", "CPython 3.13+"]
    assert steps(SUBPROCESS, "waitid") == ["CPython 3.13+, glibc 2.34+, glibc 2.40+"]
    assert steps(FORK, "openat") == ["CPython 3.12+"]  # /proc/self/stat
    assert steps(FORK, "rt_sigprocmask") == ["glibc 2.41+"]
    assert steps(THREAD, "sched_getaffinity") == ["CPython 3.14+"]  # sid
    assert steps(THREAD, "prctl") == ["CPython 3.14+"]  # sid: PR_SET_NAME
    assert steps(PROGRAM, "getrandom") == ["glibc 2.42+"]  # sid
    fork_blocks = [h for h in HAZARDS if h.job == FORK.name and h.cause == BLOCKED]
    assert [h.spans for h in fork_blocks] == [(Span("glibc", since="2.41"),)] and "b300078d97" in fork_blocks[0].source


def test_every_fact_says_how_it_was_established() -> None:
    for job in JOBS.values():
        for step in job.steps:
            assert step.source and step.what, (job.name, step)
            for span in step.spans:
                assert span.by in ("glibc", "CPython") and all(parse_version(v) for v in (span.since, span.until) if v)
    assert {h.job for h in HAZARDS} <= set(JOBS)
    assert all(h.source != "believed" for h in HAZARDS)
    new = [d for d in LIBRARY_DRIFT if d.by == "glibc" and parse_version(d.since) >= (2, 37)]
    assert len(new) == 3 and all("measured" in d.source for d in new)


def test_spans_read_the_short_forms() -> None:
    assert spans("CPython 3.13+, glibc 2.34+") == (Span("CPython", since="3.13"), Span("glibc", since="2.34"))
    assert spans("glibc 2.33-2.39") == (Span("glibc", since="2.33", until="2.39"),)
    assert spans("CPython <3.14") == (Span("CPython", until="3.14"),)
    with pytest.raises(ValueError, match="bad version span"):
        spans("glibc 2.39")


@pytest.mark.parametrize(
    ("env", "certain"),
    [(BOOKWORM, {"vfork", "close_range", "set_tid_address"}), (TRIXIE, {"close_range", "set_tid_address"}),
     (SID, {"close_range", "set_tid_address"})],
)  # fmt: skip
def test_a_net_thread_that_runs_a_program(env: LintEnvironment, certain: set[str]) -> None:
    """NET plus execve: CPython's subprocess and the program's start-up need the rest."""
    result = lint_role("NET", NET | {"execve"}, env)
    assert set(result.certain) == certain
    found = {f.syscall: f for f in result.findings}
    if env.python is not None and env.python >= (3, 13):
        assert found["vfork"].severity == LIKELY and "without a directory part" in found["vfork"].reason
        assert found["waitid"].severity == LIKELY and "when the exec fails" in found["waitid"].reason
    else:
        assert found["vfork"].severity == CERTAIN and "CPython 3.10 to 3.13" in found["vfork"].reason


def test_vfork_for_plain_net_is_likely_and_says_why_for_each_python() -> None:
    """NET may never run a program: likely everywhere, for the reason of that Python."""
    on_311 = {f.syscall: f for f in lint_role("NET", NET, BOOKWORM).findings}["vfork"]
    on_313 = {f.syscall: f for f in lint_role("NET", NET, TRIXIE).findings}["vfork"]
    assert on_311.severity == on_313.severity == LIKELY
    assert "every program start" in on_311.reason and "will be used by CPython 3.13+" in on_311.reason
    assert "without a directory part" in on_313.reason and "3.10 to 3.13" not in on_313.reason.split(";")[0]


@pytest.mark.parametrize(("env", "stat"), [(BOOKWORM, "newfstatat"), (TRIXIE, "fstat"), (SID, "fstat")])
def test_a_script_checker_that_opens_a_file(env: LintEnvironment, stat: str) -> None:
    result = lint_role("VALIDATION_SCRIPT_CHECK", SCRIPT_CHECK | {"openat"}, env)
    assert result.certain == (stat,)


def test_fstat_comes_back_for_a_list_that_had_only_newfstatat() -> None:
    allowed = (NET - {"fstat"}) | {"newfstatat"}
    assert {f.syscall: f.severity for f in lint_role("x", allowed, BOOKWORM).findings}.get("fstat") == NOTE
    assert "fstat" in lint_role("x", allowed, TRIXIE).certain


def test_thread_start_on_314_needs_sched_getaffinity() -> None:
    allowed = NET - {"sched_getaffinity"}
    assert "sched_getaffinity" in lint_role("x", allowed, SID).certain
    found = {f.syscall: f.severity for f in lint_role("x", allowed, TRIXIE).findings}
    assert found.get("sched_getaffinity") == NOTE  # not yet: CPython 3.14


def test_forking_on_312_reads_proc_self_stat_likely_only() -> None:
    """A role that allows clone may only start threads: what os.fork() makes is likely, not certain."""
    found = {f.syscall: f.severity for f in lint_role("VALIDATION_SCRIPT_CHECK", SCRIPT_CHECK, TRIXIE).findings}
    assert found["openat"] == found["fstat"] == LIKELY
    on_311 = {f.syscall: f.severity for f in lint_role("VALIDATION_SCRIPT_CHECK", SCRIPT_CHECK, BOOKWORM).findings}
    assert on_311["openat"] == NOTE  # arrives with CPython 3.12


def test_job_calls_per_form() -> None:
    assert "vfork" in SUBPROCESS.calls(BOOKWORM, frozenset({PATH}))
    assert "vfork" not in SUBPROCESS.calls(TRIXIE, frozenset({PATH}))
    assert {"vfork", "pipe2"} <= SUBPROCESS.calls(TRIXIE, frozenset({BARE}))
    failed = SUBPROCESS.calls(TRIXIE, frozenset({PATH, EXEC_FAILS}))
    assert "waitid" in failed and "wait4" not in failed
    before_240 = SUBPROCESS.calls(
        LintEnvironment.assume(libc_version="2.39", python="3.13"), frozenset({PATH, EXEC_FAILS})
    )
    assert "wait4" in before_240 and "waitid" not in before_240
    with pytest.raises(ValueError, match="no form"):
        SUBPROCESS.calls(TRIXIE, frozenset({"quickly"}))


def test_hazards_per_machine() -> None:
    assert [h.cause for h in hazards(BOOKWORM, FORK.name)] == []
    assert [h.cause for h in hazards(TRIXIE, FORK.name)] == [BLOCKED]
    assert [h.cause for h in hazards(SID, THREAD.name)] == [BLOCKED, LOCKED]
    assert [h.cause for h in hazards(TRIXIE, THREAD.name)] == [BLOCKED]
    spawn = hazards(TRIXIE, SUBPROCESS.name, frozenset({PATH}))
    assert [h.syscalls for h in spawn] == [("clone3", "rt_sigaction", "close_range")]
    assert [h.syscalls[0] for h in hazards(BOOKWORM, SUBPROCESS.name, frozenset({PATH}))] == ["vfork"]
