"""Fixtures of the recorder tests; the fork-and-record harness lives in ``recorders_support.py``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# Make ``import recorders_support`` work in every pytest import mode (this directory has no __init__.py).
sys.path.insert(0, str(Path(__file__).resolve().parent))

import recorders_support

from pytest_syscall_sandbox.kernel.support import unsupported_reason


def _skip_reason(name: str) -> str | None:
    reason = unsupported_reason()
    if reason is None:
        reason = getattr(recorders_support.RECORDERS[name], "unavailable_reason", lambda: None)()
    return reason


@pytest.fixture(params=sorted(recorders_support.RECORDERS))
def recorder(request: pytest.FixtureRequest) -> str:
    """Each recorder in turn (skipped where it cannot run)."""
    name = str(request.param)
    reason = _skip_reason(name)
    if reason is not None:
        pytest.skip(reason)
    return name


@pytest.fixture(params=recorders_support.MODES)
def mode(request: pytest.FixtureRequest) -> str:
    """Each mode in turn."""
    return str(request.param)


def _named(name: str) -> str:
    reason = _skip_reason(name)
    if reason is not None:
        pytest.skip(reason)
    return name


@pytest.fixture
def ptrace_recorder() -> str:
    """The ptrace recorder only."""
    return _named("ptrace")


@pytest.fixture
def sigsys_recorder() -> str:
    """The sigsys recorder only."""
    return _named("sigsys")
