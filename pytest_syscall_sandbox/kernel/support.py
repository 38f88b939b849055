"""Can this machine run the sandbox? One place that says why not."""

from __future__ import annotations

import platform
import sys
from functools import cache


@cache
def unsupported_reason() -> str | None:
    """None where filters can be installed, else a sentence saying why not."""
    return platform_reason(sys.platform, platform.machine()) or _kernel_reason()


def platform_reason(system: str, machine: str) -> str | None:
    """Why ``system`` on ``machine`` cannot run the sandbox, or None."""
    if not system.startswith("linux"):
        return f"the syscall sandbox needs Linux; this is {system}"
    if machine not in ("x86_64", "AMD64"):
        return f"the syscall sandbox needs an x86-64 CPU; this is {machine}"
    return None


def _kernel_reason() -> str | None:
    from .calls import seccomp_mode

    try:
        seccomp_mode()
    except OSError as exc:
        return f"this kernel has no seccomp support ({exc})"
    return None


def is_supported() -> bool:
    """True where :func:`unsupported_reason` finds nothing wrong."""
    return unsupported_reason() is None
