"""What the ptrace tracer makes of each stop: records, refusals, where-requests, kills.

The policy half of :class:`..ptrace.PtraceSession` (its module docstring tells the
whole design); :class:`._traceloop.TraceLoop` below it does the waiting and resuming.
"""

from __future__ import annotations

import errno
import time
from typing import Any

from ptrace import PtraceError
from ptrace.binding import ptrace_getregs, ptrace_setregs

from ..kernel.syscalls import get_linux_syscall_name, syscall_number
from . import _blanks as blanks
from ._child import FORK_FAMILY, outcome_of
from ._decode import decode_live
from ._process import kill_quietly
from ._results import ResultLoop
from ._tracee import (
    PTRACE_EVENT_CLONE,
    Request,
    ThreadStatus,
    Tracee,
    geteventmsg,
    program_of,
    queue_signal,
    shares_memory,
    thread_status,
)
from ._where import WhereBoard, new_token, request_value
from .base import ChildContext
from .record import GUARD_REFUSED, HARNESS, REFUSED, TrapRecord, kernel_number

#: SECCOMP_RET_DATA of the harness guard's refusals (the role's TRACE has its own).
GUARD_DATA = 0x6A7D
#: A doomed process whose where-handler has not answered after this long is killed anyway.
WHERE_TIMEOUT = 2.0
#: Guarded calls that tamper with the recording itself (the rest attack the harness).
_TAMPERING = {
    "prctl": "the test tried to install a seccomp filter of its own, which would hide its calls from the recorder",
    "seccomp": "the test tried to install a seccomp filter of its own, which would hide its calls from the recorder",
    "clone": "the test tried to start a process with CLONE_UNTRACED, which the tracer could not follow",
}
_MASK64 = (1 << 64) - 1
_SYSCALL_INSN = 2  # length of `syscall` (0f 05)
_NR_CLONE3 = syscall_number("clone3")


