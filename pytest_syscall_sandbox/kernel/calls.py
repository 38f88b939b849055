"""The package's one door to libc's ``prctl`` and ``syscall`` (through ctypes), no BPF.

Everything here that could fail on a libc without those functions fails with ENOSYS
instead of raising at import, so importing the package works everywhere.
"""

from __future__ import annotations

import ctypes
import errno
from typing import Any

from ..errors import InstallError
from .actions import Action

PR_SET_NO_NEW_PRIVS = 38
PR_GET_SECCOMP = 21
PR_GET_NAME = 16
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
NR_SECCOMP = 317  # x86-64
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_GET_ACTION_AVAIL = 2
SECCOMP_FILTER_FLAG_TSYNC = 1


def _load_libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(None, use_errno=True)  # the libc this process runs on (glibc or musl)
    except OSError:  # not a libc we can load: the sandbox is unsupported, importing still works
        return None


_libc = _load_libc()


def _function(name: str, restype: Any, argtypes: list[Any] | None = None) -> Any:
    function = getattr(_libc, name, None)
    if function is not None:
        function.restype = restype
        if argtypes is not None:
            function.argtypes = argtypes
    return function


def _unavailable(*_args: Any) -> int:
    """What prctl and syscall do where libc lacks them: fail with ENOSYS."""
    ctypes.set_errno(errno.ENOSYS)
    return -1


# The ctypes functions themselves (no Python wrapper frame: a trapped raw_syscall()
# is then reported at its caller's line).
prctl: Any = _function("prctl", ctypes.c_int, [ctypes.c_int] + [ctypes.c_ulong] * 4) or _unavailable
syscall: Any = _function("syscall", ctypes.c_long) or _unavailable


def fail(call: str, detail: str = "") -> InstallError:
    return InstallError(call, ctypes.get_errno(), detail)


def set_no_new_privs() -> None:
    """``prctl(PR_SET_NO_NEW_PRIVS, 1)``."""
    if prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise fail("prctl(PR_SET_NO_NEW_PRIVS)")


def seccomp_mode() -> int:
    """``prctl(PR_GET_SECCOMP)``: 0 none, 2 filter; raises if the kernel lacks seccomp."""
    mode = prctl(PR_GET_SECCOMP, 0, 0, 0, 0)
    if mode < 0:
        raise fail("prctl(PR_GET_SECCOMP)")
    return int(mode)


def action_available(action: Action) -> bool:
    """``seccomp(SECCOMP_GET_ACTION_AVAIL)``: does this kernel know the action?"""
    value = ctypes.c_uint32(action.action)
    rc = syscall(
        ctypes.c_long(NR_SECCOMP), ctypes.c_uint(SECCOMP_GET_ACTION_AVAIL), ctypes.c_uint(0), ctypes.byref(value)
    )
    return bool(rc == 0)


def kernel_thread_name() -> str:
    """The calling thread's ``comm`` via ``prctl(PR_GET_NAME)`` (no file access needed)."""
    buf = ctypes.create_string_buffer(17)
    if prctl(PR_GET_NAME, ctypes.cast(buf, ctypes.c_void_p).value or 0, 0, 0, 0) != 0:
        return ""
    return buf.value.decode(errors="replace")


def raw_syscall(nr: int, *args: int) -> tuple[int, int]:
    """Make syscall ``nr`` directly; returns ``(result, errno)``."""
    ctypes.set_errno(0)
    result = syscall(ctypes.c_long(nr), *(ctypes.c_long(a) for a in args))
    return result, ctypes.get_errno() if result == -1 else 0
