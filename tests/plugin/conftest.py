"""Plugin tests run pytest in a subprocess (pytester.runpytest_subprocess): filters are irreversible."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# Make ``import plain_vs_sandbox`` work in every pytest import mode (this directory has no __init__.py).
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pytest_syscall_sandbox.kernel.support import unsupported_reason

RECORDERS = ("ptrace", "sigsys", "notify")


@pytest.fixture(autouse=True)
def _needs_seccomp() -> None:
    reason = unsupported_reason()
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture(params=RECORDERS)
def recorder(request: pytest.FixtureRequest) -> str:
    """Each recorder in turn."""
    return str(request.param)
