"""The ptrace recorder: the role's filter returns TRACE, the parent is the tracer.

Kernel semantics (seccomp(2), ptrace(2)): ``SECCOMP_RET_TRACE`` stops the thread in
a ``PTRACE_EVENT_SECCOMP`` stop *before* the call runs, ``orig_rax`` holding the
number, RDI, RSI, RDX, R10, R8, R9 the arguments and ``PTRACE_GETEVENTMSG`` the
filter's ``SECCOMP_RET_DATA``; the tracer may let it run (``PTRACE_CONT``) or skip
it (``orig_rax = -1``, the result being whatever it leaves in RAX). The number is
read as the kernel reads it, its low 32 bits signed (``1 << 32 | 258`` is mkdirat,
``-1`` no syscall). Attaching: the child gets its own process group, installs the
where-handler and waits on a pipe; the parent seizes it (``PTRACE_SEIZE``) with
TRACESECCOMP, TRACECLONE, TRACEFORK, TRACEVFORK, TRACEEXEC and EXITKILL, then says
"go". Threads, forks, vforks and exec'd programs are followed (:mod:`._traceloop`);
the harness guard (:mod:`..roles.guard`) refuses ``clone(CLONE_UNTRACED)``.

**Who decides.** The tracer, from the kernel's view only: the registers and the
filter's data. Nothing the child writes makes a call run or vanish:

- ``audit``: every trapped call runs, once, and is recorded;
- ``log-and-abort``, ``abort``: every trapped call is refused (skipped, ENOSYS), and
  the violating process is stopped for good: SIGKILLed as soon as its Python location
  is known, at once when it cannot be asked, and after :data:`WHERE_TIMEOUT` when it
  does not answer. Meanwhile each of its trapped calls is refused (and counted in a
  note), in every thread; a process it forks or an exec it makes is killed at once.
  A call labelled ``harness`` is refused and recorded (outcome ``refused``) but does
  not stop the process: pytest's own code between phases copes with a failed call
  (no source lines in a traceback, a default terminal width), and the plugin fails
  the test for that record as for any other, so the label gains a test nothing;
- a call the harness guard refused (``TRACE(GUARD_DATA)``) is refused in every mode
  (EPERM in audit, where the test goes on and fails), recorded with
  :data:`.record.GUARD_REFUSED`; a seccomp filter of the test's own or a
  CLONE_UNTRACED process also goes into ``ChildOutcome.incomplete`` (tampering).

**The phase is a label.** The child publishes ``context.phase`` on the where-board
(:mod:`._where`), memory shared before the fork, with plain stores: no syscall, no
descriptor. The tracer stamps each record with the label it reads at the stop,
``harness`` included (pytest's own code between phases); the label never lets a
call run nor keeps a record out: a test can write the label itself.

**The Python location.** A tracer cannot read the Python stack, so it asks the
trapping thread: at the stop it rewinds the call (``orig_rax = -1`` skips it;
``rip -= 2`` and ``rax = nr`` make the thread execute the same ``syscall`` again)
and queues :data:`WHERE_SIGNAL` to that thread with ``rt_tgsigqueueinfo``
(``SI_QUEUE``, ``si_value`` = a free answer slot and a random token). The handler
sees the interrupted Python frame, stores ``{innermost, stack, thread}`` (frames as lists) in
that slot and returns to the rewound ``syscall``, which stops again: the tracer
takes the answer (only with the request's token, only once, only those fields) and
then lets the call run (audit) or refuses it and kills the process. The signal goes
only to threads that catch and do not block it (``SigCgt``/``SigBlk`` in
``/proc/TID/status``): never to an exec'd program, nor to a vfork child sharing its
parent's memory; a test that ignores, blocks or replaces it gets records without a
location, and a note says why. Calls a thread makes while its request is
outstanding are recorded without a location. For process creation the handler
answers in compact form (no stack): glibc's ``fork()`` holds its malloc lock.
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType

from ptrace import PtraceError
from ptrace.binding.func import ptrace as _ptrace

from ..kernel.actions import TRACE, Action
from ..kernel.signals import SA_RESTART, SigInfo, install_handler
from ._blanks import ENDED
from ._child import RECORDER_NEEDS, prepare_child, write_stderr
from ._process import REAP_TIMEOUT, decode_status, kill_quietly, open_pidfd, reap_within
from ._tracee import OPTIONS, PTRACE_SEIZE, Tracee
from ._tracer import GUARD_DATA, WHERE_TIMEOUT, Tracer
from .base import ChildContext, ChildOutcome

#: Real-time signal the tracer sends a trapping thread to learn its Python location.
WHERE_SIGNAL = signal.SIGRTMAX - 3
#: SECCOMP_RET_DATA of the filter's TRACE action (the guard's refusals carry GUARD_DATA).
TRACE_DATA = 0x5CA
#: Exit status of a child whose tracer never said "go".
NO_TRACER_EXIT = 75
__all__ = ["GUARD_DATA", "TRACE_DATA", "WHERE_SIGNAL", "WHERE_TIMEOUT", "PtraceRecorder", "PtraceSession"]


class PtraceRecorder:
    """Records trapped syscalls as the child's ptrace tracer (``SECCOMP_RET_TRACE``)."""

    name = "ptrace"

    def start(self, context: ChildContext) -> PtraceSession:
        """A session for one child; call before fork."""
        return PtraceSession(context)

    @staticmethod
    def unavailable_reason() -> str | None:
        """Why the parent cannot trace its child here (Yama ptrace_scope), or None."""
        from ..kernel.support import unsupported_reason

        reason = unsupported_reason()
        if reason:
            return reason
        try:
            with open("/proc/sys/kernel/yama/ptrace_scope") as handle:
                scope = int(handle.read())
        except (OSError, ValueError):
            return None
        if scope >= 3:
            return "ptrace is disabled (kernel.yama.ptrace_scope = 3)"
        if scope == 2 and not _has_cap_sys_ptrace():
            return "kernel.yama.ptrace_scope = 2 needs CAP_SYS_PTRACE to trace"
        return None


