"""A Landlock domain of the test's own: no process outside it can be traced or have its memory read.

Linux lets a process open ``/proc/PID/mem`` of another process of the same user (and
root any process) and write there, past every page protection: a test could rewrite
the memory of pytest itself, which forks, traces and judges it. No seccomp filter can
see which file ``openat`` names. Landlock can: a process inside a Landlock domain may
ptrace, read the memory of (``/proc/PID/mem``, ``process_vm_readv``) or read the
ptrace-guarded ``/proc`` files of only the processes inside the same domain or one
nested in it (``landlock_restrict_self(2)``, "Ptrace restrictions"). The harness
stays outside, so it still traces the test; the test's own processes may trace each
other.

The domain is made as neutral as Landlock allows: it handles only the right to make
block devices, and grants it everywhere under ``/``, so that files work as before.
What a domain with a file-system right always adds: ``mount``, ``umount``,
``pivot_root`` and ``move_mount`` fail with EPERM. Signals are not scoped (a test may
signal processes pytest started for it; the harness guard protects pytest's own).
"""

from __future__ import annotations

import ctypes
import os
import struct

from .calls import set_no_new_privs, syscall

NR_LANDLOCK_CREATE_RULESET = 444
NR_LANDLOCK_ADD_RULE = 445
NR_LANDLOCK_RESTRICT_SELF = 446
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1
LANDLOCK_ACCESS_FS_MAKE_BLOCK = 1 << 11
_RULESET_ATTR = struct.Struct("=Q")  # struct landlock_ruleset_attr, ABI 1 part: handled_access_fs
_PATH_BENEATH_ATTR = struct.Struct("=Qi")  # struct landlock_path_beneath_attr (packed)


def abi_version() -> int:
    """The kernel's Landlock ABI version; 0 where it has none (before 5.13, or not enabled)."""
    version = syscall(
        ctypes.c_long(NR_LANDLOCK_CREATE_RULESET), None, ctypes.c_size_t(0), LANDLOCK_CREATE_RULESET_VERSION
    )
    return max(int(version), 0)


def confine_to_own_processes() -> str | None:
    """Put the calling thread (and all it starts later) in a Landlock domain of its own.

    Sets ``no_new_privs`` (Landlock requires it without CAP_SYS_ADMIN). Returns None
    once confined, else why not (no Landlock here): the caller decides what that means.
    """
    if abi_version() < 1:
        return "the kernel has no Landlock (Linux 5.13+ with landlock among its security modules)"
    attr = ctypes.create_string_buffer(_RULESET_ATTR.pack(LANDLOCK_ACCESS_FS_MAKE_BLOCK), _RULESET_ATTR.size)
    ruleset = syscall(ctypes.c_long(NR_LANDLOCK_CREATE_RULESET), attr, ctypes.c_size_t(_RULESET_ATTR.size), 0)
    if ruleset < 0:
        return f"landlock_create_ruleset failed: {os.strerror(ctypes.get_errno())}"
    try:
        root = os.open("/", os.O_PATH | os.O_CLOEXEC)
        try:
            rule = ctypes.create_string_buffer(_PATH_BENEATH_ATTR.pack(LANDLOCK_ACCESS_FS_MAKE_BLOCK, root))
            if syscall(ctypes.c_long(NR_LANDLOCK_ADD_RULE), ruleset, LANDLOCK_RULE_PATH_BENEATH, rule, 0) != 0:
                return f"landlock_add_rule failed: {os.strerror(ctypes.get_errno())}"
        finally:
            os.close(root)
        set_no_new_privs()
        if syscall(ctypes.c_long(NR_LANDLOCK_RESTRICT_SELF), ruleset, 0) != 0:
            return f"landlock_restrict_self failed: {os.strerror(ctypes.get_errno())}"
    finally:
        os.close(ruleset)
    return None