class Tracer(ResultLoop):
    """Decides every stop of one child tree from the kernel's view (see :mod:`..ptrace`)."""

    recorder = "ptrace"

    def __init__(self, context: ChildContext, where_signal: int) -> None:
        super().__init__()
        self.context = context
        self._where_signal = where_signal
        self._board = WhereBoard()
        self._records: dict[int, TrapRecord] = {}
        self._seq = 0
        self._incomplete: list[str] = []
        #: Violating processes (abort modes) -> when to kill them if their location never comes.
        self._doomed: dict[int, float] = {}
        self._killed: set[int] = set()
        #: Trapped calls refused because their process was doomed, per process.
        self._refused_after: dict[int, int] = {}
        self._execed: set[int] = set()
        #: Process (tgid) -> the program it exec'd (or that its exec'd ancestor runs).
        self._programs: dict[int, str] = {}
        #: Process (tgid) -> records whose where-request is outstanding.
        self._asked: dict[int, list[int]] = {}

    def _tick(self, now: float) -> None:
        for tgid, deadline in list(self._doomed.items()):
            if now >= deadline:
                for seq in self._asked.pop(tgid, ()):
                    self._blank(seq, blanks.timed_out(WHERE_TIMEOUT), note=False)
                self._note(
                    f"process {tgid} did not answer the where-signal within {WHERE_TIMEOUT:g} s "
                    "(did the test replace its handler?); it was stopped without a Python location"
                )
                self._stop(tgid)

    def _on_new(self, parent: int, child: Tracee, event: int) -> None:
        child.shares_memory = shares_memory(parent, child.tid, event)
        status = thread_status(parent)
        tgid = status.tgid if status else parent
        child.parent = tgid
        child_status = thread_status(child.tid) if event == PTRACE_EVENT_CLONE else None
        child.fresh = "thread" if child_status is not None and child_status.tgid == tgid else "process"
        if tgid in self._execed:
            self._execed.add(child.tid)
        if tgid in self._programs:
            self._programs[child.tid] = self._programs[tgid]
        if tgid in self._doomed or tgid in self._killed:
            kill_quietly(child.tid)  # made by a process that is being stopped: it runs nothing

    def _on_exec(self, tracee: Tracee) -> None:
        self._release(tracee)
        tracee.shares_memory = False
        self._execed.add(tracee.tid)
        self._programs[tracee.tid] = program_of(tracee.tid)
        if tracee.tid in self._doomed or tracee.tid in self._killed:
            self._stop(tracee.tid)  # no program starts in a doomed process

    def _on_gone(self, tracee: Tracee) -> None:
        self._release(tracee)

    def _release(self, tracee: Tracee) -> None:
        if tracee.request is not None:
            self._board.release(tracee.request.slot)
            self._blank(tracee.request.seq, blanks.ENDED)
            tracee.request = None

    def _stop(self, tgid: int) -> None:
        """Stop a violating process for good: SIGKILL, every thread at once."""
        self._doomed.pop(tgid, None)
        self._killed.add(tgid)
        kill_quietly(tgid)

    # -- the seccomp stop -------------------------------------------------------------

    def _on_seccomp(self, tracee: Tracee) -> None:
        tid = tracee.tid
        try:
            regs = ptrace_getregs(tid)
            guarded = geteventmsg(tid) & 0xFFFF == GUARD_DATA
        except PtraceError:
            return
        raw = int(regs.orig_rax)
        args = (int(regs.rdi), int(regs.rsi), int(regs.rdx), int(regs.r10), int(regs.r8), int(regs.r9))
        status = thread_status(tid)
        tgid = status.tgid if status else tid
        request = tracee.request
        if request is not None and request.call == (raw, args):  # the rewound call: the handler is done
            self._answered(tracee, request)
            if request.refuse:
                self._refuse(tid, regs, request.errno, None if tgid in self._doomed else request.seq)
            else:
                self._await(tracee, self._records.get(request.seq))
            if tgid in self._doomed:
                self._stop(tgid)
            self._resume(tid)
            return
        if tgid in self._doomed or tgid in self._killed:  # a doomed process runs nothing
            self._refused_after[tgid] = self._refused_after.get(tgid, 0) + 1
            self._refuse(tid, regs, errno.ENOSYS)
            self._resume(tid)
            return
        mode, label = self.context.mode, self._board.label()
        refuse = guarded or mode != "audit"
        stop = mode != "audit" and label != HARNESS  # pytest's own calls: refused, and pytest goes on
        failure = errno.EPERM if guarded else errno.ENOSYS
        seq, nr = self._record(tid, tgid, status, raw, args, guarded, label, stop)
        if stop:
            self._doomed[tgid] = time.monotonic() + WHERE_TIMEOUT
        blank = blanks.IN_WHERE_REQUEST if request is not None else self._unaskable(tracee, tgid, status, nr, args)
        if not blank:
            blank = self._ask(tracee, tgid, regs, raw, args, seq, nr, refuse, failure)
            if not blank:
                self._resume(tid)
                return
        self._blank(seq, blank)
        if refuse:
            self._refuse(tid, regs, failure, None if tgid in self._doomed else seq)
        else:
            self._await(tracee, self._records.get(seq))
        if tgid in self._doomed:
            self._stop(tgid)  # it cannot be asked: stopped at once
        self._resume(tid)

    def _record(
        self,
        tid: int,
        tgid: int,
        status: ThreadStatus | None,
        raw: int,
        args: tuple[int, ...],
        guarded: bool,
        label: str,
        stop: bool,
    ) -> tuple[int, int]:
        """Record the call from the kernel's view (and the child's label); returns (seq, number)."""
        nr = kernel_number(raw)
        mode = self.context.mode
        if mode == "audit":
            outcome = REFUSED if guarded else outcome_of(mode)
        else:
            outcome = outcome_of(mode) if stop else REFUSED
        self._seq += 1
        self._records[self._seq] = TrapRecord(
            syscall=get_linux_syscall_name(nr),
            nr=nr,
            args=args,
            decoded_args=self._decode(tid, nr, args),
            pid=tgid,
            tid=tid,
            thread=status.name if status else "",
            role=self.context.role,
            mode=mode,
            recorder=self.recorder,
            nodeid=self.context.nodeid,
            phase=label,
            outcome=outcome,
            reason=GUARD_REFUSED if guarded else "",
        )
        tampering = _TAMPERING.get(get_linux_syscall_name(nr)) if guarded else None
        if tampering and tampering not in self._incomplete:
            self._incomplete.append(tampering)
        return self._seq, nr

    def _unaskable(self, tracee: Tracee, tgid: int, status: ThreadStatus | None, nr: int, args: tuple[int, ...]) -> str:
        """Why this thread cannot be asked for its Python location ('' if it can)."""
        program = self._programs.get(tgid, "") if tgid in self._execed else None
        return blanks.unaskable(tracee, status, self._where_signal, nr, args, program)

    def _blank(self, seq: int, text: str, *, note: bool = True) -> None:
        """Record ``seq`` has no Python location, for the reason ``text``; the notes say so too."""
        record = self._records.get(seq)
        if record is not None and record.at is None and not record.blank:
            record.blank = text  # the first reason found is the one
        if note:
            self._note(f"no Python location for some calls: {text}")

    def _ask(
        self,
        tracee: Tracee,
        tgid: int,
        regs: Any,
        raw: int,
        args: tuple[int, ...],
        seq: int,
        nr: int,
        refuse: bool,
        failure: int,
    ) -> str:
        """Send the where-request and rewind the call; why it could not be sent ('' if it was)."""
        slot = self._board.acquire()
        if slot is None:
            return blanks.NO_SLOT
        token = new_token()
        if not queue_signal(
            tgid, tracee.tid, self._where_signal, request_value(slot, token, compact=nr in FORK_FAMILY)
        ):
            self._board.release(slot)
            return blanks.NOT_QUEUED
        regs.orig_rax = _MASK64  # skip now, re-execute the same `syscall` after the handler
        regs.rax = raw & _MASK64
        regs.rip -= _SYSCALL_INSN
        self._setregs(tracee.tid, regs)
        tracee.request = Request(seq, slot, token, (raw, args), refuse, failure)
        self._asked.setdefault(tgid, []).append(seq)
        return ""

    def _answered(self, tracee: Tracee, request: Request) -> None:
        tracee.request = None
        for asked in self._asked.values():
            if request.seq in asked:
                asked.remove(request.seq)
        answer = self._board.take(request.slot, request.token)
        record = self._records.get(request.seq)
        if record is None:
            return
        if answer is None:
            self._blank(request.seq, blanks.not_answered(self._where_signal))
            return
        record.place(answer["frames"], answer["innermost"], self.context.root)
        if record.at is None:
            self._blank(request.seq, blanks.NO_FRAME)
        record.thread = answer["thread"] or record.thread

    def _refuse(self, tid: int, regs: Any, failure: int, seq: int | None = None) -> None:
        regs.orig_rax = _MASK64  # the call never runs
        regs.rax = -failure & _MASK64
        self._setregs(tid, regs)
        record = self._records.get(seq) if seq is not None else None
        if record is not None:
            record.result = -failure  # what the program gets back (``seq`` only where it goes on)

    def _setregs(self, tid: int, regs: Any) -> None:
        try:
            ptrace_setregs(tid, regs)
        except PtraceError as exc:
            if exc.errno != errno.ESRCH:
                self._note(f"could not set the registers of {tid}: {exc}")

    def _decode(self, tid: int, nr: int, args: tuple[int, ...]) -> str:
        return decode_live(tid, nr, args, show_env=self.context.show_env)
