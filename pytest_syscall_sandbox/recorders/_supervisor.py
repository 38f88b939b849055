"""The notify recorder's supervisor: a process that answers every call the role's filter stops.

It is forked by the sandboxed child before any filter (so it is not under one), makes
itself non-dumpable (the test cannot trace it or read its memory), receives the
filter's listener once the child has installed it, and then, per notification
(``SECCOMP_IOCTL_NOTIF_RECV``), decides from the kernel's view alone (number,
arguments, thread id, instruction pointer, and the filter's own verdict for them,
which tells the harness guard's refusals apart):

- ``audit``: the call runs (``SECCOMP_USER_NOTIF_FLAG_CONTINUE``), once, and is recorded;
- ``log-and-abort``, ``abort``: the call fails (ENOSYS) and its process is SIGKILLed
  (first, so that it never returns to the program) once its Python location is known,
  or at once when it cannot be asked; each later trapped call of that process is
  refused. A call labelled ``harness`` is refused without stopping the process;
- the harness guard's refusals, and calls that signal, trace or read the supervisor
  itself, fail with EPERM in every mode and are recorded as refused.

The Python location: the supervisor queues the where-signal (``SI_QUEUE``, a slot and a
token in ``si_value``) to the stopped thread. The filter is installed without
WAIT_KILLABLE_RECV, so the signal interrupts the wait; the handler stores the location
on the where-board (:mod:`._where`, memory shared before the fork) and the call,
restarted (SA_RESTART), stops again: the supervisor takes the answer and decides that
notification. A thread that blocks, ignores or replaced the signal (``/proc`` says so,
or it does not come back within :data:`._tracer.WHERE_TIMEOUT`) gets no location.
Before a record is kept, the notification id is checked (``SECCOMP_IOCTL_NOTIF_ID_VALID``):
a call whose thread left it meanwhile never ran and will stop again if restarted.

Records, notes and the end go to the parent as JSON lines on a pipe that only the
supervisor holds. It ends when no process uses the filter any more (POLLHUP).
"""

from __future__ import annotations

import errno
import gc
import json
import os
import select
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from ..kernel.actions import Action
from ..kernel.calls import prctl
from ..kernel.syscalls import get_linux_syscall_name, numbers_of
from ._child import FORK_FAMILY, holds_thread_lock, outcome_of
from ._decode import decode_live
from ._process import kill_quietly, parent_of
from ._tracee import bit, queue_signal, shares_memory, thread_status
from ._watch import Listener, Notification
from ._where import WhereBoard, new_token, request_value
from .base import ChildContext
from .record import GUARD_REFUSED, HARNESS, REFUSED, TrapRecord, kernel_number

PR_SET_DUMPABLE = 4
#: A where-request not answered within this long is given up (the call is decided without a location).
WHERE_TIMEOUT = 2.0
#: Calls whose first argument names the process they act on (ptrace: the second).
_TARGETING = {nr: 0 for nr in numbers_of(["kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo"])}
_TARGETING.update({nr: 0 for nr in numbers_of(["pidfd_open", "process_vm_readv", "process_vm_writev"])})
_TARGETING.update({nr: 1 for nr in numbers_of(["ptrace"])})
_TAMPERING = {
    "prctl": "the test tried to install a seccomp filter of its own, which would hide its calls from the recorder",
    "seccomp": "the test tried to install a seccomp filter of its own, which would hide its calls from the recorder",
}
_SUPERVISOR_TARGETED = "the test tried to signal, trace or read the notify supervisor"


@dataclass
class _Pending:
    """A where-request: the thread was sent the where-signal for the call of record ``seq``."""

    seq: int
    tgid: int
    slot: int
    token: int
    call: tuple[int, tuple[int, ...]]
    notification: Notification
    refuse: bool
    failure: int
    deadline: float


