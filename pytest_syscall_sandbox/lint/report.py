"""The lint of several roles, and how it is shown: summary lines, a table, JSON."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .environment import LintEnvironment
from .findings import CERTAIN, LIKELY, SEVERITIES, KernelDrift, RoleLint, kernel_drift, lint_role


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
