"""A role's summary line says "no missing syscalls" only when that is the whole story.

Its verdict covers the tests that ran and were recorded completely; tests selected
for the role that never ran (``-x``), tests that ended without a complete record and
calls pytest's own code made between phases are counted on the line and in the
report file, and each keeps the line from reading clean.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from pytest_syscall_sandbox.recorders.record import HARNESS, USED, TrapRecord
from pytest_syscall_sandbox.reports.gaps import RoleTally, build_json_report, render_summary

CLEAN = "no missing syscalls"


def _record(
    syscall: str, nr: int, phase: str = "call", nodeid: str = "t.py::a", outcome: str = "allowed"
) -> TrapRecord:
    return TrapRecord(syscall, nr, role="NET", phase=phase, nodeid=nodeid, outcome=outcome)


def _line(records: list[TrapRecord], tally: RoleTally | None = None) -> str:
    tallies = {"NET": tally} if tally else {}
    return render_summary(records, ["NET"], verbosity=-1, tallies=tallies)


def _json_role(records: list[TrapRecord], tally: RoleTally | None = None) -> dict[str, Any]:
    report = build_json_report(
        records, {"NET": {"tests": tally.run if tally else 1}}, {}, {}, tallies={"NET": tally} if tally else {}
    )
    roles: dict[str, Any] = report["roles"]  # type: ignore[assignment]
    return roles["NET"]  # type: ignore[no-any-return]


def test_a_complete_clean_role_reads_clean() -> None:
    assert _line([], RoleTally(run=3)) == f"NET: {CLEAN}"
    role = _json_role([], RoleTally(run=3))
    assert role["complete"] is True and role["summary"] == f"NET: {CLEAN}"
    assert role["tests_not_run"] == [] and role["tests_incomplete"] == {} and role["harness_calls"] == []


def test_tests_not_run_are_counted_and_never_read_clean() -> None:
    tally = RoleTally(run=1, not_run=["t.py::b", "t.py::c"])
    assert _line([], tally) == "NET: 0 missing (incomplete: 1 test run, 2 not run)"
    assert _line([_record("mount", 165)], tally) == "NET: 1 missing: mount (incomplete: 1 test run, 2 not run)"
    role = _json_role([], tally)
    assert role["complete"] is False and role["tests_not_run"] == ["t.py::b", "t.py::c"]


def test_a_role_whose_tests_never_ran_is_not_checked() -> None:
    line = _line([], RoleTally(run=0, not_run=["t.py::a", "t.py::b"]))
    assert line == "NET: not checked (incomplete: 0 tests run, 2 not run)"


def test_tests_without_a_complete_record_are_counted_and_never_read_clean() -> None:
    tally = RoleTally(run=3, incomplete={"t.py::a": ["a process was not followed"]})
    assert _line([], tally) == "NET: 0 missing (incomplete: 3 tests run, 1 test ended without a complete record)"
    tally.incomplete["t.py::b"] = ["the SIGSYS handler was replaced"]
    assert "2 tests ended without a complete record" in _line([], tally)
    text = render_summary([], ["NET"], verbosity=0, tallies={"NET": tally})
    assert "  t.py::a: a process was not followed" in text.splitlines()
    role = _json_role([], tally)
    assert role["complete"] is False and role["tests_incomplete"]["t.py::b"] == ["the SIGSYS handler was replaced"]
    assert CLEAN not in role["summary"]


def test_calls_of_pytests_own_code_are_shown_apart_and_never_read_clean() -> None:
    records = [_record("newfstatat", 262, HARNESS)] * 3 + [_record("dup2", 33, HARNESS)]
    line = _line(records, RoleTally(run=1))
    assert line == "NET: 0 missing; 4 calls by pytest's own code between phases, not counted: newfstatat x3 dup2 x1"
    with_gap = _line([*records, _record("mount", 165)], RoleTally(run=1))
    assert with_gap.startswith("NET: 1 missing: mount; 4 calls by pytest's own code")
    role = _json_role(records)
    assert [(h["syscall"], h["calls"]) for h in role["harness_calls"]] == [("newfstatat", 3), ("dup2", 1)]
    assert role["missing"] == [] and role["complete"] is False


def test_profile_mode_uses_of_pytests_own_code_are_not_gaps() -> None:
    records = [_record("newfstatat", 262, HARNESS, outcome=USED)]
    assert _line(records, RoleTally(run=1)) == f"NET: {CLEAN}"


def test_a_role_known_only_from_its_tally_gets_a_line() -> None:
    text = render_summary([], [], verbosity=-1, tallies={"TX_INDEX": RoleTally(not_run=["t.py::x"])})
    assert text == "TX_INDEX: not checked (incomplete: 0 tests run, 1 not run)"
    report = build_json_report([], {}, {}, {}, tallies={"TX_INDEX": RoleTally(not_run=["t.py::x"])})
    assert json.loads(json.dumps(report))["roles"]["TX_INDEX"]["tests"] == 0


# -- whole runs -------------------------------------------------------------------------------

STOPS_EARLY = """
import os, pytest

