"""The ptrace recorder: the role's filter returns TRACE, the parent is the tracer.

Kernel semantics (seccomp(2), ptrace(2)): ``SECCOMP_RET_TRACE`` stops the thread in
a ``PTRACE_EVENT_SECCOMP`` stop (status ``SIGTRAP | 7 << 16``) *before* the call
runs, ``orig_rax`` holding the number and RDI, RSI, RDX, R10, R8, R9 the
arguments; the tracer may let it run (``PTRACE_CONT``) or skip it (set
``orig_rax`` to -1, the result being whatever it leaves in RAX). Without the
option ``PTRACE_O_TRACESECCOMP`` (or without a tracer) such calls fail with ENOSYS.
python-ptrace (0.9.9) knows neither that option nor event 7, so the event loop
here is written on its low-level bindings (``ptrace.binding``); python-ptrace's
syscall prototypes decode the arguments (``decoded_args``).

Attaching: the child (``in_child``) gets its own process group, installs a
"where" handler for :data:`WHERE_SIGNAL` and blocks on a pipe. ``in_parent``
seizes it (``PTRACE_SEIZE``: no stop) with TRACESECCOMP, TRACECLONE, TRACEFORK,
TRACEVFORK, TRACEEXEC and EXITKILL (the tree dies with the tracer), then says
"go". Threads, forks, vforks and exec'd programs of the test are followed
(auto-attached tracees start in a ``PTRACE_EVENT_STOP``). ``in_parent`` and
``wait`` must run on the same thread: ptrace requests come from the tracer thread.

The Python location. A tracer cannot read the Python stack, so it asks the
trapping thread: at the seccomp stop it rewinds the call (``orig_rax = -1`` skips
it; ``rip -= 2`` and ``rax = nr`` make the thread execute the same ``syscall``
again, which is how the kernel restarts calls itself) and queues
:data:`WHERE_SIGNAL` to that thread with ``rt_tgsigqueueinfo``, ``si_code ==
SI_QUEUE`` and ``si_value = nr << 32 | seq``. On resume the thread takes the
signal before anything else runs; the handler sees the interrupted Python frame
and writes ``{seq, location, stack, thread, phase}`` to a pipe the tracer drains,
then returns to the rewound ``syscall``, which stops again and is let through
(``audit``). The call thus runs once, after its location is known, and never with
a signal pending (no EINTR/restart double trap), also for calls that never
return (``execve``, ``exit_group``). The signal goes only to threads that catch
and do not block it (``SigCgt``/``SigBlk`` in ``/proc/TID/status``): never to an
exec'd program (exec resets handlers) nor to a vfork child sharing its parent's
memory (those block all signals until they reset their handlers). Calls that a
thread makes while its where-request is outstanding (the handler's own) run
unrecorded. Records of threads that cannot be asked keep the tracer's view:
number, arguments, pid, tid, ``comm``, and the phase last reported by the child.
glibc blocks all signals while it creates a thread, so a trapped ``clone3`` of
``pthread_create`` has no Python location. For process creation the handler
answers in compact form (location, no stack): glibc's ``fork()`` holds its
malloc lock across the call and the handler must not reach malloc().

The phase: the child reports every ``context.phase`` change over the same pipe
(:meth:`.base.ChildContext.observe`); the tracer reads the pipe at every trap,
so a record carries the phase in force when the call was made.

Modes. ``audit``: the call runs. ``log-and-abort`` and ``abort``: the call is
skipped (``orig_rax = -1``, ENOSYS) and the where-handler, after reporting,
prints upstream's message with `` [role ROLE, at FILE:LINE in FUNCTION]`` and
calls ``os.abort()`` (SIGABRT), or resets SIGSYS to its default action and
raises it (the process dies of SIGSYS, as ``SECCOMP_RET_KILL_PROCESS`` would
kill it; other threads may run a few more instructions first). A thread that
cannot be asked gets SIGSYS from the tracer (``tgkill``), as the kernel's TRAP
or KILL would hit an exec'd program; if SIGSYS is blocked (or caught, in
``abort``) the process is SIGKILLed instead and a note says so.

Waiting: ``waitpid(-pgid, WNOHANG | __WALL)`` polls the child's process group
(tracees outside it, after ``setsid``, are polled by tid), spinning briefly while
busy and sleeping in select(2) on the pipe and on a pidfd of the child (so its end
wakes the tracer at once) when idle, so nothing of the parent's other children is
reaped. Signal-delivery stops re-inject the signal; group
stops are kept with ``PTRACE_LISTEN``. Tracees that vanish (ESRCH) are dropped.
When the direct child is gone, or at the deadline (``timed_out``), everything
left is SIGKILLed and reaped, within :data:`REAP_TIMEOUT`.
"""

