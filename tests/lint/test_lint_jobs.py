"""The jobs of the drift data against what the kernel sees each job make on this machine.

Each case runs one everyday job in a forked child whose filter notifies this process of
every syscall any version of the job is known to make (all steps of all versions, the
job's "universe") and lets each call run. What the job makes of its universe here must
be exactly what :meth:`~pytest_syscall_sandbox.lint.facts.Job.calls` predicts for this
machine's glibc and CPython: a step the data lacks, or one it places in the wrong
versions, fails here, in whichever environment the suite runs.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import lint_support
import pytest

from pytest_syscall_sandbox.kernel.actions import USER_NOTIF
from pytest_syscall_sandbox.lint.environment import LintEnvironment
from pytest_syscall_sandbox.lint.facts import Job
from pytest_syscall_sandbox.lint.jobs import (
    BARE,
    EXEC_FAILS,
    FIRST_THREAD,
    FORK,
    JOBS,
    NOT_REGULAR,
    OPEN,
    PATH,
    PROGRAM,
    STAT,
    SUBPROCESS,
    THREAD,
)

pytestmark = pytest.mark.kernel


def start_thread() -> None:
    thread = threading.Thread(target=lambda: None)
    thread.start()
    thread.join()
    while len(os.listdir("/proc/self/task")) > 1:  # join returns before the thread's own end (madvise, exit)
        time.sleep(0.001)


def fork_and_wait() -> None:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - grandchild
        os._exit(0)
    os.waitpid(pid, 0)


def run(*argv: str) -> Callable[[], None]:
    def job() -> None:
        try:
            subprocess.run(list(argv), check=False)
        except FileNotFoundError:
            pass

    return job


@dataclass(frozen=True)
class Case:
    job: Job
    forms: frozenset[str]
    work: Callable[[], object]
    #: The job the exec'd program's calls belong to (None: nothing is exec'd).
    program: Job | None = None
    #: Forms that depend on what the process did before (a thread start's cached stack): may apply.
    maybe: frozenset[str] = frozenset()


CASES = {
    "thread start": Case(THREAD, frozenset(), start_thread, maybe=frozenset({FIRST_THREAD})),
    "fork": Case(FORK, frozenset(), fork_and_wait),
    "open a regular file": Case(OPEN, frozenset(), lambda: open(__file__, "rb").close()),
    "open /dev/null": Case(OPEN, frozenset({NOT_REGULAR}), lambda: open(os.devnull).close()),
    "stat a path": Case(STAT, frozenset(), lambda: os.stat(__file__)),
    "run /bin/true": Case(SUBPROCESS, frozenset({PATH}), run("/bin/true"), PROGRAM),
    "run true": Case(SUBPROCESS, frozenset({BARE}), run("true"), PROGRAM),
    "run a missing program": Case(SUBPROCESS, frozenset({PATH, EXEC_FAILS}), run("/nonexistent/true")),
    "run a missing bare program": Case(SUBPROCESS, frozenset({BARE, EXEC_FAILS}), run("no-such-program-here")),
}


def universe(job: Job) -> frozenset[str]:
    """Every syscall any version of ``job`` is known to make."""
    return frozenset(step.syscall for step in job.steps)


@pytest.fixture(scope="module")
def user_notif(kernel_ok: None) -> None:
    from pytest_syscall_sandbox.kernel.calls import action_available

    if not action_available(USER_NOTIF):
        pytest.skip("this kernel has no SECCOMP_RET_USER_NOTIF")


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_job_makes_what_the_drift_data_says_here(name: str, user_notif: None, real_env: LintEnvironment) -> None:
    case = CASES[name]
    watched_set = universe(case.job) | (universe(case.program) if case.program else frozenset())
    seen = lint_support.watch(watched_set, case.work)
    assert seen.exit_code == 0
    predicted = case.job.calls(real_env, case.forms)
    if case.maybe:  # the job makes at least what it always makes, at most what it can make
        assert predicted <= seen.names <= case.job.calls(real_env, case.forms | case.maybe), real_env.describe()
    elif case.program is None:
        assert seen.names == predicted, real_env.describe()
    else:
        before, after = seen.split_at_exec()
        assert before & universe(case.job) == predicted, real_env.describe()
        assert after & universe(case.program) == case.program.calls(real_env), real_env.describe()


def test_every_job_is_watched_here() -> None:
    assert {c.job.name for c in CASES.values()} | {PROGRAM.name} == set(JOBS)
    forms = {form for c in CASES.values() if c.job is SUBPROCESS for form in c.forms}
    assert forms == set(SUBPROCESS.forms)
