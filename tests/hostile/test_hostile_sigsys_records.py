"""Attacks on the sigsys recorder's records and its handler, end to end through pytester.

The attacks use what a test can reach in its own process: ``signal.signal``, and the
recorder's own objects (found with ``gc``) to write records of its choosing. Each check
is made from outside the child: the test's outcome, its failure text, the JSON report.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_syscall_sandbox.kernel.support import unsupported_reason

pytestmark = pytest.mark.kernel

OWN_HANDLER = """
import ctypes
import signal
import pytest
from pytest_syscall_sandbox.kernel.calls import raw_syscall

@pytest.mark.sandbox("NET")
def test_own_handler():
    try:
        signal.signal(signal.SIGSYS, {handler})
    except OSError:
        pass
    path = ctypes.create_string_buffer({path!r}.encode())
    raw_syscall(258, -100, ctypes.addressof(path), 0o755)  # HIDDEN
"""
HIDDEN_LINE = next(n for n, line in enumerate(OWN_HANDLER.strip().splitlines(), 1) if "# HIDDEN" in line)

#: Writes a record of reboot through whatever the sigsys recorder in this process offers.
FORGE = """
import gc
import os
import pytest

def forge(nr, pid):
    session = next(o for o in gc.get_objects() if type(o).__name__ == "SigsysSession")
    if hasattr(session, "_write_fd"):  # a pipe of length-prefixed JSON messages
        from pytest_syscall_sandbox.recorders import _channel
        record = {{"syscall": "reboot", "nr": nr, "args": [0] * 6, "pid": pid, "tid": pid, "thread": "MainThread",
                  "phase": "call", "location": "innocent.py:1", "function": "f", "stack": [], "outcome": "aborted"}}
        _channel.send(session._write_fd, {{"record": record}})
    else:  # the shared record area: a trap as its handler would write it
        from pytest_syscall_sandbox.recorders._ring import encode
        ip = 0x7F0000001000
        fixed = (nr, 0xC000003E, 0, ip, ip, nr, 0, 0, 0, 0, 0, 0, pid, pid)
        session._area.write(fixed, encode({{"thread": "MainThread", "phase": "call", "location": "innocent.py:1"}}))

@pytest.mark.sandbox("NET", mode={mode!r})
def test_forges():
    forge(169, {pid})
"""


@pytest.fixture(autouse=True)
def _needs_seccomp() -> None:
    reason = unsupported_reason()
    if reason is not None:
        pytest.skip(reason)


def _run(pytester: pytest.Pytester, tmp_path: Path, *args: str) -> tuple[pytest.RunResult, list[dict[str, Any]]]:
    report = tmp_path / "report.json"
    result = pytester.runpytest_subprocess("--sandbox-recorder=sigsys", f"--sandbox-report={report}", *args)
    return result, json.loads(report.read_text())["records"]


@pytest.mark.parametrize("handler", ["lambda *args: None", "signal.SIG_IGN"])
def test_a_test_cannot_replace_the_recorders_sigsys_handler(
    pytester: pytest.Pytester, tmp_path: Path, handler: str
) -> None:
    """Its own handler would swallow the trap (no record, test passes); SIG_IGN would die unrecorded."""
    target = tmp_path / "hidden"
    pytester.makepyfile(OWN_HANDLER.format(handler=handler, path=str(target)))
    result, records = _run(pytester, tmp_path)
    assert not target.exists()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            'ERROR: The syscall "mkdirat" (syscall number 258) is not allowed by the syscall sandbox in thread '
            f'"MainThread". Please report. [[]role NET, at *.py:{HIDDEN_LINE} in test_own_handler]*',
            "*killed by SIGABRT (log-and-abort mode)*",
        ]
    )
    assert [r["syscall"] for r in records] == ["mkdirat"]


@pytest.mark.parametrize("mode", ["audit", "log-and-abort"])
def test_a_record_the_test_writes_itself_is_not_taken(pytester: pytest.Pytester, tmp_path: Path, mode: str) -> None:
    """A reboot that no trap made: claimed by the child itself, which then ends normally."""
    pytester.makepyfile(FORGE.format(mode=mode, pid="os.getpid()"))
    result, records = _run(pytester, tmp_path)
    assert [r for r in records if r["syscall"] == "reboot"] == []
    result.stdout.fnmatch_lines(
        [
            "NET: 0 missing (incomplete: 1 test run, 1 test ended without a complete record)",
            "*::test_forges: *reboot* dropped*",
        ]
    )


def test_a_forged_record_in_audit_is_dropped_whatever_process_it_claims(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    """In audit mode every record must be confirmed by the call the kernel saw run."""
    pytester.makepyfile(FORGE.format(mode="audit", pid=1))
    result, records = _run(pytester, tmp_path)
    assert [r for r in records if r["syscall"] == "reboot"] == []
    result.stdout.fnmatch_lines(["NET: 0 missing (incomplete: *1 test ended without a complete record)"])
