"""Each recorder in each mode: one getgroups under VALIDATION_SCRIPT_CHECK's real filter.

Every test forks; the filter goes on in the child only (recorders_support.run_child).
"""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import pytest
from recorders_support import (
    GROUPS,
    NODEID,
    NR_GETGROUPS,
    ROLE,
    Child,
    death_signal,
    line_of,
    prints_the_message,
    run_child,
    set_groups,
)

from pytest_syscall_sandbox.sandbox import violation_message

pytestmark = pytest.mark.kernel


def getgroups_once(child: Child) -> None:
    child.report(pid=os.getpid(), tid=threading.get_native_id())
    groups = os.getgroups()  # VIOLATION
    child.report(groups=groups)


def test_a_trapped_getgroups_is_recorded_in_every_mode(
    recorder: str, mode: str, capfd: pytest.CaptureFixture[str]
) -> None:
    run = run_child(recorder, mode, getgroups_once)
    err = capfd.readouterr().err
    records = run.records()
    assert records, (run, err)
    first = records[0]
    assert (first.syscall, first.nr) == ("getgroups", NR_GETGROUPS)
    assert first.pid == run.results["pid"] and first.tid == run.results["tid"]
    assert first.location == line_of(getgroups_once, "# VIOLATION")
    assert first.function == "getgroups_once"
    assert first.stack[-1] == f"{first.location} in getgroups_once"
    assert (first.role, first.mode, first.recorder, first.nodeid, first.phase) == (
        ROLE.name,
        mode,
        recorder,
        NODEID,
        "call",
    )
    assert first.thread == "MainThread"
    assert first.decoded_args == "getgroups(0, NULL)"
    assert len(first.args) == 6 and first.args[:2] == (0, 0)
    assert not run.outcome.timed_out
    if mode == "audit":
        assert first.outcome == "allowed"
        assert all(r.syscall == "getgroups" for r in records)
        assert (run.outcome.exit_code, run.outcome.signal) == (0, None), err
        if os.getuid() == 0:
            assert sorted(run.results["groups"]) == GROUPS  # the call ran and its result came back
    elif mode == "log-and-abort":
        assert len(records) == 1 and first.outcome == "aborted"
        assert run.outcome.signal == death_signal(recorder, mode)
        assert "groups" not in run.results
        expected = violation_message(NR_GETGROUPS, "MainThread")
        printed = f"{expected} [role {ROLE.name}, at {first.location} in getgroups_once]" in err
        assert printed == prints_the_message(recorder)
    else:
        assert len(records) == 1 and first.outcome == "killed"
        assert run.outcome.signal == death_signal(recorder, mode)
        assert "groups" not in run.results
        assert "is not allowed by the syscall sandbox" not in err


def test_audit_really_runs_the_trapped_call(recorder: str, tmp_path: Path) -> None:
    target = tmp_path / "made-under-the-filter"

    def make_directory(child: Child) -> None:
        os.mkdir(target)  # mkdir is not in the role: trapped, then run

    run = run_child(recorder, "audit", make_directory)
    assert run.outcome.exit_code == 0, run
    assert target.is_dir()
    (record,) = [r for r in run.records() if r.syscall in ("mkdir", "mkdirat")]
    assert record.location == line_of(make_directory, "os.mkdir(target)")
    if recorder in ("ptrace", "notify"):  # the tracer (the supervisor) reads the path out of the child's memory
        assert str(target) in record.decoded_args


def test_abort_modes_never_run_the_call(recorder: str, tmp_path: Path) -> None:
    target = tmp_path / "never-made"

    def make_directory(child: Child) -> None:
        os.mkdir(target)

    for mode in ("abort", "log-and-abort"):
        run = run_child(recorder, mode, make_directory)
        assert run.outcome.signal == death_signal(recorder, mode)
        assert not target.exists()


def test_sigsys_audit_without_trusted_ip_fails_the_calls_and_says_the_records_are_incomplete(
    sigsys_recorder: str,
) -> None:
    """A filter that does not trust the trampoline: the re-issued call traps again and fails."""

    def body(child: Child) -> None:
        try:
            os.getgroups()
        except OSError as exc:
            child.report(errno=exc.errno)

    run = run_child(sigsys_recorder, "audit", body, trusted_ip=False)
    assert run.outcome.exit_code == 0
    assert run.results["errno"] == errno.ENOSYS
    assert run.records("getgroups") == []  # nothing confirms it ran: no record claims it did
    assert any("getgroups" in text and "did not trust the trampoline" in text for text in run.outcome.incomplete)


def test_phase_changes_are_stamped_on_records(recorder: str) -> None:
    def body(child: Child) -> None:
        os.getgroups()
        child.context.phase = "teardown"
        os.getgroups()
        child.context.phase = "harness"

    run = run_child(recorder, "audit", body, setup=None)
    assert [r.phase for r in run.records("getgroups")] == ["call", "teardown"]


def test_setup_is_not_filtered(recorder: str) -> None:
    """Only what runs after install_filter is recorded (setgroups runs before it)."""
    run = run_child(recorder, "audit", lambda child: None, setup=set_groups)
    assert run.outcome.exit_code == 0 and run.records() == []
