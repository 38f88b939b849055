"""``python -m pytest_syscall_sandbox``: look at policies, filters and syscall numbers.

``show``, ``bpf`` and ``lint`` know the project's roles too: those its ini file
defines in ``sandbox_roles``, found from the current directory as pytest finds it
(or from ``--rootdir DIR``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from tabulate import tabulate

from .engine.compiler import LAYOUTS, TREE, compile_allow_list
from .errors import SandboxError, UnknownPolicyError
from .kernel.actions import SyscallSandboxAction
from .kernel.syscalls import NAMES, numbers_of, resolve
from .lint import command as lint_command
from .reports import command as report_command
from .roles.groups import GROUPS, find_group
from .roles.policies import POLICY_EXTRA_GROUPS, SyscallSandboxPolicy, get_policy, policy_syscalls
from .roles.profiles import PROFILE_BASE, PROFILE_OWN, PROFILES
from .roles.project import Project, load_project
from .roles.role import BITCOIN_CORE, BUILTIN_ORIGINS, CUSTOM, SANDBOX_RS, Role
from .sandbox import allow_list_filter, export_conditions, hardening_lines

_MODES = [a.value for a in SyscallSandboxAction]
ALL_ORIGINS = "all"
#: What ``policies`` lists without ``--origin``: every built-in role, grouped by origin.
DEFAULT_ORIGIN = ALL_ORIGINS


def _bitcoin_core_table() -> str:
    rows = [
        (p.name, p.value, " ".join(POLICY_EXTRA_GROUPS[p]) or "-", len(policy_syscalls(p)))
        for p in SyscallSandboxPolicy
    ]
    return tabulate(rows, headers=["policy", "upstream thread", "groups beyond the defaults", "syscalls"])


def _sandbox_rs_table() -> str:
    rows = [
        (p.name, p.description, PROFILE_BASE[p.name] or "-", len(PROFILE_OWN[p.name]), len(p.allowed))
        for p in PROFILES.values()
    ]
    return tabulate(rows, headers=["profile", "description", "builds on", "adds", "syscalls"])


_ORIGIN_TABLES = {
    BITCOIN_CORE: ("Bitcoin Core: the fifteen thread policies", _bitcoin_core_table),
    SANDBOX_RS: ("sandbox-rs: six cumulative profiles, each a strict superset of the one above it", _sandbox_rs_table),
}


def _policies(args: argparse.Namespace) -> str:
    if args.origin != ALL_ORIGINS:
        return _ORIGIN_TABLES[args.origin][1]()
    return "\n\n".join(f"{title}\n\n{table()}" for title, table in _ORIGIN_TABLES.values())


def _project(args: argparse.Namespace) -> Project:
    return load_project(lint_command.project_dir(args))


def _role(project: Project, name: str) -> Role:
    """The role ``name`` knows in ``project``; the error says where the project's roles were looked for."""
    try:
        return project.registry.get(name)
    except UnknownPolicyError as exc:
        hook = "; roles from a pytest_sandbox_roles hook are known only in a pytest run"
        raise SandboxError(f"{exc} ({project.describe()}{hook})") from None


def _show_group(name: str) -> str:
    try:
        group = find_group(name[1:])
    except ValueError as exc:
        raise SandboxError(str(exc)) from None
    names = sorted(GROUPS[group], key=lambda n: resolve(n)[0])
    policies = [p.name for p in SyscallSandboxPolicy if set(names) <= set(policy_syscalls(p))]
    return "\n".join(
        [
            f"@{group}: {len(names)} syscalls",
            "",
            f"allowed whole by the policies: {' '.join(policies) or 'none'}",
            "",
            "syscalls: " + " ".join(names),
        ]
    )


def _show(args: argparse.Namespace) -> str:
    if args.policy.startswith("@"):
        return _show_group(args.policy)
    project = _project(args)
    role = _role(project, args.policy)
    names = sorted(role.allowed)
    if role.origin == BITCOIN_CORE:
        head = f"{role.name} (upstream thread {get_policy(role.name).value}): {len(names)} syscalls"
    elif role.origin == CUSTOM:
        head = f"{role.name} (project role, {project.inifile}): {len(names)} syscalls"
    else:
        head = f"{role.name} ({role.origin}: {role.description}): {len(names)} syscalls"
    if role.origin == BITCOIN_CORE:
        rows = [(group, " ".join(GROUPS[group])) for group in role.groups]
        detail = tabulate(rows, headers=["group", "syscalls"])
    else:
        detail = f"definition: {role.definition}"
        if role.harden:
            detail += "\nwith the hardening set (argument rules: bpf NAME shows them)"
    return "\n".join([head, "", detail, "", "allowed: " + " ".join(names)])