@pytest.mark.sandbox("NET")
def test_fails_first():
    assert False

@pytest.mark.sandbox("NET")
def test_would_find_a_gap():
    os.getgroups()

@pytest.mark.sandbox("TX_INDEX")
def test_other_role():
    os.getgroups()
"""


def _run_with_report(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict[str, Any]]:
    result = pytester.runpytest_subprocess("--sandbox-report=report.json", *args)
    report: dict[str, Any] = json.loads((pytester.path / "report.json").read_text())
    return result, report


def test_with_x_tests_not_run_are_counted_and_no_role_reads_clean(pytester: pytest.Pytester, recorder: str) -> None:
    pytester.makepyfile(STOPS_EARLY)
    result, report = _run_with_report(pytester, "-x", "--sandbox-mode=audit", f"--sandbox-recorder={recorder}")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "NET: 0 missing (incomplete: 1 test run, 1 not run)",
            "TX_INDEX: not checked (incomplete: 0 tests run, 1 not run)",
        ]
    )
    assert CLEAN not in result.stdout.str()
    net, tx_index = report["roles"]["NET"], report["roles"]["TX_INDEX"]
    assert net["tests"] == 1 and net["tests_not_run"] == [
        "test_with_x_tests_not_run_are_counted_and_no_role_reads_clean.py::test_would_find_a_gap"
    ]
    assert tx_index["tests"] == 0 and len(tx_index["tests_not_run"]) == 1
    assert net["complete"] is False and tx_index["complete"] is False


def test_a_full_run_of_the_same_tests_reads_as_before(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(STOPS_EARLY)
    result, report = _run_with_report(pytester, "--sandbox-mode=audit")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["NET: 1 missing: getgroups*", "TX_INDEX: 1 missing: getgroups"])
    assert report["roles"]["TX_INDEX"]["complete"] is True and report["roles"]["TX_INDEX"]["tests_not_run"] == []


def test_collect_only_counts_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(STOPS_EARLY)
    result = pytester.runpytest_subprocess("--collect-only")
    assert "syscall sandbox" not in result.stdout.str() and "not checked" not in result.stdout.str()


LOSSY_RECORDER = """
from pytest_syscall_sandbox.recorders.ptrace import PtraceRecorder


class LossySession:
    def __init__(self, inner):
        self._inner = inner
        self.action, self.trusted_ip, self.needs = inner.action, inner.trusted_ip, inner.needs

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def wait(self, deadline):
        outcome = self._inner.wait(deadline)
        outcome.incomplete.append("a process the recorder could not follow")
        return outcome


class LossyRecorder:
    name = "ptrace"

    def start(self, context):
        return LossySession(PtraceRecorder().start(context))


def pytest_sandbox_make_recorder(config, name):
    return LossyRecorder() if name == "ptrace" else None
"""


def test_tests_that_ended_without_a_complete_record_are_counted(pytester: pytest.Pytester) -> None:
    """A recorder saying its records may lack calls (``ChildOutcome.incomplete``) keeps the role from reading clean."""
    pytester.makeconftest(LOSSY_RECORDER)
    pytester.makepyfile(
        """
        import os, pytest

        @pytest.mark.sandbox("NET", mode="audit")
        def test_one():
            os.getpid()

        @pytest.mark.sandbox("NET", mode="audit")
        def test_two():
            os.getpid()
        """
    )
    result, report = _run_with_report(pytester)
    result.stdout.fnmatch_lines(
        [
            "NET: 0 missing (incomplete: 2 tests run, 2 tests ended without a complete record)",
            "NET: tests that ended without a complete record:",
            "  *::test_one: a process the recorder could not follow",
        ]
    )
    assert CLEAN not in result.stdout.str()
    net = report["roles"]["NET"]
    assert net["complete"] is False
    assert sorted(n.split("::")[1] for n in net["tests_incomplete"]) == ["test_one", "test_two"]
    assert CLEAN not in net["summary"]


def test_calls_of_pytests_own_code_are_shown_not_dropped(pytester: pytest.Pytester, recorder: str) -> None:
    """A failing test's report is made under the filter: pytest stats source files, which this role lacks."""
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.sandbox("VALIDATION_SCRIPT_CHECK")
        def test_fails():
            assert 1 + 1 == 3
        """
    )
    result, report = _run_with_report(pytester, f"--sandbox-recorder={recorder}")
    result.assert_outcomes(failed=1)
    harness = [r for r in report["records"] if r["phase"] == "harness"]
    assert harness, "the scenario needs calls of pytest's own code between phases"
    role = report["roles"]["VALIDATION_SCRIPT_CHECK"]
    assert role["missing"] == [] and role["complete"] is False
    assert sum(h["calls"] for h in role["harness_calls"]) == len(harness)
    calls = f"{len(harness)} call{'s' if len(harness) > 1 else ''}"
    result.stdout.fnmatch_lines(
        [f"VALIDATION_SCRIPT_CHECK: 0 missing; {calls} by pytest's own code between phases, not counted: *"]
    )
    assert CLEAN not in result.stdout.str() and CLEAN not in role["summary"]
