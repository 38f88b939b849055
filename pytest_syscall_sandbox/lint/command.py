"""``pytest-syscall-sandbox lint``: the command line of the lint."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..roles.project import load_project
from .environment import LintEnvironment
from .findings import NOTE, SEVERITIES
from .report import lint, policy_roles, render_json, render_table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``lint`` subcommand's arguments to ``parser``."""
    parser.add_argument(
        "roles",
        nargs="*",
        metavar="ROLE",
        help="Roles to lint, built-in or the project's (default: the project's roles, else Bitcoin Core's fifteen)",
    )
    parser.add_argument("--format", choices=("table", "json"), default="table", help="Output format")
    parser.add_argument(
        "--min-severity",
        choices=SEVERITIES,
        default=NOTE,
        help="Show findings of this severity and graver only (default: note, everything)",
    )
    add_rootdir(parser)
    parser.add_argument(
        "--no-probe",
        action="store_true",
        help="Do not probe the running kernel; assume it implements the table up to its release",
    )


def run_lint(args: argparse.Namespace) -> tuple[str, int]:
    """Run the lint for parsed arguments; returns (text, exit code: 0 clean, 1 certain findings).

    The project's roles come from the ini file found from ``--rootdir`` or the current
    directory (:mod:`..roles.project`). Unknown role names raise
    :class:`~..errors.UnknownPolicyError` (exit code 2 in the CLI).
    """
    project = load_project(project_dir(args))
    roles = policy_roles(args.roles or project.own, project.registry, where=project.describe())
    report = lint(roles, LintEnvironment.detect(probe=not args.no_probe))
    least = getattr(args, "min_severity", NOTE)
    text = render_json(report, least) if args.format == "json" else render_table(report, least)
    return text, report.exit_code


def add_rootdir(parser: argparse.ArgumentParser) -> None:
    """The ``--rootdir DIR`` option of the commands that know the project's roles."""
    parser.add_argument(
        "--rootdir",
        metavar="DIR",
        help="Find the project's ini file (its sandbox_roles) from DIR instead of the current directory",
    )


def project_dir(args: argparse.Namespace) -> Path:
    """The directory to find the project from: ``--rootdir`` (which must be a directory), else the current one."""
    from ..errors import SandboxError

    rootdir = getattr(args, "rootdir", None)
    if rootdir is None:
        return Path(os.getcwd())
    if not os.path.isdir(rootdir):
        raise SandboxError(f"--rootdir {rootdir!r}: not a directory (give the project's root or a folder in it)")
    return Path(rootdir)