def _bpf(args: argparse.Namespace) -> str:
    role = _role(_project(args), args.policy)
    action = SyscallSandboxAction(args.mode).action
    harden = args.harden or role.harden
    compiled = (
        allow_list_filter(role.allowed, action, harden=True)
        if harden
        else compile_allow_list(numbers_of(role.allowed), action, layout=args.layout)
    )
    layout = "tree, with the hardening set" if harden else f"{args.layout} layout"
    head = f"# {role.name}, mode {args.mode} ({action}), {layout}: {len(compiled)} instructions"
    return head + "\n" + compiled.disassemble()


def _name(args: argparse.Namespace) -> str:
    nr, name = resolve(args.syscall)
    return f"{nr}\t{name}"


def _syscalls(_args: argparse.Namespace) -> str:
    return "\n".join(f"{nr}\t{name}" for nr, name in sorted(NAMES.items()))


def build_parser() -> argparse.ArgumentParser:
    """The command line parser (exposed for tests and docs)."""
    parser = argparse.ArgumentParser(prog="python -m pytest_syscall_sandbox", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    policies = sub.add_parser("policies", help="List the built-in policies and profiles")
    policies.add_argument(
        "--origin",
        choices=[ALL_ORIGINS, *BUILTIN_ORIGINS],
        default=DEFAULT_ORIGIN,
        help="Which built-in roles to list: all of them grouped by origin, or one origin's",
    )
    policies.set_defaults(run=_policies)
    show = sub.add_parser("show", help="Show one role's (built-in or the project's) or @Group's syscalls")
    show.add_argument("policy", metavar="NAME|@GROUP")
    lint_command.add_rootdir(show)
    show.set_defaults(run=_show)
    bpf = sub.add_parser("bpf", help="Disassemble one role's compiled filter")
    bpf.add_argument("policy", metavar="NAME")
    lint_command.add_rootdir(bpf)
    bpf.add_argument("--mode", choices=_MODES, default="log-and-abort", help="Action for disallowed syscalls")
    bpf.add_argument("--layout", choices=LAYOUTS, default=TREE, help="Tree (ours) or linear (upstream's)")
    bpf.add_argument("--harden", action="store_true", help="Add the hardening set (argument rules)")
    bpf.set_defaults(run=_bpf)
    name = sub.add_parser("name", help="Syscall number to name and back")
    name.add_argument("syscall", metavar="NR_OR_NAME")
    name.set_defaults(run=_name)
    sub.add_parser("syscalls", help="List the x86-64 syscall table").set_defaults(run=_syscalls)
    lint = sub.add_parser("lint", help="Predict missing syscalls from syscall families, library and kernel drift")
    lint_command.add_arguments(lint)
    lint.set_defaults(run=lint_command.run_lint)
    _add_report_commands(sub)
    return parser


def _export_rules(names: set[str]) -> tuple[dict[str, dict[str, object]], list[str]]:
    """A hardened role's argument rules for the syscalls in ``names``, as its exports state them."""
    return export_conditions(names), hardening_lines(names)


def _add_report_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """``merge``, ``report`` and ``diff``: work on saved ``--sandbox-report`` files."""
    merge = sub.add_parser("merge", help="Merge saved reports (CI shards) into the report of one run over all tests")
    merge.add_argument("reports", nargs="+", metavar="REPORT.json")
    merge.add_argument("-o", "--output", required=True, metavar="OUT.json", help="Where to write the merged report")
    merge.set_defaults(run=report_command.run_merge)
    report = sub.add_parser("report", help="Print a saved report's terminal section; write its exports or HTML")
    report.add_argument("report", metavar="REPORT.json")
    report.add_argument("-q", "--quiet", action="store_true", help="Only the summary line of each role")
    report.add_argument("--export", metavar="DIR", help="Write each role's allow-lists, as --sandbox-export does")
    report.add_argument("--html", metavar="FILE", help="Write the HTML report, as --sandbox-html does")
    report.set_defaults(run=report_command.run_report, rules=_export_rules)
    diff = sub.add_parser("diff", help="What changed between two saved reports; exit code 1 when a role gained a gap")
    diff.add_argument("old", metavar="OLD.json")
    diff.add_argument("new", metavar="NEW.json")
    diff.set_defaults(run=report_command.run_diff)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; 0 on success (``diff``: 1 when a role gained a gap), 2 on a bad policy, syscall,
    option or report file."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.run(args)
    except SandboxError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    text, code = result if isinstance(result, tuple) else (result, 0)
    try:
        print(text, flush=True)
    except BrokenPipeError:  # `... | head`: the reader has gone, which is fine
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
    return int(code)
