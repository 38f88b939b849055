"""Helpers of the lint tests (imported as ``lint_support``): environments and a real run.

:func:`observe` is the "real run": it forks a child, installs a seccomp filter that
allows a role's syscalls and sends every other one to this process as a user
notification (``SECCOMP_RET_USER_NOTIF``), runs one job in the child and answers each
notified call with ENOSYS, as a kernel without that syscall would. The child and
everything it starts (threads, ``subprocess`` children) keep running, so one run
sees every syscall the job needs beyond the allow-list; the filter never lands on
the pytest process, which only reads the notifications.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import faulthandler
import os
import select
import signal
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pytest_syscall_sandbox.engine.compiler import compile_allow_list
from pytest_syscall_sandbox.kernel.actions import USER_NOTIF
from pytest_syscall_sandbox.kernel.calls import set_no_new_privs
from pytest_syscall_sandbox.kernel.syscalls import NAMES, numbers_of

NR_SECCOMP = 317
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3
SECCOMP_USER_NOTIF_FLAG_CONTINUE = 1
# _IOWR('!', 0, struct seccomp_notif) and _IOWR('!', 1, struct seccomp_notif_resp) from <linux/seccomp.h>.
SECCOMP_IOCTL_NOTIF_RECV = 0xC0502100
SECCOMP_IOCTL_NOTIF_SEND = 0xC0182101


class _SeccompData(ctypes.Structure):
    _fields_ = [
        ("nr", ctypes.c_int),
        ("arch", ctypes.c_uint32),
        ("instruction_pointer", ctypes.c_uint64),
        ("args", ctypes.c_uint64 * 6),
    ]


class _Notif(ctypes.Structure):
    _fields_ = [("id", ctypes.c_uint64), ("pid", ctypes.c_uint32), ("flags", ctypes.c_uint32), ("data", _SeccompData)]


class _NotifResp(ctypes.Structure):
    _fields_ = [("id", ctypes.c_uint64), ("val", ctypes.c_int64), ("error", ctypes.c_int32), ("flags", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


assert ctypes.sizeof(_Notif) == 80 and ctypes.sizeof(_NotifResp) == 24

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.syscall.restype = ctypes.c_long
_ioctl = _libc.ioctl
_ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]
_ioctl.restype = ctypes.c_int


@dataclass(frozen=True)
class Observation:
    """What one job did under a role's allow-list."""

    trapped: tuple[str, ...]  #: syscalls beyond the allow-list, in the order first seen
    exit_code: int  #: 0: the job raised nothing (with ENOSYS answers); 1: it raised

    @property
    def names(self) -> frozenset[str]:
        """The trapped syscalls as a set."""
        return frozenset(self.trapped)


def _install_notifying_filter(allowed: Iterable[str]) -> int:
    program = compile_allow_list(numbers_of(allowed), USER_NOTIF).packed()
    buffer = ctypes.create_string_buffer(program, len(program))
    prog = _SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    set_no_new_privs()
    fd = _libc.syscall(
        ctypes.c_long(NR_SECCOMP),
        ctypes.c_uint(SECCOMP_SET_MODE_FILTER),
        ctypes.c_uint(SECCOMP_FILTER_FLAG_NEW_LISTENER),
        ctypes.byref(prog),
    )
    if fd < 0:
        raise OSError(ctypes.get_errno(), "seccomp(SECCOMP_FILTER_FLAG_NEW_LISTENER)")
    return int(fd)


