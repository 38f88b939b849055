"""Odd syscall numbers are read as the kernel reads them: the low 32 bits, signed.

Item 8: ``1 << 32 | 258`` is ``mkdirat`` to the kernel (and to the filter), and
``syscall(-1)`` is no syscall at all; neither may end the run with an INTERNALERROR.
"""

from __future__ import annotations

import pytest
from hostile_support import PRELUDE, attack

HIGH_BITS = (
    PRELUDE
    + """
import ctypes
import pytest

TARGET = {target!r}


@pytest.mark.sandbox("NET")
def test_mkdirat_with_high_bits():
    _libc.syscall(ctypes.c_long((1 << 32) | 258), ctypes.c_long(-100), os.fsencode(TARGET), ctypes.c_long(0o755))
"""
)

MINUS_ONE = (
    PRELUDE
    + """
import ctypes
import pytest


@pytest.mark.sandbox("NET")
def test_syscall_minus_one():
    assert _libc.syscall(ctypes.c_long(-1)) == -1
"""
)


def test_a_number_with_high_bits_is_the_call_the_kernel_makes(
    pytester: pytest.Pytester, recorder: str, abort_mode: str
) -> None:
    target = pytester.path / "made-with-high-bits"
    pytester.makepyfile(HIGH_BITS.format(target=str(target)))
    run = attack(pytester, recorder, abort_mode)
    assert not target.exists()
    run.result.assert_outcomes(failed=1)
    run.result.stdout.fnmatch_lines(['*The syscall "mkdirat" (syscall number 258) is not allowed*[[]role NET, at *'])
    (record,) = run.records("mkdirat")
    assert record["nr"] == 258


@pytest.mark.parametrize("mode", ["audit", "log-and-abort", "abort"])
def test_syscall_minus_one_is_recorded_not_a_crash(pytester: pytest.Pytester, recorder: str, mode: str) -> None:
    pytester.makepyfile(MINUS_ONE)
    run = attack(pytester, recorder, mode)
    if mode == "audit":
        run.result.assert_outcomes(passed=1)
    else:
        run.result.assert_outcomes(failed=1)
    (record,) = [r for r in run.records() if r["nr"] == -1]
    assert record["syscall"] == "*unknown*"


X32_KILL = """
import ctypes
import os
import signal

import pytest

_libc = ctypes.CDLL(None, use_errno=True)


@pytest.mark.sandbox("INITIALIZATION")
def test_x32_kill_of_the_harness():
    # x32's kill is 62 | 0x40000000: a filter rule on kill's x86-64 number never sees it.
    _libc.syscall(ctypes.c_long(0x40000000 | 62), ctypes.c_long(os.getppid()), ctypes.c_long(signal.SIGSTOP))
"""


def test_an_x32_call_is_refused_by_the_guard_in_audit(pytester: pytest.Pytester, recorder: str) -> None:
    """Where the kernel runs x32 calls, this one would stop pytest; the guard refuses every x32 number."""
    pytester.makepyfile(X32_KILL)
    run = attack(pytester, recorder, "audit")
    run.result.assert_outcomes(failed=1)
    run.result.stdout.fnmatch_lines(["*x32 ABI call 0x4000003e: its arguments cannot be checked*harness guard*"])
    (record,) = [r for r in run.records() if r["nr"] == 0x4000003E]
    assert record["outcome"] == "refused"
