"""Attacks on the sigsys recorder's trampoline: the one instruction its audit filter trusts.

Each test calls the trampoline from test code to make a forbidden ``mkdirat`` and checks,
from outside the test's child, that the directory was not made and the run said so.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_syscall_sandbox.kernel import trampoline
from pytest_syscall_sandbox.kernel.support import unsupported_reason

pytestmark = pytest.mark.kernel

NR_MKDIRAT = 258
AT_FDCWD = -100

#: A NET test (NET lacks mkdirat) that makes mkdirat through the recorder's trampoline.
THROUGH_THE_TRAMPOLINE = """
import ctypes
import pytest
from pytest_syscall_sandbox.kernel.trampoline import trusted_syscall

@pytest.mark.sandbox("NET")
def test_sneak():
    path = ctypes.create_string_buffer({path!r}.encode())
    result = trusted_syscall({nr}, {at}, ctypes.addressof(path), 0o755)  # SNEAK
    with open({answer!r}, "w") as answer:
        answer.write(str(result))
"""
SNEAK_LINE = next(n for n, line in enumerate(THROUGH_THE_TRAMPOLINE.strip().splitlines(), 1) if "# SNEAK" in line)


@pytest.fixture(autouse=True)
def _needs_seccomp() -> None:
    reason = unsupported_reason()
    if reason is not None:
        pytest.skip(reason)


def _sneak(pytester: pytest.Pytester, tmp_path: Path) -> Path:
    target = tmp_path / "made-through-the-trampoline"
    answer = tmp_path / "answer"
    pytester.makepyfile(THROUGH_THE_TRAMPOLINE.format(path=str(target), nr=NR_MKDIRAT, at=AT_FDCWD, answer=str(answer)))
    return target


def test_the_trampoline_page_is_read_and_execute_only() -> None:
    """Never writable and executable at once: code cannot be planted next to the trusted instruction."""
    start = f"{trampoline.PAGE:x}-"
    (line,) = [line for line in Path("/proc/self/maps").read_text().splitlines() if line.startswith(start)]
    assert line.split()[1] == "r-xp", line
    assert trampoline.PAGE <= trampoline.TRUSTED_IP < trampoline.PAGE + 4096


@pytest.mark.parametrize("mode", ["log-and-abort", "abort"])
def test_calling_the_trampoline_outside_audit_is_a_recorded_violation(
    pytester: pytest.Pytester, tmp_path: Path, mode: str
) -> None:
    target = _sneak(pytester, tmp_path)
    report = tmp_path / "report.json"
    result = pytester.runpytest_subprocess(
        "--sandbox-recorder=sigsys", f"--sandbox-mode={mode}", f"--sandbox-report={report}"
    )
    assert not target.exists()  # the kernel never ran it
    result.assert_outcomes(failed=1)
    violation = (
        'ERROR: The syscall "mkdirat" (syscall number 258) is not allowed by the syscall sandbox in thread '
        f'"MainThread". Please report. [[]role NET, at *.py:{SNEAK_LINE} in test_sneak]*'
    )
    result.stdout.fnmatch_lines([violation, f"*killed by {'SIGABRT' if mode == 'log-and-abort' else 'SIGSYS'}*"])
    records = json.loads(report.read_text())["records"]
    assert [(r["syscall"], r["outcome"]) for r in records] == [
        ("mkdirat", "aborted" if mode == "log-and-abort" else "killed")
    ]


def test_a_trampoline_call_in_audit_that_no_handler_made_is_refused_and_recorded(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    target = _sneak(pytester, tmp_path)
    report = tmp_path / "report.json"
    result = pytester.runpytest_subprocess(
        "--sandbox-recorder=sigsys", "--sandbox-mode=audit", f"--sandbox-report={report}"
    )
    assert not target.exists()
    assert (tmp_path / "answer").read_text() == "-1"  # -EPERM, from the parent
    result.stdout.fnmatch_lines(
        [
            "NET: 1 missing: mkdirat (incomplete: 1 test run, 1 test ended without a complete record)",
            "*::test_sneak: mkdirat (process *) came through the recorder's trampoline with no trap record*",
        ]
    )
    (record,) = [r for r in json.loads(report.read_text())["records"] if r["syscall"] == "mkdirat"]
    assert record["outcome"] == "refused"
    assert record["pid"] and record["tid"]  # from the kernel's view of the call
