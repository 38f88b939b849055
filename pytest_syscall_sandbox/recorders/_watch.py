"""The sigsys recorder's watch: a second filter whose calls the parent sees from the kernel's side.

A SIGSYS handler lives in the process it records, so whatever the test does to its
own memory can reach it. What the kernel tells a *supervisor* cannot be forged from
inside: seccomp user notifications (``SECCOMP_RET_USER_NOTIF``, seccomp_unotify(2)).
The sigsys child installs this small filter first, with a listener
(``SECCOMP_FILTER_FLAG_NEW_LISTENER``) that it hands to the parent and closes; the
role's filter goes on later, above it. The kernel runs both filters and takes the
stronger verdict (TRAP beats USER_NOTIF beats ALLOW), so the watch only ever sees
calls the role lets through. It stops, for the parent to look at and answer:

- every call made from the recorder's trusted instruction (audit mode only: the
  role's filter allows that address, so every call that runs through it, whoever
  made it, reaches the parent with its number and arguments);
- ``execve``/``execveat`` and process creation (``fork``, ``vfork``, ``clone``,
  ``clone3``): an exec'd program, and a spawned child until it execs, run without
  the handler, so their trapped calls would be lost; the parent says so;
- ``rt_sigaction(SIGSYS, act)`` with an ``act``: the parent reads it, lets
  ``SIG_DFL`` through (every spawned child resets its handlers) and refuses any other;
- a queued SIGSYS (``rt_sigqueueinfo``, ``rt_tgsigqueueinfo``, ``pidfd_send_signal``):
  a forged seccomp siginfo; refused.

Everything else is ALLOW, and the filter reads no argument of it: the kernel's
action cache still skips this filter for all other syscalls outside audit mode.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import select
import signal
import struct
from dataclasses import dataclass

from ..kernel.actions import SECCOMP_RET_ALLOW, SECCOMP_RET_USER_NOTIF
from ..kernel.calls import NR_SECCOMP, SECCOMP_SET_MODE_FILTER, set_no_new_privs, syscall
from ..kernel.syscalls import AUDIT_ARCH_X86_64, syscall_number
from ..kernel.unotify import NOTIF as _NOTIF
from ..kernel.unotify import RESPONSE as _RESPONSE
from ..kernel.unotify import (
    SECCOMP_FILTER_FLAG_NEW_LISTENER,
    SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
    SECCOMP_USER_NOTIF_FLAG_CONTINUE,
)
from ..kernel.unotify import SECCOMP_IOCTL_NOTIF_ID_VALID as _ID_VALID
from ..kernel.unotify import SECCOMP_IOCTL_NOTIF_RECV as _RECV
from ..kernel.unotify import SECCOMP_IOCTL_NOTIF_SEND as _SEND

#: Process creation and exec: the calls after which a process may run without the handler.
SPAWNS = frozenset(syscall_number(n) for n in ("fork", "vfork", "clone", "clone3"))
EXECS = frozenset(syscall_number(n) for n in ("execve", "execveat"))
NR_RT_SIGACTION = syscall_number("rt_sigaction")
#: Syscall -> index of its signal-number argument: the ways to queue a siginfo of one's choosing.
QUEUED_SIGNALS = {
    syscall_number("rt_sigqueueinfo"): 1,
    syscall_number("rt_tgsigqueueinfo"): 2,
    syscall_number("pidfd_send_signal"): 1,
}

_LD, _JEQ, _RET = 0x20, 0x15, 0x06  # BPF_LD|BPF_W|BPF_ABS, BPF_JMP|BPF_JEQ|BPF_K, BPF_RET|BPF_K
_NR, _ARCH, _IP = 0, 4, 8


def _arg(index: int, high: bool = False) -> int:
    return 16 + 8 * index + (4 if high else 0)


def watch_program(trusted_ip: int | None) -> bytes:
    """The watch filter (packed ``sock_filter`` array); ``trusted_ip`` only in audit mode.

    Written as (opcode, k, label-if-true, label-if-false) rows; labels become offsets.
    """
    rows: list[tuple[str, int, int, str, str]] = [("", _LD, _ARCH, "", ""), ("", _JEQ, AUDIT_ARCH_X86_64, "", "allow")]
    if trusted_ip is not None:
        rows += [
            ("", _LD, _IP, "", ""),
            ("", _JEQ, trusted_ip & 0xFFFFFFFF, "", "nr"),
            ("", _LD, _IP + 4, "", ""),
            ("", _JEQ, trusted_ip >> 32, "notify", "nr"),
        ]
    rows.append(("nr", _LD, _NR, "", ""))
    rows += [("", _JEQ, nr, "notify", "") for nr in sorted(SPAWNS | EXECS)]
    rows.append(("", _JEQ, NR_RT_SIGACTION, "sigaction", ""))
    rows += [("", _JEQ, nr, f"signal-arg-{index}", "") for nr, index in sorted(QUEUED_SIGNALS.items())]
    rows.append(("", _RET, SECCOMP_RET_ALLOW, "", ""))
    rows += [
        ("sigaction", _LD, _arg(0), "", ""),
        ("", _JEQ, signal.SIGSYS, "", "allow"),
        ("", _LD, _arg(1), "", ""),
        ("", _JEQ, 0, "", "notify"),
        ("", _LD, _arg(1, high=True), "", ""),
        ("", _JEQ, 0, "allow", "notify"),
    ]
    for index in sorted(set(QUEUED_SIGNALS.values())):
        rows += [(f"signal-arg-{index}", _LD, _arg(index), "", ""), ("", _JEQ, signal.SIGSYS, "notify", "allow")]
    rows += [("notify", _RET, SECCOMP_RET_USER_NOTIF, "", ""), ("allow", _RET, SECCOMP_RET_ALLOW, "", "")]
    where = {label: at for at, (label, *_rest) in enumerate(rows) if label}

    def offset(at: int, label: str) -> int:
        return where[label] - at - 1 if label else 0

    return b"".join(
        struct.pack("=HBBI", code, offset(at, yes), offset(at, no), k)
        for at, (_label, code, k, yes, no) in enumerate(rows)
    )


def _release() -> tuple[int, int]:
    """The running kernel's (major, minor)."""
    try:
        major, minor = os.uname().release.split(".")[:2]
        return int(major), int("".join(c for c in minor if c.isdigit()) or 0)
    except ValueError:
        return (0, 0)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install_watch(program: bytes) -> int:
    """Attach the watch filter to the calling thread; its listener descriptor (-errno if not).

    Root (CAP_SYS_ADMIN) needs no ``no_new_privs``, so the setup phase keeps set-user-ID
    programs working there; others get it now rather than with the role's filter.
    Kernels before 5.19 lack WAIT_KILLABLE_RECV: then without it. Before 5.9 (no
    ``Seccomp_filters`` in /proc, and before 5.5 no way to let a stopped call run): none.
    """
    if _release() < (5, 9):
        return -errno.ENOSYS
    buffer = ctypes.create_string_buffer(program, len(program))
    prog = _SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    flags = SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
    for _ in range(3):
        fd = int(
            syscall(
                ctypes.c_long(NR_SECCOMP),
                ctypes.c_uint(SECCOMP_SET_MODE_FILTER),
                ctypes.c_uint(flags),
                ctypes.byref(prog),
            )
        )
        if fd >= 0:
            return fd
        error = ctypes.get_errno()
        if error == errno.EACCES:
            try:
                set_no_new_privs()
            except OSError:
                return -error
        elif error == errno.EINVAL and flags & SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV:
            flags &= ~SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
        else:
            return -error
    return -errno.EACCES


