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
