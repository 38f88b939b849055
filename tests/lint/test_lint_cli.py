"""The ``lint`` subcommand: arguments, formats, exit codes."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest
import upstream_early_2021 as early

from pytest_syscall_sandbox.errors import UnknownPolicyError
from pytest_syscall_sandbox.lint.command import add_arguments, run_lint
from pytest_syscall_sandbox.lint.environment import LintEnvironment
from pytest_syscall_sandbox.lint.report import lint, policy_roles, render_table, summary_lines


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="lint")
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_defaults() -> None:
    args = parse()
    assert (args.roles, args.format, args.no_probe) == ([], "table", False)


def test_unknown_role_names_the_valid_ones() -> None:
    with pytest.raises(UnknownPolicyError, match=r"valid policies: .*MESSAGE_HANDLER"):
        run_lint(parse("NOPE", "--no-probe"))
    with pytest.raises(SystemExit):
        parse("--format", "xml")


def test_json_lists_every_role_and_the_exit_code() -> None:
    text, code = run_lint(parse("--format", "json", "--no-probe"))
    data = json.loads(text)
    assert [r["role"] for r in data["roles"]] == list(policy_roles())
    assert data["exit_code"] == code
    assert data["environment"]["kernel_source"] == "assumed from the kernel release"
    msghand = run_lint(parse("message_handler", "--format", "json", "--no-probe"))[0]
    assert [r["role"] for r in json.loads(msghand)["roles"]] == ["MESSAGE_HANDLER"]


def test_table_groups_roles_with_the_same_list(glibc_236: LintEnvironment) -> None:
    text = render_table(lint(policy_roles(), glibc_236))
    assert "INITIALIZATION_LOAD_BLOCKS, MESSAGE_HANDLER, SCHEDULER, TX_INDEX, SHUTOFF (116 syscalls)" in text
    assert "VALIDATION_SCRIPT_CHECK (86 syscalls): 0 certain, 2 likely" in text
    assert text.rstrip().endswith("Result: no certain crash found (exit code 0)")


def test_summary_lines_for_a_report_header(glibc_236: LintEnvironment) -> None:
    lines = summary_lines(lint({"old": early.early_roles()["MESSAGE_HANDLER"]}, glibc_236))
    likely = "vfork fstatfs unlinkat close_range faccessat2"
    assert lines == [f"sandbox lint: old: certain newfstatat rseq clone3; likely {likely}"]


def test_the_cli_subcommand_when_wired() -> None:
    from pytest_syscall_sandbox import cli

    parser = cli.build_parser()
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subparsers or "lint" not in subparsers[0].choices:
        pytest.skip("cli.py does not register the lint subcommand yet")
    command = [sys.executable, "-m", "pytest_syscall_sandbox", "lint"]
    ok = subprocess.run([*command, "VALIDATION_SCRIPT_CHECK", "--no-probe"], capture_output=True, text=True)
    assert "VALIDATION_SCRIPT_CHECK (86 syscalls)" in ok.stdout
    bad = subprocess.run([*command, "NOPE"], capture_output=True, text=True)
    assert bad.returncode == 2 and "valid policies" in bad.stderr
