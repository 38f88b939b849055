"""Fixtures of the argument-rule tests; helpers live in ``args_support.py``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# ``import args_support`` in every import mode; it reuses tests/core's forked-child runner.
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session")
def kernel_ok() -> None:
    """Skip kernel tests where the sandbox cannot run here."""
    from pytest_syscall_sandbox import unsupported_reason

    reason = unsupported_reason()
    if reason is not None:
        pytest.skip(reason)
