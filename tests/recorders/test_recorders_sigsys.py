"""The sigsys recorder against a test that works against it, and where it says it cannot see.

Every check is made in the parent, from what the recorder returned and what the child
left on disk: the child may lie, the kernel does not.
"""

from __future__ import annotations

import ctypes
import gc
import os
import shutil
import signal
import struct
from pathlib import Path

import pytest
from recorders_support import ALL_BUT_GETGROUPS, NR_GETGROUPS, Child, line_of, run_child

from pytest_syscall_sandbox.kernel.actions import SECCOMP_RET_TRAP, Action
from pytest_syscall_sandbox.kernel.calls import raw_syscall
from pytest_syscall_sandbox.kernel.trampoline import trusted_syscall
from pytest_syscall_sandbox.recorders.base import ChildContext
from pytest_syscall_sandbox.recorders.record import GUARD_REFUSED

pytestmark = pytest.mark.kernel

NR_MKDIRAT, AT_FDCWD = 258, -100
NR_RT_TGSIGQUEUEINFO = 297
GUARD_DATA = 0x6A7D
ID = shutil.which("id") or "/usr/bin/id"


def mkdirat(path: Path) -> int:
    """``mkdirat(AT_FDCWD, path)`` as one raw call (trapped: NR_MKDIRAT is in no role here)."""
    buffer = ctypes.create_string_buffer(str(path).encode())
    return int(raw_syscall(NR_MKDIRAT, AT_FDCWD, ctypes.addressof(buffer), 0o755)[0])


def the_context() -> ChildContext:
    """The recorder's context object, as test code could find it."""
    return next(o for o in gc.get_objects() if isinstance(o, ChildContext))


@pytest.mark.parametrize("mode", ["audit", "log-and-abort", "abort"])
def test_an_ordinary_violation_leaves_the_record_complete(sigsys_recorder: str, mode: str) -> None:
    run = run_child(sigsys_recorder, mode, lambda child: os.getgroups())
    assert {r.syscall for r in run.records()} == {"getgroups"}
    assert run.outcome.incomplete == []


@pytest.mark.parametrize("mode", ["log-and-abort", "abort"])
def test_the_phase_the_child_claims_never_lets_a_call_run(sigsys_recorder: str, mode: str, tmp_path: Path) -> None:
    """Phase ``harness`` is a label: the call is refused all the same, and recorded with that label.

    pytest's own calls between phases are refused without stopping the child (pytest copes);
    a test claiming to be pytest gets that too, and the plugin fails it for the record.
    """
    target = tmp_path / "harness-made"

    def claim_to_be_the_harness(child: Child) -> None:
        the_context().phase = "harness"
        child.report(result=mkdirat(target))  # CLAIMED

    run = run_child(sigsys_recorder, mode, claim_to_be_the_harness)
    assert not target.exists()
    assert run.results["result"] == -1
    (record,) = run.records("mkdirat")
    assert (record.phase, record.outcome) == ("harness", "refused")
    assert f"{line_of(claim_to_be_the_harness, '# CLAIMED')} in claim_to_be_the_harness" in record.stack
    assert run.outcome.incomplete == []


def test_closing_every_descriptor_loses_no_record_and_writes_nothing_into_the_programs_files(
    sigsys_recorder: str, tmp_path: Path
) -> None:
    """closerange, then files that get the recorder's old numbers: they hold only what the program wrote."""
    files = [tmp_path / f"file-{n}" for n in range(12)]  # enough to reuse every number closed

    def close_everything(child: Child) -> None:
        os.closerange(3, child.fd)
        os.closerange(child.fd + 1, 4096)
        descriptors = [os.open(path, os.O_WRONLY | os.O_CREAT, 0o600) for path in files]
        for n, fd in enumerate(descriptors):
            os.write(fd, f"program data {n}\n".encode())
            raw_syscall(NR_GETGROUPS, 0, 0)  # AFTER CLOSERANGE
        for fd in descriptors:
            os.close(fd)
        child.report(fds=descriptors)

    run = run_child(sigsys_recorder, "audit", close_everything, allowed=ALL_BUT_GETGROUPS)
    assert run.outcome.exit_code == 0, run
    assert [path.read_text() for path in files] == [f"program data {n}\n" for n in range(12)]
    records = run.records("getgroups")
    assert len(records) == 12
    line = f"{line_of(close_everything, '# AFTER CLOSERANGE')} in close_everything"
    assert all(line in r.stack for r in records)
    assert run.outcome.incomplete == []


def test_a_direct_call_through_the_trampoline_in_audit_is_refused_and_recorded(
    sigsys_recorder: str, tmp_path: Path
) -> None:
    target = tmp_path / "through-the-trampoline"

    def sneak(child: Child) -> None:
        buffer = ctypes.create_string_buffer(str(target).encode())
        child.report(result=trusted_syscall(NR_MKDIRAT, AT_FDCWD, ctypes.addressof(buffer), 0o755))

    run = run_child(sigsys_recorder, "audit", sneak)
    assert not target.exists()
    assert run.results["result"] == -1  # -EPERM, the parent's answer
    (record,) = run.records("mkdirat")
    assert record.outcome == "refused" and record.tid == record.pid
    assert any("came through the recorder's trampoline with no trap record" in text for text in run.outcome.incomplete)


