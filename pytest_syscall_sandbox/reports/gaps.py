"""Render trap records for people: per-role summaries and tables (pure functions)."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..recorders.record import HARNESS, USED, TrapRecord
from ..roles.groups import group_of
from .tables import fit_table, short_location

if TYPE_CHECKING:
    from .fixes import RoleFix


@dataclass
class Gap:
    """One syscall a role lacks, summed over the run."""

    role: str
    syscall: str
    nr: int
    calls: int = 0
    tests: list[str] = field(default_factory=list)
    first_location: str = ""
    #: Why the first call has no Python location, while no call of the gap has one.
    first_blank: str = ""
    #: What the first call whose result was seen returned (``= -1 EACCES (Permission denied)``).
    first_result: str = ""
    #: Set when an argument rule, not the allow-list, refused the call.
    reason: str = ""

    @property
    def group(self) -> str:
        """The capability group that would allow it, or how to allow it otherwise."""
        if self.reason:
            return f"argument rule: {self.reason}"
        return group_of(self.syscall) or "no group: allow it by name"


@dataclass
class RoleTally:
    """How a role's tests went: what its verdict covers.

    A role's summary line says "no missing syscalls" only if every test selected for
    it ran (``not_run`` empty), each ended with a complete record (``incomplete``
    empty) and pytest's own code made no call the role lacks.
    """

    #: Tests run under the role.
    run: int = 0
    #: Node ids of tests selected for the role that never ran (``-x``, Ctrl-C, ``--maxfail``).
    not_run: list[str] = field(default_factory=list)
    #: Node id -> why its record may lack calls (the recorder's ``ChildOutcome.incomplete``).
    incomplete: dict[str, list[str]] = field(default_factory=dict)


def _collect(records: Iterable[TrapRecord], harness: bool) -> dict[str, list[Gap]]:
    """Role -> the syscalls it lacks in its tests' phases (``harness``: pytest's own code's)."""
    roles: dict[str, dict[int, Gap]] = {}
    tests: dict[tuple[str, int], dict[str, None]] = {}  # each gap's tests, as an ordered set
    for record in records:
        if (record.phase == HARNESS) != harness:
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
            gap.first_blank = ""
        elif not gap.first_location and not gap.first_blank:
            gap.first_blank = record.blank
        if not gap.first_result and record.returned:
            gap.first_result = record.returned
    return {role: list(gaps.values()) for role, gaps in roles.items()}


def gaps_by_role(records: Iterable[TrapRecord]) -> dict[str, list[Gap]]:
    """Role -> its missing syscalls, in order of first appearance (pytest's own calls apart)."""
    return _collect(records, harness=False)


def harness_by_role(records: Iterable[TrapRecord]) -> dict[str, list[Gap]]:
    """Role -> the syscalls it lacks that pytest's own code made between phases (not counted)."""
    return {role: gaps for role, gaps in _collect(records, harness=True).items() if gaps}


#: Syscalls of pytest's own code named on a role's summary line (the report file has all).
_HARNESS_SHOWN = 8


