"""The lint of several roles, and how it is shown: summary lines, a table, JSON."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .environment import LintEnvironment
from .findings import CERTAIN, LIKELY, NOTE, SEVERITIES, Finding, KernelDrift, RoleLint, kernel_drift, lint_role

if TYPE_CHECKING:
    from ..roles.registry import RoleRegistry


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


def policy_roles(
    names: Sequence[str] = (), registry: RoleRegistry | None = None, where: str = ""
) -> dict[str, frozenset[str]]:
    """Roles as lint roles (Bitcoin Core's fifteen by default; by name, any role ``registry`` knows).

    Unknown names raise UnknownPolicyError; ``where`` (where the project's roles were
    looked for) is added to its message.
    """
    from ..errors import UnknownPolicyError
    from ..roles.policies import SyscallSandboxPolicy
    from ..roles.registry import RoleRegistry

    registry = registry or RoleRegistry()
    try:
        roles = [registry.get(n) for n in names] if names else [registry.get(p.name) for p in SyscallSandboxPolicy]
    except UnknownPolicyError as exc:
        if where:
            exc.args = (f"{exc} ({where})",)
        raise
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


#: Severity -> its rank, gravest first.
_RANK = {severity: rank for rank, severity in enumerate(SEVERITIES)}


def shown(findings: Iterable[Finding], least: str = NOTE) -> list[Finding]:
    """The findings of severity ``least`` or graver."""
    return [f for f in findings if _RANK[f.severity] <= _RANK[least]]


def render_table(report: LintReport, least: str = NOTE) -> str:
    """The report as text: one table per group of roles with the same allow-list.

    ``least``: show findings of that severity and graver (the counts count them all).
    """
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
        rows = [
            (f.syscall, f.severity, f.family or "-", f.introduced or "-", f.reason) for f in shown(role.findings, least)
        ]
        if least != NOTE:
            out[-1] += " (showing certain only)" if least == CERTAIN else f" (showing {least} and graver)"
        if rows:
            headers = ["syscall", "severity", "family", "introduced", "why"]
            out.append(tabulate(rows, headers=headers, maxcolwidths=[None, None, None, None, 80]))
        else:
            out.append("  no family gaps and no library drift" if not role.findings else f"  no {least} findings")
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


def render_json(report: LintReport, least: str = NOTE) -> str:
    """The report as JSON; ``least``: each role's ``findings`` hold that severity and graver."""
    document = report.to_dict()
    if least != NOTE:
        document["min_severity"] = least
        for role in document["roles"]:
            role["findings"] = [f for f in role["findings"] if _RANK[f["severity"]] <= _RANK[least]]
    return json.dumps(document, indent=2)
