"""The same trapped calls under both recorders give the same records (but pids, tids and the recorder's name).

Each recorder builds its records in its own way (the ptrace tracer from the stop's
registers and a where-answer, the sigsys parent from the watch's view and the
handler's entry); what they say about one trap must not depend on which was used.
"""

from __future__ import annotations

import os
import re
import socket
import threading
from pathlib import Path
from typing import Any

import pytest
from recorders_support import Child, line_of, run_child

from pytest_syscall_sandbox.recorders.record import TrapRecord

pytestmark = pytest.mark.kernel

HERE = Path(__file__).resolve().parent
#: What differs between two runs of the same trap whatever the recorder.
VOLATILE = ("pid", "tid", "recorder")


#: Calls that return a new descriptor.
_DESCRIPTORS = frozenset({"socket", "openat", "open"})
#: Addresses: each process has its own (its buffers, its stack).
_ADDRESS = re.compile(r"0x[0-9a-f]{8,}")


def _comparable(records: list[TrapRecord]) -> list[dict[str, Any]]:
    """The records as JSON, without what differs between any two runs: ids and addresses."""
    compared = []
    for record in records:
        data = {k: v for k, v in record.to_wire().items() if k not in VOLATILE}
        used = record.decoded_args.count(",") + 1  # the registers past the call's arguments are leftovers
        data["args"] = [a if a < 1 << 32 else "address" for a in record.args[:used]]
        data["decoded_args"] = _ADDRESS.sub("address", record.decoded_args)
        if record.syscall in _DESCRIPTORS and record.result is not None and record.result >= 0:
            data["result"] = "a descriptor"  # its number depends on what else the process has open
        compared.append(data)
    return compared


def many_traps(child: Child) -> None:
    target = os.environ["PARITY_TARGET"]
    os.getgroups()  # GETGROUPS
    try:
        os.mkdir(target)  # MKDIR
    except OSError:
        pass
    try:
        os.stat(target + "/missing")  # STAT
    except OSError:
        pass
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unix:  # SOCKET
        unix.fileno()
    worker = threading.Thread(target=os.getgroups, name="worker")
    worker.start()
    worker.join()


def run_both(mode: str, body: Any, tmp_path: Path, recorders: list[str]) -> dict[str, list[TrapRecord]]:
    runs = {}
    for recorder in recorders:
        os.environ["PARITY_TARGET"] = str(tmp_path / "made")  # one path for both: it is in the records
        try:
            run = run_child(recorder, mode, body, root=str(HERE))
        finally:
            del os.environ["PARITY_TARGET"]
        if (tmp_path / "made").exists():
            (tmp_path / "made").rmdir()
        runs[recorder] = run.records()
    return runs


@pytest.fixture
def both(ptrace_recorder: str, sigsys_recorder: str) -> list[str]:
    """Both recorders (skipped where either cannot run)."""
    return [ptrace_recorder, sigsys_recorder]


def test_audit_records_are_the_same_under_both_recorders(both: list[str], tmp_path: Path) -> None:
    runs = run_both("audit", many_traps, tmp_path, both)
    ptrace, sigsys = runs["ptrace"], runs["sigsys"]
    assert {r.syscall for r in ptrace} >= {"getgroups", "socket"}, ptrace
    assert _comparable(ptrace) == _comparable(sigsys)
    getgroups = [r for r in ptrace if r.syscall == "getgroups"]
    assert getgroups[0].location == line_of(many_traps, "# GETGROUPS").replace(f"{HERE}/", "")
    assert getgroups[-1].thread == "worker"
    made = [r for r in ptrace if str(tmp_path / "made") in r.decoded_args]
    assert made, "paths are read from the stopped thread's memory under both recorders"


def getgroups_only(child: Child) -> None:
    os.getgroups()  # VIOLATION


def test_the_violation_that_stops_a_test_is_the_same_record_under_both(both: list[str], tmp_path: Path) -> None:
    runs = run_both("log-and-abort", getgroups_only, tmp_path, both)
    ptrace, sigsys = runs["ptrace"], runs["sigsys"]
    assert len(ptrace) == len(sigsys) == 1
    assert _comparable(ptrace) == _comparable(sigsys)
    assert ptrace[0].location == line_of(getgroups_only, "# VIOLATION").replace(f"{HERE}/", "")
