"""Syscall families: syscalls that libc or the kernel use interchangeably for one job.

Most syscalls Bitcoin Core had to add after users crashed were a sibling or a newer
form of one it already allowed (stat -> newfstatat, unlink -> unlinkat, clone ->
clone3). A :class:`~.facts.Family` names such a set; its :class:`~.facts.Use` records
say which library call reaches which member, in which library version, so that the
lint can tell a certain crash from an old, unused form (sources: see :mod:`.facts`).

A wrapper that only passes its own syscall on (``pselect()`` -> pselect6) is not a
use: a program calling it chose that syscall. The exception is the family's classic
call (``access()``, ``unlink()``, ``poll()``), marked ``main``, so that a list holding
only the newer form still hears about the old one.

A seccomp filter sees every syscall number before the kernel looks it up, so a
library that "falls back on ENOSYS" still dies on its first choice under a killing
filter: fallbacks never make a member optional.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Optional

from .facts import CPYTHON, GLIBC, MUSL, NO_VDSO, Family, Use

#: Where fstat() stopped going through fstatat (first in glibc-2.39).
FSTAT_COMMIT = (
    "glibc commit 551101e824 'io: Do not implement fstat with fstatat' (glibc 2.39); measured 2.36, 2.41, 2.43"
)
#: CPython 3.13's subprocess takes os.posix_spawn for a program path (Lib/subprocess.py _execute_child).
SPAWN_SOURCE = "CPython 3.13 Lib/subprocess.py _execute_child (_HAVE_POSIX_SPAWN_CLOSEFROM); measured 3.11, 3.13, 3.14"


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
            # posix_spawn(): clone3(CLONE_VM | CLONE_VFORK) measured on 2.36; 2.38 adds CLONE_CLEAR_SIGHAND
            # (commit 2053c11331), measured on 2.41 and 2.43.
            Use("clone3", GLIBC, "pthread_create(), posix_spawn(), system(), popen()", since="2.34", main=True),
            Use("clone", GLIBC, "pthread_create(), posix_spawn()", until="2.34", main=True),
            # glibc arch-fork.h: fork() is clone(CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD).
            Use("clone", GLIBC, "fork()", source="source"),
            # musl src/process/_Fork.c: SYS_fork where the architecture has it (x86-64 does).
            Use("fork", MUSL, "fork()", main=True, source="source"),
            Use("clone", MUSL, "pthread_create(), posix_spawn()", main=True),
            # CPython Modules/_posixsubprocess.c: vfork() when no preexec_fn/user/group change (3.10+). From
            # 3.13 subprocess takes os.posix_spawn (clone3) for a program path without cwd=, pass_fds=, ...
            Use(
                "vfork",
                CPYTHON,
                "subprocess.Popen (every program start unless preexec_fn, user or group is set)",
                since="3.10",
                until="3.13",
                source="source",
            ),
            Use(
                "vfork",
                CPYTHON,
                "subprocess.Popen of a program without a directory part, or with cwd=, pass_fds=,"
                " start_new_session=, process_group= or umask= (a program path is posix_spawn()ed: clone3)",
                since="3.13",
                source=SPAWN_SOURCE,
            ),
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
            Use("newfstatat", GLIBC, "stat(), lstat(), fstatat()", since="2.33", main=True, source="source"),
            Use("newfstatat", GLIBC, "fstat()", since="2.33", until="2.39", main=True, source="source"),
            Use("stat", GLIBC, "stat()", until="2.33", main=True),
            Use("fstat", GLIBC, "fstat()", until="2.33", main=True),
            Use("fstat", GLIBC, "fstat() (CPython's open(), stdio)", since="2.39", main=True, source=FSTAT_COMMIT),
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
            Use(
                "fchmodat2",
                GLIBC,
                "fchmodat(AT_SYMLINK_NOFOLLOW), lchmod()",
                since="2.39",
                source="measured on Debian 13 (glibc 2.41), absent on Debian 12 (2.36)",
            ),
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
            # glibc commit c90cfce849 (BZ 31695, glibc 2.40; on the 2.39 branch as 74630b1bb7): posix_spawn()
            # reaps a helper whose exec failed with waitid(P_PID/P_PIDFD, .., WEXITED); measured 2.41, 2.43.
            Use(
                "waitid",
                GLIBC,
                "posix_spawn() when the exec fails (CPython 3.13+ subprocess of a program path)",
                since="2.40",
                source="glibc commit c90cfce849 (BZ 31695); measured 2.41, 2.43",
            ),
        ),
        {"waitid": "otherwise only callers of waitid() itself"},
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
            Use("close_range", GLIBC, "closefrom(), posix_spawn()'s closefrom action", since="2.34"),
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
