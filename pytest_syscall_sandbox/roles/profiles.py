"""The six cumulative seccomp profiles of sandbox-rs (crate ``sandbox-seccomp`` 0.2.1), as data.

ESSENTIAL < MINIMAL < IO_HEAVY < COMPUTE < NETWORK < UNRESTRICTED: each profile is
the one below it plus its own list, exactly as the crate builds them, so each is a
strict superset of the one below. The lists and descriptions are the crate's
(its "…" written "..."), with one name changed: the crate's MINIMAL lists
``waitpid``, which x86-64 does not have (glibc's ``waitpid()`` calls ``wait4``, which
MINIMAL lists too), so it is dropped here. UNRESTRICTED is what the crate says:
NETWORK plus privileged operations, not the whole table.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from ..kernel.syscalls import check_names
from .role import SANDBOX_RS, Role

#: Names in the crate's lists that the x86-64 table lacks, and why they are dropped.
DROPPED: Mapping[str, str] = MappingProxyType(
    {"waitpid": "not an x86-64 syscall (i386 only); glibc's waitpid() uses wait4, which MINIMAL allows"}
)

_OWN: dict[str, tuple[str, str]] = {
    "ESSENTIAL": (
        "Process bootstrap only (~40 syscalls)",
        "exit exit_group execve execveat brk mmap munmap mprotect madvise openat open read write close"
        " close_range fstat stat lstat newfstatat statx access faccessat faccessat2 lseek readlink readlinkat"
        " arch_prctl set_tid_address set_robust_list futex getrandom rseq prlimit64 prctl getcwd getpid"
        " gettid getuid geteuid getgid getegid fcntl",
    ),
    "MINIMAL": (
        "Essential + signals, pipes, timers, process control",
        "rt_sigaction rt_sigprocmask rt_sigpending rt_sigtimedwait rt_sigqueueinfo rt_sigreturn sigaltstack"
        " kill tkill tgkill clone clone3 fork vfork wait4 waitpid waitid readv writev pread64 pwrite64 ioctl"
        " flock dup dup2 dup3 pipe pipe2 eventfd2 clock_gettime clock_getres gettimeofday time nanosleep"
        " clock_nanosleep timer_create timer_settime timer_gettime timer_getoverrun timer_delete getppid"
        " getresuid getresgid uname umask sysinfo getpgrp getpgid setpgid getsid setsid sched_getaffinity"
        " sched_yield getrlimit setrlimit getrusage pselect6 ppoll epoll_create1 epoll_ctl epoll_wait poll"
        " select chdir fchdir getdents getdents64 mremap mlock munlock mlockall munlockall memfd_create"
        " get_robust_list",
    ),
    "IO_HEAVY": (
        "Minimal + file manipulation (mkdir, chmod, rename, ...)",
        "mkdir mkdirat rmdir unlink unlinkat rename renameat link linkat symlink symlinkat chmod fchmod"
        " fchmodat chown fchown fchownat lchown utimes futimesat utime utimensat truncate ftruncate"
        " fallocate sendfile splice tee vmsplice statfs fstatfs fsync fdatasync",
    ),
    "COMPUTE": (
        "IoHeavy + advanced scheduling/NUMA",
        "sched_getscheduler sched_setscheduler sched_getparam sched_setparam sched_get_priority_max"
        " sched_get_priority_min sched_rr_get_interval sched_setaffinity mbind get_mempolicy set_mempolicy"
        " migrate_pages move_pages membarrier",
    ),
    "NETWORK": (
        "Compute + socket operations",
        "socket socketpair bind listen accept accept4 connect shutdown sendto recvfrom sendmsg recvmsg"
        " sendmmsg recvmmsg setsockopt getsockopt getsockname getpeername",
    ),
    "UNRESTRICTED": (
        "Network + privileged operations",
        "ptrace process_vm_readv process_vm_writev perf_event_open bpf seccomp mount umount2 pivot_root"
        " capget capset setuid setgid setreuid setregid setresuid setresgid getgroups setgroups setfsgid"
        " setfsuid",
    ),
}


def _build() -> tuple[dict[str, Role], dict[str, tuple[str, ...]], dict[str, str]]:
    roles: dict[str, Role] = {}
    own_lists: dict[str, tuple[str, ...]] = {}
    bases: dict[str, str] = {}
    below: Role | None = None
    for name, (description, names) in _OWN.items():
        own = check_names(n for n in dict.fromkeys(names.split()) if n not in DROPPED)
        allowed = (below.allowed if below else frozenset()) | frozenset(own)
        terms = [below.name] if below else []
        definition = " ".join(terms + [f"+{n}" for n in own])
        own_lists[name], bases[name] = own, below.name if below else ""
        below = roles[name] = Role(name, allowed, SANDBOX_RS, definition, description)
    return roles, own_lists, bases


_ROLES, _OWN_LISTS, _BASES = _build()
#: Name -> profile (a :class:`~.role.Role` of origin ``sandbox-rs``), lowest first.
PROFILES: Mapping[str, Role] = MappingProxyType(_ROLES)
#: Name -> the syscalls that level adds to the one below (the crate's ``*_extras`` list).
PROFILE_OWN: Mapping[str, tuple[str, ...]] = MappingProxyType(_OWN_LISTS)
#: Name -> the profile it builds on ("" for ESSENTIAL).
PROFILE_BASE: Mapping[str, str] = MappingProxyType(_BASES)
#: The names, lowest first.
PROFILE_NAMES: tuple[str, ...] = tuple(PROFILES)
