"""The run's ledger: every trap record, the roles the tests ran under, and profile mode's sets.

Pure bookkeeping, fed from the reports the main process logs (also those an xdist
controller receives from its workers): no forking, no output, no pytest. The
scheduler asks it what a profile-mode filter allows now; the output renders it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..kernel.syscalls import NUMBERS
from ..recorders.record import HARNESS, USED, TrapRecord
from ..reports.gaps import RoleTally
from ..roles.registry import RoleRegistry
from ..roles.role import Role
from .unmeasured import PROFILE_ALWAYS, unmeasured, vdso_answered

PROFILE = "profile"
__all__ = ["PROFILE", "PROFILE_ALWAYS", "Ledger"]


class Ledger:
    """What the run's sandboxed tests did, per role."""

    def __init__(self, registry: RoleRegistry, mode: str, vdso: Mapping[str, str] | None = None) -> None:
        self.registry = registry
        self.mode = mode
        #: Syscalls the vDSO answers here, with why (:func:`.unmeasured.vdso_answered`, found when first needed).
        self.vdso = vdso
        self.records: list[TrapRecord] = []
        #: Role name -> number of tests run under it (here or, under xdist, by the workers).
        self.roles_used: dict[str, int] = {}
        #: Role name -> syscalls seen in its tests' call and teardown phases (all modes).
        self.observed: dict[str, set[str]] = {}
        #: Role name -> syscalls pytest's own code made under it between phases (profile
        #: mode lets them through later, so whether the tests use them is not measured).
        self.harness_seen: dict[str, set[str]] = {}
        #: Role name -> the role, as the tests ran it (variants included).
        self.role_info: dict[str, Role] = {}
        #: Role name -> node ids of the tests selected to run under it (known where the
        #: tests were collected: not on an xdist controller).
        self.selected: dict[str, list[str]] = {}
        #: Node ids of the sandboxed tests that ran.
        self.ran: set[str] = set()
        #: Node id -> role of each sandboxed test that ran, in the order they ended.
        self.tests_run: dict[str, str] = {}
        #: Role name -> node id -> why that test's record may lack calls.
        self.incomplete: dict[str, dict[str, list[str]]] = {}

    def select(self, tests: Iterable[tuple[str, str]]) -> None:
        """Note the ``(node id, role name)`` of each sandboxed test selected to run."""
        for nodeid, role in tests:
            self.selected.setdefault(role, []).append(nodeid)

    def add(
        self,
        role: str,
        facts: Mapping[str, Any] | None,
        records: Iterable[TrapRecord | Mapping[str, Any]],
        nodeid: str = "",
        incomplete: Iterable[str] = (),
    ) -> list[TrapRecord]:
        """Enter one finished test of ``role`` and its records; returns the records.

        Records come as they were built (a plain run, an xdist worker) or as the
        controller read them back (:meth:`.TrapRecord.from_json`); a mapping is read once here.

        ``incomplete``: the recorder's reasons why the test's records may lack calls.
        """
        if role not in self.role_info and facts:
            self.role_info[role] = Role.from_json(dict(facts))
        self.roles_used[role] = self.roles_used.get(role, 0) + 1
        self.ran.add(nodeid)
        self.tests_run.setdefault(nodeid, role)
        reasons = list(incomplete)
        if reasons:
            self.incomplete.setdefault(role, {})[nodeid] = reasons
        observed = self.observed.setdefault(role, set())
        harness = self.harness_seen.setdefault(role, set())
        added = [data if isinstance(data, TrapRecord) else TrapRecord.from_json(dict(data)) for data in records]
        for record in added:
            if record.syscall in NUMBERS:  # a number the table lacks cannot go in an allow-list
                (harness if record.phase == HARNESS else observed).add(record.syscall)
        self.records.extend(added)
        return added

    def role(self, name: str) -> Role:
        """The role as the tests ran it, else as the registry defines it."""
        return self.role_info.get(name) or self.registry.get(name)

    def filter_allows(self, role: Role, mode: str) -> frozenset[str]:
        """The role's allow-list; in profile mode the part the role was seen to use so far.

        A profile run stops only on allowed syscalls not yet seen for the role, so its
        cost falls as the suite goes on; syscalls the role lacks stop every time, so
        the gap counts equal an audit run's. :meth:`let_through` syscalls (what the
        recorders need, memory and process creation, and what pytest's own code was
        seen to make) are always allowed, so not measured (:meth:`unmeasured`).
        """
        if mode != PROFILE:
            return role.allowed
        return (frozenset(self.observed.get(role.name, ())) | self.let_through(role.name)) & role.allowed

    def let_through(self, name: str) -> frozenset[str]:
        """Syscalls profile mode's filter always lets through for the role (when it allows them)."""
        return PROFILE_ALWAYS | frozenset(self.harness_seen.get(name, ()))

    def unmeasured(self, name: str) -> dict[str, str]:
        """What the role allows that this run could not measure (not seen, never stopped), with why."""
        if self.vdso is None:
            self.vdso = vdso_answered()
        observed = self.observed.get(name, set())
        return unmeasured(self.role(name).allowed, observed, self.harness_seen.get(name, ()), self.vdso)

    def minimal(self, name: str) -> set[str]:
        """Profile mode's minimal allow-list: what the tests were measured to make (used and missing).

        Never more: what could not be measured is :meth:`unmeasured`, listed apart.
        """
        return set(self.observed.get(name, set()))

    def role_facts(self) -> dict[str, dict[str, object]]:
        """Per role: tests, origin, definition, allow-list; in profile mode used, unused, minimal, unmeasured."""
        facts: dict[str, dict[str, object]] = {}
        for name, tests in self.roles_used.items():
            role = self.role(name)
            entry: dict[str, object] = {
                "tests": tests,
                "origin": role.origin,
                "definition": role.definition,
                "variant": role.is_variant,
                "harden": role.harden,
                "allowed": sorted(role.allowed),
            }
            if role.overrides:
                entry["overrides"] = role.overrides
            if self.mode == PROFILE:
                used = self.observed.get(name, set())
                unmeasured = self.unmeasured(name)
                entry["used"] = sorted(used & role.allowed)
                entry["unused"] = sorted(role.allowed - used - set(unmeasured))
                entry["minimal"] = sorted(self.minimal(name))
                entry["unmeasured"] = [{"syscall": s, "reason": why} for s, why in unmeasured.items()]
            facts[name] = entry
        return facts

    def tallies(self) -> dict[str, RoleTally]:
        """Per role selected or run: tests run, selected but not run, ended without a complete record."""
        return {
            name: RoleTally(
                run=self.roles_used.get(name, 0),
                not_run=[n for n in self.selected.get(name, ()) if n not in self.ran],
                incomplete=dict(self.incomplete.get(name, {})),
            )
            for name in [*self.roles_used, *(r for r in self.selected if r not in self.roles_used)]
        }

    @staticmethod
    def counts_as_gap(record: TrapRecord) -> bool:
        """Whether ``record`` is a call the role lacks (not a profile-mode use)."""
        return record.outcome != USED
