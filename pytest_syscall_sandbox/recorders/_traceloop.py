"""The ptrace tracer's event loop: waiting, following the tree, resuming, reaping.

Waiting: ``waitpid(-pgid, WNOHANG | __WALL)`` polls the child's process group
(tracees outside it, after ``setsid``, are polled by tid), spinning briefly while
busy and sleeping in select(2) on a pidfd of the child (so its end wakes the tracer
at once) when idle, so nothing of the parent's other children is reaped.
Auto-attached tracees (threads, forks, vforks) start in a ``PTRACE_EVENT_STOP``;
one whose parent's event is still queued waits until it is announced.
Signal-delivery stops re-inject the signal; group stops are kept with
``PTRACE_LISTEN``. Tracees that vanish (ESRCH) are dropped. When the direct child
is gone, or at the deadline (``timed_out``), everything left is SIGKILLed and
reaped, within :data:`._process.REAP_TIMEOUT`. ``run`` and every ptrace request
must come from one thread: the one that attached.

What a seccomp stop, a new tracee or an exec means is the subclass's business
(:class:`..ptrace.PtraceSession`).
"""

from __future__ import annotations

import errno
import os
import select
import signal
import time
from collections.abc import Iterator

from ptrace import PtraceError
from ptrace.binding.func import ptrace as _ptrace

from ._process import REAP_TIMEOUT, kill_quietly, killpg_quietly
from ._tracee import (
    PTRACE_CONT,
    PTRACE_EVENT_CLONE,
    PTRACE_EVENT_EXEC,
    PTRACE_EVENT_FORK,
    PTRACE_EVENT_SECCOMP,
    PTRACE_EVENT_STOP,
    PTRACE_EVENT_VFORK,
    PTRACE_LISTEN,
    WALL,
    Tracee,
    geteventmsg,
)

_STOP_SIGNALS = frozenset({signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU})
#: Empty polls before the loop starts sleeping: a resumed tracee usually stops again soon.
_SPIN = 200


class TraceLoop:
    """Follows a traced process tree until its first process ends (see the module docstring)."""

    def __init__(self) -> None:
        self._pid: int | None = None
        self._pidfd = -1  # wakes the idle loop at once when the child ends
        self._tracees: dict[int, Tracee] = {}
        self._announced: set[int] = set()
        self._deferred: set[int] = set()
        self._main_status: int | None = None
        self._notes: list[str] = []
        self._polls = 0

    # -- what the subclass decides ----------------------------------------------------

    def _on_seccomp(self, tracee: Tracee) -> None:
        raise NotImplementedError

    def _on_new(self, parent: int, child: Tracee, event: int) -> None:
        """``child`` was announced by ``parent``'s fork, vfork or clone event."""

    def _on_exec(self, tracee: Tracee) -> None:
        """``tracee`` (now its process's only thread) has exec'd."""

    def _on_gone(self, tracee: Tracee) -> None:
        """``tracee`` has exited or was killed."""

    def _tick(self, now: float) -> None:
        """Called every turn of the loop."""

    def _on_syscall_exit(self, tracee: Tracee) -> None:
        """``tracee`` is in a syscall-exit stop (it was resumed with PTRACE_SYSCALL)."""
        self._resume(tracee.tid)

    # -- the loop -----------------------------------------------------------------------

    def _loop(self, deadline: float | None) -> bool:
        """Trace until the direct child ends; True if ``deadline`` passed first (all killed)."""
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
            self._tick(now)
            event = self._next_event(idle)
            if event is not None:
                idle = 0
                self._dispatch(*event)
                continue
            idle += 1
            if idle > _SPIN:  # idle: sleep a little, waking early when the child ends
                delay = min(0.0001 * (idle - _SPIN), 0.005)
                if deadline is not None:
                    delay = max(0.0, min(delay, deadline - now))
                select.select([self._pidfd] if self._pidfd >= 0 else [], [], [], delay)
        return timed_out

    @property
    def _group(self) -> int:
        assert self._pid is not None
        return self._pid

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
                gone = self._tracees.pop(tid, None)
                if gone is not None:
                    self._on_gone(gone)
                continue
            if pid:
                yield pid, status

    def _dispatch(self, pid: int, status: int) -> None:
        if os.WIFEXITED(status) or os.WIFSIGNALED(status):
            gone = self._tracees.pop(pid, None)
            if gone is not None:
                self._on_gone(gone)
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
            tracee = self._tracees[pid] = Tracee(pid)
        if event == PTRACE_EVENT_SECCOMP:
            self._on_seccomp(tracee)
        elif event in (PTRACE_EVENT_FORK, PTRACE_EVENT_VFORK, PTRACE_EVENT_CLONE):
            self._announce(pid, event)
            self._resume(pid)
        elif event == PTRACE_EVENT_EXEC:
            self._exec(tracee)
        elif event == PTRACE_EVENT_STOP:
            if sig in _STOP_SIGNALS:
                self._request(PTRACE_LISTEN, pid)  # group-stop: stay stopped, as job control wants
            elif pid not in self._announced:
                self._deferred.add(pid)  # a new tracee whose parent's event is still queued
            else:
                self._resume(pid)
        elif event == 0 and sig != (signal.SIGTRAP | 0x80):
            self._resume(pid, sig)  # signal-delivery-stop: deliver the signal
        elif event == 0:
            self._on_syscall_exit(tracee)
        else:
            self._resume(pid)

    def _announce(self, parent: int, event: int) -> None:
        try:
            child = geteventmsg(parent)
        except PtraceError:
            return
        tracee = self._tracees.setdefault(child, Tracee(child))
        self._announced.add(child)
        self._on_new(parent, tracee, event)
        if child in self._deferred:
            self._deferred.discard(child)
            self._resume(child)

    def _exec(self, tracee: Tracee) -> None:
        try:
            former = geteventmsg(tracee.tid)
        except PtraceError:
            former = tracee.tid
        if former != tracee.tid:  # a non-leader thread exec'd and took the leader's tid
            gone = self._tracees.pop(former, None)
            if gone is not None:
                self._on_gone(gone)
        self._on_exec(tracee)
        self._resume(tracee.tid)

    def _resume(self, pid: int, signum: int = 0) -> None:
        self._request(PTRACE_CONT, pid, signum)

    def _request(self, request: int, pid: int, data: int = 0) -> None:
        try:
            _ptrace(request, pid, 0, data)
        except PtraceError as exc:
            if exc.errno != errno.ESRCH:
                self._note(f"ptrace request {request:#x} on {pid} failed: {exc}")

    def _note(self, note: str) -> None:
        if note not in self._notes:
            self._notes.append(note)

    # -- the end ------------------------------------------------------------------------

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
