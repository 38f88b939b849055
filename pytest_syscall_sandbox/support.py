"""Can this machine run the sandbox? One place that says why not."""

from __future__ import annotations

import platform
import sys
from functools import cache


@cache
def unsupported_reason() -> str | None:
    """None where filters can be installed, else a sentence saying why not."""
    if not sys.platform.startswith("linux"):
        return f"the syscall sandbox needs Linux; this is {sys.platform}"
    machine = platform.machine()
    if machine not in ("x86_64", "AMD64"):
        return f"the syscall sandbox needs an x86-64 CPU; this is {machine}"
    from ._install import seccomp_mode

    try:
        seccomp_mode()
    except OSError as exc:
        return f"this kernel has no seccomp support ({exc})"
    return None


def is_supported() -> bool:
    """True where :func:`unsupported_reason` finds nothing wrong."""
    return unsupported_reason() is None
