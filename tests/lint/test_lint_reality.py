"""The lint's predictions against a real run, for thread start, file stat and subprocess start.

The real run is :func:`lint_support.observe`: the job runs in a forked child under a
seccomp filter that allows the role's syscalls and reports every other one to the
test process, which answers ENOSYS, as the plugin's audit mode does with a trap.
So one run shows everything a job needs beyond the list, across the threads and
child processes it starts.

The comparison, for MESSAGE_HANDLER's early-2021 and final lists on this machine:

* every certain finding is observed: the lint names no crash that a real run of
  these three jobs does not show (early: newfstatat, clone3, rseq; final: none);
* every observed syscall is a certain or likely finding, except execve: the role
  allows no member of an exec family, so no sibling can predict it;
* each job needs beyond the list exactly what the drift data's job makes here
  (:meth:`~pytest_syscall_sandbox.lint.facts.Job.calls`) less what the list allows. The
  observer answers execve with ENOSYS, so the subprocess is the "exec fails" form of
  running a program by its path (glibc 2.36 and CPython 3.11: vfork, close_range,
  execve; glibc 2.41 and CPython 3.13: close_range, execve and waitid).
"""

from __future__ import annotations

import os
import subprocess
import threading

import lint_support
import pytest
import upstream_early_2021 as early

from pytest_syscall_sandbox.kernel.actions import USER_NOTIF
from pytest_syscall_sandbox.lint.environment import LintEnvironment
from pytest_syscall_sandbox.lint.findings import CERTAIN, LIKELY, lint_role
from pytest_syscall_sandbox.lint.jobs import EXEC_FAILS, PATH, STAT, SUBPROCESS, THREAD
from pytest_syscall_sandbox.roles.policies import SyscallSandboxPolicy, policy_syscalls

pytestmark = pytest.mark.kernel


def start_thread() -> None:
    thread = threading.Thread(target=lambda: None)
    thread.start()
    thread.join()


def stat_file() -> None:
    os.stat(__file__)


def start_subprocess() -> None:
    subprocess.run(["/bin/true"], check=True)


JOBS = {"thread start": start_thread, "file stat": stat_file, "subprocess start": start_subprocess}
#: The drift data's job for each, and the form of its call.
DRIFT_JOBS = {
    "thread start": (THREAD, frozenset()),
    "file stat": (STAT, frozenset()),
    "subprocess start": (SUBPROCESS, frozenset({PATH, EXEC_FAILS})),
}
LISTS = {
    "early 2021": early.early_roles()["MESSAGE_HANDLER"],
    "final": policy_syscalls(SyscallSandboxPolicy.MESSAGE_HANDLER),
}


@pytest.fixture(scope="module")
def observed(kernel_ok: None) -> dict[str, dict[str, lint_support.Observation]]:
    from pytest_syscall_sandbox.kernel.calls import action_available

    if not action_available(USER_NOTIF):
        pytest.skip("this kernel has no SECCOMP_RET_USER_NOTIF")
    return {
        name: {job: lint_support.observe(allowed, fn) for job, fn in JOBS.items()} for name, allowed in LISTS.items()
    }


@pytest.mark.parametrize("list_name", sorted(LISTS))
def test_certain_findings_are_real_crashes(
    list_name: str, observed: dict[str, dict[str, lint_support.Observation]], real_env: LintEnvironment
) -> None:
    result = lint_role("MESSAGE_HANDLER", LISTS[list_name], real_env)
    seen = frozenset().union(*(o.names for o in observed[list_name].values()))
    assert set(result.certain) <= seen


@pytest.mark.parametrize("list_name", sorted(LISTS))
def test_what_a_real_run_needs_was_predicted_except_execve(
    list_name: str, observed: dict[str, dict[str, lint_support.Observation]], real_env: LintEnvironment
) -> None:
    result = lint_role("MESSAGE_HANDLER", LISTS[list_name], real_env)
    predicted = {f.syscall for f in result.findings if f.severity in (CERTAIN, LIKELY)}
    seen = frozenset().union(*(o.names for o in observed[list_name].values()))
    assert seen - predicted <= {"execve"}, {job: o.trapped for job, o in observed[list_name].items()}


@pytest.mark.parametrize("list_name", sorted(LISTS))
@pytest.mark.parametrize("job", sorted(JOBS))
def test_each_job_needs_what_the_drift_data_says_here(
    list_name: str, job: str, observed: dict[str, dict[str, lint_support.Observation]], real_env: LintEnvironment
) -> None:
    drift_job, forms = DRIFT_JOBS[job]
    predicted = drift_job.calls(real_env, forms) - LISTS[list_name]
    assert observed[list_name][job].names == predicted, real_env.describe()


def test_how_the_real_runs_ended_here(
    observed: dict[str, dict[str, lint_support.Observation]], real_env: LintEnvironment
) -> None:
    final, old = observed["final"], observed["early 2021"]
    assert final["thread start"].exit_code == final["file stat"].exit_code == 0
    assert final["subprocess start"].exit_code == 1  # the exec failed: subprocess raised
    if "rseq" in THREAD.calls(real_env) - LISTS["early 2021"]:
        assert old["thread start"].exit_code != 0  # glibc aborts when rseq registration fails
    else:
        assert old["thread start"].exit_code == 0
