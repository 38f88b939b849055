"""What both recorders do inside the sandboxed child: find the Python caller, report, die.

Everything here may run inside a signal handler on a thread under the role's
filter, so it only makes syscalls every policy allows (write, getpid, gettid,
tgkill, rt_sigaction, rt_sigprocmask, prctl): ``os.kill`` (kill(2)) is avoided.
"""

from __future__ import annotations

import faulthandler
import os
import resource
import signal
import threading
from types import FrameType
from typing import NoReturn

from ..kernel.naming import violation_message
from ..kernel.syscalls import numbers_of
from ._sigcontext import set_default

#: Frames kept in a record's stack (innermost last).
STACK_LIMIT = 30
#: Process and thread creation. glibc's fork() holds its malloc and stdio locks across
#: the clone syscall (whenever the process ever had a thread), so a handler running
#: then must not reach malloc(): it reports in compact form (no stack, short strings),
#: small objects that CPython serves from its own arenas (mmap), never from malloc.
FORK_FAMILY = numbers_of(["fork", "vfork", "clone", "clone3"])
_COMPACT_TEXT = 160
#: Calls glibc makes holding a lock that Python run in a handler there would take again
#: (the lint's drift data: HAZARDS, cause LOCKED); see :func:`holds_thread_lock`.
UNDER_LOCK = frozenset({"sched_getaffinity"})
(_NR_SCHED_GETAFFINITY,) = numbers_of(UNDER_LOCK)


def holds_thread_lock(nr: int, args: tuple[int, ...], tid: int) -> bool:
    """Is this glibc's pthread_getattr_np() asking for the calling thread's own affinity?

    It makes that call holding the thread's lock; a handler's Python reaches
    pthread_getattr_np() again (CPython 3.14+ calls it when a thread state first runs,
    so at every thread start) and waits on that lock for ever. Never ask such a thread.
    """
    return nr == _NR_SCHED_GETAFFINITY and args[0] & 0xFFFFFFFF == tid


#: Syscalls the role's filter must allow for a recorder to work at all: returning from
#: its signal handler. The plugin adds them to every filter (and says so when the role
#: lacks them); without them the handler's return would trap again, forever.
RECORDER_NEEDS = frozenset({"rt_sigreturn"})


def outcome_of(mode: str) -> str:
    """A record's outcome in ``mode``: the call ran (audit), or the child aborted or was killed."""
    return {"audit": "allowed", "log-and-abort": "aborted"}.get(mode, "killed")


def end_trap(mode: str, nr: int, thread: str, role: str, location: str, function: str) -> None:
    """After a trap was reported: in ``log-and-abort`` print upstream's message and abort, in
    ``abort`` die of SIGSYS (as the kernel's kill would); in ``audit`` return."""
    if mode == "log-and-abort":
        write_stderr(abort_message(nr, thread, role, location, function))
        abort()
    elif mode == "abort":
        die_by_signal(signal.SIGSYS)


def python_frames(frame: FrameType | None, *, compact: bool = False) -> tuple[list[object] | None, list[list[object]]]:
    """``(innermost, stack)`` of ``frame`` as ``[file, line, function]`` lists (stack innermost last).

    Lists, not text: they cross to the parent as they are, and the record's
    :class:`.record.Frame` values are made from them once. ``compact``: no stack and
    strings cut to 160 characters (see :data:`FORK_FAMILY`).
    """
    if frame is None:
        return None, []
    code = frame.f_code
    if compact:
        return [code.co_filename[-_COMPACT_TEXT:], frame.f_lineno or 0, code.co_name[:_COMPACT_TEXT]], []
    stack: list[list[object]] = []
    current: FrameType | None = frame
    while current is not None and len(stack) < STACK_LIMIT:
        stack.append([current.f_code.co_filename, current.f_lineno or 0, current.f_code.co_name])
        current = current.f_back
    stack.reverse()
    return stack[-1], stack


def python_location(frame: FrameType | None) -> tuple[str, str, list[str]]:
    """``("file:line", function, stack)`` of ``frame`` as text (the stack's lines ``file:line in func``)."""
    innermost, stack = python_frames(frame)
    location, function = place_text(innermost)
    return location, function, [f"{path}:{line} in {name}" for path, line, name in stack]


def place_text(innermost: list[object] | None) -> tuple[str, str]:
    """``("file:line", function)`` of an innermost frame list (for upstream's message in the child)."""
    if not innermost:
        return "", ""
    return f"{innermost[0]}:{innermost[1]}", str(innermost[2])


def abort_message(nr: int, thread: str, role: str, location: str, function: str) -> str:
    """Upstream's violation message with the role and the Python location appended."""
    where = f"at {location} in {function}" if location else "at an unknown location"
    return f"{violation_message(nr, thread)} [role {role}, {where}]"


def prepare_child() -> None:
    """Own process group (so the parent can kill the whole tree), and no core files.

    The plugin's child leaves the terminal's foreground group: a test that reads the
    terminal would get SIGTTIN. Aborts and SIGSYS deaths would otherwise dump core.
    """
    try:
        os.setpgid(0, 0)
    except OSError:
        pass
    try:
        _, hard = resource.getrlimit(resource.RLIMIT_CORE)
        resource.setrlimit(resource.RLIMIT_CORE, (0, hard))
    except (OSError, ValueError):
        pass


def die_by_signal(signum: int) -> NoReturn:
    """Die of ``signum``'s default action, whatever handler or mask the thread had."""
    try:
        set_default(signum)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signum})
        signal.pthread_kill(threading.get_ident(), signum)
        signal.pthread_kill(threading.get_ident(), signal.SIGKILL)
    finally:
        os._exit(128 + signum)


def abort() -> NoReturn:
    """``os.abort()`` (SIGABRT) without faulthandler's dump: the message said where already.

    pytest enables faulthandler on a copy of the terminal's stderr, which output
    capture does not see; an intentional abort should not spray a traceback there.
    """
    faulthandler.disable()
    os.abort()


def write_stderr(text: str) -> None:
    """One ``write(2, ...)``, errors ignored (stderr may be closed)."""
    try:
        os.write(2, text.encode(errors="replace") + b"\n")
    except OSError:
        pass
