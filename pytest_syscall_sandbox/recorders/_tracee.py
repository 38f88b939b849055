"""What the ptrace tracer reads about its tracees and asks of the kernel for them.

``/proc/TID/status`` (thread group, ``comm``, blocked and caught signals), the
PTRACE_GETEVENTMSG request, ``rt_tgsigqueueinfo`` with a 64-bit ``si_value``, and
``kcmp`` to tell a vfork-like child running on its parent's memory from a fork.
python-ptrace (0.9.9) knows neither ``PTRACE_O_TRACESECCOMP`` nor its event, so
these are written on its low-level bindings and on ctypes.
"""

from __future__ import annotations

import ctypes
import os
import struct
from dataclasses import dataclass

from ptrace.binding.func import ptrace as _ptrace

from ..kernel.syscalls import syscall_number
from .record import TrapRecord

PTRACE_CONT = 7
PTRACE_SYSCALL = 24
PTRACE_GETEVENTMSG = 0x4201
PTRACE_SEIZE = 0x4206
PTRACE_LISTEN = 0x4208
PTRACE_O_TRACESYSGOOD = 0x1
PTRACE_O_TRACEFORK = 0x2
PTRACE_O_TRACEVFORK = 0x4
PTRACE_O_TRACECLONE = 0x8
PTRACE_O_TRACEEXEC = 0x10
PTRACE_O_TRACESECCOMP = 0x80
PTRACE_O_EXITKILL = 0x100000
PTRACE_EVENT_FORK = 1
PTRACE_EVENT_VFORK = 2
PTRACE_EVENT_CLONE = 3
PTRACE_EVENT_EXEC = 4
PTRACE_EVENT_SECCOMP = 7
PTRACE_EVENT_STOP = 128
WALL = 0x40000000  # __WALL: threads and clone children too
SI_QUEUE = -1
NR_RT_TGSIGQUEUEINFO = syscall_number("rt_tgsigqueueinfo")
NR_KCMP = syscall_number("kcmp")
KCMP_VM = 1
OPTIONS = (
    PTRACE_O_TRACESYSGOOD
    | PTRACE_O_TRACEFORK
    | PTRACE_O_TRACEVFORK
    | PTRACE_O_TRACECLONE
    | PTRACE_O_TRACEEXEC
    | PTRACE_O_TRACESECCOMP
    | PTRACE_O_EXITKILL
)
_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


@dataclass
class Request:
    """A where-request: the thread was sent the where-signal for the call of record ``seq``."""

    seq: int
    slot: int
    token: int
    #: The rewound call (raw ``orig_rax`` and arguments): its re-issue ends the request.
    call: tuple[int, tuple[int, ...]]
    #: The call must not run when it comes back (abort modes, the harness guard).
    refuse: bool
    errno: int


@dataclass
class Tracee:
    """One traced thread."""

    tid: int
    #: A vfork child until it execs: it runs on its parent's memory.
    shares_memory: bool = False
    #: The outstanding where-request of this thread, if any.
    request: Request | None = None
    #: The process (tgid) whose fork, vfork or clone made this tracee (0: the child itself).
    parent: int = 0
    #: ``thread`` or ``process`` until it first traps with the where-signal unblocked, else ''.
    fresh: str = ""
    #: The record whose call this thread runs now, to take its result at the syscall-exit stop.
    awaiting: TrapRecord | None = None


@dataclass(frozen=True)
class ThreadStatus:
    """What ``/proc/TID/status`` says about a thread."""

    tgid: int
    name: str
    blocked: int
    caught: int
    ignored: int


def thread_status(tid: int) -> ThreadStatus | None:
    """Tgid, comm and the signal masks from ``/proc/TID/status`` (the tracer may read it)."""
    try:
        with open(f"/proc/{tid}/status", "rb") as handle:
            text = handle.read()
    except OSError:
        return None

    def field(name: bytes) -> bytes:
        start = text.index(name) + len(name)
        return text[start : text.index(b"\n", start)].strip()

    try:
        return ThreadStatus(
            tgid=int(field(b"\nTgid:")),
            name=field(b"Name:").decode(errors="replace"),
            blocked=int(field(b"\nSigBlk:"), 16),
            caught=int(field(b"\nSigCgt:"), 16),
            ignored=int(field(b"\nSigIgn:"), 16),
        )
    except ValueError:
        return None


def bit(signum: int) -> int:
    """The bit of ``signum`` in a ``/proc`` signal mask."""
    return 1 << (signum - 1)


def geteventmsg(pid: int) -> int:
    """PTRACE_GETEVENTMSG: a new tracee's id, a former tid, or a seccomp stop's SECCOMP_RET_DATA."""
    value = ctypes.c_ulong()
    _ptrace(PTRACE_GETEVENTMSG, pid, 0, ctypes.addressof(value))
    return int(value.value)


def queue_signal(tgid: int, tid: int, signum: int, value: int) -> bool:
    """``rt_tgsigqueueinfo`` with SI_QUEUE and a 64-bit ``si_value``."""
    info = ctypes.create_string_buffer(128)
    struct.pack_into("=iii4xiIQ", info, 0, signum, 0, SI_QUEUE, os.getpid(), os.getuid(), value)
    return int(_libc.syscall(NR_RT_TGSIGQUEUEINFO, tgid, tid, signum, info)) == 0


def shares_memory(parent: int, child: int, event: int) -> bool:
    """Is ``child`` a process (not a thread) running on ``parent``'s memory (vfork, CLONE_VM)?"""
    if event == PTRACE_EVENT_VFORK:
        return True
    if event == PTRACE_EVENT_CLONE:
        parent_status, child_status = thread_status(parent), thread_status(child)
        if parent_status is None or child_status is None or parent_status.tgid == child_status.tgid:
            return False  # a thread (or gone)
    return int(_libc.syscall(NR_KCMP, parent, child, KCMP_VM, 0, 0)) == 0


def program_of(tid: int) -> str:
    """The program a process runs since its exec: ``argv[0]`` when it is a path, else ``/proc/PID/exe``."""
    try:
        with open(f"/proc/{tid}/cmdline", "rb") as handle:
            first = handle.read(4096).split(b"\0", 1)[0].decode(errors="replace")
    except OSError:
        first = ""
    if first.startswith("/"):
        return first
    try:
        return os.readlink(f"/proc/{tid}/exe")
    except OSError:
        return first
