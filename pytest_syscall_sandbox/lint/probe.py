"""Which syscalls the running kernel implements, asked in a throwaway forked child."""

from __future__ import annotations

import errno
import os
import select
import signal
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Optional

from ..kernel.syscalls import NAMES

#: Numbers the probe never calls: they end, block, fork, signal or undo the probe
#: whatever their arguments (uretprobe raises SIGILL). They count as implemented.
PROBE_SKIP = frozenset(
    {
        "rt_sigreturn", "pause", "fork", "vfork", "clone", "clone3", "exit", "exit_group",
        "execve", "execveat", "rt_sigsuspend", "sync", "vhangup", "setsid", "restart_syscall",
        "kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "pidfd_send_signal",
        "io_uring_setup", "io_uring_enter", "io_uring_register", "uretprobe",
        "reboot", "kexec_load", "kexec_file_load",
    }
)  # fmt: skip
#: Skipped as well when the probe cannot drop root (they act before checking arguments only for root).
PROBE_SKIP_ROOT = frozenset(
    {
        "init_module", "finit_module", "delete_module", "swapon", "swapoff", "acct", "settimeofday",
        "clock_settime", "adjtimex", "clock_adjtime", "sethostname", "setdomainname", "iopl", "ioperm",
        "mount", "umount2", "pivot_root", "chroot", "munlockall",
    }
)  # fmt: skip
#: Harmless arguments where all -1 would answer ENOSYS (futex, modify_ldt: unknown
#: operation) or create something lasting (SysV IPC with IPC_CREAT in the flags).
PROBE_ARGS: Mapping[str, tuple[int, ...]] = {
    "futex": (0, 1, 0, 0, 0, 0),  # FUTEX_WAKE on address 0: EFAULT
    "modify_ldt": (0, 0, 0, 0, 0, 0),  # read 0 bytes
    "msgget": (-1, 0, 0, 0, 0, 0),  # no IPC_CREAT: ENOENT
    "semget": (-1, 0, 0, 0, 0, 0),
    "shmget": (-1, 0, 0, 0, 0, 0),
}
#: The probe covers 0..PROBE_LIMIT-1; x32 numbers start at 512.
PROBE_LIMIT = 512
_ABSENT, _PRESENT, _SKIPPED = b"0", b"1", b"2"


@dataclass(frozen=True)
class KernelProbe:
    """What a probe of the running kernel found."""

    implemented: frozenset[int]
    assumed: frozenset[int]


def _probe_child(start: int, out_fd: int) -> None:  # pragma: no cover - runs in a forked child
    """Call each number from ``start`` on with invalid arguments; write one status byte per number."""
    from ..kernel.calls import raw_syscall

    skip = set(PROBE_SKIP)
    try:  # without root, privileged calls fail with EPERM before doing anything
        os.setgroups([])
        os.setresgid(65534, 65534, 65534)
        os.setresuid(65534, 65534, 65534)
    except OSError:
        pass
    if os.geteuid() == 0:
        skip |= PROBE_SKIP_ROOT
    for nr in range(start, PROBE_LIMIT):
        name = NAMES.get(nr, "")
        if name in skip:
            status = _SKIPPED
        else:
            result, err = raw_syscall(nr, *PROBE_ARGS.get(name, (-1,) * 6))
            status = _ABSENT if result == -1 and err == errno.ENOSYS else _PRESENT
        os.write(out_fd, status)


def _run_probe_child(start: int, deadline: float) -> tuple[bytes, bool]:
    """Fork a probe child from ``start``; returns (status bytes, ended early)."""
    read_fd, write_fd = os.pipe()
    with warnings.catch_warnings():
        # CPython 3.12+ warns when a process with threads forks (a pytest-xdist worker has execnet's);
        # the probe child makes only raw syscalls and writes, then _exits.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 0
        try:
            os.close(read_fd)
            _probe_child(start, write_fd)
        except BaseException:
            code = 1
        os._exit(code)
    os.close(write_fd)
    received = bytearray()
    stalled = False
    try:
        while start + len(received) < PROBE_LIMIT:
            wait = min(2.0, deadline - time.monotonic())
            if wait <= 0 or not select.select([read_fd], [], [], wait)[0]:
                stalled = True
                break
            chunk = os.read(read_fd, PROBE_LIMIT)
            if not chunk:
                break
            received += chunk
    finally:
        os.close(read_fd)
        if stalled:
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    return bytes(received), start + len(received) < PROBE_LIMIT


@cache
def probe_kernel(timeout: float = 20.0) -> Optional[KernelProbe]:
    """Which syscall numbers the running kernel implements, found in forked children.

    Each number is called with invalid arguments (-1 everywhere, except
    :data:`PROBE_ARGS`): ENOSYS means not implemented, any other answer means
    implemented. The children drop root first, never call :data:`PROBE_SKIP`
    (counted as implemented), and a number that kills or stalls a child counts as
    implemented; the next child goes on after it. None where probing is not
    possible (not Linux x86-64, or a seccomp filter already on this process, which
    would answer for the kernel). Cached per process.
    """
    from ..kernel.support import unsupported_reason

    if unsupported_reason() is not None:
        return None
    from ..kernel.calls import seccomp_mode

    if seccomp_mode() != 0:
        return None
    statuses = bytearray()
    fatal: set[int] = set()
    deadline = time.monotonic() + timeout
    while len(statuses) < PROBE_LIMIT and len(fatal) < 16:
        got, early = _run_probe_child(len(statuses), deadline)
        statuses += got
        if early and len(statuses) < PROBE_LIMIT:
            if time.monotonic() >= deadline:
                return None
            fatal.add(len(statuses))
            statuses += _PRESENT
    if len(statuses) < PROBE_LIMIT:
        return None
    implemented = frozenset(nr for nr in range(PROBE_LIMIT) if statuses[nr : nr + 1] != _ABSENT)
    assumed = frozenset(nr for nr in range(PROBE_LIMIT) if statuses[nr : nr + 1] == _SKIPPED)
    return KernelProbe(implemented, assumed)
