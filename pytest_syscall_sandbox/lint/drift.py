"""The lint's drift data: what newer glibc and CPython releases call, and what the kernel added.

* :data:`LIBRARY_DRIFT`: a syscall a release started to use for a call that used
  another before (glibc 2.39's ``fstat()`` makes ``fstat``, no longer ``newfstatat``);
* :data:`~.jobs.JOBS` (in :mod:`.jobs`): every syscall of an everyday job, per version;
* :data:`HAZARDS`: calls made where a signal handler cannot run Python, which a
  recorder must not answer with Python code;
* :data:`LINUX_SINCE`: the Linux release that added each newer syscall.

The families are in :mod:`.families`, the shapes of all these in :mod:`.facts`
(re-exported here). Each fact says how it was established (``source``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from ..kernel.syscalls import check_names
from .facts import (
    BLOCKED,
    CPYTHON,
    GLIBC,
    LOCKED,
    MUSL,
    NO_VDSO,
    RSEQ,
    Drift,
    Family,
    Hazard,
    Job,
    Machine,
    Span,
    Step,
    Use,
    Version,
    format_version,
    parse_version,
    spans,
)
from .families import FAMILIES, FSTAT_COMMIT, families_of
from .jobs import BARE, FROM_TRIXIE, JOBS, ON_SID, PATH

__all__ = [
    "BLOCKED",
    "CPYTHON",
    "FAMILIES",
    "GLIBC",
    "HAZARDS",
    "JOBS",
    "LIBRARY_DRIFT",
    "LINUX_SINCE",
    "LOCKED",
    "MUSL",
    "NO_VDSO",
    "RSEQ",
    "Drift",
    "Family",
    "Hazard",
    "Job",
    "Machine",
    "Span",
    "Step",
    "Use",
    "Version",
    "families_of",
    "format_version",
    "hazards",
    "parse_version",
]

#: os.chmod(link, mode, follow_symlinks=False): fchmodat2 on 2.41, an O_PATH descriptor on 2.36.
_FCHMODAT2 = "measured on Debian 13 (glibc 2.41) and absent on Debian 12 (2.36, O_PATH + newfstatat)"
_THREADS = frozenset({"clone", "clone3"})
_PROCESSES = frozenset({"clone", "fork", "vfork"})

#: Syscalls introduced by newer library releases for calls that already existed.
LIBRARY_DRIFT: tuple[Drift, ...] = (
    Drift("openat", GLIBC, "2.26", "open(), fopen()", frozenset({"open"})),
    Drift("newfstatat", GLIBC, "2.33", "stat(), fstat(), lstat()", frozenset({"stat", "fstat", "lstat"}), "source"),
    Drift("faccessat2", GLIBC, "2.33", "faccessat()", frozenset({"faccessat"}), "source"),
    Drift("clone3", GLIBC, "2.34", "pthread_create(), posix_spawn()", frozenset({"clone"}), "source"),
    # glibc 2.35 registers an rseq area for every thread at its start (GLIBC_TUNABLES
    # glibc.pthread.rseq=0 turns that off).
    Drift("rseq", GLIBC, "2.35", "every new thread (pthread_create)", _THREADS, condition=RSEQ),
    Drift("fchmodat2", GLIBC, "2.39", "fchmodat(AT_SYMLINK_NOFOLLOW), lchmod()", frozenset({"fchmodat"}), _FCHMODAT2),
    # fstat() went back to the fstat syscall: a role that allowed newfstatat for it needs fstat again.
    Drift("fstat", GLIBC, "2.39", "fstat() (CPython's open(), stdio)", frozenset({"newfstatat"}), FSTAT_COMMIT),
    Drift(
        "waitid",
        GLIBC,
        "2.40",
        "posix_spawn() reaping a helper whose exec failed",
        frozenset({"wait4"}),
        "glibc commit c90cfce849 (BZ 31695); " + FROM_TRIXIE,
        only="when the exec fails (CPython 3.13+ subprocess of a program path)",
    ),
    Drift("close_range", CPYTHON, "3.10", "subprocess.Popen with close_fds=True", _PROCESSES),
)

_VFORK_BLOCKS = (
    "_posixsubprocess blocks every signal around vfork(); the child keeps them blocked until its handlers are reset"
)
_VFORK_SOURCE = (
    "CPython 3.10 Modules/_posixsubprocess.c; measured on Debian 12 (rt_sigprocmask(SIG_BLOCK, ~[RTMIN RT_1]))"
)

#: Calls made where a signal handler cannot run Python. A recorder that answers a trap
#: by running Python in the trapping thread (the ptrace recorder's where-signal, the
#: sigsys recorder's SIGSYS handler) must not do so for these: under BLOCKED the signal
#: waits (ptrace) or the kernel kills the thread (SIGSYS); under LOCKED it deadlocks.
HAZARDS: tuple[Hazard, ...] = (
    Hazard(
        ("clone3", "clone"),
        "start a thread",
        BLOCKED,
        (Span(GLIBC),),
        "pthread_create() blocks every signal around its clone",
        "measured (rt_sigprocmask(SIG_BLOCK, ~[]) before the clone) on Debian 12, 13 and sid",
    ),
    Hazard(
        ("clone",),
        "fork a process",
        BLOCKED,
        spans("glibc 2.41+"),
        "fork() blocks every signal around its clone",
        "glibc commit b300078d97 'Linux: Block signals around _Fork' (bug 32215, glibc 2.41); " + FROM_TRIXIE,
    ),
    Hazard(
        ("vfork", "close", "rt_sigaction"),
        "run a program",
        BLOCKED,
        spans("CPython 3.10-3.13"),
        _VFORK_BLOCKS,
        _VFORK_SOURCE,
    ),
    Hazard(
        ("vfork", "close", "rt_sigaction"),
        "run a program",
        BLOCKED,
        spans("CPython 3.13+"),
        _VFORK_BLOCKS,
        _VFORK_SOURCE,
        forms=frozenset({BARE}),
    ),
    Hazard(
        ("clone3", "rt_sigaction", "close_range"),
        "run a program",
        BLOCKED,
        spans("CPython 3.13+, glibc 2.34+"),
        "posix_spawn()'s helper runs with every signal blocked until just before its execve; a trap kills only"
        " the helper, and glibc reports a helper that died before its execve as a successful spawn",
        "glibc sysdeps/unix/sysv/linux/spawni.c; " + FROM_TRIXIE,
        forms=frozenset({PATH}),
    ),
    Hazard(
        ("sched_getaffinity",),
        "start a thread",
        LOCKED,
        spans("CPython 3.14+, glibc"),
        "pthread_getattr_np() (CPython's stack limits at every thread start) makes sched_getaffinity on the"
        " thread's own tid holding the thread's lock; Python in a handler there reaches pthread_getattr_np"
        " again and waits on that lock for ever",
        "glibc nptl/pthread_getattr_np.c (lll_lock(thread->lock) around __pthread_getaffinity_np); "
        + ON_SID
        + " (a where-handler stuck in __lll_lock_wait_private)",
    ),
)


def hazards(machine: Machine, job: str | None = None, forms: frozenset[str] = frozenset()) -> tuple[Hazard, ...]:
    """The hazards that exist on ``machine`` (optionally only of one job, for a call of ``forms``)."""
    return tuple(h for h in HAZARDS if h.holds(machine, forms) and (job is None or h.job == job))


#: Linux release that added each syscall from 5.1 on (and a few older family members).
LINUX_SINCE: Mapping[str, Version] = MappingProxyType(
    {
        "copy_file_range": (4, 5),
        "statx": (4, 11),
        "rseq": (4, 18),
        "pidfd_send_signal": (5, 1),
        "io_uring_setup": (5, 1),
        "io_uring_enter": (5, 1),
        "io_uring_register": (5, 1),
        "open_tree": (5, 2),
        "move_mount": (5, 2),
        "fsopen": (5, 2),
        "fsconfig": (5, 2),
        "fsmount": (5, 2),
        "fspick": (5, 2),
        "pidfd_open": (5, 3),
        "clone3": (5, 3),
        "openat2": (5, 6),
        "pidfd_getfd": (5, 6),
        "faccessat2": (5, 8),
        "close_range": (5, 9),
        "process_madvise": (5, 10),
        "epoll_pwait2": (5, 11),
        "mount_setattr": (5, 12),
        "landlock_create_ruleset": (5, 13),
        "landlock_add_rule": (5, 13),
        "landlock_restrict_self": (5, 13),
        "quotactl_fd": (5, 14),
        "memfd_secret": (5, 14),
        "process_mrelease": (5, 15),
        "futex_waitv": (5, 16),
        "set_mempolicy_home_node": (5, 17),
        "cachestat": (6, 5),
        "fchmodat2": (6, 6),
        "map_shadow_stack": (6, 6),
        "futex_wake": (6, 7),
        "futex_wait": (6, 7),
        "futex_requeue": (6, 7),
        "statmount": (6, 8),
        "listmount": (6, 8),
        "lsm_get_self_attr": (6, 8),
        "lsm_set_self_attr": (6, 8),
        "lsm_list_modules": (6, 8),
        "mseal": (6, 10),
        "uretprobe": (6, 11),
        "setxattrat": (6, 13),
        "getxattrat": (6, 13),
        "listxattrat": (6, 13),
        "removexattrat": (6, 13),
        "open_tree_attr": (6, 15),
        "file_getattr": (6, 17),
        "file_setattr": (6, 17),
    }
)

check_names(LINUX_SINCE)
