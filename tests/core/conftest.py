"""Fixtures and hooks of the core tests; the data and helpers live in ``core_support.py``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# Make ``import core_support`` (this directory has no __init__.py) and ``import reference_data``
# (the upstream facts in ../data) work in every pytest import mode.
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))

import core_support
import reference_data


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Any test taking ``policy_name`` runs once per upstream policy (from the hand-written table)."""
    if "policy_name" in metafunc.fixturenames:
        metafunc.parametrize("policy_name", core_support.POLICY_NAMES)


@pytest.fixture(scope="session")
def syscalls_tsv() -> dict[int, str]:
    """number -> name from the repository's syscall table (``tests/data/syscalls-x86_64.tsv``)."""
    return reference_data.syscall_table()


@pytest.fixture(scope="session")
def kernel_ok() -> None:
    """Skip kernel tests where the sandbox cannot run here."""
    from pytest_syscall_sandbox import unsupported_reason

    reason = unsupported_reason()
    if reason is not None:
        pytest.skip(reason)
