"""The README's main job: the bundled fixtures/ project in audit mode, against the lint.

The tests marked ``gap`` name the syscalls they make on purpose (:func:`deliberate`,
read from the fixture file). The rest of each role's gap is what this machine's glibc
and CPython make for that purpose, and the lint predicts it: the audit report must
name, per role, exactly the deliberate syscalls plus what ``lint`` is certain the role
would still lack with them allowed. So on Debian 12 (glibc 2.36, CPython 3.11) NET
lacks execve (deliberate), vfork and close_range (CPython's subprocess) and
set_tid_address (the program's start-up); on Debian 13 (glibc 2.41, CPython 3.13),
where a program path is posix_spawn()ed, no vfork; and VALIDATION_SCRIPT_CHECK's
open() needs newfstatat before glibc 2.39 and fstat from it on.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_syscall_sandbox.kernel.support import unsupported_reason
from pytest_syscall_sandbox.lint.environment import LintEnvironment
from pytest_syscall_sandbox.lint.findings import lint_role
from pytest_syscall_sandbox.reports.export import oci_profile_allowed
from pytest_syscall_sandbox.reports.gaps import REPORT_VERSION
from pytest_syscall_sandbox.roles.registry import RoleRegistry

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_TESTS = ROOT / "fixtures" / "test_threads.py"


def _marks(function: ast.FunctionDef) -> dict[str, list[str]]:
    """``@pytest.mark.NAME("a", "b")`` decorators of ``function``: NAME -> ["a", "b"]."""
    marks: dict[str, list[str]] = {}
    for decorator in function.decorator_list:
        call = decorator if isinstance(decorator, ast.Call) else None
        target = call.func if call else decorator
        if isinstance(target, ast.Attribute) and ast.unparse(target).startswith("pytest.mark."):
            marks[target.attr] = [ast.literal_eval(arg) for arg in call.args] if call else []
    return marks


def fixture_roles() -> dict[str, set[str]]:
    """Role -> the syscalls its tests marked ``gap`` name (empty for a role without such tests)."""
    roles: dict[str, set[str]] = {}
    for node in ast.parse(FIXTURE_TESTS.read_text()).body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            marks = _marks(node)
            roles.setdefault(marks["sandbox"][0], set()).update(marks.get("gap", ()))
    return roles


@pytest.fixture(scope="module")
def expected() -> dict[str, set[str]]:
    """Role -> the gaps the audit must find here: the deliberate ones, plus the lint's certain findings."""
    env = LintEnvironment.detect()
    registry = RoleRegistry()
    out = {}
    for role, deliberate in fixture_roles().items():
        allowed = registry.get(role).allowed | deliberate
        out[role] = deliberate | set(lint_role(role, allowed, env).certain)
    return out


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


def test_the_fixtures_say_what_is_deliberate() -> None:
    roles = fixture_roles()
    assert len(roles) == 8
    assert {role for role, gap in roles.items() if gap} == {"MESSAGE_HANDLER", "VALIDATION_SCRIPT_CHECK", "NET"}
    assert roles["MESSAGE_HANDLER"] == {"getgroups"}  # no policy allows it: no drift can predict it


def test_the_audit_finds_the_deliberate_gaps_and_what_the_lint_is_certain_of(
    audit_run: tuple[Any, dict[str, Any], Path], expected: dict[str, set[str]]
) -> None:
    _, report, _ = audit_run
    missing = {role: {m["syscall"] for m in facts["missing"]} for role, facts in report["roles"].items()}
    assert missing == expected, LintEnvironment.detect().describe()


def test_the_gap_table_is_printed_per_role(
    audit_run: tuple[Any, dict[str, Any], Path], expected: dict[str, set[str]]
) -> None:
    result, report, _ = audit_run
    out = result.stdout
    for role, gaps in expected.items():
        found = [m["syscall"] for m in report["roles"][role]["missing"]]  # in the order first seen
        assert set(found) == gaps
        line = f"{role}: {len(found)} missing: {', '.join(found)}" if found else f"{role}: no missing syscalls"
        assert line in out
    assert "MESSAGE_HANDLER: 1 missing: getgroups" in out
    assert "fix (sandbox_roles):  MESSAGE_HANDLER = MESSAGE_HANDLER +getgroups" in out
    assert "+openat (257): in upstream's FileSystem group, which this policy does not enable" in out


def test_the_report_file_follows_its_schema(audit_run: tuple[Any, dict[str, Any], Path]) -> None:
    _, report, _ = audit_run
    assert report["version"] == REPORT_VERSION
    assert report["interrupted"] is False
    assert set(report["environment"]) >= {"kernel", "libc", "python", "plugin"}
    assert report["settings"]["mode"] == "audit"
    gap = report["roles"]["MESSAGE_HANDLER"]
    assert gap["tests"] == 1 and gap["origin"] == "bitcoin-core"
    assert gap["fix"] == "MESSAGE_HANDLER = MESSAGE_HANDLER +getgroups"
    [record] = [r for r in report["records"] if r["role"] == "MESSAGE_HANDLER" and r["phase"] != "harness"]
    assert record["syscall"] == "getgroups" and record["nr"] == 115
    assert record["nodeid"].endswith("test_message_handler_asks_for_groups")
    assert record["location"].startswith("test_threads.py:") and record["outcome"] == "allowed"


def test_exported_profiles_load_back_to_the_sets_they_were_made_from(
    audit_run: tuple[Any, dict[str, Any], Path], expected: dict[str, set[str]]
) -> None:
    _, _, export = audit_run
    registry = RoleRegistry()
    for role, gaps in expected.items():
        current = registry.get(role).allowed
        assert oci_profile_allowed((export / f"{role}.current.oci.json").read_text()) == current
        fixed = oci_profile_allowed((export / f"{role}.fixed.oci.json").read_text())
        assert fixed == current | gaps
        systemd = (export / f"{role}.current.systemd.conf").read_text()
        [line] = [line for line in systemd.splitlines() if line.startswith("SystemCallFilter=")]
        assert set(line.removeprefix("SystemCallFilter=").split()) == current
        assert "SystemCallErrorNumber=EPERM\nSystemCallArchitectures=native\n" in systemd
        definition = (export / f"{role}.fixed.role.ini").read_text()
        name, _, terms = definition.partition(" = ")
        assert registry.define(name, terms).allowed == fixed
