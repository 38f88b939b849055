"""The notify recorder: the role's filter returns USER_NOTIF, a supervisor process answers.

Kernel semantics (seccomp_unotify(2), :mod:`..kernel.unotify`): a call the filter
answers with ``SECCOMP_RET_USER_NOTIF`` stops, before it runs, until the holder of
the filter's listener answers; the listener is made with the filter
(``SECCOMP_FILTER_FLAG_NEW_LISTENER``). The filter, and so the stops, are inherited
by every thread and process the filtered thread starts, exec'd programs included.
Nothing needs ptrace permission: the supervisor only receives and answers (Yama
``ptrace_scope`` 2 and 3, containers without CAP_SYS_PTRACE, a debugger attached: all
fine), though it reads the caller's memory to decode arguments where it may.

The processes: in the child (``in_child``, before setup) the supervisor is forked,
unfiltered (:mod:`._supervisor`: what it decides, and how it learns the Python
location with the where-signal, as the ptrace tracer does). The role's filter goes on
at the call phase with a listener (``sandbox.install_prepared(..., hand_over=...)``).
Right before, :meth:`NotifySession.prepare_hand_over` starts a courier thread, which
the filter does not cover (a filter goes on the calling thread only); once the filter
is on, the filtered thread stores the listener's number in memory and spins, making no
syscall and holding no GIL (:func:`..kernel.trampoline.wait_until_set`), while the
courier sends the listener over a socketpair (``SCM_RIGHTS``), closes both descriptors
and ends. So the role need not allow ``sendmsg``, no filter trusts any instruction,
no test code runs before the listener is gone from the child, and the test never holds
it. The supervisor sends each record to the parent (JSON lines on a pipe only it
holds) and says ``end`` once no process uses the filter any more.

The parent (:meth:`NotifySession.wait`) waits for the child and reads that pipe;
a supervisor that ends without ``end`` (the test killed it, or it failed) makes the
test's record incomplete. Its death never hangs the test: the kernel fails every
stopped and later trapped call with ENOSYS once the listener is closed.
"""

from __future__ import annotations

import ctypes
import json
import mmap
import os
import select
import signal
import socket
import threading
import time
from collections.abc import Callable
from types import FrameType

from ..kernel.actions import SECCOMP_RET_USER_NOTIF, USER_NOTIF, Action
from ..kernel.calls import prctl
from ..kernel.signals import SA_RESTART, SigInfo, install_handler
from ..kernel.trampoline import PAGE, wait_until_set
from ._child import RECORDER_NEEDS, prepare_child
from ._process import (
    REAP_TIMEOUT,
    close_all_but,
    decode_status,
    kill_quietly,
    killpg_quietly,
    open_pidfd,
    reap_within,
    try_reap,
)
from ._supervisor import Supervisor
from ._where import WhereBoard
from .base import ChildContext, ChildOutcome
from .record import TrapRecord

#: The where-signal (the same as the ptrace recorder's).
WHERE_SIGNAL = signal.SIGRTMAX - 3
#: Data of the harness guard's USER_NOTIF (the kernel does not pass it on: the supervisor
#: tells the guard's refusals apart by running the filter on the call, ``verdict_of``).
GUARD_DATA = 0x6A7D
#: After the child is reaped, how long other processes of its tree may take to be gone.
DRAIN_GRACE = 1.0
PR_SET_PTRACER = 0x59616D61
#: How long the filtered thread spins for the courier (about 2 s here), then gives up.
HAND_OVER_SPINS = 20_000_000
#: Exit status of a child whose listener the courier never took (it must not stay in the child).
NO_HAND_OVER_EXIT = 76


class NotifyRecorder:
    """Records trapped syscalls with a supervisor process (``SECCOMP_RET_USER_NOTIF``)."""

    name = "notify"

    def start(self, context: ChildContext) -> NotifySession:
        """A session for one child; call before fork."""
        return NotifySession(context)

    @staticmethod
    def unavailable_reason() -> str | None:
        """Why this recorder cannot run here, or None (seccomp user notifications that let a call run: 5.5+)."""
        from ..kernel.calls import action_available
        from ..kernel.support import unsupported_reason

        reason = unsupported_reason()
        if reason is None and not PAGE:
            reason = "the notify recorder could not map its code page"
        if reason is None and not action_available(USER_NOTIF):
            reason = "the kernel has no seccomp user notifications (Linux 5.0+)"
        return reason


