"""Parent-side process handling shared by the recorders: bounded waits and kills."""

from __future__ import annotations

import os
import select
import signal
import time
from collections.abc import Callable

#: How long a SIGKILLed child (or tree) may take to be reaped.
REAP_TIMEOUT = 5.0


def decode_status(status: int) -> tuple[int | None, int | None]:
    """``(exit_code, signal)`` from a ``waitpid`` status."""
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status), None
    if os.WIFSIGNALED(status):
        return None, os.WTERMSIG(status)
    return None, None


def kill_quietly(pid: int, signum: int = signal.SIGKILL) -> None:
    """``kill(pid, signum)``, ignoring processes that are already gone."""
    try:
        os.kill(pid, signum)
    except OSError:
        pass


def killpg_quietly(pgid: int, signum: int = signal.SIGKILL) -> None:
    """``killpg(pgid, signum)``, ignoring empty groups. Never our own group."""
    if pgid <= 1 or pgid == os.getpgrp():
        return
    try:
        os.killpg(pgid, signum)
    except OSError:
        pass


def try_reap(pid: int) -> int | None:
    """The status of ``pid`` if it has ended (and reap it), else None; raises ChildProcessError."""
    done, status = os.waitpid(pid, os.WNOHANG)
    return status if done == pid else None


def open_pidfd(pid: int) -> int:
    """A pidfd of ``pid`` (readable once it has ended; Linux 5.3+), or -1 where there is none."""
    try:
        return os.pidfd_open(pid)  # type: ignore[attr-defined,no-any-return,unused-ignore]
    except (AttributeError, OSError):
        return -1


def wait_exit(
    pid: int, deadline: float | None, *, watch: int = -1, on_readable: Callable[[], bool] | None = None
) -> int | None:
    """Wait for our (untraced) child ``pid`` to end; its status, or None at ``deadline``.

    Sleeps in select(2) on a pidfd (readable when the process ends, Linux 5.3+),
    else polls with growing sleeps. Raises ChildProcessError if ``pid`` is not ours.
    With ``watch`` and ``on_readable``, the same sleep also wakes when ``watch`` is
    readable and calls ``on_readable()``, which returns False once ``watch`` reached
    end of file (it is then no longer watched): one thread both waits and drains.
    """
    pidfd = open_pidfd(pid)
    watching = watch >= 0 and on_readable is not None
    try:
        delay = 0.0005
        while True:
            status = try_reap(pid)
            if status is not None:
                return status
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return None
            if pidfd >= 0:
                timeout = 1.0 if remaining is None else min(remaining, 1.0)
            else:
                timeout = delay if remaining is None else min(delay, remaining)
                delay = min(delay * 2, 0.02)
            ready, _, _ = select.select([fd for fd in (pidfd, watch if watching else -1) if fd >= 0], [], [], timeout)
            if watching and watch in ready:
                assert on_readable is not None
                watching = on_readable()
    finally:
        if pidfd >= 0:
            os.close(pidfd)


def reap_within(pid: int, timeout: float) -> int | None:
    """Like :func:`wait_exit` with a relative timeout; None also if ``pid`` is not ours."""
    try:
        return wait_exit(pid, time.monotonic() + timeout)
    except ChildProcessError:
        return None


def parent_of(pid: int) -> int:
    """The parent pid of ``pid`` from ``/proc/PID/stat`` (0 if it cannot be read)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return int(handle.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def close_all_but(keep: set[int]) -> None:
    """Close every descriptor above 2 but ``keep`` (the supervisor holds nothing of the test's)."""
    low = 3
    for fd in sorted(keep):
        if fd >= low:
            os.closerange(low, fd)
            low = fd + 1
    os.closerange(low, 1 << 16)