@dataclass(frozen=True)
class Notification:
    """One stopped call, as the kernel saw it: ``tid`` is the calling thread's id."""

    id: int
    tid: int
    nr: int
    arch: int
    ip: int
    args: tuple[int, ...]


class Listener:
    """The parent's end of the watch (non-blocking use only: see :meth:`ready`)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._poll = select.poll()
        self._poll.register(fd, select.POLLIN)

    def ready(self) -> bool | None:
        """True if a call waits; False if none; None once no process uses the filter any more.

        RECV blocks when nothing waits, also after the last user is gone (POLLHUP):
        call :meth:`receive` only after True.
        """
        events = dict(self._poll.poll(0)).get(self.fd, 0)
        if events & select.POLLIN:
            return True
        return None if events & (select.POLLHUP | select.POLLERR | select.POLLNVAL) else False

    def receive(self) -> Notification | None:
        """The next stopped call; None if it went away meanwhile (its thread was killed)."""
        buffer = bytearray(_NOTIF.size)
        try:
            fcntl.ioctl(self.fd, _RECV, buffer, True)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.EINTR):
                return None
            raise
        nid, tid, _flags, nr, arch, ip, *args = _NOTIF.unpack(buffer)
        return Notification(nid, tid, nr, arch, ip, tuple(args))

    def still_waiting(self, notification: Notification) -> bool:
        """Is the thread still in that call (so memory read for it was its own)?"""
        try:
            fcntl.ioctl(self.fd, _ID_VALID, struct.pack("=Q", notification.id))
        except OSError:
            return False
        return True

    def answer(self, notification: Notification, error: int = 0) -> None:
        """Let the call run (``error`` 0), or make it fail with ``-error`` without running."""
        flags = 0 if error else SECCOMP_USER_NOTIF_FLAG_CONTINUE
        response = bytearray(_RESPONSE.pack(notification.id, 0, -error, flags))
        try:
            fcntl.ioctl(self.fd, _SEND, response, True)
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.EINTR):
                raise

    def close(self) -> None:
        """Close the listener: calls still stopped (or stopping later) fail with ENOSYS."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _pread(tid: int, address: int, size: int) -> bytes:
    try:
        fd = os.open(f"/proc/{tid}/mem", os.O_RDONLY)
    except OSError:
        return b""
    try:
        return os.pread(fd, size, address)
    except (OSError, OverflowError, ValueError):
        return b""
    finally:
        os.close(fd)


def read_memory(tid: int, address: int, size: int) -> bytes | None:
    """``size`` bytes of thread ``tid``'s memory at ``address`` (None if unreadable)."""
    data = _pread(tid, address, size)
    return data if len(data) == size else None


def read_text(tid: int, address: int, limit: int = 512) -> str:
    """A NUL-terminated string of ``tid``'s memory ('' if unreadable)."""
    return _pread(tid, address, limit).split(b"\0", 1)[0].decode(errors="replace")


def proc_status(tid: int) -> dict[str, int]:
    """``Tgid`` and ``Seccomp_filters`` (Linux 5.9+) of thread ``tid``; what is missing is left out."""
    found: dict[str, int] = {}
    try:
        with open(f"/proc/{tid}/status", "rb") as status:
            for line in status:
                name, _, value = line.partition(b":")
                if name in (b"Tgid", b"Seccomp_filters"):
                    found[name.decode()] = int(value)
    except (OSError, ValueError):
        pass
    return found