from __future__ import annotations

import ctypes
import errno
import os
import select
import signal
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Any

from ptrace import PtraceError
from ptrace.binding import ptrace_getregs, ptrace_setregs
from ptrace.binding.func import ptrace as _ptrace

from ..kernel.actions import TRACE, Action
from ..kernel.naming import thread_get_internal_name
from ..kernel.signals import SA_RESTART, SigInfo, install_handler
from ..kernel.syscalls import get_linux_syscall_name, syscall_number
from . import _channel
from ._child import (
    FORK_FAMILY,
    RECORDER_NEEDS,
    die_by_signal,
    effective_mode,
    end_trap,
    holds_thread_lock,
    outcome_of,
    prepare_child,
    python_location,
    write_stderr,
)
from ._decode import ProcessMemory, decode_call
from ._process import REAP_TIMEOUT, decode_status, kill_quietly, killpg_quietly, open_pidfd, reap_within
from .base import ChildContext, ChildOutcome
from .record import TrapRecord

PTRACE_CONT = 7
PTRACE_GETEVENTMSG = 0x4201
PTRACE_SEIZE = 0x4206
PTRACE_LISTEN = 0x4208
PTRACE_O_TRACESYSGOOD = 0x1
PTRACE_O_TRACEFORK = 0x2
PTRACE_O_TRACEVFORK = 0x4
PTRACE_O_TRACECLONE = 0x8
PTRACE_O_TRACEEXEC = 0x10
PTRACE_O_TRACESECCOMP = 0x80
PTRACE_O_EXITKILL = 0x100000
PTRACE_EVENT_FORK = 1
PTRACE_EVENT_VFORK = 2
PTRACE_EVENT_CLONE = 3
PTRACE_EVENT_EXEC = 4
PTRACE_EVENT_SECCOMP = 7
PTRACE_EVENT_STOP = 128
WALL = 0x40000000  # __WALL: threads and clone children too
SI_QUEUE = -1
NR_RT_TGSIGQUEUEINFO = syscall_number("rt_tgsigqueueinfo")
NR_TGKILL = syscall_number("tgkill")
NR_KCMP = syscall_number("kcmp")
KCMP_VM = 1
OPTIONS = (
    PTRACE_O_TRACESYSGOOD
    | PTRACE_O_TRACEFORK
    | PTRACE_O_TRACEVFORK
    | PTRACE_O_TRACECLONE
    | PTRACE_O_TRACEEXEC
    | PTRACE_O_TRACESECCOMP
    | PTRACE_O_EXITKILL
)
#: Real-time signal the tracer sends a trapping thread to learn its Python location.
WHERE_SIGNAL = signal.SIGRTMAX - 3
#: SECCOMP_RET_DATA of the filter's TRACE action (readable with PTRACE_GETEVENTMSG).
TRACE_DATA = 0x5CA
#: A process that should have aborted but still runs this long after is SIGKILLed.
ABORT_GRACE = 2.0
#: Exit status of a child whose tracer never said "go".
NO_TRACER_EXIT = 75

_MASK64 = (1 << 64) - 1
_STOP_SIGNALS = frozenset({signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU})
_SYSCALL_INSN = 2  # length of `syscall` (0f 05)
#: Empty polls before the loop starts sleeping: a resumed tracee usually stops again soon.
_SPIN = 200
_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


@dataclass
class _Tracee:
    tid: int
    #: A vfork child until it execs: it runs on its parent's memory.
    shares_memory: bool = False
    #: (nr, args) of the call rewound for a where-request, until it is re-issued.
    reissue: tuple[int, tuple[int, ...]] | None = None


@dataclass(frozen=True)
class _ThreadStatus:
    tgid: int
    name: str
    blocked: int
    caught: int


