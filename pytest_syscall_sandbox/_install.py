"""The only code that talks to the kernel's seccomp interface (through ctypes).

Installing is irreversible: a filter stays on the thread (and on every thread and
process it creates afterwards) until they exit, and filters stack, so a later one
can only take abilities away. seccomp(2): without CAP_SYS_ADMIN the caller must
first set no_new_privs, so that a filter cannot be used to confuse a set-user-ID
program; we always set it, as Bitcoin Core did.
"""

from __future__ import annotations

import ctypes
import errno
from collections.abc import Sequence
from typing import Any

from .actions import Action
from .bpf import Instruction, pack
from .errors import InstallError

PR_SET_NO_NEW_PRIVS = 38
PR_GET_SECCOMP = 21
PR_GET_NAME = 16
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
NR_SECCOMP = 317  # x86-64
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_GET_ACTION_AVAIL = 2
SECCOMP_FILTER_FLAG_TSYNC = 1


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


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
_prctl: Any = _function("prctl", ctypes.c_int, [ctypes.c_int] + [ctypes.c_ulong] * 4) or _unavailable
_syscall: Any = _function("syscall", ctypes.c_long) or _unavailable


def _fail(call: str, detail: str = "") -> InstallError:
    return InstallError(call, ctypes.get_errno(), detail)


def set_no_new_privs() -> None:
    """``prctl(PR_SET_NO_NEW_PRIVS, 1)``."""
    if _prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise _fail("prctl(PR_SET_NO_NEW_PRIVS)")


def seccomp_mode() -> int:
    """``prctl(PR_GET_SECCOMP)``: 0 none, 2 filter; raises if the kernel lacks seccomp."""
    mode = _prctl(PR_GET_SECCOMP, 0, 0, 0, 0)
    if mode < 0:
        raise _fail("prctl(PR_GET_SECCOMP)")
    return int(mode)


def action_available(action: Action) -> bool:
    """``seccomp(SECCOMP_GET_ACTION_AVAIL)``: does this kernel know the action?"""
    value = ctypes.c_uint32(action.action)
    rc = _syscall(
        ctypes.c_long(NR_SECCOMP), ctypes.c_uint(SECCOMP_GET_ACTION_AVAIL), ctypes.c_uint(0), ctypes.byref(value)
    )
    return bool(rc == 0)


def install_filter(program: Sequence[Instruction], *, tsync: bool = False, packed: bytes | None = None) -> None:
    """Set no_new_privs, then attach ``program`` to the calling thread.

    With ``tsync`` the filter goes on every thread of the process at once
    (SECCOMP_FILTER_FLAG_TSYNC); without it only on the caller and what it starts later.
    ``packed``: ``pack(program)``, where the caller has it already.
    """
    set_no_new_privs()
    code = pack(program) if packed is None else packed
    buffer = ctypes.create_string_buffer(code, len(code))
    prog = _SockFprog(len(program), ctypes.cast(buffer, ctypes.c_void_p))
    flags = SECCOMP_FILTER_FLAG_TSYNC if tsync else 0
    if not flags:
        # prctl(PR_SET_SECCOMP), as upstream: every policy allows prctl (Prctl group) but
        # none allows seccomp(2), so only this way can a filtered thread add a filter.
        if _prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog), 0, 0) != 0:
            raise _fail("prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER)", f"{len(program)} instructions")
        return
    rc = _syscall(
        ctypes.c_long(NR_SECCOMP), ctypes.c_uint(SECCOMP_SET_MODE_FILTER), ctypes.c_uint(flags), ctypes.byref(prog)
    )
    if rc > 0:  # TSYNC: the id of a thread that could not be synchronised
        raise InstallError(
            "seccomp(SECCOMP_SET_MODE_FILTER, TSYNC)", errno.EBUSY, f"thread {rc} has a conflicting filter"
        )
    if rc != 0:
        raise _fail("seccomp(SECCOMP_SET_MODE_FILTER)", f"{len(program)} instructions, flags {flags:#x}")


def kernel_thread_name() -> str:
    """The calling thread's ``comm`` via ``prctl(PR_GET_NAME)`` (no file access needed)."""
    buf = ctypes.create_string_buffer(17)
    if _prctl(PR_GET_NAME, ctypes.cast(buf, ctypes.c_void_p).value or 0, 0, 0, 0) != 0:
        return ""
    return buf.value.decode(errors="replace")


def raw_syscall(nr: int, *args: int) -> tuple[int, int]:
    """Make syscall ``nr`` directly; returns ``(result, errno)``."""
    ctypes.set_errno(0)
    result = _syscall(ctypes.c_long(nr), *(ctypes.c_long(a) for a in args))
    return result, ctypes.get_errno() if result == -1 else 0
