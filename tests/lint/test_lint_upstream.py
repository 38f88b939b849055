"""The lint on Bitcoin Core's own lists: the early-2021 ones (what users hit) and the final ones."""

from __future__ import annotations

import re

import pytest
import reference_data
import upstream_early_2021 as early

from pytest_syscall_sandbox.lint.drift import families_of, format_version
from pytest_syscall_sandbox.lint.environment import LintEnvironment
from pytest_syscall_sandbox.lint.findings import CERTAIN, LIKELY, NOTE, lint_role
from pytest_syscall_sandbox.lint.report import lint, policy_roles
from pytest_syscall_sandbox.roles.groups import GROUPS

#: The three the issue's acceptance names, plus rseq (drift) and fstatfs (statfs family).
PREDICTED = {"newfstatat": CERTAIN, "clone3": CERTAIN, "rseq": CERTAIN, "unlinkat": LIKELY, "fstatfs": LIKELY}


def severities(role_lint: object) -> dict[str, str]:
    return {f.syscall: f.severity for f in role_lint.findings}  # type: ignore[attr-defined]


def test_fixture_agrees_with_the_reference() -> None:
    data = reference_data.bitcoin_core()["added_after_crash_reports"]
    assert {group: tuple(names) for group, names in data.items()} == early.ADDED_AFTER_CRASHES
    markdown = reference_data.shared_file("reference/bitcoin-core-policies.md")
    if markdown is not None:  # where ../shared is checked out: the data is what its markdown says
        section = markdown.read_text().split("## What users hit", 1)[1].split("Other reports", 1)[0]
        section = section.split("crash reports:", 1)[1]
        listed = {
            group: [n.strip() for n in names.split(",")]
            for names, group in re.findall(r"([a-z0-9_, \n]+?) \((\w+)\)", section)
        }
        assert listed == data


def test_fixture_is_the_final_groups_less_what_was_added() -> None:
    groups = early.early_groups()
    assert set(groups) == set(GROUPS)
    for group, names in GROUPS.items():
        assert groups[group] == set(names) - early.added_after_crashes(), group
    assert set(early.early_roles()) == set(policy_roles())


def test_early_lists_on_glibc_236_name_what_users_hit_and_why(glibc_236: LintEnvironment) -> None:
    result = lint_role("MESSAGE_HANDLER", early.early_roles()["MESSAGE_HANDLER"], glibc_236)
    found = severities(result)
    assert {name: found.get(name) for name in PREDICTED} == PREDICTED
    reasons = {f.syscall: f.reason for f in result.findings}
    assert "allows stat, fstat, lstat, statx but not newfstatat" in reasons["newfstatat"]
    assert "glibc 2.33+ for stat()" in reasons["newfstatat"]
    assert "glibc 2.34+ for pthread_create()" in reasons["clone3"]
    assert "glibc 2.35 started to call rseq for every new thread" in reasons["rseq"]
    assert "shutil.rmtree()" in reasons["unlinkat"]
    assert "fstatvfs()" in reasons["fstatfs"]


def test_every_added_syscall_of_a_partly_allowed_family_is_named(glibc_236: LintEnvironment) -> None:
    """What upstream added after crashes, where the early list allowed a sibling, is certain or likely here.

    The exception is gettimeofday, whose family (time) the early list allowed through
    clock_gettime: on a vDSO clock source (tsc) glibc never makes the syscall, so it is a
    note here and likely where the clock source has no vDSO mode (xen, hpet, acpi_pm).
    mremap, mincore, sendfile and copy_file_range belong to no family the early list
    touched, so no sibling can predict them.
    """
    roles = early.early_roles()
    for name in ("INITIALIZATION", "MESSAGE_HANDLER"):
        allowed = roles[name]
        found = severities(lint_role(name, allowed, glibc_236))
        siblings = {s for s in early.added_after_crashes() if any(set(f.members) & allowed for f in families_of(s))}
        assert siblings == {"newfstatat", "unlinkat", "clone3", "fstatfs", "gettimeofday"}
        assert {s: found[s] for s in siblings - {"gettimeofday"}} == {
            "newfstatat": CERTAIN, "unlinkat": LIKELY, "clone3": CERTAIN, "fstatfs": LIKELY,
        }  # fmt: skip
        assert found["gettimeofday"] == NOTE
        assert {"mremap", "mincore", "sendfile", "copy_file_range"}.isdisjoint(found)
    xen = LintEnvironment.assume(clocksource="xen")
    assert severities(lint_role("MESSAGE_HANDLER", roles["MESSAGE_HANDLER"], xen))["gettimeofday"] == LIKELY


