"""Allow-list lint: predict a role's next crash before any test runs.

For each role (a name and the set of syscall names it allows) the lint reports:

* **family gaps**: every :mod:`syscall family <.drift>` the role allows only
  partly, with each missing member marked ``certain`` (this libc's usual way to do
  the family's job), ``likely`` (a secondary entry point this libc or this Python
  uses) or ``note`` (an old, unused or not-yet-used form);
* **library drift**: syscalls that newer glibc (or CPython) releases started to use
  for calls the role already makes, with the release that introduced each;
* **kernel drift**: allowed syscalls the running kernel does not implement.

Machine-wide, :class:`KernelDrift` lists what the running kernel implements that
the syscall table or every capability group lacks (systemd-analyze's "unlisted
system calls"), and table entries newer than the kernel.

Everything here is pytest-free and takes roles as data; the machine is a
:class:`LintEnvironment`, detected (:meth:`LintEnvironment.detect`) or made up for
tests (:meth:`LintEnvironment.assume`)::

    env = LintEnvironment.assume(libc_version="2.36")
    result = lint_role("msghand", frozenset({"clone", "stat", ...}), env)
    [f.syscall for f in result.findings if f.severity == CERTAIN]
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import platform
import select
import signal
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache, cached_property
from pathlib import Path
from typing import Any, Optional

from ..kernel.syscalls import NAMES, NEWER_NUMBERS, NUMBERS, check_names
from ..roles.groups import GROUPS
from .drift import (
    CPYTHON,
    FAMILIES,
    GLIBC,
    LIBRARY_DRIFT,
    LINUX_SINCE,
    MUSL,
    NO_VDSO,
    Drift,
    Family,
    Use,
    Version,
    format_version,
    parse_version,
)

CERTAIN = "certain"
LIKELY = "likely"
NOTE = "note"
SEVERITIES = (CERTAIN, LIKELY, NOTE)
_RANK = {CERTAIN: 0, LIKELY: 1, NOTE: 2}

#: x86 clock sources the vDSO reads without a syscall (others make the vDSO fall back).
VDSO_CLOCKSOURCES = frozenset({"tsc", "kvm-clock", "hyperv_clocksource_tsc_page"})
_CLOCKSOURCE = Path("/sys/devices/system/clocksource/clocksource0/current_clocksource")


# --------------------------------------------------------------------------- environment


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
        if condition == "rseq":
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


# --------------------------------------------------------------------------- kernel probe

#: Numbers the probe never calls: they end, block, fork, signal or undo the probe
#: whatever their arguments (uretprobe raises SIGILL). They count as implemented.
PROBE_SKIP = frozenset(
    {
        "rt_sigreturn", "pause", "fork", "vfork", "clone", "clone3", "exit", "exit_group",
        "execve", "execveat", "rt_sigsuspend", "sync", "vhangup", "setsid", "restart_syscall",
        "kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "pidfd_send_signal",
        "io_uring_setup", "io_uring_enter", "io_uring_register", "uretprobe",
        "reboot", "kexec_load", "kexec_file_load",
    }
)  # fmt: skip
#: Skipped as well when the probe cannot drop root (they act before checking arguments only for root).
PROBE_SKIP_ROOT = frozenset(
    {
        "init_module", "finit_module", "delete_module", "swapon", "swapoff", "acct", "settimeofday",
        "clock_settime", "adjtimex", "clock_adjtime", "sethostname", "setdomainname", "iopl", "ioperm",
        "mount", "umount2", "pivot_root", "chroot", "munlockall",
    }
)  # fmt: skip
#: Harmless arguments where all -1 would answer ENOSYS (futex, modify_ldt: unknown
#: operation) or create something lasting (SysV IPC with IPC_CREAT in the flags).
PROBE_ARGS: Mapping[str, tuple[int, ...]] = {
    "futex": (0, 1, 0, 0, 0, 0),  # FUTEX_WAKE on address 0: EFAULT
    "modify_ldt": (0, 0, 0, 0, 0, 0),  # read 0 bytes
    "msgget": (-1, 0, 0, 0, 0, 0),  # no IPC_CREAT: ENOENT
    "semget": (-1, 0, 0, 0, 0, 0),
    "shmget": (-1, 0, 0, 0, 0, 0),
}
#: The probe covers 0..PROBE_LIMIT-1; x32 numbers start at 512.
PROBE_LIMIT = 512
_ABSENT, _PRESENT, _SKIPPED = b"0", b"1", b"2"


@dataclass(frozen=True)
class KernelProbe:
    """What a probe of the running kernel found."""

    implemented: frozenset[int]
    assumed: frozenset[int]


def _probe_child(start: int, out_fd: int) -> None:  # pragma: no cover - runs in a forked child
    """Call each number from ``start`` on with invalid arguments; write one status byte per number."""
    from ..kernel.calls import raw_syscall

    skip = set(PROBE_SKIP)
    try:  # without root, privileged calls fail with EPERM before doing anything
        os.setgroups([])
        os.setresgid(65534, 65534, 65534)
        os.setresuid(65534, 65534, 65534)
    except OSError:
        pass
    if os.geteuid() == 0:
        skip |= PROBE_SKIP_ROOT
    for nr in range(start, PROBE_LIMIT):
        name = NAMES.get(nr, "")
        if name in skip:
            status = _SKIPPED
        else:
            result, err = raw_syscall(nr, *PROBE_ARGS.get(name, (-1,) * 6))
            status = _ABSENT if result == -1 and err == errno.ENOSYS else _PRESENT
        os.write(out_fd, status)


def _run_probe_child(start: int, deadline: float) -> tuple[bytes, bool]:
    """Fork a probe child from ``start``; returns (status bytes, ended early)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 0
        try:
            os.close(read_fd)
            _probe_child(start, write_fd)
        except BaseException:
            code = 1
        os._exit(code)
    os.close(write_fd)
    received = bytearray()
    stalled = False
    try:
        while start + len(received) < PROBE_LIMIT:
            wait = min(2.0, deadline - time.monotonic())
            if wait <= 0 or not select.select([read_fd], [], [], wait)[0]:
                stalled = True
                break
            chunk = os.read(read_fd, PROBE_LIMIT)
            if not chunk:
                break
            received += chunk
    finally:
        os.close(read_fd)
        if stalled:
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    return bytes(received), start + len(received) < PROBE_LIMIT


