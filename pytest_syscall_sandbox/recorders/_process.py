"""Parent-side process handling shared by the recorders: bounded waits and kills."""

from __future__ import annotations

import os
import select
import signal
import time


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


def wait_exit(pid: int, deadline: float | None) -> int | None:
    """Wait for our (untraced) child ``pid`` to end; its status, or None at ``deadline``.

    Sleeps in select(2) on a pidfd (readable when the process ends, Linux 5.3+),
    else polls with growing sleeps. Raises ChildProcessError if ``pid`` is not ours.
    """
    pidfd = -1
    try:
        pidfd = os.pidfd_open(pid)  # type: ignore[attr-defined,unused-ignore]
    except (AttributeError, OSError):
        pass
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
                select.select([pidfd], [], [], 1.0 if remaining is None else min(remaining, 1.0))
            else:
                time.sleep(delay if remaining is None else min(delay, remaining))
                delay = min(delay * 2, 0.02)
    finally:
        if pidfd >= 0:
            os.close(pidfd)


def reap_within(pid: int, timeout: float) -> int | None:
    """Like :func:`wait_exit` with a relative timeout; None also if ``pid`` is not ours."""
    try:
        return wait_exit(pid, time.monotonic() + timeout)
    except ChildProcessError:
        return None
