"""Bitcoin Core's capability groups: named sets of syscalls, as data.

Each group is what one ``SeccompPolicyBuilder::Allow*`` method of Bitcoin Core's
``src/util/syscall_sandbox.cpp`` enabled. The twenty in :data:`DEFAULT_GROUPS` are
on for every policy; :data:`FILE_SYSTEM` and :data:`NETWORK` are enabled per policy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

from ..kernel.syscalls import check_names

FILE_SYSTEM = "FileSystem"
NETWORK = "Network"

_GROUPS: dict[str, str] = {
    "AddressSpaceAccess": "brk madvise membarrier mincore mlock mmap mprotect mremap munlock munmap",
    "Epoll": "epoll_create1 epoll_ctl epoll_pwait epoll_wait",
    "EventFd": "eventfd2",
    "Futex": "futex set_robust_list",
    "GeneralIo": (
        "ioctl lseek poll ppoll pread64 pwrite64 read readv recvfrom recvmsg select"
        " sendmmsg sendmsg sendto write writev"
    ),
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
    FILE_SYSTEM: (
        "access chdir chmod copy_file_range fallocate fchmod fchown fdatasync flock fstat"
        " fstatfs fsync ftruncate getcwd getdents getdents64 lstat mkdir newfstatat open"
        " openat readlink rename rmdir sendfile stat statfs statx unlink unlinkat"
    ),
    NETWORK: "accept accept4 bind connect listen setsockopt socket socketpair",
}

#: Upstream group name -> its syscalls, every name checked against the table at import.
GROUPS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {group: check_names(names.split()) for group, names in _GROUPS.items()}
)

#: The groups the builder's constructor enables, in upstream order.
DEFAULT_GROUPS: tuple[str, ...] = tuple(g for g in GROUPS if g not in (FILE_SYSTEM, NETWORK))


def method_name(group: str) -> str:
    """``"AddressSpaceAccess"`` -> ``"allow_address_space_access"``."""
    return "allow_" + re.sub(r"(?<!^)(?=[A-Z])", "_", group).lower()


def find_group(name: str) -> str:
    """The group called ``name``, in any case, with or without underscores (``file_system``).

    Raises ValueError listing the valid groups.
    """
    for group in GROUPS:
        if group.lower() == name.lower().replace("_", ""):
            return group
    raise ValueError(f"unknown capability group {name!r}; valid groups: {', '.join(GROUPS)}")


def group_of(syscall: str) -> str | None:
    """The first group that allows ``syscall``, or None."""
    for group, names in GROUPS.items():
        if syscall in names:
            return group
    return None
