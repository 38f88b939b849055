"""A role's summary line says "no missing syscalls" only when that is the whole story.

Its verdict covers the tests that ran and were recorded completely; tests selected
for the role that never ran (``-x``), tests that ended without a complete record and
calls pytest's own code made between phases are counted on the line and in the
report file, and each keeps the line from reading clean.
"""

from __future__ import annotations

import json
from typing import Any

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
