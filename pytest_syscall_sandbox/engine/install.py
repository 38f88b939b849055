"""Installing a compiled filter on the calling thread: the one place that hands BPF to the kernel.

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

from ..errors import InstallError
from ..kernel.calls import (
    NR_SECCOMP,
    PR_SET_SECCOMP,
    SECCOMP_FILTER_FLAG_TSYNC,
    SECCOMP_MODE_FILTER,
    SECCOMP_SET_MODE_FILTER,
    fail,
    prctl,
    set_no_new_privs,
    syscall,
)
from ..kernel.unotify import SECCOMP_FILTER_FLAG_NEW_LISTENER
from .bpf import Instruction, pack


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


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
        if prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog), 0, 0) != 0:
            raise fail("prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER)", f"{len(program)} instructions")
        return
    rc = syscall(
        ctypes.c_long(NR_SECCOMP), ctypes.c_uint(SECCOMP_SET_MODE_FILTER), ctypes.c_uint(flags), ctypes.byref(prog)
    )
    if rc > 0:  # TSYNC: the id of a thread that could not be synchronised
        raise InstallError(
            "seccomp(SECCOMP_SET_MODE_FILTER, TSYNC)", errno.EBUSY, f"thread {rc} has a conflicting filter"
        )
    if rc != 0:
        raise fail("seccomp(SECCOMP_SET_MODE_FILTER)", f"{len(program)} instructions, flags {flags:#x}")


def install_with_listener(program: Sequence[Instruction], *, packed: bytes | None = None) -> int:
    """Set no_new_privs, attach ``program`` to the calling thread, and return its listener.

    ``seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER)``: the descriptor
    receives a notification for every call the filter answers with USER_NOTIF
    (:mod:`..kernel.unotify`). No WAIT_KILLABLE_RECV: a stopped thread stays interruptible
    by signals, so a supervisor can ask it something and see the call again.
    """
    set_no_new_privs()
    code = pack(program) if packed is None else packed
    buffer = ctypes.create_string_buffer(code, len(code))
    prog = _SockFprog(len(program), ctypes.cast(buffer, ctypes.c_void_p))
    fd = syscall(
        ctypes.c_long(NR_SECCOMP),
        ctypes.c_uint(SECCOMP_SET_MODE_FILTER),
        ctypes.c_uint(SECCOMP_FILTER_FLAG_NEW_LISTENER),
        ctypes.byref(prog),
    )
    if fd < 0:
        raise fail("seccomp(SECCOMP_SET_MODE_FILTER, NEW_LISTENER)", f"{len(program)} instructions")
    return int(fd)