class Supervisor:
    """Runs in the supervisor process: see the module docstring."""

    def __init__(
        self,
        context: ChildContext,
        board: WhereBoard,
        out: int,
        where_signal: int,
        verdict_of: Callable[[int, tuple[int, ...], int], Action] | None,
    ) -> None:
        self.context = context
        self._board = board
        self._out = out
        self._where = where_signal
        self._verdict_of = verdict_of
        self._guard_action: Action | None = None
        self._self = os.getpid()
        self._seq = 0
        self._records: dict[int, TrapRecord] = {}
        self._pending: dict[int, _Pending] = {}
        self._doomed: dict[int, float] = {}
        self._killed: set[int] = set()
        self._refused_after: dict[int, int] = {}
        self._notes: set[str] = set()
        self._listener: Listener | None = None
        self._child = os.getppid()  # the sandboxed child, which forked this process
        #: Process -> whether it runs on its parent's memory (vfork, CLONE_VM): never asked.
        self._vm_shared: dict[int, bool] = {}

    # -- the process ----------------------------------------------------------------------

    def run(self, sock: int, guard_action: Action) -> NoReturn:
        """Take the listener from ``sock``, answer until no process uses the filter, report; exit.

        ``guard_action``: what the filter returns for the harness guard's refusals.
        """
        self._guard_action = guard_action
        code = 0
        try:
            gc.disable()  # the child's objects stay as they are: no finalizer runs here
            prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
            fd = self._receive_listener(sock)
            if fd is not None:
                self._listener = Listener(fd)
                self._serve()
            self._end(listener=fd is not None)
        except BaseException as exc:  # report it; the parent counts the test as incomplete
            self._send({"kind": "incomplete", "text": f"the notify supervisor failed: {exc!r}"})
            code = 1
        finally:
            os._exit(code)

    def _receive_listener(self, sock: int) -> int | None:
        channel = socket.socket(fileno=sock)
        try:
            _message, fds, _flags, _address = socket.recv_fds(channel, 16, 1)
        except OSError:
            fds = []
        channel.close()
        if fds:
            return fds[0]
        return None

    def _serve(self) -> None:
        listener = self._listener
        assert listener is not None
        poller = select.poll()
        poller.register(listener.fd, select.POLLIN)
        while True:
            now = time.monotonic()
            self._expire(now)
            deadlines = [p.deadline for p in self._pending.values()] + list(self._doomed.values())
            timeout = max(0.0, min(deadlines) - now) if deadlines else 1.0
            events = dict(poller.poll(timeout * 1000)).get(listener.fd, 0)
            if events & select.POLLIN:
                notification = listener.receive()
                if notification is not None:
                    self._on_notification(notification)
            elif events & (select.POLLHUP | select.POLLERR | select.POLLNVAL):
                return  # no process uses the filter any more

    def _end(self, *, listener: bool) -> None:
        for pending in list(self._pending.values()):
            self._board.release(pending.slot)
            self._emit(pending.seq)
        for tgid, count in self._refused_after.items():
            self._note(f"process {tgid} made {count} more trapped call(s) while it was being stopped; none ran")
        self._send({"kind": "end", "listener": listener})

    # -- one notification -------------------------------------------------------------------

    def _on_notification(self, n: Notification) -> None:
        nr = kernel_number(n.nr)
        pending = self._pending.get(n.tid)
        if pending is not None and pending.call == (nr, n.args):  # the restarted call: the handler is done
            del self._pending[n.tid]
            self._answered(pending)
            self._decide(n, pending.tgid, pending.refuse, pending.failure)
            self._emit(pending.seq)
            return
        status = thread_status(n.tid)
        tgid = status.tgid if status else n.tid
        if tgid in self._doomed or tgid in self._killed:  # a doomed process runs nothing more
            self._refused_after[tgid] = self._refused_after.get(tgid, 0) + 1
            self._answer(n, errno.ENOSYS)
            return
        verdict = self._verdict_of(nr, n.args, n.ip) if self._verdict_of is not None else None
        guarded = verdict == self._guard_action or self._targets_me(nr, n.args)
        mode, label = self.context.mode, self._board.label()
        refuse = guarded or mode != "audit"
        stop = mode != "audit" and label != HARNESS
        failure = errno.EPERM if guarded else errno.ENOSYS
        decoded = self._decode(n.tid, nr, n.args)
        assert self._listener is not None
        if not self._listener.still_waiting(n):
            return  # the thread left the call (a signal, or killed): it did not run, and stops again if restarted
        seq = self._record(n, nr, tgid, status.name if status else "", decoded, guarded, label, stop)
        if stop:
            self._doomed[tgid] = time.monotonic() + WHERE_TIMEOUT
        if pending is not None:
            self._note("no Python location for calls made while their thread answered a where-request")
        elif self._askable(n.tid, tgid, status) and not self._under_lock(nr, n.args, n.tid):
            if self._ask(n, tgid, nr, seq, refuse, failure):
                return
        self._decide(n, tgid, refuse, failure)
        self._emit(seq)

    def _record(
        self, n: Notification, nr: int, tgid: int, thread: str, decoded: str, guarded: bool, label: str, stop: bool
    ) -> int:
        mode = self.context.mode
        if mode == "audit":
            outcome = REFUSED if guarded else outcome_of(mode)
        else:
            outcome = outcome_of(mode) if stop and not guarded else REFUSED
        self._seq += 1
        name = get_linux_syscall_name(nr)
        self._records[self._seq] = TrapRecord(
            syscall=name,
            nr=nr,
            args=n.args,
            decoded_args=decoded,
            pid=tgid,
            tid=n.tid,
            thread=thread,
            role=self.context.role,
            mode=mode,
            recorder="notify",
            nodeid=self.context.nodeid,
            phase=label,
            outcome=outcome,
            reason=GUARD_REFUSED if guarded else "",
        )
        tampering = _SUPERVISOR_TARGETED if self._targets_me(nr, n.args) else _TAMPERING.get(name) if guarded else None
        if tampering:
            self._send({"kind": "incomplete", "text": tampering})
        return self._seq

    def _decide(self, n: Notification, tgid: int, refuse: bool, failure: int) -> None:
        """Stop the process first if it is doomed (it never returns to the program), then answer."""
        if tgid in self._doomed:
            self._stop(tgid)
        self._answer(n, failure if refuse else 0)

    def _answer(self, n: Notification, error: int) -> None:
        assert self._listener is not None
        self._listener.answer(n, error)

    def _stop(self, tgid: int) -> None:
        self._doomed.pop(tgid, None)
        self._killed.add(tgid)
        kill_quietly(tgid)

    def _targets_me(self, nr: int, args: tuple[int, ...]) -> bool:
        index = _TARGETING.get(nr)
        if index is None:
            return False
        target = args[index] & 0xFFFFFFFF
        return target in (self._self, (-self._self) & 0xFFFFFFFF)

    # -- the where-request ------------------------------------------------------------------

    def _askable(self, tid: int, tgid: int, status: Any) -> bool:
        if status is None:
            return False
        if self._on_parents_memory(tgid):
            self._note("no Python location for calls of a vfork child (it shares its parent's memory)")
            return False
        where = bit(self._where)
        if not status.caught & where:
            self._note(
                "no Python location for calls of exec'd programs, or of a test that ignored or reset the "
                f"where-signal (signal {self._where}); their calls are recorded all the same"
            )
            return False
        if status.blocked & where:
            self._note(
                f"no Python location for calls made with the where-signal (signal {self._where}) blocked "
                "(glibc blocks all signals while it creates a thread or spawns a program; a test may block it too)"
            )
            return False
        return True

    def _on_parents_memory(self, tgid: int) -> bool:
        if tgid == self._child:
            return False
        if tgid not in self._vm_shared:  # a fork never shares memory later; a vfork child that execs has no handler
            self._vm_shared[tgid] = (parent := parent_of(tgid)) > 0 and shares_memory(parent, tgid, 0)
        return self._vm_shared[tgid]

    def _under_lock(self, nr: int, args: tuple[int, ...], tid: int) -> bool:
        if not holds_thread_lock(nr, args, tid):
            return False
        self._note(
            "no Python location for sched_getaffinity on a thread's own tid (glibc's pthread_getattr_np holds "
            "the thread's lock there, as at every thread start on CPython 3.14+)"
        )
        return True

    def _ask(self, n: Notification, tgid: int, nr: int, seq: int, refuse: bool, failure: int) -> bool:
        slot = self._board.acquire()
        if slot is None:
            self._note("no Python location for some calls: too many where-requests at once")
            return False
        token = new_token()
        if not queue_signal(tgid, n.tid, self._where, request_value(slot, token, compact=nr in FORK_FAMILY)):
            self._board.release(slot)
            return False
        deadline = time.monotonic() + WHERE_TIMEOUT
        self._pending[n.tid] = _Pending(seq, tgid, slot, token, (nr, n.args), n, refuse, failure, deadline)
        return True

    def _answered(self, pending: _Pending) -> None:
        answer = self._board.take(pending.slot, pending.token)
        record = self._records.get(pending.seq)
        if record is None:
            return
        if answer is None:
            self._note(
                f"no Python location: the where-signal (signal {self._where}) did not reach the recorder's "
                "handler (did the test replace it?); its calls are recorded all the same"
            )
            return
        record.place(answer["frames"], answer["innermost"], self.context.root)
        record.thread = answer["thread"] or record.thread

    def _expire(self, now: float) -> None:
        assert self._listener is not None
        for tid, pending in list(self._pending.items()):
            if now < pending.deadline:
                continue
            del self._pending[tid]
            self._board.release(pending.slot)
            self._note(
                f"no Python location for a call whose thread did not come back from the where-signal "
                f"(signal {self._where}) within {WHERE_TIMEOUT:g} s"
            )
            if self._listener.still_waiting(pending.notification):  # never interrupted: decide it now
                self._decide(pending.notification, pending.tgid, pending.refuse, pending.failure)
            elif pending.tgid in self._doomed:
                self._stop(pending.tgid)
            self._emit(pending.seq)
        for tgid, deadline in list(self._doomed.items()):
            if now >= deadline:  # its location never came: stopped without it
                self._stop(tgid)

    # -- output -------------------------------------------------------------------------------

    def _decode(self, tid: int, nr: int, args: tuple[int, ...]) -> str:
        return decode_live(tid, nr, args, show_env=self.context.show_env)

    def _emit(self, seq: int) -> None:
        record = self._records.pop(seq, None)
        if record is not None:
            self._send({"kind": "record", "seq": seq, "record": record.to_json()})

    def _note(self, text: str) -> None:
        if text not in self._notes:
            self._notes.add(text)
            self._send({"kind": "note", "text": text})

    def _send(self, message: dict[str, Any]) -> None:
        data = (json.dumps(message, separators=(",", ":"), default=str) + "\n").encode()
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._out, view) :]
        except OSError:
            pass  # the parent is gone: nobody to tell
