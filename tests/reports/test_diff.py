"""``diff OLD NEW``: per role, gaps that appeared and went away; exit code 1 when a role gained one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from saved import cli, load, run_pytest
from suite import make_suite


def _two_runs(pytester: pytest.Pytester, tmp_path: Path, mode: str) -> tuple[Path, Path]:
    """A run, and a later one on which a test makes one more syscall."""
    make_suite(pytester)
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    assert run_pytest([f"--sandbox-mode={mode}", f"--sandbox-report={old}"], pytester.path).returncode == 0
    env = {**os.environ, "ON_MACHINE_B": "1"}
    assert run_pytest([f"--sandbox-mode={mode}", f"--sandbox-report={new}"], pytester.path, env).returncode == 0
    return old, new


def test_a_new_gap_fails_the_diff_with_its_test_and_location(pytester: pytest.Pytester, tmp_path: Path) -> None:
    old, new = _two_runs(pytester, tmp_path, "audit")
    result = cli("diff", old, new)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    start = lines.index("SCHEDULER:")
    assert lines[start + 1] == "  + getgroups (115): new gap, 1 call in 1 test"
    assert lines[start + 2] == "      test test_b.py::test_b_depends_on_the_machine"
    assert lines[start + 3].startswith("      at test_b.py:")
    assert lines[start + 3].endswith(" in test_b_depends_on_the_machine (test_b.py::test_b_depends_on_the_machine)")
    assert lines[-1] == "roles that gained a gap: SCHEDULER"
    assert "MESSAGE_HANDLER" not in result.stdout  # unchanged roles are not listed
    back = cli("diff", new, old)
    assert back.returncode == 0
    assert "SCHEDULER:\n  - getgroups: gap gone" in back.stdout and back.stdout.endswith("no role gained a gap\n")
    same = cli("diff", old, old)
    assert same.returncode == 0 and same.stdout.splitlines()[1:] == ["no change in any role's gaps"]


def test_profile_mode_says_what_is_now_used(pytester: pytest.Pytester, tmp_path: Path) -> None:
    old, new = _two_runs(pytester, tmp_path, "profile")
    before, after = (set(load(p)["roles"]["SCHEDULER"]["used"]) for p in (old, new))
    assert after > before
    result = cli("diff", old, new)
    assert result.returncode == 1
    assert f"  now used: {' '.join(sorted(after - before))}" in result.stdout
    for syscall in after - before:  # each with where the test first made it
        assert f"      {syscall} at test_b.py:" in result.stdout
    back = cli("diff", new, old)
    assert f"  no longer used: {' '.join(sorted(after - before))}" in back.stdout and back.returncode == 0
