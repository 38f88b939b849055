"""Profile mode's lists: the minimal list is what was measured, what could not be measured is apart."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pytest_syscall_sandbox.lint.environment import LintEnvironment
from pytest_syscall_sandbox.plugin.unmeasured import PROFILE_ALWAYS, unmeasured, vdso_answered
from pytest_syscall_sandbox.reports.export import oci_profile_allowed
from pytest_syscall_sandbox.roles.registry import RoleRegistry, parse_role_lines

CLOCKS = """
import ctypes
import os
import time
import pytest

pytestmark = pytest.mark.sandbox("CLOCKS")

def test_reads_the_clock(tmp_path):
    time.time()
    time.monotonic()
    (tmp_path / "f").write_text("x")

def test_misses_one():
    os.getgroups()

def test_makes_time_as_a_real_syscall():
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.syscall(201, None) > 0  # time(2) itself, not the vDSO's
"""


def _profile(pytester: pytest.Pytester) -> tuple[pytest.RunResult, dict[str, Any]]:
    pytester.makeini("[pytest]\nsandbox_roles =\n    CLOCKS = NET +time +getcpu\n")
    pytester.makepyfile(CLOCKS)
    result = pytester.runpytest_subprocess("--sandbox-mode=profile", "--sandbox-report=r.json", "--sandbox-export=out")
    assert result.ret == 0, result.stdout.str()
    return result, json.loads((pytester.path / "r.json").read_text())["roles"]["CLOCKS"]


def test_every_allowed_call_is_used_unused_or_unmeasured_and_minimal_is_what_was_measured(
    pytester: pytest.Pytester,
) -> None:
    result, role = _profile(pytester)
    allowed, used, unused, minimal = (set(role[k]) for k in ("allowed", "used", "unused", "minimal"))
    apart = {entry["syscall"]: entry["reason"] for entry in role["unmeasured"]}
    assert used | unused | set(apart) == allowed
    assert not used & unused and not used & set(apart) and not unused & set(apart)
    missing = {gap["syscall"] for gap in role["missing"]}
    assert missing == {"getgroups"}
    assert minimal == used | missing  # never wider than what was measured...
    assert "time" in used  # ...and a vDSO call made as a real syscall is measured
    # What never reaches the kernel here is not called unused: it is apart, with why.
    vdso_here = vdso_answered()
    assert "getcpu" in apart and "vDSO" in apart["getcpu"]
    for name in ("clock_gettime", "gettimeofday"):
        assert (name in apart) == (name in vdso_here), name
        assert name not in unused
    assert PROFILE_ALWAYS & allowed <= set(apart) | used
    result.stdout.fnmatch_lines(
        ["CLOCKS: * allowed, not measured here, not in its minimal list:", "*getcpu*: the x86-64 vDSO answers it*"]
    )


def test_exports_keep_the_measured_list_and_add_the_unmeasured_apart(pytester: pytest.Pytester) -> None:
    _, role = _profile(pytester)
    out = pytester.path / "out"
    minimal, apart = set(role["minimal"]), {entry["syscall"] for entry in role["unmeasured"]}
    assert oci_profile_allowed((out / "CLOCKS.minimal.oci.json").read_text()) == minimal
    assert oci_profile_allowed((out / "CLOCKS.minimal+unmeasured.oci.json").read_text()) == minimal | apart
    for kind, names in (("minimal", minimal), ("minimal+unmeasured", minimal | apart)):
        systemd = (out / f"CLOCKS.{kind}.systemd.conf").read_text().splitlines()
        comments = "\n".join(line for line in systemd if line.startswith("#"))
        assert all(f" {name}" in comments for name in apart), comments
        assert set(systemd[-3].removeprefix("SystemCallFilter=").split()) == names
        assert systemd[-2:] == ["SystemCallErrorNumber=EPERM", "SystemCallArchitectures=native"]
        [(name, definition)] = parse_role_lines((out / f"CLOCKS.{kind}.role.ini").read_text()).items()
        registry = RoleRegistry()
        registry.define_all({name: definition})
        assert registry.get(name).allowed == names
    assert "left out" in (out / "CLOCKS.minimal.role.ini").read_text()


def test_the_vdso_calls_depend_on_the_clock_source() -> None:
    with_vdso = vdso_answered(LintEnvironment.assume(clocksource="tsc"))
    without = vdso_answered(LintEnvironment.assume(clocksource="acpi_pm"))
    assert set(with_vdso) == {"clock_gettime", "gettimeofday", "time", "getcpu"}
    assert set(without) == {"time", "getcpu"}  # there the clock calls are real syscalls: measured
    assert "clock source tsc" in with_vdso["clock_gettime"]


def test_unmeasured_is_what_the_role_allows_and_the_run_did_not_see() -> None:
    vdso = vdso_answered(LintEnvironment.assume(clocksource="tsc"))
    found = unmeasured({"mmap", "clock_gettime", "openat", "dup2"}, {"openat"}, {"dup2", "openat"}, vdso)
    assert list(found) == ["mmap", "dup2", "clock_gettime"]  # in table order
    assert "pytest's own code" in found["dup2"] and "vDSO" in found["clock_gettime"]
    assert "time" not in found  # the role does not allow it
