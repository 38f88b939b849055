"""Data and helpers shared by the core tests (imported as ``core_support``).

The expected groups and policies below are written by hand from Bitcoin Core v25's
``src/util/syscall_sandbox.cpp``; nothing here is read from the package, so the tests
compare the package against an independent copy. ``test_core_policies.py`` checks
that this copy agrees with the repository's data of the same facts
(``tests/data/bitcoin-core-policies.json``) and, where ``../shared`` is checked out,
that the data agrees with its reference markdown.

:func:`run_in_child` forks, runs a function in the child and reports how the
child ended; every test that installs a real filter goes through it, so no filter
ever lands on the pytest process.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import faulthandler
import io
import os
import pickle
import select
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Optional

import pytest

from pytest_syscall_sandbox import sandbox

# --------------------------------------------------------------------------- reference

#: The twenty groups the builder's constructor enables, in the markdown's order.
DEFAULT_GROUPS: dict[str, str] = {
    "AddressSpaceAccess": "brk madvise membarrier mincore mlock mmap mprotect mremap munlock munmap",
    "Epoll": "epoll_create1 epoll_ctl epoll_pwait epoll_wait",
    "EventFd": "eventfd2",
    "Futex": "futex set_robust_list",
    "GeneralIo": "ioctl lseek poll ppoll pread64 pwrite64 read readv recvfrom recvmsg select sendmmsg sendmsg "
    "sendto write writev",
    "GetRandom": "getrandom",
    "GetSimpleId": "getegid geteuid getgid getpgid getpid getppid getresgid getresuid getsid gettid getuid",
    "GetTime": "clock_getres clock_gettime gettimeofday",
    "GlobalProcessEnvironment": "getrlimit getrusage prlimit64",
    "GlobalSystemStatus": "sysinfo uname",
    "KernelInternalApi": "restart_syscall",
    "NetworkSocketInformation": "getpeername getsockname getsockopt",
    "OperationOnExistingFileDescriptor": "close dup dup2 fcntl shutdown",
    "Pipe": "pipe pipe2",
    "Prctl": "arch_prctl prctl",
    "ProcessStartOrDeath": "clone clone3 exit exit_group fork tgkill wait4 rseq",
    "Scheduling": "sched_getaffinity sched_getparam sched_getscheduler sched_setscheduler sched_yield",
    "SignalHandling": "rt_sigaction rt_sigprocmask rt_sigreturn sigaltstack",
    "Sleep": "clock_nanosleep nanosleep",
    "Umask": "umask",
}
FILE_SYSTEM = (
    "access chdir chmod copy_file_range fallocate fchmod fchown fdatasync flock fstat fstatfs fsync ftruncate "
    "getcwd getdents getdents64 lstat mkdir newfstatat open openat readlink rename rmdir sendfile stat statfs "
    "statx unlink unlinkat"
)
NETWORK = "accept accept4 bind connect listen setsockopt socket socketpair"
EXTRA_GROUPS: dict[str, str] = {"FileSystem": FILE_SYSTEM, "Network": NETWORK}

DEFAULT_SYSCALLS: frozenset[str] = frozenset(n for names in DEFAULT_GROUPS.values() for n in names.split())
FS_SYSCALLS: frozenset[str] = frozenset(FILE_SYSTEM.split())
NET_SYSCALLS: frozenset[str] = frozenset(NETWORK.split())

#: policy -> (upstream thread, FileSystem?, Network?), in the markdown's order.
POLICIES: dict[str, tuple[str, bool, bool]] = {
    "INITIALIZATION": ("init", True, True),
    "INITIALIZATION_DNS_SEED": ("dnsseed", True, True),
    "INITIALIZATION_LOAD_BLOCKS": ("loadblk", True, False),
    "INITIALIZATION_MAP_PORT": ("mapport", True, True),
    "MESSAGE_HANDLER": ("msghand", True, False),
    "NET": ("net", True, True),
    "NET_ADD_CONNECTION": ("addcon", True, True),
    "NET_HTTP_SERVER": ("http", True, True),
    "NET_HTTP_SERVER_WORKER": ("httpworker.N", True, True),
    "NET_OPEN_CONNECTION": ("opencon", True, True),
    "SCHEDULER": ("scheduler", True, False),
    "TOR_CONTROL": ("torcontrol", True, True),
    "TX_INDEX": ("txindex", True, False),
    "VALIDATION_SCRIPT_CHECK": ("scriptch.N", False, False),
    "SHUTOFF": ("shutoff", True, False),
}
POLICY_NAMES: tuple[str, ...] = tuple(POLICIES)


def expected_allowed(policy: str) -> frozenset[str]:
    """The names a policy allows, from the hand-written table above."""
    _thread, fs, net = POLICIES[policy]
    return DEFAULT_SYSCALLS | (FS_SYSCALLS if fs else frozenset()) | (NET_SYSCALLS if net else frozenset())


#: A few x86-64 numbers written down here, not taken from the package.
NR = {
    "read": 0, "write": 1, "open": 2, "close": 3, "getpid": 39, "socket": 41, "clone": 56, "mkdir": 83,
    "symlink": 88, "getppid": 110, "getgroups": 115, "exit_group": 231, "openat": 257, "clone3": 435,
    "mseal": 462, "file_setattr": 469,
}  # fmt: skip

AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_I386 = 0x40000003
AUDIT_ARCH_AARCH64 = 0xC00000B7
X32_BIT = 0x40000000


# --------------------------------------------------------------------------- forked children

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.syscall.restype = ctypes.c_long
PR_SET_DUMPABLE = 4


def sys_call(nr: int, *args: int) -> tuple[int, int]:
    """A raw syscall through libc, independent of the package: ``(result, errno)``."""
    ctypes.set_errno(0)
    result = _libc.syscall(ctypes.c_long(nr), *(ctypes.c_long(a) for a in args))
    return result, (ctypes.get_errno() if result == -1 else 0)


@dataclass
class ChildResult:
    """How a forked child ended."""

    exitcode: Optional[int]  # exit status if it exited, else None
    signal: Optional[int]  # the signal that killed it, else None
    stdout: bytes
    stderr: bytes
    value: Any = None  # what the function returned (pickled back), if it returned

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signal).name if self.signal else "-"

    def __str__(self) -> str:
        how = f"exit {self.exitcode}" if self.signal is None else f"killed by {self.signal_name}"
        return f"child {how}; value={self.value!r}\n--- stdout\n{self.stdout.decode(errors='replace')}" + (
            f"\n--- stderr\n{self.stderr.decode(errors='replace')}"
        )

    @property
    def ok(self) -> bool:
        return self.exitcode == 0 and self.signal is None


CHILD_RETURNED = 0
CHILD_RAISED = 70


def run_in_child(func: Callable[..., Any], *args: Any, timeout: float = 20.0) -> ChildResult:
    """Fork; in the child run ``func(*args)`` with fd 1 and 2 captured, then ``os._exit``.

    The child exits 0 after pickling ``func``'s return value back, 70 if it raised
    (the exception goes to its stderr). Everything the child needs (files, pipes,
    imports) must exist before the fork: a filter may forbid making them later.
    The child cannot dump core (PR_SET_DUMPABLE 0), so a SIGSYS/SIGABRT death is
    quick. After ``timeout`` seconds the child is killed with SIGKILL and the test fails.
    """
    out = tempfile.TemporaryFile()
    err = tempfile.TemporaryFile()
    res = tempfile.TemporaryFile()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        code = CHILD_RAISED
        try:
            faulthandler.disable()  # pytest's: it would print its own traceback on SIGABRT
            _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.dup2(out.fileno(), 1)
            os.dup2(err.fileno(), 2)
            sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), line_buffering=True)
            sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), line_buffering=True)
            sandbox._state.clear()  # a fresh process as far as the upstream API knows
            value = func(*args)
            data = pickle.dumps(value)
            os.write(res.fileno(), data)
            code = CHILD_RETURNED
        except BaseException as exc:
            # First a line that needs no file access (a filter may forbid opening sources).
            os.write(2, f"child raised {type(exc).__name__}: {exc}\n".encode(errors="replace"))
            try:
                os.write(2, "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).encode())
            except BaseException:
                pass
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
    try:
        status = _wait(pid, timeout)
    finally:
        _reap_if_alive(pid)
    result = ChildResult(None, None, _read(out), _read(err))
    if os.WIFSIGNALED(status):
        result.signal = os.WTERMSIG(status)
    else:
        result.exitcode = os.WEXITSTATUS(status)
    data = _read(res)
    if result.exitcode == CHILD_RETURNED and data:
        result.value = pickle.loads(data)
    return result


def _read(f: Any) -> bytes:
    f.seek(0)
    data: bytes = f.read()
    f.close()
    return data


def _wait(pid: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    pidfd = os.pidfd_open(pid) if hasattr(os, "pidfd_open") else None
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return status
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                pytest.fail(f"forked child {pid} still ran after {timeout}s; killed it")
            if pidfd is not None:
                select.select([pidfd], [], [], min(left, 1.0))
            else:
                time.sleep(0.002)
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _reap_if_alive(pid: int) -> None:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return
    if not done:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
