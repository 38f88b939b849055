"""What the ``merge``, ``report`` and ``diff`` commands do with saved reports (cli.py parses their arguments)."""

from __future__ import annotations

import argparse
import shutil

from .diff import diff_reports, render_diff
from .export import RoleLists, write_exports
from .files import write_atomically
from .merge import merge
from .schema import SavedReport, dump_report, load_report
from .terminal import render_saved


def run_merge(args: argparse.Namespace) -> str:
    """Merge the reports into ``args.output``; say what went in."""
    reports = [load_report(path) for path in args.reports]
    document = merge(reports)
    write_atomically(args.output, dump_report(document))
    environments = len(document.get("environments", ())) or 1
    runs = len(document["tests"])
    return f"merged {len(reports)} reports ({runs} test runs, {environments} environment(s)) into {args.output}"


def run_report(args: argparse.Namespace) -> str:
    """The run's terminal section from a saved report; with ``--export`` and ``--html``, those files too.

    ``args.rules``: the hardening set's export rules (:data:`.export.Rules`, from the engine).
    """
    report = load_report(args.report)
    # as wide as pytest would make it here: COLUMNS, else the terminal, else 80
    text = render_saved(report, verbosity=-1 if args.quiet else 0, width=shutil.get_terminal_size().columns)
    if args.export:
        write_exports(args.export, export_roles(report), args.rules)
        text += f"\nsandbox export: {args.export}"
    if args.html:
        from .html import render_html

        write_atomically(args.html, render_html(report))
        text += f"\nsandbox HTML report: {args.html}"
    return text


def export_roles(report: SavedReport) -> list[RoleLists]:
    """What ``--sandbox-export`` would write for the roles the report's tests ran under."""
    profile = report.mode == "profile"
    return [
        RoleLists(
            name,
            frozenset(facts.get("allowed", ())),
            report.observed(name),
            profile=profile,
            unmeasured={e["syscall"]: e["reason"] for e in facts.get("unmeasured", ())} if profile else {},
            harden=bool(facts.get("harden")),
        )
        for name, facts in report.role_facts().items()
    ]


def run_diff(args: argparse.Namespace) -> tuple[str, int]:
    """The changes from ``args.old`` to ``args.new``; exit code 1 when a role gained a gap."""
    old, new = load_report(args.old), load_report(args.new)
    changes = diff_reports(old, new)
    return render_diff(old, new, changes), int(any(change.appeared for change in changes))
