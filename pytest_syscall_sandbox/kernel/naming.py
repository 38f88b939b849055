"""How upstream names a thread, and the sentence it logs for a disallowed syscall."""

from __future__ import annotations

import threading

from .calls import kernel_thread_name
from .syscalls import get_linux_syscall_name

UNNAMED = "*unnamed*"


def thread_get_internal_name() -> str:
    """The calling thread's name: Python's, else the kernel's ``comm``, else ``*unnamed*``."""
    thread = threading._active.get(threading.get_ident())  # type: ignore[attr-defined]
    if thread is not None:
        return str(thread.name)
    return kernel_thread_name() or UNNAMED


def violation_message(nr: int, thread: str) -> str:
    """Upstream's log line for a disallowed syscall."""
    return (
        f'ERROR: The syscall "{get_linux_syscall_name(nr)}" (syscall number {nr}) is not allowed '
        f'by the syscall sandbox in thread "{thread}". Please report.'
    )
