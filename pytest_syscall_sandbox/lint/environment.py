"""The machine the lint judges for: libc and its version, Python, kernel, clock source.

Also :func:`describe`, the same facts as reports record them.
"""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Optional

from ..kernel.syscalls import NAMES
from .drift import (
    CPYTHON,
    GLIBC,
    LINUX_SINCE,
    MUSL,
    NO_VDSO,
    RSEQ,
    Version,
    format_version,
    parse_version,
)
from .probe import probe_kernel

#: x86 clock sources the vDSO reads without a syscall (others make the vDSO fall back).
VDSO_CLOCKSOURCES = frozenset({"tsc", "kvm-clock", "hyperv_clocksource_tsc_page"})
_CLOCKSOURCE = Path("/sys/devices/system/clocksource/clocksource0/current_clocksource")


@dataclass(frozen=True)
class LintEnvironment:
    """The machine the lint judges for: libc, kernel, Python, clock source.

    ``implemented`` holds the syscall numbers the kernel implements (None: unknown);
    ``python`` is the CPython version the role's code runs on (None: not CPython).
    """

    libc: str
    libc_version: Optional[Version]
    kernel_release: str
    implemented: Optional[frozenset[int]]
    python: Optional[Version] = None
    clocksource: Optional[str] = None
    rseq_disabled: bool = False
    #: How ``implemented`` was found: "probe", "assumed from the kernel release" or "not probed".
    kernel_source: str = "not probed"
    #: Numbers the probe could not call safely and assumed implemented.
    assumed: frozenset[int] = frozenset()

    @classmethod
    def detect(cls, *, probe: bool = True) -> LintEnvironment:
        """This machine; ``probe=False`` assumes the kernel implements the table up to its release."""
        libc, version = detect_libc()
        release = os.uname().release
        python = tuple(sys.version_info[:2]) if platform.python_implementation() == "CPython" else None
        try:
            clocksource: Optional[str] = _CLOCKSOURCE.read_text().strip() or None
        except OSError:
            clocksource = None
        tunables = os.environ.get("GLIBC_TUNABLES", "")
        env = cls(
            libc,
            version,
            release,
            assumed_implemented(release),
            python,
            clocksource,
            rseq_disabled="glibc.pthread.rseq=0" in tunables,
            kernel_source="assumed from the kernel release",
        )
        if probe:
            result = probe_kernel()
            if result is not None:
                env = replace(env, implemented=result.implemented, kernel_source="probe", assumed=result.assumed)
        return env

    @classmethod
    def assume(
        cls,
        libc: str = GLIBC,
        libc_version: Optional[str] = "2.36",
        kernel_release: str = "6.18",
        python: Optional[str] = "3.11",
        clocksource: Optional[str] = "tsc",
        rseq_disabled: bool = False,
    ) -> LintEnvironment:
        """A made-up machine, for deterministic results (tests, "what if I upgrade glibc")."""
        return cls(
            libc,
            parse_version(libc_version) if libc_version else None,
            kernel_release,
            assumed_implemented(kernel_release),
            parse_version(python) if python else None,
            clocksource,
            rseq_disabled,
            kernel_source="assumed from the kernel release",
        )

    def describe(self) -> str:
        """``"glibc 2.36, Linux 6.18.44, CPython 3.11, clock source tsc"``."""
        libc = self.libc + (f" {format_version(self.libc_version)}" if self.libc_version else "")
        parts = [libc, f"Linux {self.kernel_release}"]
        parts.append(f"CPython {format_version(self.python)}" if self.python else "no CPython")
        parts.append(f"clock source {self.clocksource or 'unknown'}")
        if self.rseq_disabled:
            parts.append("rseq off (GLIBC_TUNABLES)")
        return ", ".join(parts)

    def version_of(self, by: str) -> tuple[bool, Optional[Version]]:
        """``(present, version)`` of library ``by`` on this machine."""
        if by == CPYTHON:
            return self.python is not None, self.python
        return by == self.libc, self.libc_version

    def condition_holds(self, condition: Optional[str]) -> bool:
        """Does a :class:`~.drift.Use` condition hold here?"""
        if condition == NO_VDSO:
            return self.clocksource is None or self.clocksource not in VDSO_CLOCKSOURCES
        if condition == RSEQ:
            return not self.rseq_disabled
        return True

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "libc": self.libc,
            "libc_version": format_version(self.libc_version) if self.libc_version else None,
            "kernel_release": self.kernel_release,
            "kernel_source": self.kernel_source,
            "implemented": len(self.implemented) if self.implemented is not None else None,
            "python": format_version(self.python) if self.python else None,
            "clocksource": self.clocksource,
            "rseq_disabled": self.rseq_disabled,
        }


def detect_libc() -> tuple[str, Optional[Version]]:
    """``("glibc", (2, 36))``; musl is recognised by its loader, best effort; else ``("unknown", None)``."""
    try:
        text = os.confstr("CS_GNU_LIBC_VERSION")
    except (ValueError, OSError):
        text = None
    if text and text.startswith("glibc "):
        return GLIBC, parse_version(text.split()[1])
    name, version = platform.libc_ver()
    if name == "glibc" and version:
        return GLIBC, parse_version(version)
    if any(Path("/lib").glob("ld-musl-*.so.1")):
        return MUSL, None
    return "unknown", None


def assumed_implemented(release: str) -> frozenset[int]:
    """The table's numbers, less those added after kernel ``release`` (see ``LINUX_SINCE``)."""
    kernel = parse_version(release)[:2]
    return frozenset(nr for nr, name in NAMES.items() if LINUX_SINCE.get(name, (0,)) <= kernel)


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
