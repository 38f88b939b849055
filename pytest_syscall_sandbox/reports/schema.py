"""A saved ``--sandbox-report`` file: read it, check it follows the documented schema, and
give back what a run's ledger held (records, roles, tallies), so that ``merge``,
``report`` and ``diff`` work from the file alone.

The schema is the README's "The report file"; :data:`REPORT_VERSION` is its version.
A file of another version is refused: this code knows no other.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import SandboxError
from ..kernel.syscalls import NUMBERS
from ..recorders.record import HARNESS, TrapRecord
from .environments import environment_label
from .gaps import REPORT_VERSION, RoleTally

__all__ = ["REPORT_VERSION", "ReportError", "SavedReport", "dump_report", "load_report", "validate"]


class ReportError(SandboxError, ValueError):
    """A report file that cannot be read: not JSON, another schema version, a missing field."""


#: Top-level key -> its JSON type.
_TOP = {
    "version": int,
    "interrupted": bool,
    "settings": dict,
    "tests": list,
    "roles": dict,
    "records": list,
}
_ROLE = {
    "tests": int,
    "missing": list,
    "summary": str,
    "complete": bool,
    "tests_not_run": list,
    "tests_incomplete": dict,
    "harness_calls": list,
    "environment_gaps": dict,
}
_GAP = {"syscall": str, "nr": int, "calls": int, "tests": list}
_TEST = {"nodeid": str, "role": str}
_RECORD = {"syscall": str, "nr": int, "role": str, "nodeid": str, "phase": str, "outcome": str}
_TYPE_NAMES = {int: "a number", bool: "true or false", dict: "an object", list: "a list", str: "a string"}


def _check(value: Any, fields: Mapping[str, type], where: str) -> None:
    if not isinstance(value, dict):
        raise ReportError(f"{where} is not an object")
    for key, kind in fields.items():
        if key not in value:
            raise ReportError(f"{where} lacks {key!r}")
        item = value[key]
        if not isinstance(item, kind) or (kind is int and isinstance(item, bool)):
            raise ReportError(f"{where}: {key!r} is not {_TYPE_NAMES[kind]}")


def validate(document: Any, source: str = "report") -> None:
    """Raise :class:`ReportError` unless ``document`` is a report of :data:`REPORT_VERSION`."""
    if not isinstance(document, dict) or "version" not in document:
        raise ReportError(f"{source}: not a sandbox report (no 'version'; see README, 'The report file')")
    version = document["version"]
    if version != REPORT_VERSION:
        raise ReportError(
            f"{source}: report schema version {version!r}, but this pytest-syscall-sandbox reads only version"
            f" {REPORT_VERSION}; rerun the tests with this version's plugin to get a report it can read"
        )
    _check(document, _TOP, source)
    several = "environments" in document  # merged from several machines: each test and record names its own
    if several:
        if not isinstance(document["environments"], dict) or not all(
            isinstance(env, dict) for env in document["environments"].values()
        ):
            raise ReportError(f"{source}: 'environments' is not an object of environment blocks")
    elif not isinstance(document.get("environment"), dict):
        raise ReportError(f"{source}: 'environment' is not an object")
    for name, facts in document["roles"].items():
        _check(facts, _ROLE, f"{source}: role {name}")
        for index, gap in enumerate(facts["missing"]):
            _check(gap, _GAP, f"{source}: role {name}, missing[{index}]")
    for kind, fields in (("tests", _TEST), ("records", _RECORD)):
        for index, item in enumerate(document[kind]):
            _check(item, fields, f"{source}: {kind}[{index}]")
            if several and item.get("environment") not in document["environments"]:
                raise ReportError(f"{source}: {kind}[{index}] names no environment of 'environments'")


def dump_report(document: Mapping[str, Any]) -> str:
    """A report document as the plugin writes it."""
    return json.dumps(document, indent=1, sort_keys=True) + "\n"


def load_report(path: str) -> SavedReport:
    """Read and check the report file at ``path``."""
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except OSError as exc:
        raise ReportError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ReportError(f"{path}: not JSON: {exc}") from None
    validate(document, path)
    return SavedReport(document, path)


@dataclass
class SavedReport:
    """A checked report document, with what the run's ledger held rebuilt from it."""

    document: dict[str, Any]
    source: str = "report"
    _records: list[TrapRecord] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def roles(self) -> dict[str, dict[str, Any]]:
        """Role name -> its facts, as saved."""
        return dict(self.document["roles"])

    @property
    def mode(self) -> str:
        """The run's ``--sandbox-mode``."""
        return str(self.document["settings"].get("mode", ""))

    @property
    def environments(self) -> dict[str, dict[str, Any]]:
        """Environment label -> its block (a run's report: its one environment)."""
        if "environments" in self.document:
            return dict(self.document["environments"])
        environment = self.document["environment"]
        return {environment_label(environment): environment}

    @property
    def tests(self) -> list[dict[str, str]]:
        """``{"nodeid", "role", "environment"}`` of each sandboxed test run, in order."""
        default = "" if "environments" in self.document else next(iter(self.environments))
        return [{"environment": default, **test} for test in self.document["tests"]]

    def records(self) -> list[TrapRecord]:
        """The trap records, in the order they were saved (read once)."""
        if self._records is None:
            self._records = [TrapRecord.from_json(dict(data)) for data in self.document["records"]]
        return list(self._records)

    def record_environments(self) -> list[str]:
        """The environment label of each record, in the order of :meth:`records`."""
        if "environments" not in self.document:
            [single] = self.environments
            return [single] * len(self.document["records"])
        return [str(data["environment"]) for data in self.document["records"]]

    def roles_used(self) -> dict[str, int]:
        """Role -> tests run under it, in the order the run first ended a test of it (the run's own order)."""
        order = list(dict.fromkeys(test["role"] for test in self.tests))
        order += [name for name, facts in self.roles.items() if facts["tests"] and name not in order]
        return {name: int(self.roles[name]["tests"]) for name in order if name in self.roles}

    def tallies(self) -> dict[str, RoleTally]:
        """Role -> how its tests went (run, not run, ended without a complete record)."""
        used = self.roles_used()
        names = [*used, *(name for name in self.roles if name not in used)]
        return {
            name: RoleTally(
                run=int(self.roles[name]["tests"]),
                not_run=list(self.roles[name]["tests_not_run"]),
                incomplete={k: list(v) for k, v in self.roles[name]["tests_incomplete"].items()},
            )
            for name in names
        }

    def role_facts(self) -> dict[str, dict[str, Any]]:
        """Facts of the roles tests ran under, in the run's order (what profile mode's table lists)."""
        return {name: self.roles[name] for name in self.roles_used()}

    def bases(self) -> dict[str, str]:
        """Role variant -> the definition it was made from (the base of its fix line)."""
        return {
            name: str(facts.get("definition", "")) for name, facts in self.role_facts().items() if facts.get("variant")
        }

    def observed(self, role: str) -> frozenset[str]:
        """Syscalls seen in the role's tests' phases (pytest's own calls between phases apart)."""
        return frozenset(
            record.syscall
            for record in self.records()
            if record.role == role and record.phase != HARNESS and record.syscall in NUMBERS
        )
