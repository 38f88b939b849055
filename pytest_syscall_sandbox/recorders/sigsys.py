"""The SIGSYS recorder: the role's filter returns TRAP, a handler in the child records.

Kernel semantics (seccomp(2)): ``SECCOMP_RET_TRAP`` skips the syscall and sends the
calling thread a SIGSYS with ``si_code == SYS_SECCOMP``, ``si_syscall`` = the number
and ``si_call_addr`` = the instruction after ``syscall``; the saved RAX holds the
number again, and whatever RAX holds when the handler returns is the call's result.
A trap while SIGSYS is blocked or ignored kills the process instead (the kernel
resets the disposition), so the handler is installed with SA_NODEFER and guards
against re-entry itself.

No decision rests on anything the child says. The mode alone decides what a trap
does, and the kernel enforces it:

``log-and-abort``
    Upstream's message (:func:`..kernel.naming.violation_message`) with
    `` [role ROLE, at FILE:LINE in FUNCTION]`` appended goes to fd 2, then
    ``os.abort()``: the child dies of SIGABRT. The filter trusts no address, so
    nothing the test does can make a trapped call run.
``abort``
    The process dies of SIGSYS, as ``SECCOMP_RET_KILL_PROCESS`` would kill it (SIGSYS
    is blocked and a trapped call made: the kernel kills). The call never ran.
``audit``
    The call runs after all, with the same arguments, on the same thread, and its
    result reaches the program (and the record: the handler writes it as a second
    entry, :data:`._sigsys_ledger.RESULT_DATA`, the handler's word like its location):
    the handler re-issues it from the trusted instruction (:mod:`..kernel.trampoline`), which only
    this mode's filter allows.
    Every call made from there stops in the watch (:mod:`._watch`) until the parent
    lets it run, so the parent records it from the kernel's view, whoever made it.
    ``vfork`` runs as ``fork`` (a vfork child would run on its parent's stack);
    calls creating threads (``clone3``, ``clone`` with CLONE_VM) would return on a
    new stack, so the parent fails them with ENOSYS (outcome ``not-run``; libc then
    falls back, and every policy allows both anyway).

The context's phase is a label on the record, never a reason to run a call: pytest's
own calls between phases are trapped like any other and recorded as ``harness``; in
the abort modes they are refused (ENOSYS) without stopping the child, pytest copes,
and the plugin fails the test for the record as for any other (as under ptrace).

The child (``in_child``) gets its own process group, the SIGSYS handler, and the
watch filter, whose listener it sends to the parent and closes. Per trap the
handler writes one entry into the record area (:mod:`._ring`, memory shared before
the fork: no descriptor): siginfo and registers, pid and tid, and the Python side
(thread name, phase *at that moment*, location and stack of the interrupted frame;
compact, with no stack, for process creation: :data:`._child.FORK_FAMILY`). The
parent (:meth:`SigsysSession.wait`) sleeps in poll(2) on a pidfd and the listener,
answers stopped calls, reads the area as it goes, and checks both against each other
(:mod:`._sigsys_ledger`). It waits until the child ends or the deadline passes (then
SIGKILL to the child's process group: ``timed_out``), kills what is left of the
group, and keeps answering for at most :data:`DRAIN_GRACE` seconds.

Limits (the README's recorder table says them too): an exec'd program, and a
spawned child (vfork, posix_spawn) until it execs, have no handler: their trapped
calls kill them with SIGSYS, unrecorded (the parent sees every exec and spawn made
under the role's filter and says so). A trap made while SIGSYS is blocked kills the
process unrecorded: for the child itself the parent sees it; for a process the
test forked it cannot. The handler runs Python inside the signal, in the test's own
process: code that rewrites the recorder's objects or memory can stop it recording
(it cannot make a trapped call run outside audit mode, nor run one unseen in it).
"""

from __future__ import annotations

import errno
import os
import select
import signal
import socket
import threading
import time
from types import FrameType

from ..kernel.actions import SECCOMP_RET_TRAP, TRAP, Action
from ..kernel.calls import raw_syscall
from ..kernel.naming import thread_get_internal_name
from ..kernel.signals import SA_NODEFER, SIGSYS_CODE_SECCOMP, SigInfo
from ..kernel.syscalls import AUDIT_ARCH_X86_64, syscall_number
from ..kernel.trampoline import TRUSTED_IP, trusted_syscall
from ._child import (
    FORK_FAMILY,
    RECORDER_NEEDS,
    die_by_signal,
    end_trap,
    place_text,
    prepare_child,
    python_frames,
)
from ._process import REAP_TIMEOUT, decode_status, kill_quietly, killpg_quietly, open_pidfd, reap_within, try_reap
from ._ring import RecordArea, encode
from ._sigcontext import Registers, install_context_handler
from ._sigsys_ledger import GUARD_DATA, RESULT_DATA, SigsysLedger
from ._watch import Listener, install_watch, proc_status, watch_program
from .base import ChildContext, ChildOutcome
from .record import HARNESS

