"""Kernel drift: the probe of the running kernel, and what it and the table disagree on."""

from __future__ import annotations

import os

import pytest

from pytest_syscall_sandbox.kernel.syscalls import NAMES, NEWER_NUMBERS, NUMBERS
from pytest_syscall_sandbox.lint.drift import LINUX_SINCE, parse_version
from pytest_syscall_sandbox.lint.environment import LintEnvironment, assumed_implemented
from pytest_syscall_sandbox.lint.findings import kernel_drift, lint_role
from pytest_syscall_sandbox.lint.probe import PROBE_LIMIT, probe_kernel

pytestmark = pytest.mark.kernel


def test_probe_finds_the_running_kernels_syscalls(kernel_ok: None) -> None:
    uid, before = os.getuid(), open("/proc/self/status").read()
    probe = probe_kernel()
    assert probe is not None
    assert probe_kernel() is probe  # cached per process
    everyday = {"read", "write", "openat", "close", "mmap", "newfstatat", "getrandom", "rseq", "close_range"}
    assert {NUMBERS[n] for n in everyday} <= probe.implemented
    assert NUMBERS["clone3"] in probe.assumed and NUMBERS["clone3"] in probe.implemented  # never called
    kernel = parse_version(os.uname().release)[:2]
    if kernel <= (6, 18):  # the reference: 470 answered ENOSYS on Linux 6.18
        assert all(nr not in probe.implemented for nr in range(470, PROBE_LIMIT))
    if kernel >= (6, 17):
        assert NEWER_NUMBERS <= probe.implemented
    # The children dropped root and called everything; this process is as it was.
    assert os.getuid() == uid
    seccomp_line = [line for line in before.splitlines() if line.startswith("Seccomp:")]
    now = [line for line in open("/proc/self/status").read().splitlines() if line.startswith("Seccomp:")]
    assert now == seccomp_line


def test_kernel_drift_on_this_machine(real_env: LintEnvironment) -> None:
    drift = kernel_drift(real_env)
    assert drift.source == "probe"
    assert set(drift.unknown).isdisjoint(NAMES) and all(0 <= nr < PROBE_LIMIT for nr in drift.unknown)
    assert "read" not in drift.unlisted and "execve" in drift.unlisted
    assert set(drift.newer).isdisjoint(drift.absent)
    for name in drift.newer:
        assert LINUX_SINCE.get(name, (0,)) > parse_version(drift.release)[:2] or NUMBERS[name] in NEWER_NUMBERS


def test_assumed_kernels_lack_what_came_after_them() -> None:
    old = assumed_implemented("6.12.3")
    assert not {NUMBERS[n] for n in ("setxattrat", "file_setattr")} & old
    assert NUMBERS["mseal"] in old
    assert {NUMBERS[n] for n in ("setxattrat", "file_setattr")} <= assumed_implemented("6.18")
    drift = kernel_drift(LintEnvironment.assume(kernel_release="6.12"))
    assert set(drift.newer) == {NAMES[nr] for nr in NEWER_NUMBERS}
    assert kernel_drift(LintEnvironment.assume(kernel_release="6.18")).newer == ()


def test_a_role_hears_of_allowed_syscalls_its_kernel_lacks() -> None:
    result = lint_role("custom", {"chmod", "fchmodat2", "read"}, LintEnvironment.assume(kernel_release="6.5"))
    assert result.not_implemented == ("fchmodat2",)
    assert lint_role("custom", {"chmod", "fchmodat2"}, LintEnvironment.assume()).not_implemented == ()


def test_probe_refuses_under_a_seccomp_filter(kernel_ok: None) -> None:
    """A filter answers before the kernel does, so a filtered process must not trust a probe."""
    from pytest_syscall_sandbox.engine.compiler import compile_allow_list
    from pytest_syscall_sandbox.engine.install import install_filter
    from pytest_syscall_sandbox.kernel.actions import ERRNO

    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 3
        try:
            install_filter(compile_allow_list(NAMES, ERRNO(38)).program)  # everything in the table allowed
            code = 0 if probe_kernel.__wrapped__() is None else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
