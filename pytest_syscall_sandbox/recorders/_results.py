"""What a trapped call returned, taken by the ptrace tracer at the call's syscall-exit stop.

A call let run from its seccomp stop with ``PTRACE_SYSCALL`` (not ``PTRACE_CONT``) stops
once more when it returns (Linux 4.8+: the seccomp stop comes after the syscall-entry
stop, so the next one is the exit), with the result in RAX. Every resume of that thread
until then keeps ``PTRACE_SYSCALL`` (a fork's or an exec's event comes first).
"""

from __future__ import annotations

from ptrace import PtraceError
from ptrace.binding import ptrace_getregs

from ._tracee import PTRACE_CONT, PTRACE_SYSCALL, Tracee
from ._traceloop import TraceLoop
from .record import TrapRecord, kernel_number

_MASK64 = (1 << 64) - 1


class Results:
    """Which trapped calls' results the tracer takes (one more stop each): all, or the first per syscall."""

    def __init__(self, every_call: bool) -> None:
        self.every_call = every_call

    def wanted(self, taken: set[int], nr: int) -> bool:
        """Take the result of this call of ``nr``, when the syscalls in ``taken`` had theirs?"""
        return self.every_call or nr not in taken


#: Only the first call of each syscall per test: the syscall-exit stop that takes a result
#: costs about a quarter more per trapped call (a fourth stop beside the seccomp stop, the
#: where-signal's delivery and the re-issued call's stop). Calls the tracer refused carry
#: their result (the errno it set) always.
RESULTS = Results(every_call=False)


class ResultLoop(TraceLoop):
    """The trace loop, taking the result of the calls it is asked to await."""

    def __init__(self) -> None:
        super().__init__()
        #: Syscalls whose result was taken in this test (see :data:`RESULTS`).
        self._results_taken: set[int] = set()

    def _await(self, tracee: Tracee, record: TrapRecord | None) -> None:
        """``record``'s call runs now on ``tracee``: take its result at its syscall-exit stop."""
        if record is None or not RESULTS.wanted(self._results_taken, record.nr):
            return
        self._results_taken.add(record.nr)
        tracee.awaiting = record

    def _on_syscall_exit(self, tracee: Tracee) -> None:
        record, tracee.awaiting = tracee.awaiting, None
        if record is not None:
            try:
                regs = ptrace_getregs(tracee.tid)
            except PtraceError:
                regs = None
            if regs is not None and kernel_number(int(regs.orig_rax)) == record.nr:
                rax = int(regs.rax) & _MASK64
                record.result = rax - (1 << 64) if rax >> 63 else rax
        self._resume(tracee.tid)

    def _resume(self, pid: int, signum: int = 0) -> None:
        """Resume ``pid``; to its syscall-exit stop while the result of its call is awaited."""
        tracee = self._tracees.get(pid)
        awaiting = tracee is not None and tracee.awaiting is not None
        self._request(PTRACE_SYSCALL if awaiting else PTRACE_CONT, pid, signum)
