"""What the lint finds for one role (family gaps, library and kernel drift), and machine-wide drift."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Optional

from ..kernel.syscalls import NAMES, NEWER_NUMBERS, NUMBERS, check_names
from ..roles.groups import GROUPS
from .drift import (
    FAMILIES,
    JOBS,
    LIBRARY_DRIFT,
    LINUX_SINCE,
    Drift,
    Family,
    Job,
    Step,
    Use,
    format_version,
    parse_version,
)
from .environment import LintEnvironment

CERTAIN = "certain"
LIKELY = "likely"
NOTE = "note"
SEVERITIES = (CERTAIN, LIKELY, NOTE)
_RANK = {CERTAIN: 0, LIKELY: 1, NOTE: 2}
_KINDS = ("family", "library", "job")


@dataclass(frozen=True)
class Finding:
    """One syscall a role lacks, how likely it is to be needed here, and why."""

    syscall: str
    severity: str
    reason: str
    family: Optional[str] = None
    #: The release that introduced the use, e.g. "glibc 2.35"; None if long-standing.
    introduced: Optional[str] = None
    #: What found it: "family", "library", "job", or several joined by "+" ("family+job").
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
    #: What the jobs the role does need beyond it (see :mod:`.jobs`).
    jobs: tuple[Finding, ...] = ()

    @cached_property
    def findings(self) -> tuple[Finding, ...]:
        """Family, drift and job findings merged per syscall, most severe first (merged once).

        The merged finding takes the most severe one's reason first (the first of equals),
        then the other reasons that were more severe than what came before them.
        """
        merged: dict[str, Finding] = {}
        for finding in [m for gap in self.gaps for m in gap.missing] + list(self.drift) + list(self.jobs):
            old = merged.get(finding.syscall)
            if old is None:
                merged[finding.syscall] = finding
                continue
            graver = _RANK[finding.severity] < _RANK[old.severity]
            kinds = {*old.kind.split("+"), finding.kind}
            merged[finding.syscall] = Finding(
                finding.syscall,
                finding.severity if graver else old.severity,
                f"{finding.reason}; {old.reason}" if graver else old.reason,
                old.family or finding.family,
                (finding.introduced or old.introduced) if graver else (old.introduced or finding.introduced),
                "+".join(k for k in _KINDS if k in kinds),
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
            "jobs": [f.to_dict() for f in self.jobs],
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
    if drift.only:
        head += f", {drift.only}"
    if version is not None and version < since:
        severity, tail = NOTE, f"arrives with {drift.by} {drift.since} (here {here})"
    elif not env.condition_holds(drift.condition):
        severity, tail = NOTE, "turned off here by GLIBC_TUNABLES glibc.pthread.rseq=0"
    else:
        certain = drift.by == env.libc and not drift.only
        severity, tail = (CERTAIN if certain else LIKELY), f"in effect here ({here})"
    return Finding(drift.syscall, severity, f"{head}; {tail}", introduced=f"{drift.by} {drift.since}", kind="library")


def _judge_step(job: Job, step: Step, makes: Sequence[str], env: LintEnvironment) -> Optional[Finding]:
    state = step.state(env)
    if state == "no":
        return None
    head = f"does the job '{job.name}' (it allows {', '.join(makes)}): {job.call} makes {step.syscall}"
    head += f" for {step.describe()}"
    if state == "pending":
        severity, tail = NOTE, "not yet on this machine"
    elif step.forms:
        severity = LIKELY
        tail = "only when " + "; or ".join(job.forms[f] for f in sorted(step.forms))
    elif not job.implied:
        severity, tail = LIKELY, f"if the role does that job ({', '.join(makes)} serve other jobs too)"
    else:
        severity, tail = CERTAIN, "in effect here"
    deciding = [s for s in step.spans if s.since]
    introduced = f"{deciding[0].by} {deciding[0].since}" if deciding else None
    return Finding(step.syscall, severity, f"{head}; {tail}", introduced=introduced, kind="job")


def _judge_jobs(allowed: frozenset[str], env: LintEnvironment) -> tuple[Finding, ...]:
    """The most severe finding per (job, missing syscall) of every job the role does."""
    out: list[Finding] = []
    for job in JOBS.values():
        makes = sorted(allowed & job.does, key=NUMBERS.__getitem__)
        if not makes:
            continue
        best: dict[str, Finding] = {}
        for step in job.steps:
            if step.syscall in allowed:
                continue
            finding = _judge_step(job, step, makes, env)
            old = best.get(step.syscall)
            if finding is not None and (old is None or _RANK[finding.severity] < _RANK[old.severity]):
                best[step.syscall] = finding
        out.extend(best.values())
    return tuple(out)


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
    return RoleLint(name, allowed, tuple(gaps), drift, dead, _judge_jobs(allowed, env))


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