@cache
def probe_kernel(timeout: float = 20.0) -> Optional[KernelProbe]:
    """Which syscall numbers the running kernel implements, found in forked children.

    Each number is called with invalid arguments (-1 everywhere, except
    :data:`PROBE_ARGS`): ENOSYS means not implemented, any other answer means
    implemented. The children drop root first, never call :data:`PROBE_SKIP`
    (counted as implemented), and a number that kills or stalls a child counts as
    implemented; the next child goes on after it. None where probing is not
    possible (not Linux x86-64, or a seccomp filter already on this process, which
    would answer for the kernel). Cached per process.
    """
    from ..kernel.support import unsupported_reason

    if unsupported_reason() is not None:
        return None
    from ..kernel.calls import seccomp_mode

    if seccomp_mode() != 0:
        return None
    statuses = bytearray()
    fatal: set[int] = set()
    deadline = time.monotonic() + timeout
    while len(statuses) < PROBE_LIMIT and len(fatal) < 16:
        got, early = _run_probe_child(len(statuses), deadline)
        statuses += got
        if early and len(statuses) < PROBE_LIMIT:
            if time.monotonic() >= deadline:
                return None
            fatal.add(len(statuses))
            statuses += _PRESENT
    if len(statuses) < PROBE_LIMIT:
        return None
    implemented = frozenset(nr for nr in range(PROBE_LIMIT) if statuses[nr : nr + 1] != _ABSENT)
    assumed = frozenset(nr for nr in range(PROBE_LIMIT) if statuses[nr : nr + 1] == _SKIPPED)
    return KernelProbe(implemented, assumed)


# --------------------------------------------------------------------------- findings


@dataclass(frozen=True)
class Finding:
    """One syscall a role lacks, how likely it is to be needed here, and why."""

    syscall: str
    severity: str
    reason: str
    family: Optional[str] = None
    #: The release that introduced the use, e.g. "glibc 2.35"; None if long-standing.
    introduced: Optional[str] = None
    #: "family", "library" or "family+library".
    kind: str = "family"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "syscall": self.syscall,
            "severity": self.severity,
            "family": self.family,
            "introduced": self.introduced,
            "kind": self.kind,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class FamilyGap:
    """A family the role allows only partly."""

    family: str
    job: str
    allowed: tuple[str, ...]
    missing: tuple[Finding, ...]


