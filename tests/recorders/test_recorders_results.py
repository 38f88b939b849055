"""In audit mode a record carries what the call returned, under both recorders, as strace shows it.

The ptrace tracer takes it at the call's syscall-exit stop, for the first call of each
syscall in a test (that stop costs about a quarter more per trapped call); the sigsys
handler ran the call itself and writes its result beside its record, under the same rule.
"""

from __future__ import annotations

import errno
import os

import pytest
from recorders_support import Child, run_child

pytestmark = pytest.mark.kernel

MISSING = "/nonexistent-dir/missing"


def open_and_stat(child: Child) -> None:
    for _ in range(2):
        try:
            os.stat(MISSING)
        except FileNotFoundError:
            pass
    fd = os.open("/etc/hostname", os.O_RDONLY)
    child.report(fd=fd)
    os.close(fd)


def test_an_audited_call_s_result_is_on_its_record(recorder: str) -> None:
    run = run_child(recorder, "audit", open_and_stat)
    if recorder == "notify":  # it answers CONTINUE and the kernel runs the call afterwards: no result to see
        assert run.records("newfstatat") and all(r.result is None and r.returned == "" for r in run.records())
        return
    assert run.outcome.exit_code == 0
    first, second = [r for r in run.records("newfstatat") if MISSING in r.decoded_args]
    assert first.result == -errno.ENOENT
    assert first.returned == "= -1 ENOENT (No such file or directory)"
    assert second.result is None and second.returned == ""  # the first call of each syscall only
    (opened,) = [r for r in run.records("openat") if "/etc/hostname" in r.decoded_args]
    assert opened.result == run.results["fd"] and opened.returned == f"= {run.results['fd']}"
    assert opened.to_json()["returned"] == f"= {run.results['fd']}"


def getgroups_once(child: Child) -> None:
    os.getgroups()


def test_a_call_that_never_returned_has_no_result(recorder: str) -> None:
    """log-and-abort: the call was refused and its process stopped; nothing came back to the program."""
    run = run_child(recorder, "log-and-abort", getgroups_once)
    (record,) = run.records("getgroups")
    assert record.result is None and record.returned == ""
