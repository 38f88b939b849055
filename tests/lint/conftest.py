"""Fixtures of the lint tests; data and helpers live in ``upstream_early_2021.py`` and ``lint_support.py``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# Make ``import upstream_early_2021``, ``import lint_support`` and ``import reference_data`` (the
# upstream facts in ../data) work in every import mode.
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))

from pytest_syscall_sandbox.lint.environment import LintEnvironment


@pytest.fixture(scope="session")
def glibc_236() -> LintEnvironment:
    """This project's reference machine, made up: glibc 2.36, Linux 6.18, CPython 3.11, tsc."""
    return LintEnvironment.assume(libc_version="2.36", kernel_release="6.18", python="3.11", clocksource="tsc")


@pytest.fixture(scope="session")
def kernel_ok() -> None:
    """Skip where the sandbox (and so the kernel probe) cannot run."""
    from pytest_syscall_sandbox import unsupported_reason

    reason = unsupported_reason()
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def real_env(kernel_ok: None) -> LintEnvironment:
    """This machine, with its kernel probed."""
    return LintEnvironment.detect()