def _run_notified(
    allowed: Iterable[str], job: Callable[[], object], continue_calls: bool, timeout: float
) -> tuple[list[tuple[int, str]], int]:
    """Run ``job`` in a forked child under ``allowed``; every other call is notified to this process.

    Each notified call is answered with ENOSYS, or (``continue_calls``) let run
    (``SECCOMP_USER_NOTIF_FLAG_CONTINUE``). Returns ``[(pid, name)]`` in the order the
    calls arrived, and the child's exit code.
    """
    parent_sock, child_sock = socket.socketpair()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 2
        try:
            parent_sock.close()
            faulthandler.disable()  # a job that aborts (glibc without rseq) needs no traceback dump
            listener = _install_notifying_filter(allowed)
            socket.send_fds(child_sock, [b"L"], [listener])
            os.close(listener)
            code = 1
            job()
            code = 0
        finally:
            os._exit(code)
    child_sock.close()
    calls: list[tuple[int, str]] = []
    listener = -1
    status = None
    try:
        if not select.select([parent_sock], [], [], timeout)[0]:
            raise TimeoutError("the child sent no listener")
        _, fds, _, _ = socket.recv_fds(parent_sock, 1, 1)
        if not fds:
            raise RuntimeError("the child could not install its filter")
        listener = fds[0]
        poller = select.poll()
        poller.register(listener, select.POLLIN)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            events = [event for _, event in poller.poll(50)]
            pending = any(event & select.POLLIN for event in events)
            for event in events:
                if event & select.POLLIN:
                    request = _Notif()
                    if _ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, ctypes.addressof(request)) == 0:
                        calls.append((request.pid, NAMES.get(request.data.nr, str(request.data.nr))))
                        if continue_calls:
                            response = _NotifResp(request.id, 0, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE)
                        else:
                            response = _NotifResp(request.id, 0, -errno.ENOSYS, 0)
                        _ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, ctypes.addressof(response))
            if status is None:
                done, status_value = os.waitpid(pid, os.WNOHANG)
                if done:
                    status = status_value
            if status is not None and not pending:
                break  # the child is reaped and nothing is pending (POLLHUP: no task uses the filter)
        else:
            raise TimeoutError(f"the job did not finish within {timeout} s")
    finally:
        parent_sock.close()
        if listener >= 0:
            os.close(listener)
        if status is None:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    return calls, os.waitstatus_to_exitcode(status)


def observe(allowed: Iterable[str], job: Callable[[], object], timeout: float = 30.0) -> Observation:
    """Run ``job`` in a forked child under ``allowed``; return the syscalls it needed beyond it."""
    calls, code = _run_notified(allowed, job, False, timeout)
    return Observation(tuple(dict.fromkeys(name for _, name in calls)), code)


#: What :func:`watch` makes around the job, to tell the job's calls from the child's own.
MARKER = "getppid"


@dataclass(frozen=True)
class Watched:
    """The calls of :func:`watch`'s universe one job made: ``(pid, name)`` in order."""

    calls: tuple[tuple[int, str], ...]
    exit_code: int

    @property
    def names(self) -> frozenset[str]:
        """Every name seen."""
        return frozenset(name for _, name in self.calls)

    def split_at_exec(self) -> tuple[frozenset[str], frozenset[str]]:
        """(calls before each process's last execve, calls after it: the exec'd programs')."""
        last_exec = {pid: i for i, (pid, name) in enumerate(self.calls) if name == "execve"}
        before: set[str] = set()
        after: set[str] = set()
        for i, (pid, name) in enumerate(self.calls):
            (after if pid in last_exec and i > last_exec[pid] else before).add(name)
        return frozenset(before), frozenset(after)


def watch(universe: Iterable[str], job: Callable[[], object], timeout: float = 30.0) -> Watched:
    """Which syscalls of ``universe`` ``job`` makes, letting every call run (nothing is refused).

    The filter notifies only ``universe`` and :data:`MARKER`, which the child calls right
    before and after ``job``: what the child does around the job is not counted.
    """
    universe = frozenset(universe)

    def marked() -> None:
        os.getppid()
        job()
        os.getppid()

    calls, code = _run_notified(frozenset(NAMES.values()) - universe - {MARKER}, marked, True, timeout)
    markers = [i for i, (_, name) in enumerate(calls) if name == MARKER]
    if len(markers) != 2:
        raise RuntimeError(f"expected two markers, saw {len(markers)} (exit code {code})")
    return Watched(tuple(calls[markers[0] + 1 : markers[1]]), code)
