"""The trap record's own forms: where it is located, and the two JSON forms it is written in."""

from __future__ import annotations

import json

from pytest_syscall_sandbox.recorders.record import Frame, TrapRecord, project_frame, result_text
from pytest_syscall_sandbox.reports.gaps import build_json_report, record_text, report_text

ROOT = "/home/dev/project"
STACK = (
    Frame(f"{ROOT}/tests/test_net.py", 12, "test_connect"),
    Frame(f"{ROOT}/.venv/lib/python3.13/site-packages/lib/client.py", 40, "connect"),
    Frame("/usr/lib/python3.13/socket.py", 232, "__init__"),
)


def _record() -> TrapRecord:
    record = TrapRecord("socket", 41, (1, 1, 0), "socket(AF_UNIX, SOCK_STREAM, 0)", 10, 11, "MainThread", "NET")
    record.place(STACK, STACK[-1], ROOT)
    record.result = -13
    return record


def test_the_location_is_the_innermost_frame_of_the_project_relative_to_its_root() -> None:
    assert project_frame(STACK, STACK[-1], ROOT) == Frame("tests/test_net.py", 12, "test_connect")
    assert project_frame(STACK, STACK[-1], "") == STACK[-1]  # no root: the innermost
    assert project_frame((), Frame("/x/os.py", 3, "fork"), ROOT) == Frame("/x/os.py", 3, "fork")  # compact
    record = _record()
    assert (record.location, record.function) == ("tests/test_net.py:12", "test_connect")
    assert record.stack[-1] == "/usr/lib/python3.13/socket.py:232 in __init__"


def test_both_json_forms_read_back_to_the_same_record() -> None:
    record = _record()
    assert TrapRecord.from_json(json.loads(json.dumps(record.to_wire()))) == record
    assert TrapRecord.from_json(json.loads(json.dumps(record.to_json()))) == record
    report = record.to_json()
    assert (report["location"], report["function"]) == ("tests/test_net.py:12", "test_connect")
    assert report["returned"] == "= -1 EACCES (Permission denied)"


def test_frames_that_are_not_frames_are_dropped() -> None:
    data = _record().to_wire()
    data["frames"] = [["a.py", 1, "f"], ["b.py", "2", "g"], "c.py:3 in h", ["d.py", 4]]
    data["at"] = {"path": "x"}
    record = TrapRecord.from_json(data)
    assert record.frames == (Frame("a.py", 1, "f"),) and record.at is None and record.location == ""


def test_the_report_file_with_each_records_text_made_once_is_the_same_document() -> None:
    records = [_record(), _record()]
    facts = {"NET": {"tests": 1, "allowed": ["read"]}}
    whole = build_json_report(records, facts, {"kernel": "6"}, {"mode": "audit"})
    parts = build_json_report(records, facts, {"kernel": "6"}, {"mode": "audit"}, with_records=False)
    assert json.loads(report_text(parts, [record_text(r) for r in records])) == whole
    assert json.loads(report_text(parts, [])) == {**whole, "records": []}


def test_results_read_as_strace_writes_them() -> None:
    assert result_text("openat", 3) == "= 3"
    assert result_text("openat", -2) == "= -1 ENOENT (No such file or directory)"
    assert result_text("mmap", 0x7F0000001000) == "= 0x7f0000001000"
    assert result_text("getgroups", None) == ""