def _thread_status(tid: int) -> _ThreadStatus | None:
    """Tgid, comm and the signal masks from ``/proc/TID/status`` (the tracer may read it)."""
    try:
        with open(f"/proc/{tid}/status", "rb") as handle:
            text = handle.read()
    except OSError:
        return None

    def field(name: bytes) -> bytes:
        start = text.index(name) + len(name)
        return text[start : text.index(b"\n", start)].strip()

    try:
        return _ThreadStatus(
            tgid=int(field(b"\nTgid:")),
            name=field(b"Name:").decode(errors="replace"),
            blocked=int(field(b"\nSigBlk:"), 16),
            caught=int(field(b"\nSigCgt:"), 16),
        )
    except ValueError:
        return None


def _bit(signum: int) -> int:
    return 1 << (signum - 1)


def _geteventmsg(pid: int) -> int:
    value = ctypes.c_ulong()
    _ptrace(PTRACE_GETEVENTMSG, pid, 0, ctypes.addressof(value))
    return int(value.value)


def _queue_signal(tgid: int, tid: int, signum: int, value: int) -> bool:
    """``rt_tgsigqueueinfo`` with SI_QUEUE and a 64-bit ``si_value``."""
    info = ctypes.create_string_buffer(128)
    struct.pack_into("=iii4xiIQ", info, 0, signum, 0, SI_QUEUE, os.getpid(), os.getuid(), value)
    return int(_libc.syscall(NR_RT_TGSIGQUEUEINFO, tgid, tid, signum, info)) == 0


def _shares_memory(parent: int, child: int, event: int) -> bool:
    """Is ``child`` a process (not a thread) running on ``parent``'s memory (vfork, CLONE_VM)?"""
    if event == PTRACE_EVENT_VFORK:
        return True
    if event == PTRACE_EVENT_CLONE:
        parent_status, child_status = _thread_status(parent), _thread_status(child)
        if parent_status is None or child_status is None or parent_status.tgid == child_status.tgid:
            return False  # a thread (or gone)
    return int(_libc.syscall(NR_KCMP, parent, child, KCMP_VM, 0, 0)) == 0


def _tgkill(tgid: int, tid: int, signum: int) -> None:
    _libc.syscall(NR_TGKILL, tgid, tid, signum)


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


