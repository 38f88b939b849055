"""Plugin tests run pytest in a subprocess (pytester.runpytest_subprocess): filters are irreversible."""

from __future__ import annotations

import pytest

from pytest_syscall_sandbox.kernel.support import unsupported_reason

RECORDERS = ("ptrace", "sigsys")


@pytest.fixture(autouse=True)
def _needs_seccomp() -> None:
    reason = unsupported_reason()
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture(params=RECORDERS)
def recorder(request: pytest.FixtureRequest) -> str:
    """Each recorder in turn."""
    return str(request.param)
