"""Syscall families: syscalls that libc or the kernel use interchangeably for one job.

Most syscalls Bitcoin Core had to add after users crashed were a sibling or a newer
form of one it already allowed (stat -> newfstatat, unlink -> unlinkat, clone ->
clone3). A :class:`Family` names such a set; its :class:`Use` records say which
library call reaches which member, in which library version, so that
:mod:`.lint` can tell a certain crash from an old, unused form.

Where each fact comes from is in :attr:`Use.source`:

* ``"source"``: read in the library's own source (glibc ``sysdeps/unix/sysv/linux``,
  musl ``src/``, CPython ``Modules/``), as cited in the comment beside it;
* ``"believed"``: well known (release notes, long-running bug reports) but not
  re-read in the source for this table;
* ``"unknown"`` is never used for a :class:`Use`: what is not known is left out and,
  where useful, said in :attr:`Family.remarks`.

A wrapper that only passes its own syscall on (``pselect()`` -> pselect6) is not a
use: a program calling it chose that syscall. The exception is the family's classic
call (``access()``, ``unlink()``, ``poll()``), marked ``main``, so that a list holding
only the newer form still hears about the old one.

Versions are of the library named in :attr:`Use.by` (``glibc``, ``musl``,
``CPython``). A seccomp filter sees every syscall number before the kernel looks it
up, so a library that "falls back on ENOSYS" still dies on its first choice under a
killing filter: fallbacks never make a member optional.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Optional

from ..kernel.syscalls import NUMBERS, check_names

GLIBC = "glibc"
MUSL = "musl"
CPYTHON = "CPython"

#: Conditions a :class:`Use` may depend on (see ``LintEnvironment`` in :mod:`.lint`).
NO_VDSO = "no-vdso"  #: only where the clock source cannot be read through the vDSO

Version = tuple[int, ...]


def parse_version(text: str) -> Version:
    """``"2.36"`` -> ``(2, 36)``; trailing non-digits are ignored (``"6.18.44-fc"`` -> ``(6, 18, 44)``)."""
    parts: list[int] = []
    for piece in text.strip().split("."):
        digits = ""
        for char in piece:
            if not char.isdigit():
                break
            digits += char
        if not digits:
            break
        parts.append(int(digits))
        if len(digits) != len(piece):
            break
    return tuple(parts)


def format_version(version: Version) -> str:
    """``(2, 36)`` -> ``"2.36"``."""
    return ".".join(str(part) for part in version)


@dataclass(frozen=True)
class Use:
    """A library call that ends in ``syscall``, from version ``since`` up to (not incl.) ``until``.

    ``main`` marks the library's usual way to do the family's job: a role that does
    the job with another member then crashes for certain. Other uses are secondary
    entry points (``fstatvfs()``, ``faccessat()``, CPython's ``subprocess``): likely.
    """

    syscall: str
    by: str
    calls: str
    since: Optional[str] = None
    until: Optional[str] = None
    main: bool = False
    source: str = "believed"
    condition: Optional[str] = None

    def active(self, version: Optional[Version]) -> bool:
        """Does version ``version`` of :attr:`by` make this call? Unknown versions count as yes."""
        if version is None:
            return self.until is None
        if self.since is not None and version < parse_version(self.since):
            return False
        return not (self.until is not None and version >= parse_version(self.until))

    def describe(self) -> str:
        """``"glibc 2.33+ for stat(), fstat()"``."""
        span = ""
        if self.since and self.until:
            span = f" {self.since} to {self.until}"
        elif self.since:
            span = f" {self.since}+"
        elif self.until:
            span = f" before {self.until}"
        return f"{self.by}{span} for {self.calls}"


@dataclass(frozen=True)
class Family:
    """A set of syscalls used interchangeably for one job."""

    name: str
    job: str
    members: tuple[str, ...]
    uses: tuple[Use, ...] = ()
    remarks: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), compare=False, hash=False)

    def __post_init__(self) -> None:
        check_names(self.members)
        if list(self.members) != sorted(self.members, key=NUMBERS.__getitem__):
            raise ValueError(f"family {self.name}: members must be in table order")
        for use in self.uses:
            if use.syscall not in self.members:
                raise ValueError(f"family {self.name}: use of {use.syscall}, which is not a member")
        for name in self.remarks:
            if name not in self.members:
                raise ValueError(f"family {self.name}: remark on {name}, which is not a member")

    def uses_of(self, syscall: str) -> tuple[Use, ...]:
        """Every recorded use of one member."""
        return tuple(use for use in self.uses if use.syscall == syscall)

    def preferred(self, libc: str, version: Optional[Version] = None) -> tuple[str, ...]:
        """The members ``libc`` (at ``version``; None: the newest) reaches for first on x86-64."""
        return tuple(
            m for m in self.members if any(u.main and u.by == libc and u.active(version) for u in self.uses_of(m))
        )


def _family(
    name: str, job: str, members: str, uses: tuple[Use, ...] = (), remarks: Optional[dict[str, str]] = None
) -> Family:
    return Family(name, job, tuple(members.split()), uses, MappingProxyType(dict(remarks or {})))


_FAMILIES: tuple[Family, ...] = (
    _family(
        "process",
        "start a thread or a process",
        "clone fork vfork clone3",
        (
            # glibc clone-internal.c: __clone_internal tries clone3, falls back to clone on ENOSYS;
            # pthread_create uses it since 2.34 (the release that broke Docker's seccomp profile).
            Use("clone3", GLIBC, "pthread_create(), posix_spawn(), system(), popen()", since="2.34", main=True),
            Use("clone", GLIBC, "pthread_create(), posix_spawn()", until="2.34", main=True),
            # glibc arch-fork.h: fork() is clone(CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD).
            Use("clone", GLIBC, "fork()", source="source"),
            # musl src/process/_Fork.c: SYS_fork where the architecture has it (x86-64 does).
            Use("fork", MUSL, "fork()", main=True, source="source"),
            Use("clone", MUSL, "pthread_create(), posix_spawn()", main=True),
            # CPython Modules/_posixsubprocess.c: vfork() when no preexec_fn/user/group change (3.10+).
            Use("vfork", CPYTHON, "subprocess.Popen (vfork() unless preexec_fn, user or group is set)", since="3.10"),
        ),
        {
            "fork": "glibc's fork() calls clone on x86-64, never the fork syscall",
            "clone": "glibc 2.34+ calls clone for threads only after clone3 answers ENOSYS, which a filter never does",
        },
    ),
    _family(
        "open",
        "open a file",
        "open creat openat openat2",
        (
            Use("openat", GLIBC, "open(), fopen(), opendir()", since="2.26", main=True),
            Use("open", GLIBC, "open(), fopen()", until="2.26", main=True),
            Use("open", MUSL, "open(), fopen()", main=True),
        ),
        {"openat2": "no glibc or musl function calls it", "creat": "an old form"},
    ),
    _family(
        "stat",
        "read a file's status",
        "stat fstat lstat newfstatat statx",
        (
            # glibc fstat64.c and fstatat64.c (2.33): fstat() is fstatat(fd, "", AT_EMPTY_PATH), and
            # fstatat() is newfstatat on x86-64; stat() and lstat() go through fstatat() too.
            Use("newfstatat", GLIBC, "stat(), fstat(), lstat(), fstatat()", since="2.33", main=True, source="source"),
            Use("stat", GLIBC, "stat()", until="2.33", main=True),
            Use("fstat", GLIBC, "fstat()", until="2.33", main=True),
            Use("lstat", GLIBC, "lstat()", until="2.33", main=True),
            # musl src/stat/fstatat.c: SYS_stat / SYS_lstat / SYS_fstat where they exist.
            Use("stat", MUSL, "stat()", main=True, source="source"),
            Use("fstat", MUSL, "fstat()", main=True, source="source"),
            Use("lstat", MUSL, "lstat()", main=True, source="source"),
            Use("newfstatat", MUSL, "fstatat() relative to a directory", source="source"),
        ),
        {"statx": "only callers of statx() itself (glibc uses it on 32-bit ABIs only)"},
    ),
    _family(
        "unlink",
        "remove a directory entry",
        "unlink unlinkat",
        (
            Use("unlink", GLIBC, "unlink(), remove()", main=True, source="source"),  # sysdeps/unix/syscalls.list
            Use("unlink", MUSL, "unlink(), remove()", main=True),
            Use("unlinkat", CPYTHON, "shutil.rmtree(), os.unlink()/os.rmdir() with dir_fd", since="3.3"),
        ),
    ),
    _family(
        "rename",
        "rename a file",
        "rename renameat renameat2",
        (Use("rename", GLIBC, "rename()", main=True, source="source"), Use("rename", MUSL, "rename()", main=True)),
        {"renameat2": "only callers of renameat2() itself"},
    ),
    _family(
        "link",
        "make a hard link",
        "link linkat",
        (Use("link", GLIBC, "link()", main=True, source="source"), Use("link", MUSL, "link()", main=True)),
        {"linkat": "CPython's os.link() calls it only with dir_fd or follow_symlinks=False"},
    ),
    _family(
        "access",
        "check access to a file",
        "access faccessat faccessat2",
        (
            Use("access", GLIBC, "access()", main=True, source="source"),
            # glibc faccessat.c (2.33): faccessat2 first, faccessat only after ENOSYS.
            Use("faccessat2", GLIBC, "faccessat(), also with flags 0", since="2.33", source="source"),
            Use("faccessat", GLIBC, "faccessat()", until="2.33"),
            Use("access", MUSL, "access()", main=True),
        ),
        {"faccessat": "glibc 2.33+ reaches it only after faccessat2 answers ENOSYS"},
    ),
    _family(
        "chmod",
        "change a file's mode",
        "chmod fchmod fchmodat fchmodat2",
        (
            Use("chmod", GLIBC, "chmod(), os.chmod()", main=True, source="source"),
            Use("fchmod", CPYTHON, "os.chmod() on a descriptor, os.fchmod()"),
            # Linux 6.6 added fchmodat2; glibc 2.39 uses it for fchmodat(AT_SYMLINK_NOFOLLOW) and lchmod().
            Use("fchmodat2", GLIBC, "fchmodat(AT_SYMLINK_NOFOLLOW), lchmod()", since="2.39"),
        ),
        {"fchmodat": "glibc before 2.39 reaches it for lchmod() and fchmodat() only (through an O_PATH descriptor)"},
    ),
    _family(
        "wait",
        "wait for a child",
        "wait4 waitid",
        (
            Use("wait4", GLIBC, "waitpid(), wait(), wait3(), wait4()", main=True),
            Use("wait4", MUSL, "waitpid(), wait()", main=True),
        ),
        {"waitid": "only callers of waitid() itself (CPython's subprocess uses waitpid())"},
    ),
    _family(
        "epoll",
        "wait on an epoll instance",
        "epoll_wait epoll_pwait epoll_pwait2",
        (Use("epoll_wait", GLIBC, "epoll_wait(), select.epoll.poll()", main=True),),
        {
            "epoll_pwait": "only callers of epoll_pwait() itself",
            "epoll_pwait2": "only callers of epoll_pwait2() itself (glibc 2.35+ wrapper)",
        },
    ),
    _family(
        "epoll_create",
        "create an epoll instance",
        "epoll_create epoll_create1",
        (Use("epoll_create1", CPYTHON, "select.epoll(), selectors.DefaultSelector()", since="3.4"),),
        {"epoll_create": "only callers of epoll_create() itself"},
    ),
    _family(
        "poll",
        "wait on descriptors",
        "poll ppoll",
        (Use("poll", GLIBC, "poll(), select.poll()", main=True),),
        {"ppoll": "only callers of ppoll() itself"},
    ),
    _family(
        "select",
        "wait on descriptor sets",
        "select pselect6",
        (Use("select", GLIBC, "select(), select.select()", main=True),),
        {"pselect6": "only callers of pselect() itself"},
    ),
    _family(
        "dup",
        "duplicate onto a chosen descriptor",
        "dup2 dup3",
        (Use("dup2", GLIBC, "dup2(), os.dup2()", main=True, source="source"),),
        {"dup3": "CPython's os.dup2() calls it only with inheritable=False"},
    ),
    _family(
        "pipe",
        "make a pipe",
        "pipe pipe2",
        (
            Use("pipe", GLIBC, "pipe()", main=True, source="source"),
            Use("pipe2", CPYTHON, "os.pipe(), subprocess", since="3.4"),
        ),
    ),
    _family(
        "eventfd",
        "make an eventfd",
        "eventfd eventfd2",
        (
            Use("eventfd2", GLIBC, "eventfd()", main=True, source="source"),  # linux/syscalls.list
            Use("eventfd2", MUSL, "eventfd()", main=True),
        ),
        {"eventfd": "an old form: glibc's eventfd() calls eventfd2"},
    ),
    _family(
        "getdents",
        "read a directory",
        "getdents getdents64",
        (
            Use("getdents64", GLIBC, "readdir(), os.listdir(), os.scandir()", main=True),
            Use("getdents64", MUSL, "readdir()", main=True),
        ),
        {"getdents": "an old form on x86-64"},
    ),
    _family(
        "accept",
        "accept a connection",
        "accept accept4",
        (
            Use("accept", GLIBC, "accept()", main=True, source="source"),
            Use("accept4", CPYTHON, "socket.accept()", since="3.5"),
        ),
    ),
    _family(
        "readlink",
        "read a symbolic link",
        "readlink readlinkat",
        (Use("readlink", GLIBC, "readlink(), realpath()", main=True, source="source"),),
        {"readlinkat": "CPython's os.readlink() calls it only with dir_fd"},
    ),
    _family(
        "mkdir",
        "make a directory",
        "mkdir mkdirat",
        (Use("mkdir", GLIBC, "mkdir(), os.makedirs()", main=True, source="source"),),
        {"mkdirat": "CPython's os.mkdir() calls it only with dir_fd"},
    ),
    _family(
        "signalfd",
        "make a signalfd",
        "signalfd signalfd4",
        (Use("signalfd4", GLIBC, "signalfd()", main=True),),
        {"signalfd": "an old form: glibc's signalfd() calls signalfd4"},
    ),
    _family(
        "futex",
        "wait for and wake threads",
        "futex futex_waitv futex_wake futex_wait futex_requeue",
        (Use("futex", GLIBC, "mutexes, condition variables, pthread_join()", main=True),),
        {
            "futex_waitv": "no glibc or musl function calls it (Wine/Proton do)",
            "futex_wake": "Linux 6.7 futex2 call, not used by glibc",
            "futex_wait": "Linux 6.7 futex2 call, not used by glibc",
            "futex_requeue": "Linux 6.7 futex2 call, not used by glibc",
        },
    ),
    _family(
        "sendfile",
        "copy between descriptors in the kernel",
        "sendfile splice copy_file_range",
        (Use("sendfile", CPYTHON, "shutil.copyfile(), shutil.copy(), shutil.copy2()", since="3.8"),),
        {
            "copy_file_range": "callers of copy_file_range() such as file-copy helpers; Bitcoin Core added it after"
            " crash reports",
            "splice": "only callers of splice() itself",
        },
    ),
    _family(
        "close",
        "close descriptors",
        "close close_range",
        (
            Use("close", GLIBC, "close(), fclose()", main=True, source="source"),
            Use("close_range", GLIBC, "closefrom()", since="2.34"),
            # CPython Python/fileutils.c _Py_closerange and _posixsubprocess: close_range first when built
            # against a libc that has it; a seccomp kill leaves no chance for the fallback.
            Use("close_range", CPYTHON, "subprocess with close_fds=True (the default), os.closerange()", since="3.10"),
        ),
    ),
    _family(
        "statfs",
        "read file system statistics",
        "statfs fstatfs",
        (
            Use("statfs", GLIBC, "statfs(), statvfs(), pathconf()", source="source"),
            Use("fstatfs", GLIBC, "fstatfs(), fstatvfs(), fpathconf()", source="source"),
        ),
    ),
    _family(
        "time",
        "read the clock",
        "gettimeofday time clock_gettime",
        (
            # The vDSO answers these without a syscall unless the clock source has no vDSO mode
            # (seen on some VMs); then the vDSO itself makes the syscall.
            Use("clock_gettime", GLIBC, "clock_gettime(), time.time()", condition=NO_VDSO),
            Use("gettimeofday", GLIBC, "gettimeofday() (libevent, for one)", condition=NO_VDSO),
        ),
        {"time": "the x86-64 vDSO answers time() without a syscall"},
    ),
)

#: Family name -> family.
FAMILIES: Mapping[str, Family] = MappingProxyType({f.name: f for f in _FAMILIES})


def families_of(syscall: str) -> tuple[Family, ...]:
    """The families ``syscall`` belongs to."""
    return tuple(f for f in _FAMILIES if syscall in f.members)


@dataclass(frozen=True)
class Drift:
    """A syscall that a library release started to use for a call the role already makes.

    A role "already makes the call" if it allows one of :attr:`before`, the syscalls
    the call used before :attr:`since`.
    """

    syscall: str
    by: str
    since: str
    calls: str
    before: frozenset[str]
    source: str = "believed"
    condition: Optional[str] = None

    def __post_init__(self) -> None:
        check_names((self.syscall, *sorted(self.before)))


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
    Drift("rseq", GLIBC, "2.35", "every new thread (pthread_create)", _THREADS, condition="rseq"),
    Drift("fchmodat2", GLIBC, "2.39", "fchmodat(AT_SYMLINK_NOFOLLOW), lchmod()", frozenset({"fchmodat"})),
    Drift("vfork", CPYTHON, "3.10", "subprocess.Popen", frozenset({"clone", "fork"})),
    Drift("close_range", CPYTHON, "3.10", "subprocess.Popen with close_fds=True", _PROCESSES),
)

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