class PtraceSession:
    """One child's ptrace recording; see the module docstring."""

    recorder = "ptrace"

    def __init__(self, context: ChildContext) -> None:
        self.context = context
        self.action: Action = TRACE(TRACE_DATA)
        self.trusted_ip: int | None = None
        self.needs: frozenset[str] = RECORDER_NEEDS
        self._tracer_pid = os.getpid()
        self._read_fd, self._write_fd = os.pipe()
        self._go_read, self._go_write = os.pipe()
        self._pid: int | None = None
        self._tracer_thread: int | None = None
        self._attach_error = ""
        self._tracees: dict[int, _Tracee] = {}
        self._announced: set[int] = set()
        self._deferred: set[int] = set()
        self._records: dict[int, TrapRecord] = {}
        self._seq = 0
        self._phase = context.phase
        self._notes: list[str] = []
        self._decoder = _channel.Decoder()
        self._pipe_open = True
        self._main_status: int | None = None
        self._doomed: dict[int, float] = {}
        self._ended = False
        self._timed_out = False
        self._outcome: ChildOutcome | None = None
        self._polls = 0
        self._pidfd = -1  # wakes the idle loop at once when the child ends

    # -- child ------------------------------------------------------------------------

    def in_child(self) -> None:
        """Own process group, the where-handler, phase reports; then wait for the tracer."""
        os.close(self._read_fd)
        os.close(self._go_write)
        prepare_child()
        install_handler(WHERE_SIGNAL, self._on_where, flags=SA_RESTART)
        self.context.observe(self._on_context_change)
        go = os.read(self._go_read, 1)
        os.close(self._go_read)
        if go != b"g":
            write_stderr("pytest-syscall-sandbox: the ptrace recorder could not attach; the test was not run")
            os._exit(NO_TRACER_EXIT)

    def _on_context_change(self, name: str, value: object) -> None:
        if name == "phase":
            _channel.send(self._write_fd, {"phase": str(value)})

    def _on_where(self, info: SigInfo, frame: FrameType | None) -> None:
        if info.code != SI_QUEUE or info.pid != self._tracer_pid:
            die_by_signal(WHERE_SIGNAL)  # not the tracer's: what the signal would have done
        seq, nr = info.value & 0xFFFFFFFF, info.value >> 32
        context = self.context
        location, function, stack = python_location(frame, compact=nr in FORK_FAMILY)
        thread = thread_get_internal_name()
        where = {
            "seq": seq,
            "thread": thread,
            "phase": context.phase,
            "location": location,
            "function": function,
            "stack": stack,
        }
        _channel.send(self._write_fd, {"where": where})
        end_trap(effective_mode(context.phase, context.mode), nr, thread, context.role, location, function)

    # -- parent: attach ---------------------------------------------------------------

    def in_parent(self, pid: int) -> None:
        """Seize the child with the options, then let it run."""
        self._pid = pid
        self._tracer_thread = threading.get_ident()
        os.close(self._write_fd)
        os.close(self._go_read)
        os.set_blocking(self._read_fd, False)
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
        self._tracees[pid] = _Tracee(pid)
        self._announced.add(pid)
        self._pidfd = open_pidfd(pid)
        os.write(self._go_write, b"g")
        os.close(self._go_write)

    def parent_fds(self) -> list[int]:
        return [fd for fd in (self._read_fd, self._pidfd) if fd >= 0]

    def abandon(self) -> None:
        for fd in (self._read_fd, self._write_fd, self._go_read, self._go_write):
            os.close(fd)
        self._read_fd = -1

    # -- parent: event loop -----------------------------------------------------------

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
        self._drain()
        os.close(self._read_fd)
        self._read_fd = -1
        if self._pidfd >= 0:
            os.close(self._pidfd)
            self._pidfd = -1
        outcome = ChildOutcome(timed_out=self._timed_out)
        if self._main_status is not None:
            outcome.exit_code, outcome.signal = decode_status(self._main_status)
        else:
            self._note(f"child {self._pid} could not be reaped")
        outcome.records = [self._records[seq] for seq in sorted(self._records)]
        outcome.notes = list(self._notes)
        self._outcome = outcome
        return outcome

    def _loop(self, deadline: float | None) -> bool:
        timed_out = False
        give_up: float | None = None
        idle = 0
        while self._main_status is None:
            now = time.monotonic()
            if not timed_out and deadline is not None and now >= deadline:
                timed_out = True
                give_up = now + REAP_TIMEOUT
                self._kill_all()
            if give_up is not None and now >= give_up:
                break
            if self._doomed:
                self._check_doomed(now)
            event = self._next_event(idle)
            if event is not None:
                idle = 0
                self._dispatch(*event)
                continue
            idle += 1
            if idle > _SPIN:  # idle: sleep a little, waking early for messages
                self._drain()
                delay = min(0.0001 * (idle - _SPIN), 0.005)
                if deadline is not None:
                    delay = max(0.0, min(delay, deadline - now))
                wake = [fd for fd in (self._read_fd if self._pipe_open else -1, self._pidfd) if fd >= 0]
                select.select(wake, [], [], delay)
        return timed_out

    def _next_event(self, idle: int) -> tuple[int, int] | None:
        try:
            pid, status = os.waitpid(-self._group, os.WNOHANG | WALL)
            if pid:
                return pid, status
        except ChildProcessError:
            pass
        self._polls += 1
        if self._polls % 32 == 0 or idle > _SPIN:
            # Tracees that left the child's process group (setsid, setpgid), also while it is busy.
            return next(self._poll_strays(), None)
        return None

    def _poll_strays(self) -> Iterator[tuple[int, int]]:
        """``waitpid`` each known tracee by id: finds those outside the child's group."""
        for tid in list(self._tracees):
            try:
                pid, status = os.waitpid(tid, os.WNOHANG | WALL)
            except ChildProcessError:
                self._tracees.pop(tid, None)
                continue
            if pid:
                yield pid, status

    @property
    def _group(self) -> int:
        assert self._pid is not None
        return self._pid

    def _dispatch(self, pid: int, status: int) -> None:
        if os.WIFEXITED(status) or os.WIFSIGNALED(status):
            self._tracees.pop(pid, None)
            self._deferred.discard(pid)
            self._announced.discard(pid)  # its tid may come back as another tracee's
            if pid == self._pid:
                self._main_status = status
            return
        if not os.WIFSTOPPED(status):
            return
        sig, event = os.WSTOPSIG(status), status >> 16
        tracee = self._tracees.get(pid)
        if tracee is None:
            tracee = self._tracees[pid] = _Tracee(pid)
        if event == PTRACE_EVENT_SECCOMP:
            self._on_seccomp(tracee)
        elif event in (PTRACE_EVENT_FORK, PTRACE_EVENT_VFORK, PTRACE_EVENT_CLONE):
            self._announce(pid, event)
            self._resume(pid)
        elif event == PTRACE_EVENT_EXEC:
            self._on_exec(tracee)
        elif event == PTRACE_EVENT_STOP:
            if sig in _STOP_SIGNALS:
                self._request(PTRACE_LISTEN, pid)  # group-stop: stay stopped, as job control wants
            elif pid not in self._announced:
                self._deferred.add(pid)  # a new tracee whose parent's event is still queued
            else:
                self._resume(pid)
        elif event == 0 and sig != (signal.SIGTRAP | 0x80):
            self._resume(pid, sig)  # signal-delivery-stop: deliver the signal
        else:
            self._resume(pid)

    def _announce(self, parent: int, event: int) -> None:
        try:
            child = _geteventmsg(parent)
        except PtraceError:
            return
        tracee = self._tracees.setdefault(child, _Tracee(child))
        tracee.shares_memory = _shares_memory(parent, child, event)
        self._announced.add(child)
        if child in self._deferred:
            self._deferred.discard(child)
            self._resume(child)

    def _on_exec(self, tracee: _Tracee) -> None:
        try:
            former = _geteventmsg(tracee.tid)
        except PtraceError:
            former = tracee.tid
        if former != tracee.tid:
            self._tracees.pop(former, None)  # a non-leader thread exec'd and took the leader's tid
        tracee.shares_memory = False
        tracee.reissue = None
        self._resume(tracee.tid)

    def _resume(self, pid: int, signum: int = 0) -> None:
        self._request(PTRACE_CONT, pid, signum)

    def _request(self, request: int, pid: int, data: int = 0) -> None:
        try:
            _ptrace(request, pid, 0, data)
        except PtraceError as exc:
            if exc.errno != errno.ESRCH:
                self._note(f"ptrace request {request:#x} on {pid} failed: {exc}")

    # -- the seccomp stop -------------------------------------------------------------

    def _on_seccomp(self, tracee: _Tracee) -> None:
        tid = tracee.tid
        try:
            regs = ptrace_getregs(tid)
        except PtraceError:
            return
        nr = int(regs.orig_rax)
        args = (int(regs.rdi), int(regs.rsi), int(regs.rdx), int(regs.r10), int(regs.r8), int(regs.r9))
        if tracee.reissue is not None:
            if tracee.reissue == (nr, args):
                tracee.reissue = None  # the rewound call, its location asked for: let it run
            self._resume(tid)  # else a call of the where-handler itself
            return
        self._drain()  # phase changes the child reported before this call
        status = _thread_status(tid)
        tgid = status.tgid if status else tid
        if tgid in self._doomed:  # its where-handler is on the way out (abort modes): not the test's calls
            self._resume(tid)
            return
        mode = effective_mode(self._phase, self.context.mode)
        self._seq += 1
        seq = self._seq
        self._records[seq] = TrapRecord(
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
            phase=self._phase,
            outcome=outcome_of(mode),
        )
        askable = self._askable(tracee, status) and not self._under_lock(nr, args, tid)
        if mode == "audit":
            if askable and _queue_signal(tgid, tid, WHERE_SIGNAL, nr << 32 | seq):
                regs.orig_rax = _MASK64  # skip now, re-execute the same `syscall` after the handler
                regs.rax = nr
                regs.rip -= _SYSCALL_INSN
                tracee.reissue = (nr, args)
                self._setregs(tid, regs)
            self._resume(tid)
            return
        regs.orig_rax = _MASK64  # the call never runs
        regs.rax = -errno.ENOSYS & _MASK64
        self._setregs(tid, regs)
        if not (askable and _queue_signal(tgid, tid, WHERE_SIGNAL, nr << 32 | seq)):
            self._kill_unaskable(tgid, tid, status)
        self._doomed.setdefault(tgid, time.monotonic())
        self._resume(tid)

    def _askable(self, tracee: _Tracee, status: _ThreadStatus | None) -> bool:
        if status is None:
            return False
        if tracee.shares_memory:
            self._note("no Python location for calls of a vfork child (it shares its parent's memory)")
            return False
        bit = _bit(WHERE_SIGNAL)
        if not status.caught & bit:
            self._note("no Python location for calls of exec'd programs (exec resets the where-handler)")
            return False
        if status.blocked & bit:
            self._note(
                f"no Python location for calls made with signal {WHERE_SIGNAL} blocked "
                "(glibc blocks all signals while it creates a thread)"
            )
            return False
        return True

    def _under_lock(self, nr: int, args: tuple[int, ...], tid: int) -> bool:
        if not holds_thread_lock(nr, args, tid):
            return False
        self._note(
            "no Python location for sched_getaffinity on a thread's own tid (glibc's pthread_getattr_np holds "
            "the thread's lock there, as at every thread start on CPython 3.14+)"
        )
        return True

    def _kill_unaskable(self, tgid: int, tid: int, status: _ThreadStatus | None) -> None:
        """Abort modes without the where-handler: SIGSYS, as the kernel would hit an exec'd program."""
        bit = _bit(signal.SIGSYS)
        blocked = status is None or bool(status.blocked & bit)
        caught = status is not None and bool(status.caught & bit)
        if blocked or (self.context.mode == "abort" and caught):
            self._note("a process that could not take SIGSYS was killed with SIGKILL instead")
            kill_quietly(tgid)
        else:
            _tgkill(tgid, tid, signal.SIGSYS)

    def _check_doomed(self, now: float) -> None:
        for tgid, since in list(self._doomed.items()):
            if now - since > ABORT_GRACE:
                del self._doomed[tgid]
                if os.path.exists(f"/proc/{tgid}/status") and tgid in self._tracees:
                    self._note(f"process {tgid} survived its abort for {ABORT_GRACE:.0f}s and was SIGKILLed")
                    kill_quietly(tgid)

    def _setregs(self, tid: int, regs: Any) -> None:
        try:
            ptrace_setregs(tid, regs)
        except PtraceError as exc:
            if exc.errno != errno.ESRCH:
                self._note(f"could not set the registers of {tid}: {exc}")

    def _decode(self, tid: int, nr: int, args: tuple[int, ...]) -> str:
        try:
            memory = ProcessMemory(tid)
        except OSError:
            return decode_call(nr, args)
        try:
            return decode_call(nr, args, memory, show_env=self.context.show_env)
        finally:
            memory.close()

    # -- messages from the child ------------------------------------------------------

    def _drain(self) -> None:
        if not self._pipe_open:
            return
        messages, eof = _channel.read_available(self._read_fd, self._decoder)
        if eof:
            self._pipe_open = False
        for message in messages:
            if "phase" in message:
                self._phase = str(message["phase"])
            if isinstance(message.get("where"), dict):
                self._merge(message["where"])
            if "note" in message:
                self._note(str(message["note"]))

    def _merge(self, where: dict[str, Any]) -> None:
        record = self._records.get(int(where.get("seq", -1)))
        if record is None:
            return
        record.location = str(where.get("location", ""))
        record.function = str(where.get("function", ""))
        record.stack = [str(entry) for entry in where.get("stack", [])]
        record.thread = str(where.get("thread") or record.thread)
        record.phase = str(where.get("phase") or record.phase)

    def _note(self, note: str) -> None:
        if note not in self._notes:
            self._notes.append(note)

    # -- the end ----------------------------------------------------------------------

    def _kill_all(self) -> None:
        killpg_quietly(self._group)
        for tid in list(self._tracees):
            kill_quietly(tid)

    def _reap_rest(self) -> None:
        """SIGKILL and reap every tracee, so none lingers as our ptrace zombie."""
        give_up = time.monotonic() + REAP_TIMEOUT
        while True:
            self._kill_all()
            events: list[tuple[int, int]] = []
            group_empty = False
            try:
                pid, status = os.waitpid(-self._group, os.WNOHANG | WALL)
                if pid:
                    events.append((pid, status))
            except ChildProcessError:
                group_empty = True
            events.extend(self._poll_strays())
            for pid, status in events:
                if os.WIFEXITED(status) or os.WIFSIGNALED(status):
                    self._dispatch(pid, status)  # stopped ones die of the pending SIGKILL
            if group_empty and not self._tracees:
                return
            if not events:
                if time.monotonic() >= give_up:
                    self._note("some traced processes could not be reaped after SIGKILL")
                    return
                time.sleep(0.002)
