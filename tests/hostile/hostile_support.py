"""Helpers of the attack suite (imported as ``hostile_support``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

#: The recorders these attacks run under (the sigsys side adds its own).
RECORDERS = ("ptrace", "sigsys", "notify")
ABORT_MODES = ("log-and-abort", "abort")

#: Put at the top of an inner test file: ``mkdirat(path)`` through libc, the call the
#: roles used here (NET, MESSAGE_HANDLER) do not allow (they allow ``mkdir``, which
#: ``os.mkdir`` uses), and ``getgroups()``, which no role allows.
PRELUDE = """
import ctypes
import os

_libc = ctypes.CDLL(None, use_errno=True)


def mkdirat(path):
    if _libc.mkdirat(-100, os.fsencode(str(path)), 0o755) != 0:
        raise OSError(ctypes.get_errno(), "mkdirat", str(path))


def try_mkdirat(path):
    try:
        mkdirat(path)
    except OSError:
        return False
    return True
"""


@dataclass
class Attack:
    """A finished inner run: pytest's result and the ``--sandbox-report`` it wrote."""

    result: pytest.RunResult
    report: dict[str, Any]

    @property
    def output(self) -> str:
        return "\n".join(self.result.outlines + self.result.errlines)

    def records(self, syscall: str | None = None) -> list[dict[str, Any]]:
        return [r for r in self.report.get("records", []) if syscall is None or r["syscall"] == syscall]


def attack(pytester: pytest.Pytester, recorder: str, mode: str, *args: str, timeout: float = 120.0) -> Attack:
    """Run the test files written to ``pytester`` under ``recorder`` and ``mode``; never INTERNALERROR."""
    report = pytester.path / "sandbox-report.json"
    result = pytester.runpytest_subprocess(
        f"--sandbox-recorder={recorder}",
        f"--sandbox-mode={mode}",
        f"--sandbox-report={report}",
        "-p",
        "no:cacheprovider",
        *args,
        timeout=timeout,
    )
    run = Attack(result, json.loads(report.read_text()) if report.exists() else {})
    assert "INTERNALERROR" not in run.output, run.output
    return run
