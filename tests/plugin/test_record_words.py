"""What a record says beyond the call, through the plugin: why it has no location, what the call returned."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

SPAWNS = """
import subprocess, pytest

@pytest.mark.sandbox("SPAWNER", mode="audit")
def test_spawns():
    subprocess.run(["/bin/true"], check=True)
"""


def _run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, list[dict[str, Any]]]:
    report = Path(pytester.path) / "report.json"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COLUMNS", "400")  # the gap table's rows stay on one line each, for the patterns below
        result = pytester.runpytest_subprocess(f"--sandbox-report={report}", *args)
    return result, json.loads(report.read_text())["records"]


def test_records_of_a_subprocess_say_why_they_have_no_location(pytester: pytest.Pytester) -> None:
    """The vfork (signals blocked to spawn), the vfork child's execve: each in its own words, in table and file."""
    pytester.makeini("[pytest]\nsandbox_roles =\n    SPAWNER = NET -vfork -clone -clone3 -execve\n")
    pytester.makepyfile(SPAWNS)
    result, records = _run(pytester, "-rA")
    result.assert_outcomes(passed=1)
    execve = [r for r in records if r["syscall"] == "execve"]
    assert execve and all(r["location"] == "" and r["blank"].startswith("in a vfork child of process ") for r in execve)
    spawn = [r for r in records if r["syscall"] in ("vfork", "clone")]
    assert spawn and all("to spawn a child by vfork" in r["blank"] for r in spawn)
    assert not any("create a thread" in r["blank"] for r in records)
    result.stdout.fnmatch_lines(["*execve*none: in a vfork child of process *"])  # the gap table
    result.stdout.fnmatch_lines(['*The syscall "execve"*no Python location: in a vfork child of process *'])


RETURNS = """
import os, pytest

@pytest.mark.sandbox("VALIDATION_SCRIPT_CHECK", mode="audit")
def test_handles_a_refusal():
    try:
        os.stat("/nonexistent-dir/missing")
    except FileNotFoundError:
        pass
"""


def test_an_audit_shows_what_each_syscall_returned(pytester: pytest.Pytester, recorder: str) -> None:
    """As strace shows it: in the violation lines and the report file (the gap table is for what to allow)."""
    pytester.makepyfile(RETURNS)
    result, records = _run(pytester, "-rA", f"--sandbox-recorder={recorder}")
    result.assert_outcomes(passed=1)
    (stat,) = [r for r in records if "/nonexistent-dir/missing" in r["decoded_args"]]
    assert "first result" not in result.stdout.str()
    if recorder == "notify":  # the kernel runs the call after notify's answer: no result to see
        assert (stat["result"], stat["returned"]) == (None, "")
        return
    assert stat["result"] == -2 and stat["returned"] == "= -1 ENOENT (No such file or directory)"
    result.stdout.fnmatch_lines(["*'/nonexistent-dir/missing'*= -1 ENOENT (No such file or directory)*"])
