"""Fixtures and hooks of the core tests; the data and helpers live in ``core_support.py``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# Make ``import core_support`` work in every pytest import mode (this directory has no __init__.py).
sys.path.insert(0, str(Path(__file__).resolve().parent))

import core_support


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Any test taking ``policy_name`` runs once per upstream policy (from the hand-written table)."""
    if "policy_name" in metafunc.fixturenames:
        metafunc.parametrize("policy_name", core_support.POLICY_NAMES)


@pytest.fixture(scope="session")
def policies_md() -> Path:
    """The reference markdown file (skipped where ``../shared`` is not checked out)."""
    if not core_support.POLICIES_MD.is_file():
        pytest.skip(f"reference file {core_support.POLICIES_MD} is absent (CI checks out ../shared beside the clone)")
    return core_support.POLICIES_MD


@pytest.fixture(scope="session")
def syscalls_tsv() -> dict[int, str]:
    """number -> name from the reference TSV (skipped where the file is absent)."""
    path = core_support.SYSCALLS_TSV
    if not path.is_file():
        pytest.skip(f"reference file {path} is absent (CI checks out ../shared beside the clone)")
    table: dict[int, str] = {}
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        table[int(fields[0])] = fields[1]
    return table


@pytest.fixture(scope="session")
def kernel_ok() -> None:
    """Skip kernel tests where the sandbox cannot run here."""
    from pytest_syscall_sandbox import unsupported_reason

    reason = unsupported_reason()
    if reason is not None:
        pytest.skip(reason)
