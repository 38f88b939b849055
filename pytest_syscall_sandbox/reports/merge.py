"""``pytest-syscall-sandbox merge``: saved reports of CI shards -> the report of one run over all their tests.

The merged document is what :func:`~.gaps.build_json_report` makes of the union of the
shards' tests, records, roles and tallies, so it reads like any run's report. Shards
from different machines (kernel, libc, Python, plugin) keep the environment of each
test and record; each role's ``environment_gaps`` then names the gaps that some
environment showed and another, running the same tests, did not.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..kernel.syscalls import NUMBERS
from ..recorders.record import HARNESS, USED, TrapRecord
from ..roles.role import CUSTOM, Role
from .fixes import RoleFix, plan
from .gaps import RoleTally, build_json_report, gaps_by_role
from .schema import ReportError, SavedReport

#: Role facts :func:`build_json_report` computes; what else a role's facts hold is copied.
_COMPUTED = frozenset(
    {"tests", "missing", "summary", "fix", "tests_not_run", "tests_incomplete", "harness_calls", "complete"}
    | {"environment_gaps", "used", "unused", "minimal", "unmeasured", "fix_conflicts", "fix_lines", "fix_target"}
)


def merge(reports: Sequence[SavedReport]) -> dict[str, Any]:
    """The report of one run over the tests of all ``reports`` (refuses shards that cannot be one run)."""
    if not reports:
        raise ReportError("no report to merge")
    first = reports[0]
    for report in reports[1:]:
        if report.document["settings"] != first.document["settings"]:
            keys = sorted(set(report.document["settings"]) | set(first.document["settings"]))
            differ = [k for k in keys if report.document["settings"].get(k) != first.document["settings"].get(k)]
            raise ReportError(
                f"{report.source} and {first.source} ran with different settings ({', '.join(differ)}):"
                " merge only shards of one run command"
            )
    tests, records, envs = _tests_and_records(reports)
    environments = {label: env for report in reports for label, env in report.environments.items()}
    roles = _role_facts(reports, tests)
    fixes, targets = _fixes(reports, roles, [record for record, _ in records])
    document = build_json_report(
        [record for record, _ in records],
        roles,
        {},
        dict(first.document["settings"]),
        interrupted=any(report.document["interrupted"] for report in reports),
        tallies=_tallies(reports, tests),
        tests=[(nodeid, role) for nodeid, role, _ in tests],
        fixes=fixes,
    )
    for name, target in targets.items():
        document["roles"][name]["fix_target"] = target  # type: ignore[index]
    if len(environments) == 1:
        document["environment"] = next(iter(environments.values()))
        return document
    document["environment"] = None
    document["environments"] = {label: environments[label] for label in sorted(environments)}
    for entry, (_, _, label) in zip(document["tests"], tests, strict=True):  # type: ignore[call-overload]
        entry["environment"] = label
    for entry, label in zip(document["records"], envs, strict=True):  # type: ignore[call-overload]
        entry["environment"] = label
    _mark_environment_gaps(document, tests, records, sorted(environments))
    return document


def _tests_and_records(
    reports: Sequence[SavedReport],
) -> tuple[list[tuple[str, str, str]], list[tuple[TrapRecord, str]], list[str]]:
    """Each shard's ``(node id, role, environment)`` and records with their environment, in shard order."""
    tests: list[tuple[str, str, str]] = []
    where: dict[tuple[str, str], str] = {}
    records: list[tuple[TrapRecord, str]] = []
    for report in reports:
        for test in report.tests:
            key = (test["nodeid"], test["environment"])
            if key in where:
                raise ReportError(
                    f"{test['nodeid']} ran in both {where[key]} and {report.source} on the same environment:"
                    " the shards overlap (or one report is given twice)"
                )
            where[key] = report.source
            tests.append((test["nodeid"], test["role"], test["environment"]))
        records += zip(report.records(), report.record_environments(), strict=True)
    return tests, records, [label for _, label in records]


