"""Saved-report tests: real sandboxed runs write the reports that merge, report and diff read."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# Make ``import saved`` work in every pytest import mode (this directory has no __init__.py).
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pytest_syscall_sandbox.kernel.support import unsupported_reason


@pytest.fixture(autouse=True)
def _needs_seccomp() -> None:
    reason = unsupported_reason()
    if reason is not None:
        pytest.skip(reason)