def count(number: int, noun: str) -> str:
    """``1 call``, ``2 calls``."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def summary_line(role: str, gaps: list[Gap], tally: RoleTally | None = None, harness: Iterable[Gap] = ()) -> str:
    """``NET: 2 missing: getgroups, mount``, with what the verdict does not cover.

    ``NET: 0 missing (incomplete: 3 tests run, 2 not run)``,
    ``NET: 1 missing: mount (incomplete: 2 tests run, 1 test ended without a complete record)``,
    ``NET: 0 missing; 2 calls by pytest's own code between phases, not counted: write x2``.
    Never "no missing syscalls" while anything is left out.
    """
    tally = tally or RoleTally()
    harness = list(harness)
    if gaps:
        verdict = f"{len(gaps)} missing: {', '.join(g.syscall for g in gaps)}"
    elif tally.not_run and not tally.run:
        verdict = "not checked"
    elif tally.not_run or tally.incomplete or harness:
        verdict = "0 missing"
    else:
        return f"{role}: no missing syscalls"
    line = f"{role}: {verdict}"
    if tally.not_run or tally.incomplete:
        counts = [count(tally.run, "test") + " run"]
        if tally.not_run:
            counts.append(f"{len(tally.not_run)} not run")
        if tally.incomplete:
            counts.append(count(len(tally.incomplete), "test") + " ended without a complete record")
        line += f" (incomplete: {', '.join(counts)})"
    if harness:
        calls = sum(g.calls for g in harness)
        ranked = sorted(harness, key=lambda g: -g.calls)  # stable: ties keep their first appearance
        names = " ".join(f"{g.syscall} x{g.calls}" for g in ranked[:_HARNESS_SHOWN])
        more = " ..." if len(ranked) > _HARNESS_SHOWN else ""
        line += f"; {count(calls, 'call')} by pytest's own code between phases, not counted: {names}{more}"
    return line


def is_complete(tally: RoleTally | None, harness: Iterable[Gap] = ()) -> bool:
    """Whether the role's gaps are the whole story: every test ran, fully recorded, no harness calls."""
    return not (tally and (tally.not_run or tally.incomplete)) and not list(harness)


def _where(gap: Gap) -> str:
    """The first location (shortened), or why there is none."""
    return short_location(gap.first_location) or (f"none: {gap.first_blank}" if gap.first_blank else "")


def gap_table(gaps: list[Gap], width: int | None = None) -> str:
    """One role's gaps as a table; ``width``: made to fit that many columns (wrapped; if need be without ``nr``).

    What a gap's first call returned is in the violation lines and the report file, not here:
    the table is read for what to allow.
    """
    rows: list[tuple[object, ...]] = [
        (g.syscall, g.nr, g.calls, len(g.tests), g.tests[0] if g.tests else "", _where(g), g.group) for g in gaps
    ]
    headers = ["syscall", "nr", "calls", "tests", "first test", "first location", "group that allows it"]
    return fit_table(rows, headers, width, drop=(1,), wrap=(4, 5, 6), short_headers={6: "group"})


def render_summary(
    records: Iterable[TrapRecord],
    roles: Iterable[str] = (),
    verbosity: int = 0,
    builtin: Iterable[str] = (),
    bases: Mapping[str, str] | None = None,
    tallies: Mapping[str, RoleTally] | None = None,
    fixes: Mapping[str, RoleFix] | None = None,
    width: int | None = None,
) -> str:
    """The terminal section: a line per role, then (unless quiet) a table and a fix per role with gaps.

    ``tallies`` (role -> :class:`RoleTally`) qualify each line; a role there whose
    tests never ran gets a line too. ``fixes`` (role -> :class:`.fixes.RoleFix`) say
    how to close each role's gaps (else a fix is made from the names alone).
    ``width``: the tables fit that many columns.
    """
    lines = summary_lines(records, roles, verbosity, builtin, bases, tallies, fixes, width)
    return "\n".join(text for text, _ in lines)


#: Styles of :func:`summary_lines` (pytest's TerminalWriter markup names; "" for none).
GOOD, BAD, PARTIAL, HEAD = "green", "red", "yellow", "bold"