def _role_facts(reports: Sequence[SavedReport], tests: list[tuple[str, str, str]]) -> dict[str, dict[str, object]]:
    """Role -> its facts over every shard (profile mode's sets joined)."""
    facts: dict[str, dict[str, object]] = {}
    profile: dict[str, dict[str, Any]] = {}
    for report in reports:
        for name, saved in report.role_facts().items():
            own = {key: value for key, value in saved.items() if key not in _COMPUTED}
            if name in facts and own.get("allowed") != facts[name].get("allowed"):
                raise ReportError(f"role {name} allows other syscalls in {report.source} than in an earlier report")
            facts.setdefault(name, own)
            if report.mode == "profile":
                joined = profile.setdefault(name, {"used": set(), "minimal": set(), "unmeasured": {}})
                joined["used"].update(saved.get("used", ()))
                joined["minimal"].update(saved.get("minimal", ()))
                for entry in saved.get("unmeasured", ()):
                    joined["unmeasured"].setdefault(entry["syscall"], entry["reason"])
    for name, own in facts.items():
        own["tests"] = len({nodeid for nodeid, role, _ in tests if role == name})
        if name in profile:
            joined = profile[name]
            unmeasured = {s: why for s, why in joined["unmeasured"].items() if s not in joined["minimal"]}
            order = sorted(unmeasured, key=lambda s: NUMBERS.get(s, 1 << 20))
            own["used"] = sorted(joined["used"])
            own["unused"] = sorted(set(own.get("allowed", ())) - joined["used"] - set(unmeasured))  # type: ignore[call-overload]
            own["minimal"] = sorted(joined["minimal"])
            own["unmeasured"] = [{"syscall": s, "reason": unmeasured[s]} for s in order]
    return facts


def _fixes(
    reports: Sequence[SavedReport], roles: dict[str, dict[str, object]], records: list[TrapRecord]
) -> tuple[dict[str, RoleFix], dict[str, Any]]:
    """Per role with gaps: the fix the run would plan (into the role the shards name), and that role as JSON.

    A role no shard names a target for gets the fix made from names alone.
    """
    targets: dict[str, Any] = {}
    for report in reports:
        for name, facts in report.roles.items():
            if "fix_target" in facts:
                targets.setdefault(name, facts["fix_target"])
    fixes = {}
    for name, gaps in gaps_by_role(records).items():
        if gaps and name in targets:
            own: dict[str, Any] = dict(roles.get(name, {}))
            allowed = frozenset(own.get("allowed", ()))
            ran = Role(name, allowed, str(own.get("origin", CUSTOM)), str(own.get("definition", "")))
            fixes[name] = plan(ran, gaps, Role.from_json(targets[name]))
    return fixes, {name: targets[name] for name in fixes}


def _tallies(reports: Sequence[SavedReport], tests: list[tuple[str, str, str]]) -> dict[str, RoleTally]:
    """Role -> tests run, selected but run in no shard, ended without a complete record."""
    ran = {nodeid for nodeid, _, _ in tests}
    tallies: dict[str, RoleTally] = {}
    for report in reports:
        for name, tally in report.tallies().items():
            merged = tallies.setdefault(name, RoleTally())
            merged.not_run += [n for n in tally.not_run if n not in ran and n not in merged.not_run]
            for nodeid, why in tally.incomplete.items():
                reasons = merged.incomplete.setdefault(nodeid, [])
                reasons += [reason for reason in why if reason not in reasons]
    for name, merged in tallies.items():
        merged.run = len({nodeid for nodeid, role, _ in tests if role == name})
    return tallies


def _mark_environment_gaps(
    document: dict[str, Any],
    tests: list[tuple[str, str, str]],
    records: list[tuple[TrapRecord, str]],
    labels: list[str],
) -> None:
    """Fill each role's ``environment_gaps``: a gap some environment showed and another did not, in the same tests.

    A gap counts as environment-specific only where a test that made it also ran
    elsewhere without making it; shards that split the tests between machines show none.
    """
    ran: dict[str, set[str]] = {}
    for nodeid, _, label in tests:
        ran.setdefault(nodeid, set()).add(label)
    number = {label: f"E{index}" for index, label in enumerate(labels, 1)}
    for name, facts in document["roles"].items():
        only: dict[str, list[str]] = {}
        for gap in facts["missing"]:
            made = [
                (record.nodeid, label)
                for record, label in records
                if record.role == name and record.nr == gap["nr"] and record.phase != HARNESS and record.outcome != USED
            ]
            seen = {label for _, label in made}
            could = set().union(*(ran.get(nodeid, {label}) for nodeid, label in made))
            if seen < could:
                only[gap["syscall"]] = [label for label in labels if label in seen]
        facts["environment_gaps"] = only
        if only:
            where = "; ".join(f"{s} in {', '.join(number[label] for label in ls)}" for s, ls in only.items())
            facts["summary"] += f" (only in some environments: {where})"
