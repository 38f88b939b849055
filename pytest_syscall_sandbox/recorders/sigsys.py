"""The SIGSYS recorder: the role's filter returns TRAP, a handler in the child records.

Kernel semantics (seccomp(2)): ``SECCOMP_RET_TRAP`` skips the syscall and sends the
calling thread a SIGSYS with ``si_code == SYS_SECCOMP``, ``si_syscall`` = the number
and ``si_call_addr`` = the instruction after ``syscall``; the saved RAX holds the
number again, and whatever RAX holds when the handler returns is the call's result.
A trap while SIGSYS is blocked or ignored kills the process instead (the kernel
resets the disposition), so the handler is installed with SA_NODEFER and guards
against re-entry itself.

The child (``in_child``) gets its own process group and a SIGSYS handler. Per trap
it builds a :class:`~.record.TrapRecord` (number and the six argument registers
from the ``ucontext_t``, pid, tid, Python thread name, the context's role, mode,
node id and phase *at that moment*, and the Python location and stack from the
interrupted frame) and writes it as one atomic message (<= PIPE_BUF) to a pipe
that every thread and forked process of the child tree shares. Then, by mode:

``audit``
    The call must run after all, with the same arguments, on the same thread, and
    its result must reach the program. Re-issuing it from the handler would trap
    again, so filters for this mode are compiled with ``trusted_ip=session.trusted_ip``
    (:mod:`..kernel.trampoline`): calls made from one known ``syscall`` instruction are
    allowed. The handler makes the call there and stores the result in the saved
    RAX. Per-thread state (credentials, signal masks, ``prctl``) is that of the
    right thread, and ``fork`` works (both processes return through the handler).
    Exceptions: ``vfork`` runs as ``fork`` (a vfork child would run the handler on
    its parent's stack), and ``clone``/``clone3`` sharing memory (new threads) cannot
    return on a new stack through the handler, so they fail with ENOSYS and the
    record's outcome says ``not-run`` (every policy allows both anyway). If the
    plugin compiled the filter without ``trusted_ip`` the re-issued call traps again;
    the nested handler makes it fail with ENOSYS, the record's outcome is
    ``not-run`` and the outcome notes say why. An exec'd program has no handler
    (exec resets it) but keeps the filter: its first disallowed call kills it with
    SIGSYS, unrecorded; a trapped ``execve`` adds a note. Use the ptrace recorder
    to audit programs the test runs.
``log-and-abort``
    Upstream's message (:func:`..kernel.naming.violation_message`) with
    `` [role ROLE, at FILE:LINE in FUNCTION]`` appended goes to fd 2, then
    ``os.abort()``: the child dies of SIGABRT. The syscall never ran.
``abort``
    SIGSYS is reset to its default action and raised on the thread: the process
    dies of SIGSYS, as ``SECCOMP_RET_KILL_PROCESS`` would kill it. The syscall never ran.

Limits, all the kernel's or the signal context's. A call trapped while SIGSYS is
blocked kills the process with SIGSYS before any handler runs: glibc blocks every
signal while it creates a thread (and CPython's subprocess while it vforks), so a
role without ``clone3``/``clone`` (``vfork``) cannot be audited here (every upstream
policy allows the first two; the parent's notes say so). An
exec'd program has no handler (above). A test that installs its own SIGSYS
handler replaces ours. The handler runs Python inside the signal: for process
creation (:data:`._child.FORK_FAMILY`), when glibc holds its malloc lock across
the call, the record is compact (no stack) so that nothing reaches malloc();
calls made inside malloc itself (``mmap``, ``brk``, ... which every policy
allows) would deadlock the handler.

The parent's ``wait`` sleeps in one select(2) on a pidfd and the pipe, draining the
pipe whenever it is readable, so a child with thousands of records never blocks on
a full pipe and no thread is needed. It waits until the child ends or the deadline
passes (then SIGKILL to the child's process group: ``timed_out``), kills what is
left of the group, and stops draining at end-of-file (every write end closed) or
one second after the child was reaped.
"""

from __future__ import annotations

import errno
import os
import select
import signal
import threading
import time
from types import FrameType
from typing import Any

from ..kernel.actions import TRAP, Action
from ..kernel.naming import thread_get_internal_name
from ..kernel.signals import SA_NODEFER, SIGSYS_CODE_SECCOMP, SigInfo
from ..kernel.syscalls import get_linux_syscall_name, syscall_number
from ..kernel.trampoline import TRUSTED_IP, trusted_syscall
from . import _channel
from ._child import (
    FORK_FAMILY,
    RECORDER_NEEDS,
    die_by_signal,
    effective_mode,
    end_trap,
    outcome_of,
    prepare_child,
    python_location,
)
from ._decode import decode_call
from ._process import REAP_TIMEOUT, decode_status, kill_quietly, killpg_quietly, reap_within, wait_exit
from ._sigcontext import Registers, install_context_handler
from .base import ChildContext, ChildOutcome
from .record import TrapRecord