def test_early_lists_on_glibc_233_and_232(glibc_236: LintEnvironment) -> None:
    allowed = early.early_roles()["MESSAGE_HANDLER"]
    on_233 = lint_role("MESSAGE_HANDLER", allowed, LintEnvironment.assume(libc_version="2.33"))
    found = severities(on_233)
    assert found["newfstatat"] == CERTAIN
    assert (found["clone3"], found["rseq"]) == (NOTE, NOTE)  # not used before glibc 2.34 and 2.35
    reasons = {f.syscall: f.reason for f in on_233.findings}
    assert "will be used by glibc 2.34+" in reasons["clone3"]
    assert "arrives with glibc 2.35 (here glibc 2.33)" in reasons["rseq"]
    on_232 = lint_role("MESSAGE_HANDLER", allowed, LintEnvironment.assume(libc_version="2.32"))
    assert severities(on_232)["newfstatat"] == NOTE
    assert on_232.certain == ()


def test_rseq_tunable_turns_the_rseq_finding_into_a_note() -> None:
    env = LintEnvironment.assume(rseq_disabled=True)
    result = lint_role("SCHEDULER", early.early_roles()["SCHEDULER"], env)
    assert severities(result)["rseq"] == NOTE


def test_early_lists_exit_code_is_1_and_final_lists_0(glibc_236: LintEnvironment) -> None:
    assert lint(early.early_roles(), glibc_236).exit_code == 1
    assert lint(policy_roles(), glibc_236).exit_code == 0


def test_early_lists_on_this_machine(real_env: LintEnvironment) -> None:
    if real_env.libc != "glibc" or real_env.libc_version is None or real_env.libc_version < (2, 35):
        pytest.skip(f"needs glibc 2.35+, this machine has {real_env.describe()}")
    result = lint_role("MESSAGE_HANDLER", early.early_roles()["MESSAGE_HANDLER"], real_env)
    assert {"newfstatat", "clone3", "rseq"} <= set(result.certain)
    assert severities(result)["unlinkat"] in (CERTAIN, LIKELY)


def test_final_lists_on_glibc_236_still_miss_only_likely_or_noted_syscalls(glibc_236: LintEnvironment) -> None:
    report = lint(policy_roles(), glibc_236)
    assert len(report.roles) == 15
    by_name = {r.name: r for r in report.roles}
    assert all(r.certain == () for r in report.roles)
    assert set(by_name["MESSAGE_HANDLER"].names(LIKELY)) == {"vfork", "close_range", "faccessat2"}
    assert set(by_name["NET"].names(LIKELY)) == {"vfork", "close_range", "faccessat2"}
    assert set(by_name["VALIDATION_SCRIPT_CHECK"].names(LIKELY)) == {"vfork", "close_range"}
    # No CPython role: only glibc's own reasons remain.
    c_only = LintEnvironment.assume(python=None)
    assert set(lint_role("NET", by_name["NET"].allowed, c_only).names(LIKELY)) == {"close_range", "faccessat2"}


def test_final_lists_on_this_machine_match_the_made_up_machine(real_env: LintEnvironment) -> None:
    """Family and drift findings depend on libc, Python and clock source only, not on the kernel probe."""
    same = LintEnvironment.assume(
        libc=real_env.libc,
        libc_version=format_version(real_env.libc_version) if real_env.libc_version else None,
        python=format_version(real_env.python) if real_env.python else None,
        clocksource=real_env.clocksource,
        rseq_disabled=real_env.rseq_disabled,
    )
    for name, allowed in policy_roles().items():
        assert lint_role(name, allowed, real_env).findings == lint_role(name, allowed, same).findings
