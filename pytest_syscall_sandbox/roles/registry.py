"""Roles: a name and the syscalls it may make. The fifteen policies, the six
sandbox-rs profiles (:mod:`.profiles`), plus custom ones.

A custom role is written as a list of terms, applied left to right::

    MESSAGE_HANDLER +getgroups -socket      # a base role, plus and minus single syscalls
    @AddressSpaceAccess @Futex +read         # start empty, add capability groups
    NET -@Network                            # remove a whole group

``NAME`` (a role) or ``@Group`` adds everything it allows; ``+name`` adds one
syscall, ``-name`` removes one, ``-@Group`` / ``-NAME`` removes all of theirs.
``@Hardening`` compiles in the argument-level hardening set (:mod:`.hardening`).
Names of roles are case-insensitive.

A definition that starts with its own name builds on the role of that name as it
stands (``NET = NET +vfork``: upstream NET plus vfork; ``INDEXER = INDEXER +fsync``
after an earlier ``INDEXER``): an explicit override, which :attr:`.Role.overrides`
describes (``upstream NET + 1 (vfork)``). Any other redefinition is an error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..errors import SandboxError, UnknownPolicyError
from ..kernel.syscalls import check_names
from .groups import GROUPS, find_group
from .policies import SyscallSandboxPolicy, get_policy, policy_key, policy_role
from .profiles import PROFILES
from .role import BITCOIN_CORE, BUILTIN_ORIGINS, CUSTOM, HARDENING_TERM, SANDBOX_RS, Role


class RoleDefinitionError(SandboxError, ValueError):
    """A custom role that cannot be built; the message names the role and the term."""


class RoleRegistry:
    """The roles a run knows: the built-in policies and profiles, and custom definitions."""

    def __init__(self) -> None:
        self._roles: dict[str, Role] = {p.name: policy_role(p) for p in SyscallSandboxPolicy}
        self._roles.update(PROFILES)
        #: Custom role -> how it was spelled and where it came from, for clash messages.
        self._sources: dict[str, tuple[str, str]] = {}

    def __contains__(self, name: str) -> bool:
        return policy_key(name) in self._roles

    def names(self) -> list[str]:
        """All role names, built-in first."""
        return list(self._roles)

    def roles(self) -> list[Role]:
        """All roles."""
        return list(self._roles.values())

    def get(self, name: str) -> Role:
        """The role called ``name`` (any case); :class:`UnknownPolicyError` lists the valid ones."""
        key = policy_key(name)
        if key in self._roles:
            return self._roles[key]
        try:
            return self._roles[get_policy(key).name]  # older aliases
        except UnknownPolicyError:
            raise UnknownPolicyError(name, self._roles) from None

    def define(self, name: str, definition: str, description: str = "", source: str = "") -> Role:
        """Add the custom role ``name`` built from ``definition``.

        A name defined already (in any case) is an error that names both definitions
        (``source`` says where each came from): one must not silently replace the other.
        """
        if not isinstance(name, str) or not isinstance(definition, str):
            raise RoleDefinitionError(
                f"a custom role is a name and a definition, both strings; got {name!r}: {definition!r}"
            )
        key = policy_key(name)
        if not key or not key.replace("_", "").isalnum():
            raise RoleDefinitionError(f"custom role name {name!r} must be letters, digits and underscores")
        previous = self._roles.get(key) if builds_on_itself(key, definition) else None
        if previous is None and key in self._roles and self._roles[key].origin != CUSTOM:
            raise RoleDefinitionError(
                f"custom role {key} would replace the built-in role of that name; "
                f"to build on it, start the definition with its name: {key} = {key} +syscall"
            )
        if previous is None and key in self._sources:
            spelled, first = self._sources[key]
            where = f" ({first})" if first and first != source else ""
            raise RoleDefinitionError(
                f"custom roles {spelled!r}{where} and {name.strip()!r} are the same role {key} "
                "(role names ignore case, and '-' reads as '_'): rename or drop one"
            )
        allowed, groups, harden = self._evaluate(key, definition)
        overrides = _difference(previous, allowed, harden) if previous is not None else ""
        role = Role(
            key, frozenset(allowed), CUSTOM, definition.strip(), description, tuple(groups), harden, source, overrides
        )
        self._roles[key] = role
        self._sources[key] = (name.strip(), source)
        return role

    def define_all(self, definitions: Mapping[str, str], source: str = "") -> None:
        """Define several roles; later ones may build on earlier ones."""
        if not isinstance(definitions, Mapping):
            raise RoleDefinitionError(
                f"custom roles come as a dict of role name -> definition (str: str), got {definitions!r}"
            )
        for name, definition in definitions.items():
            self.define(name, definition, source=source)

    def _evaluate(self, name: str, definition: str) -> tuple[set[str], list[str], bool]:
        allowed: set[str] = set()
        groups: list[str] = []
        harden = False
        terms = definition.split()
        if not terms:
            raise RoleDefinitionError(
                f"custom role {name}: the definition is empty; give terms such as NET @Group +syscall -syscall"
            )
        for term in terms:
            sign, body = (term[0], term[1:]) if term[0] in "+-" else ("+", term)
            if body.lower() == HARDENING_TERM.lower():
                harden = sign == "+"
                continue
            try:
                if body.startswith("@"):
                    group = find_group(body[1:])
                    names: Iterable[str] = GROUPS[group]
                    if sign == "+":
                        groups.append(group)
                elif term[0] in "+-" and not self._looks_like_role(body):
                    names = check_names([body])
                else:
                    role = self.get(body)
                    names = role.allowed
                    if sign == "+":
                        groups.extend(role.groups)
                        harden = harden or role.harden
            except (SandboxError, ValueError) as exc:
                raise RoleDefinitionError(f"custom role {name}: bad term {term!r}: {exc}") from None
            if sign == "+":
                allowed.update(names)
            else:
                allowed.difference_update(names)
        return allowed, groups, harden

    def _looks_like_role(self, body: str) -> bool:
        return body.isupper() or policy_key(body) in self._roles


def builds_on_itself(name: str, definition: str) -> bool:
    """Whether ``definition`` starts with the role's own name (``NET = NET +vfork``)."""
    terms = definition.split()
    return bool(terms) and policy_key(terms[0]) == policy_key(name)