@pytest.mark.parametrize("handler", [signal.SIG_IGN, lambda *_: None])
def test_an_own_sigsys_handler_is_refused_and_the_record_says_so(
    sigsys_recorder: str, handler: object, tmp_path: Path
) -> None:
    target = tmp_path / "made"

    def replace_the_handler(child: Child) -> None:
        try:
            signal.signal(signal.SIGSYS, handler)  # type: ignore[arg-type]
        except OSError as exc:
            child.report(refused=exc.errno)
        mkdirat(target)

    run = run_child(sigsys_recorder, "audit", replace_the_handler)
    assert run.results["refused"] == 1  # EPERM
    assert target.is_dir()  # audit: the handler is still the recorder's, and let the call run
    assert [r.outcome for r in run.records("mkdirat")] == ["allowed"]
    assert any("replace the recorder's SIGSYS handler" in text for text in run.outcome.incomplete)


def test_blocking_sigsys_kills_the_child_and_the_records_say_they_are_incomplete(
    sigsys_recorder: str, tmp_path: Path
) -> None:
    target = tmp_path / "made"

    def block(child: Child) -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGSYS})
        mkdirat(target)

    run = run_child(sigsys_recorder, "audit", block)
    assert run.outcome.signal == signal.SIGSYS and not target.exists()
    assert run.records() == []
    assert any("SIGSYS was blocked" in text for text in run.outcome.incomplete)


def test_a_queued_sigsys_with_a_forged_seccomp_siginfo_is_refused(sigsys_recorder: str) -> None:
    """rt_tgsigqueueinfo to itself may set any si_code: a fake trap of getgroups, refused before delivery."""

    def forge(child: Child) -> None:
        info = struct.pack("=iii4xQiI", signal.SIGSYS, 0, 1, 0x7F00_0000_1000, NR_GETGROUPS, 0xC000003E)
        buffer = ctypes.create_string_buffer(info.ljust(128, b"\0"), 128)
        tid = raw_syscall(186)[0]  # gettid
        child.report(
            result=raw_syscall(NR_RT_TGSIGQUEUEINFO, os.getpid(), tid, signal.SIGSYS, ctypes.addressof(buffer))
        )

    run = run_child(sigsys_recorder, "audit", forge, allowed=ALL_BUT_GETGROUPS)  # the role allows queueing
    assert run.records("getgroups") == []
    assert run.outcome.exit_code == 0
    assert run.results["result"] == [-1, 1]  # EPERM
    assert any("forged trap" in text for text in run.outcome.incomplete)


def test_a_trap_refused_by_the_harness_guard_is_never_re_issued(sigsys_recorder: str) -> None:
    def body(child: Child) -> None:
        try:
            os.getgroups()
        except OSError as exc:
            child.report(errno=exc.errno)

    guard = Action(SECCOMP_RET_TRAP, GUARD_DATA)
    run = run_child(sigsys_recorder, "audit", body, allowed=ALL_BUT_GETGROUPS, action=guard)
    assert run.results["errno"] == 1  # EPERM, not run
    (record,) = run.records("getgroups")
    assert (record.outcome, record.reason) == ("refused", GUARD_REFUSED)  # the plugin explains it and fails the test


def test_a_posix_spawn_child_under_the_filter_makes_the_audit_incomplete(sigsys_recorder: str) -> None:
    def spawn(child: Child) -> None:
        pid = os.posix_spawn(ID, ["id", "-u"], dict(os.environ))
        child.report(status=os.waitpid(pid, 0)[1])

    run = run_child(sigsys_recorder, "audit", spawn, allowed=ALL_BUT_GETGROUPS)
    assert run.outcome.exit_code == 0
    (unseen,) = [text for text in run.outcome.incomplete if "without the recorder's SIGSYS handler" in text]
    assert "started a child by vfork or posix_spawn" in unseen
    assert f"exec'd {ID}" in unseen  # and the program it ran
    assert unseen in run.outcome.notes


def test_a_crash_makes_the_audit_incomplete(sigsys_recorder: str) -> None:
    def crash(child: Child) -> None:
        import faulthandler

        faulthandler.disable()
        os.getgroups()
        ctypes.string_at(0)

    run = run_child(sigsys_recorder, "audit", crash)
    assert run.outcome.signal == signal.SIGSEGV
    assert run.records("getgroups")
    assert any("killed by SIGSEGV" in text for text in run.outcome.incomplete)


def test_without_the_watch_the_records_rest_on_the_handler_and_a_note_says_so(
    sigsys_recorder: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kernel before 5.9 (made to look so): no user notifications, the handler's entries are kept."""
    from pytest_syscall_sandbox.recorders import _watch

    monkeypatch.setattr(_watch, "_release", lambda: (5, 4))
    run = run_child(sigsys_recorder, "audit", lambda child: os.getgroups())
    assert run.outcome.exit_code == 0
    assert {(r.syscall, r.outcome) for r in run.records()} == {("getgroups", "allowed")}
    assert any("watch is missing" in note for note in run.outcome.notes)
    assert run.outcome.incomplete == []
