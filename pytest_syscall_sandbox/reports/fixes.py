"""From a role's gaps to the change of its definition that closes them (pure functions).

The fix keeps the role's name: it extends the project role the tests ran under, so the
next run is clean without touching a marker. A built-in role becomes a project role of
the same name defined on top of it (``NET = NET +vfork``); a marker's variant
(``NET+getgroups-socket``, ``NET@Hardening``) is fixed in the role it builds on (NET).
A fix only adds syscalls. It never undoes a person's decision: a syscall a marker's
``deny=`` or a ``-name``/``-@Group`` term of the definition takes away, and a call the
hardening set refused, are reported as conflicts for a person to decide, and nothing is printed
that would change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..kernel.syscalls import NUMBERS
from ..roles.groups import GROUPS, find_group
from ..roles.role import CUSTOM, HARDENING_TERM, Role
from .gaps import Gap

#: Where a fix's target role is defined.
BUILTIN, INI, HOOK = "built-in", "ini", "hook"


@dataclass
class RoleFix:
    """What closes one role's gaps: syscalls to add to ``target``, and what a person must decide."""

    #: The role as the tests ran it (maybe a variant), and the project role to change.
    role: str
    target: str
    #: ``built-in`` (a new line ``NET = NET +x``), ``ini`` (its line gets the terms) or ``hook``.
    kind: str
    #: Where the target is defined (``ini sandbox_roles``, ``the pytest_sandbox_roles hook of X``).
    source: str = ""
    add: list[str] = field(default_factory=list)
    #: Gaps left as they are, each with why (a deny, the hardening set, the harness guard).
    conflicts: list[str] = field(default_factory=list)
    #: The target's definition (a hook role's fix line restates it).
    definition: str = ""

    @property
    def terms(self) -> list[str]:
        """The terms to append: ``+vfork +getgroups``."""
        return [f"+{name}" for name in self.add]

    @property
    def line(self) -> str:
        """The ``sandbox_roles`` line that closes the fixable gaps, or "" when there are none.

        ``NET = NET +vfork`` (added below the role's definitions, it extends them);
        for a hook role, the whole definition the hook should return.
        """
        if not self.add:
            return ""
        base = self.definition if self.kind == HOOK else self.target
        return f"{self.target} = {base} {' '.join(self.terms)}"

    def lines(self) -> list[str]:
        """What the terminal shows under the role's gap table."""
        shown = []
        if self.line:
            why = f"  (in {self.target}, which {self.role} builds on)" if self.target != self.role else ""
            if self.kind == HOOK:
                shown.append(f"fix: {self.target} is defined by {self.source}, which --sandbox-fix cannot rewrite;")
                shown.append(f"     make it return:  {self.line}{why}")
            else:
                shown.append(f"fix (sandbox_roles):  {self.line}{why}")
        shown += [f"not fixed: {text}" for text in self.conflicts]
        return shown


def base_name(role: Role) -> str:
    """The project role a variant builds on (``NET`` for ``NET+getgroups-socket``), else the role itself."""
    return role.definition.split()[0] if role.is_variant and role.definition.split() else role.name


def _removed(definition: str) -> dict[str, str]:
    """Syscalls a definition takes away (``-socket``, ``-@Network``), each with the term that does."""
    removed: dict[str, str] = {}
    for term in definition.split()[1:]:
        sign, body = term[:1], term[1:]
        if body.startswith("@") and body.lower() != HARDENING_TERM.lower():
            try:
                names: tuple[str, ...] = tuple(GROUPS[find_group(body[1:])])
            except (KeyError, ValueError):
                continue
        elif body in NUMBERS:
            names = (body,)
        else:
            continue
        for name in names:
            if sign == "-":
                removed[name] = term
            elif sign == "+":  # added back later: no longer taken away
                removed.pop(name, None)
    return removed


def plan(role: Role, gaps: list[Gap], target: Role) -> RoleFix:
    """The fix of ``role``'s ``gaps``, written into ``target`` (the role it is, or builds on)."""
    if target.origin != CUSTOM:
        kind, source = BUILTIN, ""
    elif target.source.startswith("ini"):
        kind, source = INI, target.source
    else:
        kind, source = HOOK, target.source or "a pytest_sandbox_roles hook"
    fix = RoleFix(role.name, target.name, kind, source, definition=target.definition)
    denied = _removed(role.definition) if role.is_variant else {}
    own = _removed(target.definition) if target.origin == CUSTOM else {}
    hardening: list[Gap] = []
    for gap in gaps:
        tests = f"{len(gap.tests)} test{'s' if len(gap.tests) != 1 else ''}"
        if gap.reason and "harness guard" in gap.reason:
            fix.conflicts.append(
                f"{gap.syscall}: refused by the harness guard under every role ({tests}); no role can allow it"
            )
        elif gap.reason:
            hardening.append(gap)
        elif gap.syscall not in NUMBERS:
            fix.conflicts.append(f"syscall {gap.nr} is not in the x86-64 table ({tests}): it cannot be allowed by name")
        elif gap.syscall in denied:
            fix.conflicts.append(
                f"{gap.syscall}: the marker's deny= of {role.name} takes it away, and {tests} called it: "
                "drop it from deny=, or keep the deny and change the code"
            )
        elif gap.syscall in own:
            fix.conflicts.append(
                f"{gap.syscall}: {target.name}'s definition takes it away ({own[gap.syscall]!r}), and {tests} "
                f"called it: remove {own[gap.syscall]!r}, or keep it and change the code"
            )
        elif gap.syscall not in target.allowed and gap.syscall not in fix.add:
            fix.add.append(gap.syscall)
    if hardening:
        names = ", ".join(dict.fromkeys(g.syscall for g in hardening))
        asked = "its definition's @Hardening" if target.harden else "--sandbox-harden or the marker's harden=True"
        fix.conflicts.append(
            f"{names}: calls the hardening set refused ({asked}); a fix never drops {HARDENING_TERM}: "
            "drop it by hand, or keep it and change the code"
        )
    return fix
