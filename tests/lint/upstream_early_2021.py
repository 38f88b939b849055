"""Bitcoin Core's allow-lists as of early 2021 (soon after PR #20487), as test data.

Written by hand from what users hit (``tests/data/bitcoin-core-policies.json``,
"added_after_crash_reports"): an early 2021 version lacked mremap, mincore
(AddressSpaceAccess), gettimeofday (GetTime), copy_file_range, fstatfs, newfstatat,
sendfile, unlinkat (FileSystem), clone3 and rseq (ProcessStartOrDeath); each was added
later after crash reports.
The groups below are the final groups less those; the policies enable the same
groups as the final ones.
"""

from __future__ import annotations

#: What upstream added after crash reports, by group.
ADDED_AFTER_CRASHES: dict[str, tuple[str, ...]] = {
    "AddressSpaceAccess": ("mremap", "mincore"),
    "GetTime": ("gettimeofday",),
    "FileSystem": ("copy_file_range", "fstatfs", "newfstatat", "sendfile", "unlinkat"),
    "ProcessStartOrDeath": ("clone3", "rseq"),
}

#: The twenty default groups in early 2021.
EARLY_DEFAULT_GROUPS: dict[str, str] = {
    "AddressSpaceAccess": "brk madvise membarrier mlock mmap mprotect munlock munmap",
    "Epoll": "epoll_create1 epoll_ctl epoll_pwait epoll_wait",
    "EventFd": "eventfd2",
    "Futex": "futex set_robust_list",
    "GeneralIo": "ioctl lseek poll ppoll pread64 pwrite64 read readv recvfrom recvmsg select sendmmsg sendmsg sendto"
    " write writev",
    "GetRandom": "getrandom",
    "GetSimpleId": "getegid geteuid getgid getpgid getpid getppid getresgid getresuid getsid gettid getuid",
    "GetTime": "clock_getres clock_gettime",
    "GlobalProcessEnvironment": "getrlimit getrusage prlimit64",
    "GlobalSystemStatus": "sysinfo uname",
    "KernelInternalApi": "restart_syscall",
    "NetworkSocketInformation": "getpeername getsockname getsockopt",
    "OperationOnExistingFileDescriptor": "close dup dup2 fcntl shutdown",
    "Pipe": "pipe pipe2",
    "Prctl": "arch_prctl prctl",
    "ProcessStartOrDeath": "clone exit exit_group fork tgkill wait4",
    "Scheduling": "sched_getaffinity sched_getparam sched_getscheduler sched_setscheduler sched_yield",
    "SignalHandling": "rt_sigaction rt_sigprocmask rt_sigreturn sigaltstack",
    "Sleep": "clock_nanosleep nanosleep",
    "Umask": "umask",
}

EARLY_FILE_SYSTEM = (
    "access chdir chmod fallocate fchmod fchown fdatasync flock fstat fsync ftruncate getcwd getdents getdents64"
    " lstat mkdir open openat readlink rename rmdir stat statfs statx unlink"
)
EARLY_NETWORK = "accept accept4 bind connect listen setsockopt socket socketpair"

_BOTH = ("FileSystem", "Network")
_FS = ("FileSystem",)

#: Policy -> groups beyond the defaults (the same as in the final version).
EARLY_POLICY_EXTRA_GROUPS: dict[str, tuple[str, ...]] = {
    "INITIALIZATION": _BOTH,
    "INITIALIZATION_DNS_SEED": _BOTH,
    "INITIALIZATION_LOAD_BLOCKS": _FS,
    "INITIALIZATION_MAP_PORT": _BOTH,
    "MESSAGE_HANDLER": _FS,
    "NET": _BOTH,
    "NET_ADD_CONNECTION": _BOTH,
    "NET_HTTP_SERVER": _BOTH,
    "NET_HTTP_SERVER_WORKER": _BOTH,
    "NET_OPEN_CONNECTION": _BOTH,
    "SCHEDULER": _FS,
    "TOR_CONTROL": _BOTH,
    "TX_INDEX": _FS,
    "VALIDATION_SCRIPT_CHECK": (),
    "SHUTOFF": _FS,
}


def early_groups() -> dict[str, frozenset[str]]:
    """Every early group, FileSystem and Network included."""
    groups = {name: frozenset(names.split()) for name, names in EARLY_DEFAULT_GROUPS.items()}
    groups["FileSystem"] = frozenset(EARLY_FILE_SYSTEM.split())
    groups["Network"] = frozenset(EARLY_NETWORK.split())
    return groups


def early_roles() -> dict[str, frozenset[str]]:
    """The fifteen early policies as lint roles: name -> allowed syscall names."""
    groups = early_groups()
    defaults = frozenset().union(*(groups[g] for g in EARLY_DEFAULT_GROUPS))
    return {policy: defaults.union(*(groups[g] for g in extra)) for policy, extra in EARLY_POLICY_EXTRA_GROUPS.items()}


def added_after_crashes() -> frozenset[str]:
    """Every syscall upstream added after crash reports."""
    return frozenset(name for names in ADDED_AFTER_CRASHES.values() for name in names)
