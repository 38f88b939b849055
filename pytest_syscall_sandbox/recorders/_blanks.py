"""Why a ptrace record has no Python location, in its own words.

The tracer asks a trapping thread for its Python location with a signal; when it
cannot, the record says why, naming the case (the exec'd program, the vfork child,
who blocked the signals and for what), never a guess. Pure: the tracer passes what
``/proc`` and the registers say.
"""

from __future__ import annotations

import os

from ..kernel.calltext import ProcessMemory
from ..kernel.syscalls import syscall_number
from ._child import holds_thread_lock
from ._tracee import ThreadStatus, Tracee, bit

_NR_CLONE, _NR_CLONE3 = syscall_number("clone"), syscall_number("clone3")
_NR_FORK, _NR_VFORK = syscall_number("fork"), syscall_number("vfork")
_CLONE_VM, _CLONE_VFORK, _CLONE_THREAD = 0x100, 0x4000, 0x10000
#: Every signal a program can block through glibc: not SIGKILL, SIGSTOP, nor glibc's own two
#: (32 and 33, SIGCANCEL and SIGSETXID, which its sigfillset leaves out).
ALL_BLOCKABLE = ((1 << 64) - 1) & ~(bit(9) | bit(19) | bit(32) | bit(33))


def _glibc() -> tuple[int, ...]:
    try:
        version = os.confstr("CS_GNU_LIBC_VERSION") or ""
        return tuple(int(part) for part in version.split()[-1].split("."))
    except (ValueError, OSError, IndexError):
        return ()


#: glibc blocks every signal around fork()'s clone from 2.41 on (the lint's drift data says so too).
GLIBC_FORK_BLOCKS = _glibc() >= (2, 41)

IN_WHERE_REQUEST = "made while its thread answered a where-request (inside the recorder's handler)"
UNDER_LOCK = (
    "sched_getaffinity on its own thread: glibc's pthread_getattr_np holds the thread's lock there "
    "(as at every thread start on CPython 3.14+), so it was not asked"
)
NO_STATUS = "its thread's /proc status could not be read (it was ending)"
NO_SLOT = "too many where-requests were outstanding at once"
NOT_QUEUED = "the where-signal could not be queued to its thread (it was ending)"
ENDED = "its thread ended or exec'd before it answered the where-signal"
NO_FRAME = "no Python code was running on its thread when the where-handler ran"


def spawn_kind(nr: int, flags: int | None) -> str:
    """``thread``, ``spawn`` (vfork-like), ``fork`` or '' for a process-creating call with ``flags``."""
    if nr == _NR_VFORK:
        return "spawn"
    if nr == _NR_FORK:
        return "fork"
    if nr not in (_NR_CLONE, _NR_CLONE3) or flags is None:
        return ""
    if flags & _CLONE_THREAD:
        return "thread"
    if flags & _CLONE_VFORK or flags & _CLONE_VM:
        return "spawn"
    return "fork"


def in_vfork_child(parent: int) -> str:
    """A process sharing its parent's memory."""
    of = f" of process {parent}" if parent else ""
    return f"in a vfork child{of} (it runs on its parent's memory until it execs)"


def in_program(path: str) -> str:
    """A process that exec'd: no where-handler there."""
    return f"in the exec'd program {path}" if path else "in an exec'd program (exec resets the where-handler)"


def not_caught(where_signal: int) -> str:
    """A Python process whose where-signal has no handler."""
    return f"the test ignored or reset the where-signal (signal {where_signal})"


def not_answered(where_signal: int) -> str:
    """The handler never wrote its answer."""
    return f"the where-signal (signal {where_signal}) did not reach the recorder's handler (did the test replace it?)"


def timed_out(seconds: float) -> str:
    """A doomed process that did not answer in time."""
    return f"its process did not answer the where-signal within {seconds:g} s and was stopped"


def blocked(status: ThreadStatus, where_signal: int, kind: str, fresh: str) -> str:
    """Why the where-signal was blocked at the call: who blocks signals there, and for what.

    ``kind``: :func:`spawn_kind` of the call; ``fresh``: ``thread`` or ``process`` for a
    thread or process that has not yet run with the where-signal unblocked, else ''.
    """
    everything = status.blocked & ALL_BLOCKABLE == ALL_BLOCKABLE
    if not everything:
        return f"made with the where-signal (signal {where_signal}) blocked by the test or a library it uses"
    if kind == "thread":
        return "made while glibc blocked all signals to create a thread (pthread_create)"
    if kind == "spawn":
        return (
            "made while all signals were blocked to spawn a child by vfork "
            "(CPython's subprocess and glibc's posix_spawn block them there)"
        )
    if kind == "fork" and GLIBC_FORK_BLOCKS:
        return "made while glibc's fork() blocked all signals around its clone (glibc 2.41+)"
    if fresh == "thread":
        return "made by a new thread before glibc's thread start unblocked its signals"
    if fresh == "process":
        return "made by a new child process before it unblocked the signals its parent blocked to fork it"
    return (
        f"made while all signals were blocked (the where-signal, signal {where_signal}, among them) "
        "by the test or a library it uses"
    )


def unaskable(
    tracee: Tracee, status: ThreadStatus | None, where_signal: int, nr: int, args: tuple[int, ...], program: str | None
) -> str:
    """Why this thread cannot be asked for its Python location ('' if it can).

    ``program``: what the process exec'd ('' if unknown), None if it never exec'd.
    A thread found askable is no longer ``fresh``.
    """
    if status is None:
        return NO_STATUS
    if tracee.shares_memory:
        return in_vfork_child(tracee.parent)
    where = bit(where_signal)
    if not status.caught & where:
        return in_program(program) if program is not None else not_caught(where_signal)
    if status.blocked & where:
        return blocked(status, where_signal, spawn_kind(nr, clone_flags(tracee.tid, nr, args)), tracee.fresh)
    tracee.fresh = ""
    if holds_thread_lock(nr, args, tracee.tid):
        return UNDER_LOCK
    return ""


def clone_flags(tid: int, nr: int, args: tuple[int, ...]) -> int | None:
    """A process-creating call's flags (clone3's from the stopped thread's memory)."""
    if nr != _NR_CLONE3:
        return args[0]
    try:
        memory = ProcessMemory(tid)
    except OSError:
        return None
    try:
        return memory.readWord(args[0])
    except OSError:
        return None
    finally:
        memory.close()