_NR_VFORK = syscall_number("vfork")
_NR_FORK = syscall_number("fork")
#: x32 getpid: every filter traps numbers with the x32 bit, and the call is harmless if one ran.
_ALWAYS_TRAPPED = 0x40000000 | syscall_number("getpid")
_MASK64 = (1 << 64) - 1
#: After the child is reaped, how long other processes of its tree may take to be gone.
DRAIN_GRACE = 1.0
#: How often the parent reads the record area when no call wakes it.
READ_INTERVAL = 0.05


class SigsysRecorder:
    """Records trapped syscalls with a SIGSYS handler in the child (``SECCOMP_RET_TRAP``)."""

    name = "sigsys"

    def start(self, context: ChildContext) -> SigsysSession:
        """A session for one child; call before fork."""
        return SigsysSession(context)

    @staticmethod
    def unavailable_reason() -> str | None:
        """Why this recorder cannot run here, or None (it needs seccomp and its code page)."""
        from ..kernel.support import unsupported_reason

        reason = unsupported_reason()
        if reason is None and not TRUSTED_IP:
            reason = "the sigsys recorder could not map its code page"
        return reason


class SigsysSession:
    """One child's SIGSYS recording; see the module docstring."""

    recorder = "sigsys"

    def __init__(self, context: ChildContext) -> None:
        self.context = context
        self.action: Action = TRAP
        #: The harness guard's refusals trap too, told apart by their data (si_errno): never run.
        self.guard_action: Action = Action(SECCOMP_RET_TRAP, GUARD_DATA)
        #: Only audit mode lets trapped calls run: only its filter trusts the trampoline.
        self.trusted_ip: int | None = TRUSTED_IP if context.mode == "audit" else None
        self.needs: frozenset[str] = RECORDER_NEEDS
        self._area = RecordArea()
        self._watch = watch_program(self.trusted_ip)
        base = proc_status(os.getpid()).get("Seccomp_filters", 0) + 1  # ours, inherited, and the watch
        self._ledger = SigsysLedger(context, self.trusted_ip, base, self._area.read)
        self._socket, self._child_socket = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._pid: int | None = None
        # Child side.
        self._busy: set[int] = set()
        # Parent side.
        self._listener: Listener | None = None
        self._ended = False
        self._status: int | None = None
        self._timed_out = False
        self._outcome: ChildOutcome | None = None

    # -- child ------------------------------------------------------------------------

    def in_child(self) -> None:
        """Own process group, no core files, the SIGSYS handler, then the watch (its listener to the parent)."""
        self._socket.close()
        prepare_child()
        install_context_handler(signal.SIGSYS, self._on_sigsys, flags=SA_NODEFER)
        listener = install_watch(self._watch)
        try:
            if listener >= 0:
                socket.send_fds(self._child_socket, [b"listener"], [listener])
                os.close(listener)
            else:
                self._child_socket.send(f"error {-listener}".encode())
        finally:
            self._child_socket.close()

    def _on_sigsys(self, info: SigInfo, regs: Registers | None, frame: FrameType | None) -> None:
        if not _is_trap(info, regs):
            self._die_of_sigsys()  # not a seccomp trap: what SIGSYS would have done
        assert regs is not None
        tid = threading.get_native_id()
        if tid in self._busy:
            # A trap inside this handler (a re-issued call the filter does not trust, or
            # a call the handler itself needs): fail it, do not recurse.
            regs.rax = -errno.ENOSYS
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
        innermost, stack = python_frames(frame, compact=nr in FORK_FAMILY)
        thread = thread_get_internal_name()
        payload: dict[str, object] = {"thread": thread, "phase": context.phase, "innermost": innermost}
        if stack:
            payload["stack"] = stack
        fixed = (nr, info.arch, info.errno, info.call_addr, regs.rip, regs.rax, *args, os.getpid(), tid)
        index = self._area.put(fixed, encode(payload))
        guarded = info.errno == GUARD_DATA  # the harness guard's refusal: never run, in any mode
        if context.mode == "audit":
            if guarded:
                regs.rax = -errno.EPERM
                return
            result = trusted_syscall(_NR_FORK if nr == _NR_VFORK else nr, *args)
            regs.rax = result
            if index >= 0 and not (nr in FORK_FAMILY and result == 0):  # (a new process: its parent reports)
                self._area.write(
                    (nr, info.arch, RESULT_DATA, index, 0, result & _MASK64, 0, 0, 0, 0, 0, 0, 0, tid), b"{}"
                )
        elif payload["phase"] == HARNESS:
            regs.rax = -(errno.EPERM if guarded else errno.ENOSYS)  # pytest's own call: refused, pytest goes on
        elif context.mode == "abort":
            self._die_of_sigsys()
        else:
            end_trap(context.mode, nr, thread, context.role, *place_text(innermost))

    @staticmethod
    def _die_of_sigsys() -> None:
        """Die of SIGSYS without touching its disposition: block it, then make a call the filter traps."""
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGSYS})
        raw_syscall(_ALWAYS_TRAPPED)  # the kernel kills the process here once a role's filter is on
        die_by_signal(signal.SIGSYS)  # no filter yet: the ordinary way

    # -- parent -----------------------------------------------------------------------

    def in_parent(self, pid: int) -> None:
        """Close the child's end of the socket; ``wait`` takes the listener from ours."""
        self._pid = pid
        self._child_socket.close()
        try:
            os.setpgid(pid, pid)  # also done by the child; whichever runs first wins the race
        except OSError:
            pass

    def parent_fds(self) -> list[int]:
        fds = [self._socket.fileno()]
        if self._listener is not None:
            fds.append(self._listener.fd)
        return [fd for fd in fds if fd >= 0]

    def abandon(self) -> None:
        self._socket.close()
        self._child_socket.close()
        self._area.close()

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
                    self._status = self._supervise(pid, deadline)
                except ChildProcessError:
                    self._ledger.notes.append(f"child {pid} was reaped by someone else")
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
            self._finish()
        return self._conclude(pid)

    def _supervise(self, pid: int, deadline: float | None) -> int | None:
        """Until ``pid`` ends (its status) or ``deadline`` (None): answer the watch, read the area."""
        pidfd = open_pidfd(pid)
        poller = select.poll()
        if pidfd >= 0:
            poller.register(pidfd, select.POLLIN)
        poller.register(self._socket.fileno(), select.POLLIN)
        tick = READ_INTERVAL if pidfd >= 0 else 0.005  # no pidfd (Linux < 5.3): poll for the end
        try:
            while (status := try_reap(pid)) is None:
                timeout = tick if deadline is None else min(deadline - time.monotonic(), tick)
                if timeout <= 0:
                    return None
                for fd, _events in poller.poll(1000 * timeout):
                    if fd == self._socket.fileno():
                        poller.unregister(fd)
                        if self._take_listener():
                            assert self._listener is not None
                            poller.register(self._listener.fd, select.POLLIN)
                    elif self._listener is not None and fd == self._listener.fd and not self._serve():
                        poller.unregister(fd)
                self._ledger.catch_up()
            return status
        finally:
            if pidfd >= 0:
                os.close(pidfd)

    def _take_listener(self) -> bool:
        """The listener the child sent (or why it has none); True if there is one now."""
        try:
            message, fds, _flags, _address = socket.recv_fds(self._socket, 64, 1)
        except OSError as exc:
            message, fds = f"error {exc.errno}".encode(), []
        self._socket.close()
        if fds:
            self._listener = Listener(fds[0])
            self._ledger.still_waiting = self._listener.still_waiting
            return True
        code = int(message.split()[1]) if message.startswith(b"error") else 0
        self._ledger.unwatched(os.strerror(code) if code else "the child ended before it sent its listener")
        return False

    def _serve(self) -> bool:
        """Answer every call the watch holds; False once no process uses the filter any more."""
        listener = self._listener
        assert listener is not None
        while True:
            ready = listener.ready()
            if not ready:
                return ready is not None
            call = listener.receive()
            if call is not None:
                listener.answer(call, self._ledger.on_call(call))

    def _finish(self) -> None:
        """Answer what other processes of the tree still ask, for at most :data:`DRAIN_GRACE`; the last read."""
        if self._listener is not None:
            give_up = time.monotonic() + DRAIN_GRACE
            while self._serve():
                remaining = give_up - time.monotonic()
                if remaining <= 0:
                    self._ledger.notes.append("a process outside the child's process group still ran under its filter")
                    break
                select.select([self._listener.fd], [], [], min(remaining, 0.05))
            self._listener.close()
            self._listener = None
        if self._socket.fileno() >= 0:
            self._socket.close()
        self._ledger.catch_up(self._area.read(final=True))
        for problem in self._area.problems:
            self._ledger.incomplete.append(problem)
        self._area.close()

    def _conclude(self, pid: int) -> ChildOutcome:
        outcome = ChildOutcome(timed_out=self._timed_out)
        if self._status is not None:
            outcome.exit_code, outcome.signal = decode_status(self._status)
        ledger = self._ledger
        ledger.finish(pid, outcome.exit_code, outcome.signal, self._timed_out)
        outcome.records = list(ledger.records)
        outcome.notes = list(ledger.notes)
        outcome.incomplete = list(ledger.incomplete)
        self._outcome = outcome
        return outcome

    def _stop_child(self, pid: int) -> None:
        killpg_quietly(pid)
        kill_quietly(pid)
        self._status = reap_within(pid, REAP_TIMEOUT)
        if self._status is None:
            self._ledger.notes.append(f"child {pid} did not end {REAP_TIMEOUT:.0f}s after SIGKILL")


def _is_trap(info: SigInfo, regs: Registers | None) -> bool:
    """Is this SIGSYS the kernel's seccomp trap (not a kill(), not a queued fake)?"""
    return (
        regs is not None
        and info.code == SIGSYS_CODE_SECCOMP
        and info.arch == AUDIT_ARCH_X86_64
        and regs.rip == info.call_addr
        and regs.rax & 0xFFFFFFFF == info.syscall & 0xFFFFFFFF
    )
