"""Fixtures of the attack suite; the helpers live in ``hostile_support.py``.

Each attack runs in a pytester subprocess (filters are irreversible) and is checked
from outside it: a directory the test tried to make with a forbidden call must not
exist (abort modes), the run must end within its timeout, the files the test wrote
must hold only what it wrote, and the verdict must name what happened.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# Make ``import hostile_support`` work in every pytest import mode (this directory has no __init__.py).
sys.path.insert(0, str(Path(__file__).resolve().parent))

import hostile_support

from pytest_syscall_sandbox.kernel.support import unsupported_reason


@pytest.fixture(autouse=True)
def _needs_seccomp() -> None:
    reason = unsupported_reason()
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture(params=hostile_support.RECORDERS)
def recorder(request: pytest.FixtureRequest) -> str:
    """Each recorder in turn."""
    return str(request.param)


@pytest.fixture(params=hostile_support.ABORT_MODES)
def abort_mode(request: pytest.FixtureRequest) -> str:
    """log-and-abort, then abort: the modes in which a forbidden call never runs."""
    return str(request.param)
