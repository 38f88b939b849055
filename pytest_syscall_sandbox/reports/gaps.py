"""Render trap records for people: per-role summaries and tables (pure functions)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from tabulate import tabulate

from ..recorders.record import HARNESS, USED, TrapRecord
from ..roles.groups import group_of


@dataclass
class Gap:
    """One syscall a role lacks, summed over the run."""

    role: str
    syscall: str
    nr: int
    calls: int = 0
    tests: list[str] = field(default_factory=list)
    first_location: str = ""
    #: Set when an argument rule, not the allow-list, refused the call.
    reason: str = ""

    @property
    def group(self) -> str:
        """The capability group that would allow it, or how to allow it otherwise."""
        if self.reason:
            return f"argument rule: {self.reason}"
        return group_of(self.syscall) or "no group: allow it by name"


def gaps_by_role(records: Iterable[TrapRecord]) -> dict[str, list[Gap]]:
    """Role -> its missing syscalls, in order of first appearance."""
    roles: dict[str, dict[int, Gap]] = {}
    tests: dict[tuple[str, int], dict[str, None]] = {}  # each gap's tests, as an ordered set
    for record in records:
        if record.phase == HARNESS:
            continue
        gaps = roles.setdefault(record.role, {})
        if record.outcome == USED:
            continue
        gap = gaps.get(record.nr)
        if gap is None:
            gap = gaps[record.nr] = Gap(record.role, record.syscall, record.nr, reason=record.reason)
        gap.calls += 1
        if record.nodeid:
            seen = tests.setdefault((record.role, record.nr), {})
            if record.nodeid not in seen:
                seen[record.nodeid] = None
                gap.tests.append(record.nodeid)
        if not gap.first_location and record.location:
            gap.first_location = f"{record.location} in {record.function}" if record.function else record.location
    return {role: list(gaps.values()) for role, gaps in roles.items()}


def summary_line(role: str, gaps: list[Gap]) -> str:
    """``NET: 2 missing: getgroups, mount``."""
    if not gaps:
        return f"{role}: no missing syscalls"
    return f"{role}: {len(gaps)} missing: {', '.join(g.syscall for g in gaps)}"


def gap_table(gaps: list[Gap]) -> str:
    """One role's gaps as a table."""
    rows = [
        (g.syscall, g.nr, g.calls, len(g.tests), g.tests[0] if g.tests else "", g.first_location, g.group) for g in gaps
    ]
    headers = ["syscall", "nr", "calls", "tests", "first test", "first location", "group that allows it"]
    return tabulate(rows, headers=headers)


def render_summary(
    records: Iterable[TrapRecord],
    roles: Iterable[str] = (),
    verbosity: int = 0,
    builtin: Iterable[str] = (),
    bases: Mapping[str, str] | None = None,
) -> str:
    """The terminal section: a line per role, then (unless quiet) a table and a fix per role with gaps."""
    by_role = gaps_by_role(records)
    for role in roles:
        by_role.setdefault(role, [])
    if not by_role:
        return ""
    builtin = set(builtin)
    parts = [summary_line(role, gaps) for role, gaps in by_role.items()]
    if verbosity >= 0:
        for role, gaps in by_role.items():
            if not gaps:
                continue
            base = (bases or {}).get(role, "")
            parts += ["", f"{role}:", gap_table(gaps), "", "fix (sandbox_roles):  " + fix_definition(role, gaps, base)]
            if role in builtin:
                parts += ["vs upstream Bitcoin Core:", *(f"  {line}" for line in upstream_difference(gaps))]
    return "\n".join(parts)


def fix_definition(role: str, gaps: list[Gap], base: str = "") -> str:
    """A custom-role line (``sandbox_roles`` syntax) that closes the role's gaps.

    Calls refused by the hardening set are on the allow-list already: closing those
    gaps means dropping the set (``-@Hardening``).
    """
    missing = [f"+{g.syscall}" for g in gaps if not g.reason]
    if any(g.reason for g in gaps):
        missing.append("-@Hardening")
    name = re.sub(r"\W+", "_", role).strip("_")
    return f"{name}_FIXED = {base or role} " + " ".join(missing)


def upstream_difference(gaps: list[Gap]) -> list[str]:
    """For a built-in role: what upstream Bitcoin Core's list would need, one line per syscall."""
    lines = []
    for gap in gaps:
        if gap.reason:
            lines.append(f"{gap.syscall} ({gap.nr}): allowed upstream; refused here by the hardening set")
            continue
        group = group_of(gap.syscall)
        where = f"in upstream's {group} group, which this policy does not enable" if group else "in no upstream group"
        lines.append(f"+{gap.syscall} ({gap.nr}): {where}")
    return lines


#: Version of the ``--sandbox-report`` JSON schema (see README, "The report file").
REPORT_VERSION = 1


def build_json_report(
    records: list[TrapRecord],
    roles: dict[str, dict[str, object]],
    environment: dict[str, str],
    settings: dict[str, object],
    interrupted: bool = False,
) -> dict[str, object]:
    """The ``--sandbox-report`` document. ``roles``: name -> facts (tests, origin, allowed)."""
    by_role = gaps_by_role(records)
    summary = {}
    for role in sorted(set(roles) | set(by_role)):
        gaps = by_role.get(role, [])
        facts = dict(roles.get(role, {}))
        facts["missing"] = [
            {
                "syscall": g.syscall,
                "nr": g.nr,
                "calls": g.calls,
                "tests": g.tests,
                "first_location": g.first_location,
                "group": group_of(g.syscall),
                "reason": g.reason or None,
            }
            for g in gaps
        ]
        facts["summary"] = summary_line(role, gaps)
        base = str(facts.get("definition", "")) if facts.get("variant") else ""
        facts["fix"] = fix_definition(role, gaps, base) if gaps else None
        summary[role] = facts
    return {
        "version": REPORT_VERSION,
        "interrupted": interrupted,
        "environment": environment,
        "settings": settings,
        "roles": summary,
        "records": [r.to_json() for r in records],
    }


def render_profile(roles: dict[str, dict[str, object]]) -> str:
    """Profile mode: per role, what it used, what it allows but never used, and a minimal list."""
    rows = []
    for name, facts in roles.items():
        used, unused, minimal = (list(facts.get(k, ())) for k in ("used", "unused", "minimal"))  # type: ignore[call-overload]
        rows.append(
            (name, len(used), len(unused), " ".join(unused[:12]) + (" ..." if len(unused) > 12 else ""), len(minimal))
        )
    headers = ["role", "allowed and used", "allowed, never used", "never used (first 12)", "minimal allow-list"]
    return "least privilege (profile mode):\n" + tabulate(rows, headers=headers)
