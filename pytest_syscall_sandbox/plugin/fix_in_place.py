"""``--sandbox-fix``: write each role's missing syscalls into the project's own role definitions.

The fixes come from :mod:`..reports.fixes`; this module finds the file pytest read
(``config.inipath``), checks that ``sandbox_roles`` came from it, edits it with
:mod:`..roles.rolefile`, checks the edit (the new file's roles must load and allow
what was added) and writes it atomically. Hook roles are not rewritten: their fix
line is printed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import pytest

from ..errors import SandboxError
from ..reports.fixes import HOOK, RoleFix, base_name, plan
from ..reports.gaps import gaps_by_role
from ..roles.registry import RoleRegistry, parse_role_lines
from ..roles.rolefile import ROLES_KEY, RoleFile, extend_roles, read_roles, role_file
from .ledger import Ledger


def role_fixes(ledger: Ledger, registry: RoleRegistry) -> dict[str, RoleFix]:
    """Per role with gaps: its :class:`~..reports.fixes.RoleFix`."""
    fixes = {}
    for name, gaps in gaps_by_role(ledger.records).items():
        if not gaps:
            continue
        role = ledger.role(name)
        try:
            target = registry.get(base_name(role))
        except SandboxError:  # a role only an xdist worker knew
            target = role
        fixes[name] = plan(role, gaps, target)
    return fixes


def _changes(fixes: Mapping[str, RoleFix]) -> dict[str, list[str]]:
    """Target role -> the terms to append, over all its variants, in order of first appearance."""
    changes: dict[str, list[str]] = {}
    for fix in fixes.values():
        if fix.kind != HOOK:
            terms = changes.setdefault(fix.target, [])
            terms += [term for term in fix.terms if term not in terms]
    return {target: terms for target, terms in changes.items() if terms}


def apply_fixes(config: pytest.Config, fixes: Mapping[str, RoleFix], conflicts: bool = True) -> list[str]:
    """Write the fixes into the file where ``sandbox_roles`` lives; return what to tell the user.

    ``conflicts``: also tell the gaps left for a person (where no table shows them).
    """
    told = []
    for fix in fixes.values():
        if fix.kind == HOOK and fix.line:
            told.append(
                f"sandbox fix: {fix.target} is defined by {fix.source}: not rewritten; make it return:  {fix.line}"
            )
    told += [
        f"sandbox fix: {fix.role}: not fixed: {text}" for fix in fixes.values() for text in fix.conflicts if conflicts
    ]
    changes = _changes(fixes)
    if not changes:
        return [*told, "sandbox fix: nothing to write"]
    path = str(config.inipath) if config.inipath else ""
    if not path:
        lines = "; ".join(f"{name} = {name} {' '.join(terms)}" for name, terms in changes.items())
        return [*told, f"sandbox fix: no configuration file to write to; add to {ROLES_KEY} in pytest.ini: {lines}"]
    shown = os.path.relpath(path, config.invocation_params.dir)
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            text = handle.read()
        file = role_file(path, text)
        if (read_roles(text, file) or "") != (config.getini(ROLES_KEY) or ""):
            raise SandboxError(f"{ROLES_KEY} of this run did not come from {shown} (-o?); not written")
        new_text = extend_roles(text, file, changes)
        _check(new_text, file, changes)
    except (OSError, SandboxError, ValueError) as exc:
        return [*told, f"sandbox fix: could not fix {shown}: {exc}"]
    from .output import write_atomically

    write_atomically(path, new_text)
    for name, terms in changes.items():
        told.append(f"sandbox fix: wrote {shown}: {name} {' '.join(terms)}")
    return told


def _check(text: str, file: RoleFile, changes: Mapping[str, list[str]]) -> None:
    """The edited file's roles load, and each changed role allows what was added."""
    registry = RoleRegistry()
    registry.define_all(parse_role_lines(read_roles(text, file) or ""), "ini sandbox_roles")
    for name, terms in changes.items():
        lacking = {term[1:] for term in terms} - registry.get(name).allowed
        if lacking:
            raise SandboxError(f"the edited {name} would still lack {', '.join(sorted(lacking))}; not written")
