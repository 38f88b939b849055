"""Platform support: where the sandbox cannot run, the API still imports and says why."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pytest_syscall_sandbox.kernel.support import platform_reason, unsupported_reason


@pytest.mark.parametrize(
    ("system", "machine", "expected"),
    [
        ("linux", "x86_64", None),
        ("darwin", "arm64", "the syscall sandbox needs Linux; this is darwin"),
        ("win32", "AMD64", "the syscall sandbox needs Linux; this is win32"),
        ("linux", "aarch64", "the syscall sandbox needs an x86-64 CPU; this is aarch64"),
    ],
)
def test_platform_reason(system: str, machine: str, expected: str | None) -> None:
    assert platform_reason(system, machine) == expected


def test_this_machine_is_supported() -> None:
    assert unsupported_reason() is None


def test_without_seccomp_the_api_does_nothing_and_says_why() -> None:
    """A kernel without seccomp, for real: this child's prctl(PR_GET_SECCOMP) is made to fail.

    A filter answering prctl with ENOSYS is exactly what such a kernel answers.
    """
    code = """
import ctypes, errno, os
from pytest_syscall_sandbox.engine.install import install_filter
from pytest_syscall_sandbox.kernel.actions import ERRNO, ALLOW
from pytest_syscall_sandbox.engine.compiler import compile_rules
from pytest_syscall_sandbox.kernel.syscalls import NAMES, syscall_number
rules = {nr: ALLOW for nr in NAMES}
rules[syscall_number("prctl")] = ERRNO(errno.ENOSYS)
install_filter(compile_rules(rules, ALLOW).program, tsync=True)
import pytest_syscall_sandbox as s
print(s.unsupported_reason())
print(s.setup_syscall_sandbox(True))
s.set_syscall_sandbox_policy("NET")
print(len(os.getgroups()) >= 0)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    reason, setup, groups = result.stdout.splitlines()
    assert reason.startswith(
        "this kernel has no seccomp support (prctl(PR_GET_SECCOMP) failed: Function not implemented"
    )
    assert setup == "False"
    assert groups == "True"