def summary_lines(
    records: Iterable[TrapRecord],
    roles: Iterable[str] = (),
    verbosity: int = 0,
    builtin: Iterable[str] = (),
    bases: Mapping[str, str] | None = None,
    tallies: Mapping[str, RoleTally] | None = None,
    fixes: Mapping[str, RoleFix] | None = None,
    width: int | None = None,
) -> list[tuple[str, str]]:
    """:func:`render_summary`'s lines, each with its style: a clean role green, gaps red, incomplete yellow."""
    records = list(records)
    by_role = gaps_by_role(records)
    harness = harness_by_role(records)
    tallies = tallies or {}
    for role in [*roles, *tallies, *harness]:
        by_role.setdefault(role, [])
    if not by_role:
        return []
    builtin = set(builtin)
    parts: list[tuple[str, str]] = []
    for role, gaps in by_role.items():
        tally, extra = tallies.get(role), harness.get(role, ())
        style = BAD if gaps else GOOD if is_complete(tally, extra) else PARTIAL
        parts.append((summary_line(role, gaps, tally, extra), style))
    if verbosity >= 0:
        for role, gaps in by_role.items():
            incomplete = tallies[role].incomplete if role in tallies else {}
            if incomplete:
                parts += [("", ""), (f"{role}: tests that ended without a complete record:", PARTIAL)]
                parts += [(f"  {nodeid}: {'; '.join(why)}", "") for nodeid, why in incomplete.items()]
            if not gaps:
                continue
            fix = (fixes or {}).get(role) or _fix(role, gaps, (bases or {}).get(role, ""))
            parts += [("", ""), (f"{role}:", HEAD)]
            parts += [(line, "") for line in gap_table(gaps, width).splitlines()]
            parts += [("", "")]
            parts += [(line, PARTIAL if line.startswith("not fixed:") else GOOD) for line in fix.lines()]
            if role in builtin:
                parts += [("vs upstream Bitcoin Core:", "")]
                parts += [(f"  {line}", "") for line in upstream_difference(gaps)]
    return parts


def _fix(role: str, gaps: list[Gap], base: str = "") -> RoleFix:
    """The fix from names alone: ``role`` (a variant when ``base``, its definition, is given) taken as built-in."""
    from ..roles.role import BITCOIN_CORE, Role
    from .fixes import base_name, plan

    ran = Role(role, frozenset(), BITCOIN_CORE, base)
    return plan(ran, gaps, Role(base_name(ran), frozenset(), BITCOIN_CORE))


def fix_definition(role: str, gaps: list[Gap], base: str = "") -> str:
    """A ``sandbox_roles`` line that closes the role's gaps under its own name (``NET = NET +vfork``).

    Empty when no gap can be closed by adding a syscall (see :mod:`.fixes`).
    """
    return _fix(role, gaps, base).line


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
REPORT_VERSION = 2


def _gap_json(gap: Gap) -> dict[str, object]:
    return {
        "syscall": gap.syscall,
        "nr": gap.nr,
        "calls": gap.calls,
        "tests": gap.tests,
        "first_location": gap.first_location,
        "first_blank": gap.first_blank or None,
        "first_result": gap.first_result or None,
        "group": group_of(gap.syscall),
        "reason": gap.reason or None,
    }


def build_json_report(
    records: list[TrapRecord],
    roles: dict[str, dict[str, object]],
    environment: dict[str, str],
    settings: dict[str, object],
    interrupted: bool = False,
    tallies: Mapping[str, RoleTally] | None = None,
    fixes: Mapping[str, RoleFix] | None = None,
    tests: Iterable[tuple[str, str]] = (),
    *,
    with_records: bool = True,
) -> dict[str, object]:
    """The ``--sandbox-report`` document. ``roles``: name -> facts (tests, origin, allowed).

    Per role, besides the facts: ``missing``, ``summary`` (the terminal's line),
    ``fix``, ``tests_not_run``, ``tests_incomplete`` (node id -> reasons),
    ``harness_calls`` (what pytest's own code made between phases, not counted) and
    ``complete`` (whether ``missing`` is the whole story). ``tests``: ``(node id, role)``
    of each sandboxed test run, in the order they ended. ``environment_gaps`` is empty:
    only a report merged from several environments (``reports/merge.py``) fills it.
    ``with_records=False`` leaves the ``records`` list out, for a writer that keeps each
    record's text (:func:`report_text`).
    """
    by_role = gaps_by_role(records)
    harness = harness_by_role(records)
    tallies = tallies or {}
    summary = {}
    for role in sorted(set(roles) | set(by_role) | set(tallies) | set(harness)):
        gaps = by_role.get(role, [])
        tally = tallies.get(role)
        facts = dict(roles.get(role, {}))
        facts.setdefault("tests", tally.run if tally else 0)
        facts["missing"] = [_gap_json(g) for g in gaps]
        facts["summary"] = summary_line(role, gaps, tally, harness.get(role, ()))
        base = str(facts.get("definition", "")) if facts.get("variant") else ""
        fix = (fixes or {}).get(role) or _fix(role, gaps, base)
        facts["fix"] = (fix.line or None) if gaps else None
        facts["fix_conflicts"] = fix.conflicts if gaps else []
        facts["fix_lines"] = fix.lines() if gaps else []
        facts["tests_not_run"] = list(tally.not_run) if tally else []
        facts["tests_incomplete"] = {k: list(v) for k, v in tally.incomplete.items()} if tally else {}
        facts["harness_calls"] = [_gap_json(g) for g in harness.get(role, ())]
        facts["complete"] = is_complete(tally, harness.get(role, ()))
        facts["environment_gaps"] = {}
        summary[role] = facts
    document: dict[str, object] = {
        "version": REPORT_VERSION,
        "interrupted": interrupted,
        "environment": environment,
        "settings": settings,
        "tests": [{"nodeid": nodeid, "role": role} for nodeid, role in tests],
        "roles": summary,
    }
    if with_records:
        document["records"] = [r.to_json() for r in records]
    return document


