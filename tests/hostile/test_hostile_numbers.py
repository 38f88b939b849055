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
