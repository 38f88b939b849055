"""Facts about the machine a run happened on, for reports."""

from __future__ import annotations

import platform
import sys

from .drift import format_version
from .lint import detect_libc


def describe() -> dict[str, str]:
    """Kernel, libc, Python and plugin versions."""
    from .. import __version__

    libc, version = detect_libc()
    return {
        "kernel": platform.release(),
        "machine": platform.machine(),
        "libc": f"{libc} {format_version(version)}" if version else libc,
        "python": platform.python_version(),
        "python_implementation": sys.implementation.name,
        "plugin": __version__,
    }
