"""The HTML report (``--sandbox-html`` in a run, ``report --html`` from a saved report).

One self-contained page (inline CSS, no script, no external resource; a Content
Security Policy forbids any) rendered by Jinja2 with autoescaping, so nothing the
tested code made (arguments, paths, thread names, source lines) is read as markup.
This module gathers the facts; ``templates/report.html.j2`` lays them out.
"""

from __future__ import annotations

import linecache
from collections.abc import Iterable
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from ..recorders.record import HARNESS, USED, TrapRecord
from .gaps import Gap, upstream_difference
from .schema import SavedReport
from .terminal import builtin_roles

#: Lines of source shown before and after a gap's location.
CONTEXT = 3
#: Locations shown per gap (the report file has every record).
LOCATIONS_SHOWN = 8


def render_html(report: SavedReport) -> str:
    """The page for ``report``."""
    environment = Environment(
        loader=PackageLoader("pytest_syscall_sandbox.reports", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return environment.get_template("report.html.j2").render(**page(report))


def page(report: SavedReport) -> dict[str, Any]:
    """What the template shows: settings, environments, the matrix, and each role's section."""
    counted = [r for r in report.records() if r.phase != HARNESS]
    builtin = set(builtin_roles())
    roles = report.roles
    columns = _columns(roles, counted)
    return {
        "source": report.source,
        "document": report.document,
        "mode": report.mode,
        "environments": report.environments,
        "columns": columns,
        "matrix": [_row(name, facts, counted, columns) for name, facts in roles.items()],
        "roles": [_role(name, facts, counted, name in builtin) for name, facts in roles.items()],
        "tests_run": len(report.tests),
    }


def _columns(roles: dict[str, dict[str, Any]], records: Iterable[TrapRecord]) -> list[dict[str, Any]]:
    """Every syscall a role lacks or (profile mode) was seen to use, in table order."""
    names = {gap["syscall"]: gap["nr"] for facts in roles.values() for gap in facts["missing"]}
    names.update({r.syscall: r.nr for r in records})
    return [{"syscall": s, "nr": nr} for s, nr in sorted(names.items(), key=lambda item: (item[1], item[0]))]


def _row(name: str, facts: dict[str, Any], records: list[TrapRecord], columns: list[dict[str, Any]]) -> dict[str, Any]:
    """One role's matrix row: per syscall, its calls and whether it is a gap, a use, allowed or not."""
    calls: dict[str, int] = {}
    for record in records:
        if record.role == name:
            calls[record.syscall] = calls.get(record.syscall, 0) + 1
    gaps = {gap["syscall"]: gap["calls"] for gap in facts["missing"]}
    allowed = set(facts.get("allowed", ()))
    cells = []
    for column in columns:
        syscall = column["syscall"]
        if syscall in gaps:
            kind, count = "gap", gaps[syscall]
        elif syscall in allowed:
            kind, count = ("used" if calls.get(syscall) else "allowed"), calls.get(syscall, 0)
        else:
            kind, count = "denied", 0
        cells.append({"syscall": syscall, "kind": kind, "calls": count})
    return {"role": name, "cells": cells, "gaps": len(gaps), "tests": facts["tests"]}


def _role(name: str, facts: dict[str, Any], records: list[TrapRecord], builtin: bool) -> dict[str, Any]:
    """One role's section: summary, gaps with their locations and source, fix, what the verdict leaves out."""
    gaps = []
    for gap in facts["missing"]:
        made = [r for r in records if r.role == name and r.nr == gap["nr"] and r.outcome != USED]
        gaps.append({**gap, "locations": _locations(made)})
    reasons = [Gap(name, g["syscall"], g["nr"], reason=g.get("reason") or "") for g in facts["missing"]]
    return {
        "name": name,
        "facts": facts,
        "gaps": gaps,
        "upstream": upstream_difference(reasons) if builtin and reasons else [],
        "profile": "used" in facts,
    }


def _locations(records: list[TrapRecord]) -> list[dict[str, Any]]:
    """Distinct Python locations of a gap's calls: calls there, one call's arguments, the source around it."""
    found: dict[str, dict[str, Any]] = {}
    for record in records:
        where = f"{record.location} in {record.function}" if record.function else record.location
        entry = found.get(where)
        if entry is None:
            entry = found[where] = {
                "where": where or "no Python location",
                "calls": 0,
                "call": record.decoded_args or f"{record.syscall}(...)",
                "thread": record.thread,
                "source": _source(record),
            }
        entry["calls"] += 1
    return list(found.values())[:LOCATIONS_SHOWN]


def _source(record: TrapRecord) -> list[dict[str, Any]]:
    """The lines around the record's location, read from the file its stack names (empty if not here)."""
    if not record.location or ":" not in record.location:
        return []
    for frame in reversed(record.stack):
        place = frame.rsplit(" in ", 1)[0]
        path, _, number = place.rpartition(":")
        if place.endswith(record.location) and number.isdigit():
            line = int(number)
            lines = linecache.getlines(path)
            first = max(1, line - CONTEXT)
            return [
                {"number": n, "text": lines[n - 1].rstrip("\n"), "hit": n == line}
                for n in range(first, min(len(lines), line + CONTEXT) + 1)
            ]
    return []