@dataclass(frozen=True)
class RoleLint:
    """Everything the lint found for one role."""

    name: str
    allowed: frozenset[str]
    gaps: tuple[FamilyGap, ...]
    drift: tuple[Finding, ...]
    #: Allowed syscalls the running kernel does not implement (harmless, but dead entries).
    not_implemented: tuple[str, ...]

    @cached_property
    def findings(self) -> tuple[Finding, ...]:
        """Family and drift findings merged per syscall, most severe first (merged once)."""
        merged: dict[str, Finding] = {}
        for finding in [m for gap in self.gaps for m in gap.missing] + list(self.drift):
            old = merged.get(finding.syscall)
            if old is None:
                merged[finding.syscall] = finding
                continue
            worst = min(old.severity, finding.severity, key=_RANK.__getitem__)
            family = old.family or finding.family
            reason = old.reason
            if finding.kind == "library" and old.kind != "library":
                reason = f"{old.reason}; {finding.reason}" if worst != old.severity else old.reason
            merged[finding.syscall] = Finding(
                finding.syscall,
                worst,
                reason,
                family,
                old.introduced or finding.introduced,
                old.kind if old.kind == finding.kind else "family+library",
            )
        return tuple(sorted(merged.values(), key=lambda f: (_RANK[f.severity], NUMBERS[f.syscall])))

    def names(self, severity: str) -> tuple[str, ...]:
        """The missing syscalls of one severity."""
        return tuple(f.syscall for f in self.findings if f.severity == severity)

    @property
    def certain(self) -> tuple[str, ...]:
        """Syscalls whose absence is a certain crash on this machine."""
        return self.names(CERTAIN)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "role": self.name,
            "allowed": sorted(self.allowed, key=NUMBERS.__getitem__),
            "findings": [f.to_dict() for f in self.findings],
            "family_gaps": [
                dict(family=g.family, job=g.job, allowed=list(g.allowed), missing=[m.syscall for m in g.missing])
                for g in self.gaps
            ],
            "library_drift": [f.to_dict() for f in self.drift],
            "not_implemented": list(self.not_implemented),
        }


def _describe(uses: Sequence[Use]) -> str:
    return "; ".join(u.describe() for u in uses)


def _judge_member(family: Family, member: str, have: Sequence[str], env: LintEnvironment) -> Finding:
    active: list[Use] = []
    pending: list[Use] = []
    blocked: list[Use] = []
    for use in family.uses_of(member):
        present, version = env.version_of(use.by)
        if not present:
            continue
        if not use.active(version):
            if use.since is not None and version is not None and version < parse_version(use.since):
                pending.append(use)
        elif env.condition_holds(use.condition):
            active.append(use)
        else:
            blocked.append(use)
    if any(u.main and u.by == env.libc for u in active):
        severity = CERTAIN
    elif active:
        severity = LIKELY
    else:
        severity = NOTE
    head = f"allows {', '.join(have)} but not {member}"
    why: list[str] = []
    if active:
        why.append("used by " + _describe(active))
    if pending:
        why.append("will be used by " + _describe(pending))
    if blocked:
        why.append(f"used by {_describe(blocked)} only without a vDSO clock source (here {env.clocksource})")
    remark = family.remarks.get(member)
    if remark and severity != CERTAIN:
        why.append(remark)
    if not why:
        here = [env.libc + (f" {format_version(env.libc_version)}" if env.libc_version else "")]
        if env.python:
            here.append(f"CPython {format_version(env.python)}")
        why.append(f"no known use by {' or '.join(here)}")
    deciding = [u for u in active if u.since] or ([] if active else pending)
    introduced = f"{deciding[0].by} {deciding[0].since}" if deciding else None
    return Finding(member, severity, f"{head}: {'; '.join(why)}", family.name, introduced)


def _judge_drift(drift: Drift, allowed: frozenset[str], env: LintEnvironment) -> Optional[Finding]:
    present, version = env.version_of(drift.by)
    makes = sorted(allowed & drift.before, key=NUMBERS.__getitem__)
    if not present or not makes or drift.syscall in allowed:
        return None
    since = parse_version(drift.since)
    here = f"{drift.by} {format_version(version)}" if version else f"{drift.by} of unknown version"
    head = f"{drift.by} {drift.since} started to call {drift.syscall} for {drift.calls}, which this role makes"
    head += f" (it allows {', '.join(makes)})"
    if version is not None and version < since:
        severity, tail = NOTE, f"arrives with {drift.by} {drift.since} (here {here})"
    elif not env.condition_holds(drift.condition):
        severity, tail = NOTE, "turned off here by GLIBC_TUNABLES glibc.pthread.rseq=0"
    else:
        severity, tail = (CERTAIN if drift.by == env.libc else LIKELY), f"in effect here ({here})"
    return Finding(drift.syscall, severity, f"{head}; {tail}", introduced=f"{drift.by} {drift.since}", kind="library")


