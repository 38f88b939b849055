"""The one role type: a named allow-list, whatever made it.

Bitcoin Core's policies (:func:`.policies.policy_role`), the sandbox-rs profiles
(:data:`.profiles.PROFILES`), custom roles (:class:`.registry.RoleRegistry`) and
:meth:`.builder.SeccompPolicyBuilder.role` all are, or build, a :class:`Role`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from ..kernel.syscalls import check_names

#: The custom-role term that adds the argument-level hardening set.
HARDENING_TERM = "@Hardening"
BITCOIN_CORE = "bitcoin-core"
CUSTOM = "custom"
SANDBOX_RS = "sandbox-rs"
#: Origins of the built-in roles, in listing order.
BUILTIN_ORIGINS = (BITCOIN_CORE, SANDBOX_RS)


@dataclass(frozen=True)
class Role:
    """A named allow-list."""

    name: str
    allowed: frozenset[str]
    origin: str = CUSTOM
    #: The definition it was built from, in the custom-role syntax.
    definition: str = ""
    description: str = ""
    groups: tuple[str, ...] = field(default=())
    #: Whether the argument-level hardening set (:mod:`.hardening`) is compiled in.
    harden: bool = False
    #: Where a custom role was defined (``ini sandbox_roles``, ``the pytest_sandbox_roles hook of X``).
    source: str = ""
    #: For a project role defined on top of a role of the same name (``NET = NET +vfork``):
    #: what it replaces and how it differs, e.g. ``upstream NET + 1 (vfork)``.
    overrides: str = ""

    def with_changes(self, allow: Iterable[str] = (), deny: Iterable[str] = ()) -> Role:
        """A variant with single syscalls added and removed (marker ``allow=``/``deny=``).

        Its name says how it differs (``NET+getgroups-socket``), so that reports never
        mix it up with the role it came from.
        """
        allow, deny = check_names(allow), check_names(deny)
        if not allow and not deny:
            return self
        changes = [*(f"+{n}" for n in allow), *(f"-{n}" for n in deny)]
        allowed = (self.allowed | set(allow)) - set(deny)
        definition = " ".join([self._base(), *changes])
        return replace(self, name=self.name + "".join(changes), allowed=frozenset(allowed), definition=definition)

    def hardened(self) -> Role:
        """The variant with the hardening set (``--sandbox-harden``, marker ``harden=True``): ``NET@Hardening``."""
        if self.harden:
            return self
        definition = f"{self._base()} {HARDENING_TERM}"
        return replace(self, name=self.name + HARDENING_TERM, harden=True, definition=definition)

    def to_json(self) -> dict[str, Any]:
        """A JSON-compatible dict (reports carry it to an xdist controller)."""
        return {
            "name": self.name,
            "allowed": sorted(self.allowed),
            "origin": self.origin,
            "definition": self.definition,
            "description": self.description,
            "groups": list(self.groups),
            "harden": self.harden,
            "source": self.source,
            "overrides": self.overrides,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Role:
        """Inverse of :meth:`to_json`."""
        return cls(
            data["name"],
            frozenset(data["allowed"]),
            data["origin"],
            data["definition"],
            data["description"],
            tuple(data["groups"]),
            data["harden"],
            data.get("source", ""),
            data.get("overrides", ""),
        )

    def _base(self) -> str:
        """How a definition refers to this role: its name, or for a variant its definition."""
        return self.definition if self.is_variant else self.name

    @property
    def is_variant(self) -> bool:
        """True for a marker's or option's variant of a role, which no registry holds."""
        return not self.name.replace("_", "").isalnum()