def _difference(previous: Role, allowed: set[str], harden: bool) -> str:
    """``upstream NET + 1 (vfork)``: what a project role replaces and how it differs."""
    where = {BITCOIN_CORE: "upstream", SANDBOX_RS: "sandbox-rs"}.get(previous.origin, "")
    if not where:
        where = "ini" if previous.source.startswith("ini") else "custom"
    text = f"{where} {previous.name}"
    added, removed = sorted(allowed - previous.allowed), sorted(previous.allowed - allowed)
    for sign, names in (("+", added), ("-", removed)):
        if names:
            shown = " ".join(names[:6]) + (" ..." if len(names) > 6 else "")
            text += f" {sign} {len(names)} ({shown})"
    if harden != previous.harden:
        text += " +@Hardening" if harden else " -@Hardening"
    return text if text != f"{where} {previous.name}" else f"{text}, unchanged"


def parse_role_lines(text: str) -> dict[str, str]:
    """Parse ``NAME = definition`` lines (the ``sandbox_roles`` ini option).

    A role named on two lines (in any case) is an error naming both lines, unless the
    later line builds on the role (``INDEXER = INDEXER +fsync``): that extends the
    earlier definition in place (its terms are appended to it).
    """
    definitions: dict[str, str] = {}
    lines: dict[str, tuple[int, str]] = {}  # role key -> (line number, name as written)
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, definition = line.partition("=")
        if not sep or not name.strip():
            raise RoleDefinitionError(
                f"line {number} of sandbox_roles: expected 'NAME = definition', got {raw.strip()!r}"
            )
        name = name.strip()
        if policy_key(name) in lines and builds_on_itself(name, definition):
            spelled = lines[policy_key(name)][1]
            definitions[spelled] += " " + " ".join(definition.split()[1:])
            continue
        if policy_key(name) in lines:
            first, spelled = lines[policy_key(name)]
            raise RoleDefinitionError(
                f"lines {first} and {number} of sandbox_roles both define role {policy_key(name)} "
                f"({spelled!r}, {name!r}; role names ignore case): rename or drop one"
            )
        lines[policy_key(name)] = (number, name)
        definitions[name] = definition.strip()
    return definitions


__all__ = [
    "BITCOIN_CORE",
    "BUILTIN_ORIGINS",
    "CUSTOM",
    "HARDENING_TERM",
    "SANDBOX_RS",
    "Role",
    "RoleDefinitionError",
    "RoleRegistry",
    "builds_on_itself",
    "parse_role_lines",
]