def lint_role(name: str, allowed: Iterable[str], env: LintEnvironment) -> RoleLint:
    """Lint one role's allow-list against the families, library drift and the kernel."""
    allowed = frozenset(check_names(allowed))
    gaps: list[FamilyGap] = []
    for family in FAMILIES.values():
        have = tuple(m for m in family.members if m in allowed)
        if not have or len(have) == len(family.members):
            continue
        missing = tuple(_judge_member(family, m, have, env) for m in family.members if m not in allowed)
        gaps.append(FamilyGap(family.name, family.job, have, missing))
    drift = tuple(f for f in (_judge_drift(d, allowed, env) for d in LIBRARY_DRIFT) if f is not None)
    dead: tuple[str, ...] = ()
    if env.implemented is not None:
        dead = tuple(sorted((n for n in allowed if NUMBERS[n] not in env.implemented), key=NUMBERS.__getitem__))
    return RoleLint(name, allowed, tuple(gaps), drift, dead)


# --------------------------------------------------------------------------- kernel drift


@dataclass(frozen=True)
class KernelDrift:
    """What the running kernel and the syscall table or the capability groups disagree on."""

    release: str
    source: str
    implemented: int
    #: Numbers the kernel implements that the table has no name for.
    unknown: tuple[int, ...]
    #: Table entries this kernel lacks because they are newer than it.
    newer: tuple[str, ...]
    #: Other table entries it lacks (retired, or configured out).
    absent: tuple[str, ...]
    #: Implemented syscalls no capability group mentions ("unlisted").
    unlisted: tuple[str, ...]
    #: Numbers the probe did not call and assumed implemented.
    assumed: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "release": self.release,
            "source": self.source,
            "implemented": self.implemented,
            "unknown_to_table": list(self.unknown),
            "newer_than_kernel": list(self.newer),
            "not_implemented": list(self.absent),
            "unlisted": list(self.unlisted),
            "assumed": list(self.assumed),
        }


def kernel_drift(env: LintEnvironment) -> KernelDrift:
    """Compare the running kernel's syscalls with the table and the capability groups."""
    if env.implemented is None:
        return KernelDrift(env.kernel_release, env.kernel_source, 0, (), (), (), ())
    kernel = parse_version(env.kernel_release)[:2]
    grouped = {name for names in GROUPS.values() for name in names}
    missing = [NAMES[nr] for nr in sorted(NAMES) if nr not in env.implemented]
    newer_numbers = {n for n in missing if LINUX_SINCE.get(n, (0,)) > kernel or NUMBERS[n] in NEWER_NUMBERS}
    return KernelDrift(
        env.kernel_release,
        env.kernel_source,
        len(env.implemented),
        tuple(sorted(nr for nr in env.implemented if nr not in NAMES)),
        tuple(n for n in missing if n in newer_numbers),
        tuple(n for n in missing if n not in newer_numbers),
        tuple(NAMES[nr] for nr in sorted(env.implemented) if nr in NAMES and NAMES[nr] not in grouped),
        tuple(NAMES[nr] for nr in sorted(env.assumed) if nr in NAMES),
    )


# --------------------------------------------------------------------------- report


@dataclass(frozen=True)
class LintReport:
    """The lint of several roles on one machine."""

    environment: LintEnvironment
    roles: tuple[RoleLint, ...]
    kernel: KernelDrift = field(compare=False)

    @property
    def exit_code(self) -> int:
        """1 if any role has a certain finding, else 0."""
        return 1 if any(role.certain for role in self.roles) else 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "environment": self.environment.to_dict(),
            "kernel": self.kernel.to_dict(),
            "roles": [role.to_dict() for role in self.roles],
            "exit_code": self.exit_code,
        }


def lint(roles: Mapping[str, Iterable[str]], env: LintEnvironment) -> LintReport:
    """Lint every role of ``roles`` (name -> allowed syscall names)."""
    return LintReport(env, tuple(lint_role(n, a, env) for n, a in roles.items()), kernel_drift(env))