_NR_VFORK = syscall_number("vfork")
_NR_FORK = syscall_number("fork")
_NR_CLONE = syscall_number("clone")
_NR_CLONE3 = syscall_number("clone3")
_NR_EXECS = frozenset({syscall_number("execve"), syscall_number("execveat")})
_NR_RT_SIGRETURN = syscall_number("rt_sigreturn")
_CLONE_VM = 0x100
_ENOSYS = errno.ENOSYS
#: After the child is reaped, how long grandchildren's last messages may take.
DRAIN_GRACE = 1.0


class SigsysRecorder:
    """Records trapped syscalls with a SIGSYS handler in the child (``SECCOMP_RET_TRAP``)."""

    name = "sigsys"

    def start(self, context: ChildContext) -> SigsysSession:
        """A session for one child; call before fork."""
        return SigsysSession(context)

    @staticmethod
    def unavailable_reason() -> str | None:
        """Why this recorder cannot run here, or None (it needs only seccomp)."""
        from ..kernel.support import unsupported_reason

        return unsupported_reason()


class SigsysSession:
    """One child's SIGSYS recording; see the module docstring."""

    recorder = "sigsys"

    def __init__(self, context: ChildContext) -> None:
        self.context = context
        self.action: Action = TRAP
        # Every mode needs the trusted instruction: pytest's own code between phases
        # (phase "harness") runs under the filter too, and its calls are let through.
        self.trusted_ip: int | None = TRUSTED_IP
        self.needs: frozenset[str] = RECORDER_NEEDS
        self._read_fd, self._write_fd = os.pipe()
        self._pid: int | None = None
        # Child side.
        self._busy: set[int] = set()
        self._reissue_works = True
        # Parent side.
        self._records: list[TrapRecord] = []
        self._notes: list[str] = []
        self._decoder = _channel.Decoder()
        self._eof = False
        self._ended = False
        self._status: int | None = None
        self._timed_out = False
        self._outcome: ChildOutcome | None = None

    # -- child ------------------------------------------------------------------------

    def in_child(self) -> None:
        """Own process group, no core files, the SIGSYS handler."""
        os.close(self._read_fd)
        prepare_child()
        install_context_handler(signal.SIGSYS, self._on_sigsys, flags=SA_NODEFER)

    def _on_sigsys(self, info: SigInfo, regs: Registers | None, frame: FrameType | None) -> None:
        if info.code != SIGSYS_CODE_SECCOMP or regs is None:
            die_by_signal(signal.SIGSYS)  # not a seccomp trap: what SIGSYS would have done
        tid = threading.get_native_id()
        if tid in self._busy:
            # A trap inside this handler: the re-issued call (filter compiled without
            # trusted_ip) or a call the handler itself needs. Fail it, do not recurse.
            if info.call_addr == TRUSTED_IP:
                self._reissue_works = False
            regs.rax = -_ENOSYS
            return
        self._busy.add(tid)
        try:
            self._handle(info, regs, frame, tid)
        finally:
            self._busy.discard(tid)  # also right in a child forked through the handler

    def _handle(self, info: SigInfo, regs: Registers, frame: FrameType | None, tid: int) -> None:
        context = self.context
        nr = info.syscall
        args = regs.syscall_args()
        location, function, stack = python_location(frame, compact=nr in FORK_FAMILY)
        thread = thread_get_internal_name()
        mode = effective_mode(context.phase, context.mode)
        outcome = outcome_of(mode)
        message: dict[str, Any] = {}
        if mode == "audit":
            if nr == _NR_RT_SIGRETURN or (nr == _NR_CLONE and args[0] & _CLONE_VM) or nr == _NR_CLONE3:
                outcome = "not-run"
                message["note"] = "calls that create threads cannot be re-issued from a SIGSYS handler (ENOSYS)"
            elif not self._reissue_works:
                outcome = "not-run"
            if nr in _NR_EXECS:
                message["note"] = (
                    "an exec'd program keeps the filter but not the SIGSYS handler: its disallowed "
                    "calls kill it with SIGSYS unrecorded (the ptrace recorder follows exec)"
                )
        # Role, mode, node id and recorder are the parent's to add: the message stays small.
        message["record"] = {
            "syscall": get_linux_syscall_name(nr),
            "nr": nr,
            "args": list(args),
            "pid": os.getpid(),
            "tid": tid,
            "thread": thread,
            "phase": context.phase,
            "location": location,
            "function": function,
            "stack": stack,
            "outcome": outcome,
        }
        _channel.send(self._write_fd, message)
        if mode == "audit":
            self._run(nr, args, regs, outcome)
        else:
            end_trap(mode, nr, thread, context.role, location, function)

    def _run(self, nr: int, args: tuple[int, ...], regs: Registers, outcome: str) -> None:
        """Audit: make the call from the trusted instruction; its result goes to RAX."""
        if outcome == "not-run":
            regs.rax = -_ENOSYS
            return
        result = trusted_syscall(_NR_FORK if nr == _NR_VFORK else nr, *args)
        if result == -_ENOSYS and not self._reissue_works:
            _channel.send(
                self._write_fd,
                {
                    "note": "audit mode could not run trapped calls (they failed with ENOSYS): the filter was "
                    "compiled without trusted_ip=session.trusted_ip",
                    "not_run": os.getpid(),
                },
            )
        regs.rax = result

    # -- parent -----------------------------------------------------------------------

    def in_parent(self, pid: int) -> None:
        """Close our write end; ``wait`` drains the pipe."""
        self._pid = pid
        os.close(self._write_fd)
        try:
            os.setpgid(pid, pid)  # also done by the child; whichever runs first wins the race
        except OSError:
            pass
        os.set_blocking(self._read_fd, False)

    def parent_fds(self) -> list[int]:
        return [self._read_fd] if self._read_fd >= 0 else []

    def abandon(self) -> None:
        os.close(self._read_fd)
        os.close(self._write_fd)
        self._read_fd = -1

    def _drain(self) -> bool:
        """Take in what the pipe holds now; False once it reached end of file."""
        messages, self._eof = _channel.read_available(self._read_fd, self._decoder)
        self._accept(messages)
        return not self._eof

    def _accept(self, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            if "record" in message:
                try:
                    record = TrapRecord.from_json(message["record"])
                except (TypeError, ValueError, AttributeError, KeyError) as exc:
                    self._notes.append(f"a malformed record from the child was dropped: {exc}")
                    continue
                record.role, record.mode, record.nodeid = self.context.role, self.context.mode, self.context.nodeid
                record.recorder = self.recorder
                self._records.append(record)
            note = message.get("note")
            if note and note not in self._notes:
                self._notes.append(str(note))
            if "not_run" in message:
                for record in self._records:
                    if record.pid == message["not_run"] and record.outcome == "allowed":
                        record.outcome = "not-run"

    def _note(self, note: str) -> None:
        if note not in self._notes:
            self._notes.append(note)

    def wait(self, deadline: float | None) -> ChildOutcome:
        """Wait for the child (killing its group at ``deadline``); every record gathered.

        Interrupted (KeyboardInterrupt), it kills the tree before re-raising; a
        second call then returns at once with what was gathered.
        """
        if self._pid is None:
            raise RuntimeError("wait() before in_parent()")
        if self._outcome is not None:
            return self._outcome
        pid = self._pid
        try:
            if not self._ended:
                try:
                    self._status = wait_exit(pid, deadline, watch=self._read_fd, on_readable=self._drain)
                except ChildProcessError:
                    self._note(f"child {pid} was reaped by someone else")
                    self._ended = True
                if not self._ended and self._status is None:
                    self._timed_out = True
                    self._stop_child(pid)
                self._ended = True
        except BaseException:
            self._stop_child(pid)
            self._ended = True
            raise
        finally:
            killpg_quietly(pid)  # grandchildren still running
            self._finish_drain()
        outcome = ChildOutcome(timed_out=self._timed_out)
        if self._status is not None:
            outcome.exit_code, outcome.signal = decode_status(self._status)
        if outcome.signal == signal.SIGSYS and self.context.mode != "abort":
            self._note(
                "the child was killed by SIGSYS: a disallowed call made with SIGSYS blocked (glibc blocks all "
                "signals while it creates a thread, Python's subprocess while it vforks) or by an exec'd program "
                "kills the process before any handler runs; the sigsys recorder cannot record it, the ptrace "
                "recorder can"
            )
        for record in self._records:
            if not record.decoded_args:
                record.decoded_args = decode_call(record.nr, record.args)
        outcome.records = list(self._records)
        outcome.notes = list(self._notes)
        self._outcome = outcome
        return outcome

    def _stop_child(self, pid: int) -> None:
        killpg_quietly(pid)
        kill_quietly(pid)
        self._status = reap_within(pid, REAP_TIMEOUT)
        if self._status is None:
            self._note(f"child {pid} did not end {REAP_TIMEOUT:.0f}s after SIGKILL")

    def _finish_drain(self) -> None:
        """Drain to end of file, for at most :data:`DRAIN_GRACE` seconds; close the pipe."""
        if self._read_fd < 0:
            return
        give_up = time.monotonic() + DRAIN_GRACE
        while self._drain():
            remaining = give_up - time.monotonic()
            if remaining <= 0:
                self._note("a process outside the child's process group still held the record pipe")
                break
            select.select([self._read_fd], [], [], remaining)
        if self._decoder.pending:
            self._note(f"{self._decoder.pending} bytes of an incomplete message were dropped")
        os.close(self._read_fd)
        self._read_fd = -1
