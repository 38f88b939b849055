"""The README's main job: the bundled fixtures/ project in audit mode.

Its report must name exactly the deliberate gaps (the tests marked ``gap``), nothing
more and nothing less. The NET gap is what starting /bin/true costs on this
machine's glibc (2.36) and CPython (3.11): vfork and close_range from CPython's
subprocess, execve, and set_tid_address from the new program's start-up.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_syscall_sandbox.kernel.support import unsupported_reason
from pytest_syscall_sandbox.reports.export import oci_profile_allowed
from pytest_syscall_sandbox.roles.registry import RoleRegistry

ROOT = Path(__file__).resolve().parents[2]
DELIBERATE = {
    "MESSAGE_HANDLER": {"getgroups"},
    "VALIDATION_SCRIPT_CHECK": {"openat", "newfstatat"},
    "NET": {"vfork", "close_range", "execve", "set_tid_address"},
}
CLEAN = {
    "NET_HTTP_SERVER_WORKER",
    "INITIALIZATION_LOAD_BLOCKS",
    "TX_INDEX",
    "SCHEDULER",
    "NET_OPEN_CONNECTION",
}


@pytest.fixture(scope="module")
def audit_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any], Path]:
    reason = unsupported_reason()
    if reason is not None:
        pytest.skip(reason)
    out = tmp_path_factory.mktemp("bundled")
    command = [
        sys.executable,
        "-m",
        "pytest",
        "fixtures",
        "--sandbox-mode=audit",
        f"--sandbox-report={out / 'report.json'}",
        f"--sandbox-export={out / 'export'}",
        "-p",
        "no:cacheprovider",
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    report = json.loads((out / "report.json").read_text())
    return result, report, out / "export"


def test_every_fixture_test_passes_in_audit_mode(audit_run: tuple[Any, dict[str, Any], Path]) -> None:
    result, _, _ = audit_run
    assert result.returncode == 0, result.stdout + result.stderr
    assert "9 passed" in result.stdout


def test_the_report_names_exactly_the_deliberate_gaps(audit_run: tuple[Any, dict[str, Any], Path]) -> None:
    _, report, _ = audit_run
    missing = {role: {m["syscall"] for m in facts["missing"]} for role, facts in report["roles"].items()}
    assert missing == {**DELIBERATE, **{role: set() for role in CLEAN}}


def test_the_gap_table_is_printed_per_role(audit_run: tuple[Any, dict[str, Any], Path]) -> None:
    result, _, _ = audit_run
    out = result.stdout
    assert "MESSAGE_HANDLER: 1 missing: getgroups" in out
    assert "VALIDATION_SCRIPT_CHECK: 2 missing: openat, newfstatat" in out
    assert "NET_HTTP_SERVER_WORKER: no missing syscalls" in out
    assert "fix (sandbox_roles):  MESSAGE_HANDLER_FIXED = MESSAGE_HANDLER +getgroups" in out
    assert "+openat (257): in upstream's FileSystem group, which this policy does not enable" in out


def test_the_report_file_follows_its_schema(audit_run: tuple[Any, dict[str, Any], Path]) -> None:
    _, report, _ = audit_run
    assert report["version"] == 1
    assert report["interrupted"] is False
    assert set(report["environment"]) >= {"kernel", "libc", "python", "plugin"}
    assert report["settings"]["mode"] == "audit"
    gap = report["roles"]["MESSAGE_HANDLER"]
    assert gap["tests"] == 1 and gap["origin"] == "bitcoin-core"
    assert gap["fix"] == "MESSAGE_HANDLER_FIXED = MESSAGE_HANDLER +getgroups"
    [record] = [r for r in report["records"] if r["role"] == "MESSAGE_HANDLER" and r["phase"] != "harness"]
    assert record["syscall"] == "getgroups" and record["nr"] == 115
    assert record["nodeid"].endswith("test_message_handler_asks_for_groups")
    assert record["location"].startswith("test_threads.py:") and record["outcome"] == "allowed"


def test_exported_profiles_load_back_to_the_sets_they_were_made_from(
    audit_run: tuple[Any, dict[str, Any], Path],
) -> None:
    _, _, export = audit_run
    registry = RoleRegistry()
    for role in [*DELIBERATE, *CLEAN]:
        current = registry.get(role).allowed
        assert oci_profile_allowed((export / f"{role}.current.oci.json").read_text()) == current
        fixed = oci_profile_allowed((export / f"{role}.fixed.oci.json").read_text())
        assert fixed == current | DELIBERATE.get(role, set())
        systemd = (export / f"{role}.current.systemd.conf").read_text()
        assert set(systemd.removeprefix("SystemCallFilter=").split()) == current
        definition = (export / f"{role}.fixed.role.ini").read_text()
        name, _, terms = definition.partition(" = ")
        assert registry.define(name, terms).allowed == fixed
