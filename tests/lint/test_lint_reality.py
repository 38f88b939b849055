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
  allows no member of an exec family, so no sibling can predict it (on this machine
  subprocess start needs vfork and close_range, both likely, and execve);
* the final list starts threads and stats files without a single extra syscall.
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


def test_the_real_runs_on_this_machine(
    observed: dict[str, dict[str, lint_support.Observation]], real_env: LintEnvironment
) -> None:
    final, old = observed["final"], observed["early 2021"]
    assert final["thread start"] == lint_support.Observation((), 0)
    assert final["file stat"] == lint_support.Observation((), 0)
    assert "execve" in final["subprocess start"].names and final["subprocess start"].exit_code == 1
    assert old["file stat"].names == {"newfstatat"}
    if real_env.libc == "glibc" and real_env.libc_version and real_env.libc_version >= (2, 35):
        assert old["thread start"].names == {"clone3", "rseq"}
        assert old["thread start"].exit_code != 0  # glibc aborts when rseq registration fails
    if real_env.python and real_env.python >= (3, 10):
        assert "vfork" in final["subprocess start"].names
