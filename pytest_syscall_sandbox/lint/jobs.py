"""Jobs: every syscall glibc and CPython make for one everyday job, per version, with its source.

A role that allows a job's own call (:attr:`~.facts.Job.does`) does that job, so it
needs the job's other syscalls too: a role that allows openat but no stat member
crashes in CPython's ``open()``, which fstat()s the new file (``fstat`` from glibc
2.39 on, ``newfstatat`` before). The lint names each missing one; tests ask
:meth:`~.facts.Job.calls` what a job makes on the running machine and compare it
with what the kernel saw.

The steps were measured with ``strace -f`` of each job (and what a job's call form
changes) in three environments, all on Linux 6.18: :data:`BOOKWORM`, :data:`TRIXIE`
and :data:`SID`. Memory calls that malloc may make anywhere (brk, mmap for arenas)
are listed only where the job itself needs them (a thread's stack).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Optional

from .facts import RSEQ, Job, Step, spans

BOOKWORM = "Debian 12 (glibc 2.36, CPython 3.11.2)"
TRIXIE = "Debian 13 (glibc 2.41, CPython 3.13.5)"
SID = "Debian sid (glibc 2.43, CPython 3.14)"
EVERYWHERE = f"measured on {BOOKWORM}, {TRIXIE} and {SID}"
FROM_TRIXIE = f"measured on {TRIXIE} and {SID}, absent on {BOOKWORM}"
ON_SID = f"measured on {SID}, absent on {TRIXIE}"

#: Forms of a subprocess call that change what CPython 3.13+ makes.
PATH = "path"
BARE = "bare"
EXEC_FAILS = "exec fails"
#: A form of open(): the file is not a regular one (a terminal, /dev/null).
NOT_REGULAR = "not regular"
#: A form of a thread start: the process's first (no cached stack, no SIGRT_1 handler yet).
FIRST_THREAD = "first thread"


def _step(
    syscall: str,
    where: str,
    what: str,
    source: str = EVERYWHERE,
    *,
    forms: frozenset[str] = frozenset(),
    unless: frozenset[str] = frozenset(),
    condition: Optional[str] = None,
) -> Step:
    return Step(syscall, spans(where), what, forms, source, condition, unless)


def _forms(*names: str) -> frozenset[str]:
    return frozenset(names)


THREAD = Job(
    "start a thread",
    "threading.Thread.start() (pthread_create)",
    frozenset({"clone", "clone3"}),
    (
        _step("rt_sigaction", "glibc", "glibc's SIGRT_1 handler installed", forms=_forms(FIRST_THREAD)),
        _step("rt_sigprocmask", "glibc", "every signal blocked around the clone, and restored"),
        _step("mmap", "glibc", "the new thread's stack and malloc arena", forms=_forms(FIRST_THREAD)),
        _step("mprotect", "glibc", "the stack's guard page", forms=_forms(FIRST_THREAD)),
        _step("clone3", "glibc 2.34+", "the clone (clone3, clone after ENOSYS)", "glibc 2.34 clone-internal.c"),
        _step("clone", "glibc <2.34", "the clone"),
        _step("rseq", "glibc 2.35+", "the new thread registers its rseq area", condition=RSEQ),
        _step("set_robust_list", "glibc", "the new thread's robust futex list"),
        _step("gettid", "CPython", "the new thread's native id"),
        _step("futex", "CPython", "the start and join handshakes"),
        _step(
            "sched_getaffinity",
            "CPython 3.14+",
            "pthread_getattr_np() for the thread's stack limits (on its own tid, holding the thread's lock)",
            ON_SID,
        ),
        _step("prctl", "CPython 3.14+", "PR_SET_NAME: the thread's name given to the kernel", ON_SID),
        _step("munmap", "glibc", "the thread's malloc arena trimmed", forms=_forms(FIRST_THREAD)),
        _step("madvise", "glibc", "MADV_DONTNEED of the stack at the thread's end"),
        _step("exit", "glibc", "the thread's end"),
    ),
    forms=MappingProxyType(
        {
            FIRST_THREAD: "the process's first thread, or one that finds no cached stack or free malloc arena"
            " (later ones reuse those, and glibc's SIGRT_1 handler)"
        }
    ),
)

FORK = Job(
    "fork a process",
    "os.fork()",
    frozenset({"clone", "fork"}),
    (
        _step("clone", "glibc", "fork() is clone(CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD)"),
        _step(
            "rt_sigprocmask",
            "glibc 2.41+",
            "every signal blocked around the clone, and restored on both sides",
            "glibc commit b300078d97 'Linux: Block signals around _Fork' (bug 32215, glibc 2.41); " + FROM_TRIXIE,
        ),
        _step("openat", "CPython 3.12+", "the parent opens /proc/self/stat (the thread count)", FROM_TRIXIE),
        _step("fstat", "CPython 3.12+, glibc 2.39+", "stdio's fstat() of /proc/self/stat", FROM_TRIXIE),
        _step("newfstatat", "CPython 3.12+, glibc 2.33-2.39", "stdio's fstat() of /proc/self/stat"),
        _step("read", "CPython 3.12+", "/proc/self/stat read", FROM_TRIXIE),
        _step("lseek", "CPython 3.14+", "/proc/self/stat seeked", ON_SID),
        _step("close", "CPython 3.12+", "/proc/self/stat closed", FROM_TRIXIE),
        _step("set_robust_list", "glibc", "the child's robust futex list"),
        _step("gettid", "CPython", "the child's thread id (PyOS_AfterFork_Child)"),
    ),
    implied=False,  # clone is also how threads started before glibc 2.34: a role that allows it may not fork
)

OPEN = Job(
    "open a file",
    "open() (io.open, pathlib.Path.open)",
    frozenset({"open", "openat"}),
    (
        _step("openat", "glibc 2.26+", "the open"),
        _step("open", "glibc <2.26", "the open"),
        _step(
            "fstat",
            "CPython <3.14, glibc 2.39+",
            "fstat() of the new descriptor, and again when read() sizes its buffer",
            "glibc commit 551101e824 (glibc 2.39); " + FROM_TRIXIE,
        ),
        _step("fstat", "CPython 3.14+, glibc 2.39+", "fstat() of the new descriptor, once: read() reuses it", ON_SID),
        _step("newfstatat", "CPython, glibc 2.33-2.39", "fstat() of the new descriptor"),
        _step("fstat", "CPython, glibc <2.33", "fstat() of the new descriptor", "believed"),
        _step("ioctl", "CPython <3.14", "isatty() (TCGETS) for the buffering"),
        _step("ioctl", "CPython 3.14+", "isatty() (TCGETS2)", ON_SID, forms=_forms(NOT_REGULAR)),
        _step("lseek", "CPython", "the buffer's position"),
        _step("close", "CPython", "the close"),
    ),
    forms=MappingProxyType({NOT_REGULAR: "the file is not a regular one (a terminal, a device such as /dev/null)"}),
)

STAT = Job(
    "read a path's status",
    "os.stat(), os.path.exists(), pathlib.Path.stat()",
    frozenset({"stat", "lstat", "newfstatat", "statx"}),
    (
        _step("newfstatat", "glibc 2.33+", "stat() is fstatat(AT_FDCWD, path, .., 0)", "glibc 2.33 fstatat64.c"),
        _step("stat", "glibc <2.33", "stat()", "believed"),
    ),
)

_SPAWN = "CPython 3.13+, glibc 2.34+"
SUBPROCESS = Job(
    "run a program",
    "subprocess.run(), subprocess.Popen()",
    frozenset({"execve"}),
    (
        _step("pipe2", "CPython <3.13", "the error pipe"),
        _step("pipe2", "CPython 3.13+", "the error pipe", forms=_forms(BARE)),
        _step("read", "CPython <3.13", "the error pipe read"),
        _step("read", "CPython 3.13+", "the error pipe read", forms=_forms(BARE)),
        _step("rt_sigprocmask", "CPython", "every signal blocked around the vfork or clone3, and restored"),
        _step("vfork", "CPython 3.10-3.13", "_posixsubprocess's vfork()", "CPython 3.10 _posixsubprocess.c"),
        _step("vfork", "CPython 3.13+", "_posixsubprocess's vfork()", FROM_TRIXIE, forms=_forms(BARE)),
        _step("prlimit64", _SPAWN, "posix_spawn() reads RLIMIT_NOFILE", FROM_TRIXIE, forms=_forms(PATH)),
        _step("mmap", _SPAWN, "posix_spawn()'s helper stack", FROM_TRIXIE, forms=_forms(PATH)),
        _step("clone3", _SPAWN, "posix_spawn()'s clone3(CLONE_VM | CLONE_VFORK)", FROM_TRIXIE, forms=_forms(PATH)),
        _step("munmap", _SPAWN, "posix_spawn()'s helper stack freed", FROM_TRIXIE, forms=_forms(PATH)),
        _step("close", "CPython <3.13", "the pipe ends closed"),
        _step("close", "CPython 3.13+", "the pipe ends closed", forms=_forms(BARE)),
        _step("rt_sigaction", "CPython", "the child resets the signal handlers"),
        _step("close_range", "CPython 3.10+", "close_fds=True (the default): every descriptor from 3 on closed"),
        _step("execve", "CPython", "the exec"),
        _step("write", "CPython <3.13", "the child reports the failed exec", forms=_forms(EXEC_FAILS)),
        _step("write", "CPython 3.13+", "the child reports the failed exec", forms=_forms(BARE, EXEC_FAILS)),
        _step("exit_group", "CPython", "the child's end after a failed exec", forms=_forms(EXEC_FAILS)),
        _step("wait4", "CPython", "the wait for the program", unless=_forms(EXEC_FAILS)),
        _step("wait4", "CPython <3.13", "the failed child reaped", forms=_forms(EXEC_FAILS)),
        _step("wait4", "CPython 3.13+", "the failed child reaped", forms=_forms(BARE, EXEC_FAILS)),
        _step(
            "wait4", f"{_SPAWN}, glibc <2.40", "posix_spawn() reaps its failed helper", forms=_forms(PATH, EXEC_FAILS)
        ),
        _step(
            "waitid",
            f"{_SPAWN}, glibc 2.40+",
            "posix_spawn() reaps its failed helper with waitid()",
            "glibc commit c90cfce849 (BZ 31695, glibc 2.40); " + FROM_TRIXIE,
            forms=_forms(PATH, EXEC_FAILS),
        ),
    ),
    forms=MappingProxyType(
        {
            PATH: "a program with a directory part and none of cwd=, pass_fds=, start_new_session=, process_group=,"
            " preexec_fn=, user=, group=, extra_groups=, umask= (CPython 3.13+ posix_spawn()s it)",
            BARE: "a program without a directory part, or with one of those arguments (vfork)",
            EXEC_FAILS: "the exec fails (no such program)",
        }
    ),
)

PROGRAM = Job(
    "start a program",
    "a dynamically linked program of this glibc, once exec'd (its loader and libc start-up)",
    frozenset({"execve"}),
    (
        _step("brk", "glibc", "the loader's heap"),
        _step("mmap", "glibc", "the libraries mapped"),
        _step("access", "glibc", "/etc/ld.so.preload"),
        _step("openat", "glibc", "/etc/ld.so.cache, libc.so.6"),
        _step("fstat", "glibc 2.39+", "fstat() of each opened library", FROM_TRIXIE),
        _step("newfstatat", "glibc 2.33-2.39", "fstat() of each opened library"),
        _step("close", "glibc", "the close"),
        _step("read", "glibc", "the ELF header"),
        _step("pread64", "glibc", "the program headers"),
        _step("arch_prctl", "glibc", "ARCH_SET_FS: the thread pointer"),
        _step("set_tid_address", "glibc", "the main thread's clear-tid address"),
        _step("set_robust_list", "glibc", "the main thread's robust futex list"),
        _step("rseq", "glibc 2.35+", "the main thread's rseq area", condition=RSEQ),
        _step("mprotect", "glibc", "RELRO"),
        _step("prlimit64", "glibc", "RLIMIT_STACK"),
        _step(
            "getrandom",
            "glibc 2.42+",
            "malloc's random start-up value",
            f"snapd PR 16034 (Ubuntu 25.10, glibc 2.42); {ON_SID}",
        ),
        _step("munmap", "glibc", "the loader's temporary mappings"),
        _step("exit_group", "glibc", "the program's end"),
    ),
)

#: Job name -> job.
JOBS: Mapping[str, Job] = MappingProxyType({j.name: j for j in (THREAD, FORK, OPEN, STAT, SUBPROCESS, PROGRAM)})