class _Courier:
    """The thread that carries the listener from the filtered child to the supervisor."""

    def __init__(self, sock: int) -> None:
        self.channel = socket.socket(fileno=sock)  # OSError if it is no socket any more
        self.listener = ctypes.c_long(0)  # the listener's number + 1, stored by the filtered thread
        self.done = ctypes.c_long(0)  # set by the courier once the child holds neither descriptor
        self.thread = threading.Thread(target=self._run, name="sandbox-notify-courier", daemon=True)

    def _run(self) -> None:
        try:
            give_up = time.monotonic() + 10.0
            while not self.listener.value and time.monotonic() < give_up:
                time.sleep(0.0001)
            fd = self.listener.value - 1
            if fd >= 0:
                try:
                    socket.send_fds(self.channel, [b"L"], [fd])
                except OSError:
                    pass  # the supervisor is gone: the parent says the listener never reached it
                finally:
                    _close_quietly(fd)
        finally:
            self.channel.close()
            self.done.value = 1


def _close_quietly(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


class NotifySession:
    """One child's notify recording; see the module docstring."""

    recorder = "notify"

    def __init__(self, context: ChildContext) -> None:
        self.context = context
        self.action: Action = USER_NOTIF
        self.guard_action: Action = Action(SECCOMP_RET_USER_NOTIF, GUARD_DATA)
        self.trusted_ip: int | None = None  # the filter trusts no instruction
        self.needs: frozenset[str] = RECORDER_NEEDS
        #: The filter's verdict for ``(nr, args, ip)``, set by the plugin before the fork
        #: (``sandbox.filter_verdict``): how the supervisor knows the harness guard's refusals.
        self.verdict_of: Callable[[int, tuple[int, ...], int], Action] | None = None
        self._board = WhereBoard()
        self._installed = mmap.mmap(-1, 1)  # shared with the supervisor: the filter is on
        self._read, self._write = os.pipe()
        self._pid: int | None = None
        self._supervisor = 0
        self._sock = -1  # the child's end of the socketpair to the supervisor
        self._courier: _Courier | None = None
        # Parent side.
        self._buffer = b""
        self._records: dict[int, TrapRecord] = {}
        self._notes: list[str] = []
        self._incomplete: list[str] = []
        self._ended = False  # the supervisor said "end"
        self._listened = False  # ... and that it had received the listener
        self._eof = False
        self._killed = False  # we killed the tree (deadline, stragglers): its supervisor too
        self._status: int | None = None
        self._timed_out = False
        self._outcome: ChildOutcome | None = None

    # -- child ------------------------------------------------------------------------------

    def in_child(self) -> None:
        """Own process group, the supervisor (forked now, unfiltered), the where-handler."""
        os.close(self._read)
        prepare_child()
        self._board.publish_label(self.context.phase)
        mine, theirs = (s.detach() for s in socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET))
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the supervisor, which never returns
            os.close(mine)
            close_all_but({self._write, theirs})
            supervisor = Supervisor(self.context, self._board, self._write, WHERE_SIGNAL, self.verdict_of)
            supervisor.run(theirs, self.guard_action)
        os.close(theirs)
        os.close(self._write)
        self._supervisor = pid
        prctl(PR_SET_PTRACER, pid, 0, 0, 0)  # Yama scope 1: let it read our memory to decode arguments
        self._sock = mine
        install_handler(WHERE_SIGNAL, self._on_where, flags=SA_RESTART)
        self.context.observe(self._board.publish_phase)

    def prepare_hand_over(self) -> None:
        """Right before the filter: start the courier (a thread the filter will not cover)."""
        sock, self._sock = self._sock, -1
        if sock < 0:
            return
        try:
            self._courier = _Courier(sock)
        except OSError:
            return  # not a socket any more (setup closed it): the child will exit at the hand-over
        self._courier.thread.start()

    def hand_over(self, listener: int) -> None:
        """Under the new filter, with no syscall: give the courier the listener and wait until it took it."""
        courier = self._courier
        self._installed[0] = 1  # a memory store: the parent knows a listener was due
        if courier is None:  # no courier: nobody may hold the listener, and closing it is a syscall
            os._exit(NO_HAND_OVER_EXIT)
        courier.listener.value = listener + 1
        if not wait_until_set(ctypes.addressof(courier.done), HAND_OVER_SPINS):
            os._exit(NO_HAND_OVER_EXIT)  # the listener may still be here: this child must not run the test
        self._courier = None

    def _on_where(self, info: SigInfo, frame: FrameType | None) -> None:
        self._board.answer_request(info, frame, self._supervisor, WHERE_SIGNAL)

    # -- parent -----------------------------------------------------------------------------

    def in_parent(self, pid: int) -> None:
        """Keep only the read end of the supervisor's pipe."""
        self._pid = pid
        os.close(self._write)
        try:
            os.setpgid(pid, pid)  # the child does it too; whoever runs first wins the race
        except OSError:
            pass

    def parent_fds(self) -> list[int]:
        return [self._read] if self._read >= 0 else []

    def abandon(self) -> None:
        for fd in (self._read, self._write):
            os.close(fd)
        self._board.close()
        self._installed.close()

    def wait(self, deadline: float | None) -> ChildOutcome:
        """Wait for the child (killing its group at ``deadline``) and for its supervisor's last word.

        Interrupted (KeyboardInterrupt), it kills the tree before re-raising; a second
        call then returns at once with what was gathered.
        """
        if self._pid is None:
            raise RuntimeError("wait() before in_parent()")
        if self._outcome is not None:
            return self._outcome
        pid = self._pid
        try:
            if self._status is None and not self._timed_out:
                self._status = self._watch(pid, deadline)
            self._drain_rest(pid)
        except BaseException:
            self._kill_tree(pid)
            self._status = self._status if self._status is not None else reap_within(pid, REAP_TIMEOUT)
            self._finish()
            self._conclude()  # a second call returns what was gathered
            raise
        self._finish()
        return self._conclude()

    def _watch(self, pid: int, deadline: float | None) -> int | None:
        pidfd = open_pidfd(pid)
        try:
            while True:
                try:
                    status = try_reap(pid)
                except ChildProcessError:
                    self._notes.append(f"child {pid} was reaped by someone else")
                    return None
                if status is not None:
                    return status
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    self._timed_out = True
                    self._kill_tree(pid)
                    return reap_within(pid, REAP_TIMEOUT)
                timeout = 1.0 if pidfd >= 0 else 0.005
                if deadline is not None:
                    timeout = min(timeout, deadline - now)
                fds = [fd for fd in (pidfd, -1 if self._eof else self._read) if fd >= 0]
                ready, _, _ = select.select(fds, [], [], max(timeout, 0.0))
                if self._read in ready:
                    self._drain()
        finally:
            if pidfd >= 0:
                os.close(pidfd)

    def _drain_rest(self, pid: int) -> None:
        """Read until the supervisor is gone; stragglers of the tree get :data:`DRAIN_GRACE`, then SIGKILL."""
        give_up = time.monotonic() + DRAIN_GRACE
        while not self._eof:
            remaining = give_up - time.monotonic()
            if remaining <= 0:
                if self._killed:
                    self._notes.append("the notify supervisor did not end after its process group was killed")
                    return
                self._notes.append("a process of the test's tree still ran after the test ended; it was killed")
                self._kill_tree(pid)
                give_up = time.monotonic() + REAP_TIMEOUT
                continue
            ready, _, _ = select.select([self._read], [], [], remaining)
            if ready:
                self._drain()

    def _drain(self) -> None:
        try:
            data = os.read(self._read, 1 << 16)
        except OSError:
            data = b""
        if not data:
            self._eof = True
            return
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            self._take(line)

    def _take(self, line: bytes) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            return
        kind = message.get("kind")
        if kind == "record":
            self._records[int(message["seq"])] = TrapRecord.from_json(message["record"])
        elif kind == "note" and message["text"] not in self._notes:
            self._notes.append(str(message["text"]))
        elif kind == "incomplete" and message["text"] not in self._incomplete:
            self._incomplete.append(str(message["text"]))
        elif kind == "end":
            self._ended = True
            self._listened = bool(message.get("listener"))

    def _kill_tree(self, pid: int) -> None:
        self._killed = True
        killpg_quietly(pid)
        kill_quietly(pid)

    def _finish(self) -> None:
        if self._read >= 0:
            os.close(self._read)
            self._read = -1
        self._board.close()

    def _conclude(self) -> ChildOutcome:
        outcome = ChildOutcome(timed_out=self._timed_out)
        if self._status is not None:
            outcome.exit_code, outcome.signal = decode_status(self._status)
        if not self._ended and not self._killed:
            self._incomplete.append(
                "the notify supervisor ended before the test's processes did (was it killed?); "
                "their later trapped calls failed with ENOSYS, unrecorded"
            )
        if self._ended and not self._listened and self._installed[0]:
            self._incomplete.append(
                "the notify supervisor never received the filter's listener: "
                "no trapped call of the test was recorded (each failed with ENOSYS, or the child exited)"
            )
        self._installed.close()
        outcome.records = [self._records[seq] for seq in sorted(self._records)]
        outcome.notes = list(self._notes)
        outcome.incomplete = list(self._incomplete)
        self._outcome = outcome
        return outcome