def _has_cap_sys_ptrace() -> bool:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) & (1 << 19))
    except (OSError, ValueError):
        pass
    return False


class PtraceSession(Tracer):
    """One child's ptrace recording; see the module docstring."""

    recorder = "ptrace"

    def __init__(self, context: ChildContext) -> None:
        super().__init__(context, WHERE_SIGNAL)
        self.action: Action = TRACE(TRACE_DATA)
        self.guard_action: Action = TRACE(GUARD_DATA)
        self.trusted_ip: int | None = None
        self.needs: frozenset[str] = RECORDER_NEEDS
        self._tracer_pid = os.getpid()
        self._go_read, self._go_write = os.pipe()
        self._tracer_thread: int | None = None
        self._attach_error = ""
        self._ended = False
        self._timed_out = False
        self._outcome: ChildOutcome | None = None

    # -- child ------------------------------------------------------------------------

    def in_child(self) -> None:
        """Own process group, the where-handler, the phase label; then wait for the tracer."""
        os.close(self._go_write)
        prepare_child()
        install_handler(WHERE_SIGNAL, self._on_where, flags=SA_RESTART)
        self._board.publish_label(self.context.phase)
        self.context.observe(self._board.publish_phase)
        go = os.read(self._go_read, 1)
        os.close(self._go_read)
        if go != b"g":
            write_stderr("pytest-syscall-sandbox: the ptrace recorder could not attach; the test was not run")
            os._exit(NO_TRACER_EXIT)

    def _on_where(self, info: SigInfo, frame: FrameType | None) -> None:
        self._board.answer_request(info, frame, self._tracer_pid, WHERE_SIGNAL)

    # -- parent: attach ---------------------------------------------------------------

    def in_parent(self, pid: int) -> None:
        """Seize the child with the options, then let it run."""
        self._pid = pid
        self._tracer_thread = threading.get_ident()
        os.close(self._go_read)
        try:
            os.setpgid(pid, pid)  # the child does it too; whoever runs first wins the race
        except OSError:
            pass
        try:
            _ptrace(PTRACE_SEIZE, pid, 0, OPTIONS)
        except PtraceError as exc:
            self._attach_error = f"the ptrace recorder could not attach to the child: {exc}"
            kill_quietly(pid)
            os.close(self._go_write)
            return
        self._tracees[pid] = Tracee(pid)
        self._announced.add(pid)
        self._pidfd = open_pidfd(pid)
        os.write(self._go_write, b"g")
        os.close(self._go_write)

    def parent_fds(self) -> list[int]:
        return [self._pidfd] if self._pidfd >= 0 else []

    def abandon(self) -> None:
        for fd in (self._go_read, self._go_write):
            os.close(fd)
        self._board.close()

    # -- parent: the run ----------------------------------------------------------------

    def wait(self, deadline: float | None) -> ChildOutcome:
        """Trace until the child exits (everything left is killed); every record.

        Interrupted (KeyboardInterrupt), it kills and reaps the tree before
        re-raising; a second call then returns at once with what was gathered.
        """
        if self._pid is None:
            raise RuntimeError("wait() before in_parent()")
        if self._outcome is not None:
            return self._outcome
        if self._attach_error:
            self._main_status = reap_within(self._pid, REAP_TIMEOUT)
            self._note(self._attach_error)
        elif not self._ended:
            if threading.get_ident() != self._tracer_thread:
                raise RuntimeError("wait() must run on the thread that called in_parent() (the tracer)")
            try:
                self._timed_out = self._loop(deadline)
            finally:
                self._ended = True
                self._kill_all()
                self._reap_rest()
        self._board.close()
        if self._pidfd >= 0:
            os.close(self._pidfd)
            self._pidfd = -1
        outcome = ChildOutcome(timed_out=self._timed_out)
        if self._main_status is not None:
            outcome.exit_code, outcome.signal = decode_status(self._main_status)
        else:
            self._note(f"child {self._pid} could not be reaped")
        for tgid, count in self._refused_after.items():
            self._note(f"process {tgid} made {count} more trapped call(s) while it was being stopped; none ran")
        outcome.records = [self._records[seq] for seq in sorted(self._records)]
        for record in outcome.records:
            if record.at is None and not record.blank:  # asked, and the tree ended before the answer
                record.blank = ENDED
        outcome.notes = list(self._notes)
        outcome.incomplete = list(self._incomplete)
        self._outcome = outcome
        return outcome
