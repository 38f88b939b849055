"""``pytest-syscall-sandbox lint``: the command line of the lint."""

from __future__ import annotations

import argparse

from .environment import LintEnvironment
from .report import lint, policy_roles, render_json, render_table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``lint`` subcommand's arguments to ``parser``."""
    parser.add_argument("roles", nargs="*", metavar="ROLE", help="Policies to lint (default: all fifteen)")
    parser.add_argument("--format", choices=("table", "json"), default="table", help="Output format")
    parser.add_argument(
        "--no-probe",
        action="store_true",
        help="Do not probe the running kernel; assume it implements the table up to its release",
    )


def run_lint(args: argparse.Namespace) -> tuple[str, int]:
    """Run the lint for parsed arguments; returns (text, exit code: 0 clean, 1 certain findings).

    Unknown role names raise :class:`~..errors.UnknownPolicyError` (exit code 2 in the CLI).
    """
    roles = policy_roles(args.roles)
    report = lint(roles, LintEnvironment.detect(probe=not args.no_probe))
    text = render_json(report) if args.format == "json" else render_table(report)
    return text, report.exit_code
