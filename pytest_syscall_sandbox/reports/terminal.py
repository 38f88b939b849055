"""The "syscall sandbox" terminal section, for a run (the plugin) and for a saved report
(``pytest-syscall-sandbox report``): one renderer, so both print the same lines."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..recorders.record import TrapRecord
from ..roles.registry import RoleRegistry
from ..roles.role import BITCOIN_CORE
from .fixes import RoleFix
from .gaps import RoleTally, render_profile, summary_lines
from .schema import SavedReport

PROFILE = "profile"


def builtin_roles(registry: RoleRegistry | None = None) -> list[str]:
    """The roles whose gaps are also told against upstream Bitcoin Core's lists."""
    return [r.name for r in (registry or RoleRegistry()).roles() if r.origin == BITCOIN_CORE]


def section_lines(
    records: Iterable[TrapRecord],
    roles_used: Mapping[str, int],
    tallies: Mapping[str, RoleTally],
    role_facts: Mapping[str, Mapping[str, Any]],
    mode: str,
    verbosity: int = 0,
    bases: Mapping[str, str] | None = None,
    builtin: Iterable[str] | None = None,
    fixes: Mapping[str, RoleFix] | None = None,
    width: int | None = None,
) -> list[tuple[str, str]]:
    """Per-role lines, gap tables and fixes, then, in profile mode, the least-privilege table; each
    line with its style (pytest's markup name, "" for none). ``width``: the tables fit that many columns."""
    lines = summary_lines(
        records,
        roles_used,
        verbosity=verbosity,
        builtin=builtin_roles() if builtin is None else builtin,
        bases=bases,
        tallies=tallies,
        fixes=fixes,
        width=width,
    )
    if mode == PROFILE:
        profile = render_profile({name: dict(facts) for name, facts in role_facts.items()}, width)
        lines += [("", ""), *((line, "") for line in profile.splitlines())]
    return lines


def render_saved(report: SavedReport, verbosity: int = 0, width: int | None = None) -> str:
    """The section the run that wrote ``report`` printed (a merged report: as one run over all its tests)."""
    lines = section_lines(
        report.records(),
        report.roles_used(),
        report.tallies(),
        report.role_facts(),
        report.mode,
        verbosity=verbosity,
        bases=report.bases(),
        fixes={name: SavedFix(name, name, "", shown=list(facts["fix_lines"])) for name, facts in _fixed(report)},
        width=width,
    )
    return "\n".join(text for text, _ in lines) + render_environments(report)


@dataclass
class SavedFix(RoleFix):
    """A role's fix as the run showed it (the report's ``fix_lines``)."""

    shown: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The lines the run printed under the role's gap table."""
        return list(self.shown)


def _fixed(report: SavedReport) -> list[tuple[str, dict[str, Any]]]:
    return [(name, facts) for name, facts in report.roles.items() if facts.get("fix_lines")]


def render_environments(report: SavedReport) -> str:
    """For a report merged from several environments: each one's tests, and the gaps only some showed."""
    environments = report.environments
    if len(environments) < 2:
        return ""
    counts: dict[str, int] = dict.fromkeys(environments, 0)
    for test in report.tests:
        counts[test["environment"]] += 1
    names = {label: f"E{index}" for index, label in enumerate(environments, 1)}
    lines = ["", f"environments ({len(environments)}):"]
    lines += [f"  {names[label]}: {label} ({counts[label]} test runs)" for label in environments]
    only = [
        f"  {role}: {syscall} only in {', '.join(names[label] for label in labels)}"
        for role, facts in report.roles.items()
        for syscall, labels in facts["environment_gaps"].items()
    ]
    if only:
        lines += ["gaps that appear only in some environments (the same tests ran in others without them):", *only]
    else:
        lines.append("every gap appears in every environment whose tests could make it")
    return "\n".join(lines)
