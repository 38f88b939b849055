"""Signal handlers that receive ``siginfo_t`` (SA_SIGINFO), through ctypes.

Python's :mod:`signal` module hands its handlers no siginfo and runs them later on
the main thread. Seccomp's SIGSYS must be handled at once, on the thread that made
the call, and the syscall number lives in the siginfo, so we call sigaction(2)
ourselves. The handler runs inside the signal: it gets the GIL through ctypes'
callback machinery and sees the interrupted Python frame as its caller.
"""

from __future__ import annotations

import ctypes
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

SA_SIGINFO = 0x00000004
SA_ONSTACK = 0x08000000
SA_RESTART = 0x10000000
SA_NODEFER = 0x40000000


@dataclass(frozen=True)
class SigInfo:
    """The fields of ``siginfo_t`` we use (x86-64 layout)."""

    signo: int
    errno: int  #: for SIGSYS from seccomp: the filter's SECCOMP_RET_DATA
    code: int
    #: SIGSYS: ``_sigsys._syscall``, ``_sigsys._arch`` and ``si_call_addr``.
    syscall: int
    arch: int
    call_addr: int
    #: Queued signals (SI_QUEUE, rt_tgsigqueueinfo): the sender's ``si_pid`` and the
    #: 64-bit ``si_value`` (the same bytes as the SIGSYS fields, read as the other union member).
    pid: int
    value: int


SIGSYS_CODE_SECCOMP = 1  # SYS_SECCOMP

Handler = Callable[[SigInfo, "FrameType | None"], None]


class _Sigaction(ctypes.Structure):
    _fields_ = [
        ("sa_sigaction", ctypes.c_void_p),
        ("sa_mask", ctypes.c_ulong * 16),
        ("sa_flags", ctypes.c_int),
        ("sa_restorer", ctypes.c_void_p),
    ]


_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
try:
    _libc: ctypes.CDLL | None = ctypes.CDLL(None, use_errno=True)  # the libc this process runs on
except OSError:  # pragma: no cover - no dynamic loading: the sandbox is unsupported, import still works
    _libc = None
_sigaction: Any = getattr(_libc, "sigaction", None)
if _sigaction is not None:
    _sigaction.argtypes = [ctypes.c_int, ctypes.POINTER(_Sigaction), ctypes.POINTER(_Sigaction)]
    _sigaction.restype = ctypes.c_int
_keep: dict[int, object] = {}  # callbacks must outlive the handler registration
_HEAD = struct.Struct("=iii4xQii")


def parse_siginfo(address: int) -> SigInfo:
    """Decode the first 32 bytes of the ``siginfo_t`` at ``address``."""
    signo, errno, code, word, lo, hi = _HEAD.unpack(ctypes.string_at(address, _HEAD.size))
    value = (hi & 0xFFFFFFFF) << 32 | (lo & 0xFFFFFFFF)
    return SigInfo(signo, errno, code, lo, hi & 0xFFFFFFFF, word, pid=word & 0x7FFFFFFF, value=value)


def install_handler(signum: int, handler: Handler, *, flags: int = 0) -> None:
    """Run ``handler(siginfo, interrupted_frame)`` when ``signum`` arrives.

    Exceptions in ``handler`` are printed by ctypes and otherwise ignored.
    """

    def trampoline(_signo: int, info: int | None, _context: int | None) -> None:
        handler(parse_siginfo(info or 0), interrupted_frame())

    register_trampoline(signum, trampoline, flags)


def register_trampoline(signum: int, trampoline: Callable[[int, Any, Any], None], flags: int) -> None:
    """``sigaction(signum)`` with SA_SIGINFO to ``trampoline(signo, siginfo*, ucontext*)``, kept alive."""
    callback = _CALLBACK(trampoline)
    set_action(signum, ctypes.cast(callback, ctypes.c_void_p).value or 0, SA_SIGINFO | flags)
    _keep[signum] = callback


def interrupted_frame() -> FrameType | None:
    """In a trampoline: the Python frame the signal interrupted (None if it came outside Python)."""
    try:
        return sys._getframe(2)
    except ValueError:
        return None


def set_action(signum: int, address: int, flags: int) -> None:
    """``sigaction(signum)`` with handler ``address`` (or SIG_DFL = 0) and ``flags``."""
    if _sigaction is None:
        raise OSError(38, "sigaction is not available on this platform")
    action = _Sigaction()
    action.sa_sigaction = address
    action.sa_flags = flags
    if _sigaction(signum, ctypes.byref(action), None) != 0:
        raise OSError(ctypes.get_errno(), f"sigaction({signum}) failed")
