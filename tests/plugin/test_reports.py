"""Reports: profile mode, --sandbox-lint, xdist merging, and Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from pytest_syscall_sandbox.roles.registry import RoleRegistry

WORK = """
import os
import pytest

@pytest.mark.parametrize("n", range(4))
@pytest.mark.sandbox("MESSAGE_HANDLER")
def test_work(n, tmp_path):
    (tmp_path / "f").write_text("x")
    os.getgroups()
"""


def _report(pytester: pytest.Pytester, *args: str) -> dict[str, Any]:
    path = pytester.path / f"report-{len(list(pytester.path.glob('report-*')))}.json"
    result = pytester.runpytest_subprocess(f"--sandbox-report={path}", *args)
    assert result.ret == 0, result.stdout.str()
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_profile_mode_reports_used_unused_and_minimal(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(WORK)
    role = _report(pytester, "--sandbox-mode=profile")["roles"]["MESSAGE_HANDLER"]
    assert {"openat", "close"} <= set(role["used"])
    assert "getgroups" not in role["used"] and "getgroups" in role["minimal"]
    assert set(role["used"]) <= set(role["allowed"])
    assert not set(role["unused"]) & set(role["used"])
    assert {"mkdir", "flock", "rmdir"} <= set(role["unused"])
    [gap] = role["missing"]
    assert gap["syscall"] == "getgroups" and gap["calls"] == 4 and len(gap["tests"]) == 4


def test_profile_mode_output_and_export(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(WORK)
    result = pytester.runpytest_subprocess("--sandbox-mode=profile", "--sandbox-export=out")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["least privilege (profile mode):", "*MESSAGE_HANDLER*"])
    from pytest_syscall_sandbox.reports.export import oci_profile_allowed

    minimal = oci_profile_allowed((pytester.path / "out" / "MESSAGE_HANDLER.minimal.oci.json").read_text())
    assert "getgroups" in minimal and "openat" in minimal and "socket" not in minimal


def test_profile_mode_stops_less_as_the_suite_goes_on(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(WORK)
    records = _report(pytester, "--sandbox-mode=profile")["records"]
    used = [r for r in records if r["outcome"] == "used" and r["phase"] != "harness"]
    first = {r["syscall"] for r in used if r["nodeid"].endswith("[0]")}
    later = [r for r in used if not r["nodeid"].endswith("[0]")]
    assert "openat" in first
    assert not [r for r in later if r["syscall"] in first]


def test_lint_runs_before_the_tests_and_heads_the_gap_report(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(WORK)
    result = pytester.runpytest_subprocess("--sandbox-mode=audit", "--sandbox-lint")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "sandbox lint: MESSAGE_HANDLER: likely *close_range*",
            "collected 4 items",
            "*syscall sandbox*",
            "sandbox lint: MESSAGE_HANDLER: likely *close_range*",
            "MESSAGE_HANDLER: 1 missing: getgroups",
        ]
    )


def test_xdist_report_has_the_same_content_as_a_plain_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(WORK)

    def content(data: dict[str, Any]) -> tuple[Any, ...]:
        role = data["roles"]["MESSAGE_HANDLER"]
        keep = ("syscall", "nr", "nodeid", "phase", "location", "outcome", "role")
        records = sorted(tuple(r[k] for k in keep) for r in data["records"] if r["phase"] != "harness")
        missing = [{**m, "tests": sorted(m["tests"])} for m in role["missing"]]
        return role["tests"], missing, records

    plain = content(_report(pytester, "--sandbox-mode=audit"))
    distributed = content(_report(pytester, "--sandbox-mode=audit", "-n", "2"))
    assert plain == distributed
    assert plain[0] == 4


def test_ctrl_c_kills_the_child_and_still_reports(pytester: pytest.Pytester, tmp_path: Path) -> None:
    started = tmp_path / "started"
    pytester.makepyfile(
        f"""
        import os
        import time
        import pytest

        @pytest.mark.sandbox("MESSAGE_HANDLER", mode="audit")
        def test_hangs():
            os.getgroups()
            with open({str(started)!r}, "w") as handle:
                handle.write(str(os.getpid()))
            time.sleep(120)
        """
    )
    report = pytester.path / "report.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--sandbox-report={report}"],
        cwd=pytester.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (started.exists() and started.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert started.exists(), "the sandboxed test never started"
        child = int(started.read_text())
        os.kill(process.pid, signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    finally:
        process.kill()
    assert "KeyboardInterrupt" in output
    assert "MESSAGE_HANDLER: 1 missing: getgroups" in output
    data = json.loads(report.read_text())
    assert data["interrupted"] is True
    assert [r["syscall"] for r in data["records"] if r["phase"] == "call"] == ["getgroups"]
    assert child != process.pid
    assert not Path(f"/proc/{child}").exists(), "the sandboxed child outlived the run"


def test_warnings_of_sandboxed_tests_reach_the_warnings_summary(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import warnings
        import pytest

        class WalletWarning(UserWarning):
            pass

        pytestmark = pytest.mark.sandbox("NET")

        def test_first():
            warnings.warn("plain words")

        def test_second():
            warnings.warn("from the wallet", WalletWarning)

        @pytest.mark.filterwarnings("ignore::UserWarning")
        def test_ignored():
            warnings.warn("not shown")
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, warnings=2)
    result.stdout.fnmatch_lines(
        [
            "*warnings summary*",
            "*::test_first",
            "*.py:10: UserWarning: plain words",
            "*::test_second",
            "*.py:13: WalletWarning: from the wallet",
        ]
    )
    assert "not shown" not in result.stdout.str()


def test_warnings_survive_a_child_that_dies_and_unknown_classes_are_not_imported(pytester: pytest.Pytester) -> None:
    """A warning shown before the child died still reaches the summary; the main process
    names a warning class it never imported without importing its module."""
    pytester.makepyfile(
        sidefx="""
        import os

        with open(f"imported-by-{os.getpid()}", "w"):
            pass

        class SideWarning(UserWarning):
            pass
        """,
        test_dies="""
        import os
        import warnings
        import pytest

        @pytest.mark.sandbox("NET", mode="audit")
        def test_warns_then_exits():
            import sidefx
            warnings.warn("before the end", sidefx.SideWarning)
            os._exit(3)
        """,
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1, warnings=1)
    result.stdout.fnmatch_lines(["*warnings summary*", "*test_dies.py:8: SideWarning: before the end"])
    assert len(list(pytester.path.glob("imported-by-*"))) == 1  # by the test's child only


def test_without_pytests_warnings_plugin_nothing_is_replayed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import warnings
        import pytest

        @pytest.mark.sandbox("NET")
        def test_warns():
            warnings.warn("kept to the child")
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:warnings")
    result.assert_outcomes(passed=1)
    assert "kept to the child" not in result.stdout.str() + result.stderr.str()


def test_a_syscall_the_table_lacks_is_a_gap_but_stays_out_of_the_exports(pytester: pytest.Pytester) -> None:
    """Number 500 has no name: it is reported, but no allow-list can name it."""
    pytester.makepyfile(
        """
        import ctypes
        import pytest

        @pytest.mark.sandbox("NET", mode="audit")
        def test_unnamed():
            assert ctypes.CDLL(None, use_errno=True).syscall(500) == -1  # ENOSYS, once it is let through
        """
    )
    result = pytester.runpytest_subprocess("--sandbox-export=out", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["NET: 1 missing: [*]unknown[*]"])
    registry = RoleRegistry()
    name, _, terms = (pytester.path / "out" / "NET.fixed.role.ini").read_text().partition(" = ")
    assert registry.define(name, terms).allowed == registry.get("NET").allowed