def record_text(record: TrapRecord) -> str:
    """One record as it stands in the report file's ``records`` list (made once per record)."""
    return textwrap.indent(json.dumps(record.to_json(), indent=1, sort_keys=True), "  ")


def report_text(document: Mapping[str, object], records: Iterable[str]) -> str:
    """The report file: ``document`` (without records) with the records' texts (:func:`record_text`) spliced in."""
    head = json.dumps(document, indent=1, sort_keys=True)
    body = ",\n".join(records)
    return head[: head.rindex("}")].rstrip() + ',\n "records": [' + (f"\n{body}\n ]" if body else "]") + "\n}\n"


def render_profile(roles: dict[str, dict[str, object]], width: int | None = None) -> str:
    """Profile mode: per role, what it used, what it allows but never used, a minimal list, what was not measured.

    The minimal list holds only what was measured; what the run could not measure
    (``unmeasured`` facts: ``[{"syscall", "reason"}]``) follows the table, by reason.
    """
    rows = []
    apart: list[str] = []
    for name, facts in roles.items():
        used, unused, minimal = (list(facts.get(k, ())) for k in ("used", "unused", "minimal"))  # type: ignore[call-overload]
        unmeasured = unmeasured_by_reason(facts.get("unmeasured", ()))  # type: ignore[arg-type]
        count = sum(len(names) for names in unmeasured.values())
        never = " ".join(unused[:12]) + (" ..." if len(unused) > 12 else "")
        rows.append((name, len(used), len(unused), never, len(minimal), count))
        if unmeasured:
            apart.append(f"{name}: {count} allowed, not measured here, not in its minimal list:")
            apart += [f"  {' '.join(names)}: {reason}" for reason, names in unmeasured.items()]
    headers = [
        "role",
        "allowed and used",
        "allowed, never used",
        "never used (first 12)",
        "minimal allow-list",
        "not measured",
    ]
    text = "least privilege (profile mode):\n" + fit_table(rows, headers, width, wrap=(3,))
    if apart:
        text += "\n\n" + "\n".join(apart)
        text += "\n(add them if your machines need them: --sandbox-export writes ROLE.minimal+unmeasured.* too)"
    return text


def unmeasured_by_reason(entries: Iterable[Mapping[str, str]]) -> dict[str, list[str]]:
    """``[{"syscall", "reason"}, ...]`` -> reason -> syscalls, in order of first appearance."""
    grouped: dict[str, list[str]] = {}
    for entry in entries:
        grouped.setdefault(str(entry.get("reason", "")), []).append(str(entry.get("syscall", "")))
    return grouped
