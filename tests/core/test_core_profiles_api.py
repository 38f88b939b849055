"""The sandbox-rs profiles work where a policy name does: the upstream API and the lint."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from core_support import run_in_child

import pytest_syscall_sandbox as sandbox


def _essential_then(call: str) -> None:
    sandbox.setup_syscall_sandbox(False)
    sandbox.set_syscall_sandbox_policy("essential")
    if call == "getpid":
        os.getpid()
    else:
        os.getgroups()


def test_set_policy_takes_a_profile_name() -> None:
    assert run_in_child(_essential_then, "getpid").exitcode == 0
    assert run_in_child(_essential_then, "getgroups").signal == signal.SIGSYS


def test_lint_takes_a_profile_name() -> None:
    command = [sys.executable, "-m", "pytest_syscall_sandbox", "lint", "ESSENTIAL", "--format", "json"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode in (0, 1), result.stderr
    assert '"ESSENTIAL"' in result.stdout