def policy_roles(names: Sequence[str] = ()) -> dict[str, frozenset[str]]:
    """Built-in roles as lint roles (Bitcoin Core's fifteen by default, any built-in by name).

    Unknown names raise UnknownPolicyError.
    """
    from ..roles.policies import SyscallSandboxPolicy
    from ..roles.registry import RoleRegistry

    registry = RoleRegistry()
    roles = [registry.get(n) for n in names] if names else [registry.get(p.name) for p in SyscallSandboxPolicy]
    return {role.name: role.allowed for role in roles}


def summary_lines(report: LintReport) -> list[str]:
    """One line per role with findings beyond notes, for a report header."""
    lines = []
    for role in report.roles:
        parts = [f"{sev} {' '.join(role.names(sev))}" for sev in (CERTAIN, LIKELY) if role.names(sev)]
        if parts:
            lines.append(f"sandbox lint: {role.name}: " + "; ".join(parts))
    return lines


def _wrap(names: Sequence[str], width: int = 100, indent: str = "  ") -> str:
    import textwrap

    return textwrap.fill(" ".join(names), width=width, initial_indent=indent, subsequent_indent=indent)


def render_table(report: LintReport) -> str:
    """The report as text: one table per group of roles with the same allow-list."""
    from tabulate import tabulate

    env = report.environment
    out = [f"Allow-list lint on this machine: {env.describe()}", ""]
    groups: dict[frozenset[str], list[RoleLint]] = {}
    for role in report.roles:
        groups.setdefault(role.allowed, []).append(role)
    for same in groups.values():
        role = same[0]
        counts = ", ".join(f"{len(role.names(sev))} {sev}" for sev in SEVERITIES)
        out.append(f"{', '.join(r.name for r in same)} ({len(role.allowed)} syscalls): {counts}")
        rows = [(f.syscall, f.severity, f.family or "-", f.introduced or "-", f.reason) for f in role.findings]
        if rows:
            headers = ["syscall", "severity", "family", "introduced", "why"]
            out.append(tabulate(rows, headers=headers, maxcolwidths=[None, None, None, None, 80]))
        else:
            out.append("  no family gaps and no library drift")
        if role.not_implemented:
            out.append(f"  allowed but not implemented by this kernel: {' '.join(role.not_implemented)}")
        out.append("")
    k = report.kernel
    out.append(f"Kernel drift (Linux {k.release}, {k.source}): {k.implemented} syscall numbers implemented")
    if k.source == "not probed":
        out.append("  the running kernel's syscalls are unknown")
    else:
        out.append(f"  implemented but unknown to the syscall table: {' '.join(map(str, k.unknown)) or 'none'}")
        out.append(f"  table entries newer than this kernel: {' '.join(k.newer) or 'none'}")
        out.append(f"  table entries this kernel does not implement (retired or configured out): {len(k.absent)}")
        if k.absent:
            out.append(_wrap(k.absent, indent="    "))
        out.append(f"  implemented syscalls no capability group knows (unlisted): {len(k.unlisted)}")
        if k.unlisted:
            out.append(_wrap(k.unlisted, indent="    "))
        if k.assumed:
            out.append(f"  not probed (unsafe to call), counted as implemented: {len(k.assumed)}")
            out.append(_wrap(k.assumed, indent="    "))
    verdict = "certain crashes found" if report.exit_code else "no certain crash found"
    out += ["", f"Result: {verdict} (exit code {report.exit_code})"]
    return "\n".join(out)


def render_json(report: LintReport) -> str:
    """The report as JSON."""
    return json.dumps(report.to_dict(), indent=2)


# --------------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``lint`` subcommand's arguments to ``parser``."""
    parser.add_argument("roles", nargs="*", metavar="ROLE", help="Policies to lint (default: all fifteen)")
    parser.add_argument("--format", choices=("table", "json"), default="table", help="Output format")
    parser.add_argument(
        "--no-probe",
        action="store_true",
        help="Do not probe the running kernel; assume it implements the table up to its release",
    )


def run_lint(args: argparse.Namespace) -> tuple[str, int]:
    """Run the lint for parsed arguments; returns (text, exit code: 0 clean, 1 certain findings).

    Unknown role names raise :class:`~..errors.UnknownPolicyError` (exit code 2 in the CLI).
    """
    roles = policy_roles(args.roles)
    report = lint(roles, LintEnvironment.detect(probe=not args.no_probe))
    text = render_json(report) if args.format == "json" else render_table(report)
    return text, report.exit_code
