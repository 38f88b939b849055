"""Syscall families and library drift as data: complete, consistent with the table, versioned."""

from __future__ import annotations

import pytest
import reference_data

from pytest_syscall_sandbox.kernel.syscalls import NEWER_NUMBERS, NUMBERS
from pytest_syscall_sandbox.lint.drift import (
    CPYTHON,
    FAMILIES,
    GLIBC,
    HAZARDS,
    JOBS,
    LIBRARY_DRIFT,
    LINUX_SINCE,
    MUSL,
    Family,
    Use,
    families_of,
    parse_version,
)

#: The families issue #5 names, with the members it lists (a family may hold more).
ISSUE_FAMILIES = {
    "process": "clone clone3 fork vfork",
    "open": "open openat openat2 creat",
    "stat": "stat lstat fstat newfstatat statx",
    "unlink": "unlink unlinkat",
    "rename": "rename renameat renameat2",
    "link": "link linkat",
    "access": "access faccessat faccessat2",
    "chmod": "chmod fchmodat fchmodat2",
    "wait": "wait4 waitid",
    "epoll": "epoll_wait epoll_pwait epoll_pwait2",
    "poll": "poll ppoll",
    "select": "select pselect6",
    "dup": "dup2 dup3",
    "pipe": "pipe pipe2",
    "eventfd": "eventfd eventfd2",
    "getdents": "getdents getdents64",
    "accept": "accept accept4",
    "readlink": "readlink readlinkat",
    "mkdir": "mkdir mkdirat",
    "signalfd": "signalfd signalfd4",
    "futex": "futex futex_waitv",
    "sendfile": "sendfile copy_file_range splice",
    "close": "close close_range",
}


@pytest.mark.parametrize("name", sorted(ISSUE_FAMILIES))
def test_issue_family_is_there_with_its_members(name: str) -> None:
    assert set(ISSUE_FAMILIES[name].split()) <= set(FAMILIES[name].members)


def test_every_member_is_in_the_package_table_and_in_table_order() -> None:
    for family in FAMILIES.values():
        numbers = [NUMBERS[m] for m in family.members]
        assert numbers == sorted(numbers), family.name
        assert len(set(family.members)) == len(family.members), family.name


def test_every_member_is_in_the_reference_table() -> None:
    names = set(reference_data.syscall_table().values())
    members = {m for family in FAMILIES.values() for m in family.members}
    assert members - names == set()
    assert {d.syscall for d in LIBRARY_DRIFT} - names == set()
    assert {s.syscall for job in JOBS.values() for s in job.steps} - names == set()
    assert {name for hazard in HAZARDS for name in hazard.syscalls} - names == set()


def test_a_family_rejects_bad_data() -> None:
    with pytest.raises(ValueError, match="table order"):
        Family("x", "job", ("openat", "open"))
    with pytest.raises(ValueError, match="not a member"):
        Family("x", "job", ("open", "openat"), (Use("close", GLIBC, "close()"),))


@pytest.mark.parametrize(
    ("family", "libc", "version", "preferred"),
    [
        ("stat", GLIBC, "2.41", ("fstat", "newfstatat")),  # fstat() is the fstat syscall again from 2.39
        ("stat", GLIBC, "2.38", ("newfstatat",)),
        ("stat", GLIBC, "2.36", ("newfstatat",)),
        ("stat", GLIBC, "2.33", ("newfstatat",)),
        ("stat", GLIBC, "2.32", ("stat", "fstat", "lstat")),
        ("stat", MUSL, "1.2.4", ("stat", "fstat", "lstat")),
        ("process", GLIBC, "2.36", ("clone3",)),
        ("process", GLIBC, "2.33", ("clone",)),
        ("process", MUSL, "1.2.4", ("clone", "fork")),
        ("open", GLIBC, "2.36", ("openat",)),
        ("open", GLIBC, "2.25", ("open",)),
        ("open", MUSL, "1.2.4", ("open",)),
        ("eventfd", GLIBC, "2.36", ("eventfd2",)),
        ("getdents", GLIBC, "2.36", ("getdents64",)),
        ("access", GLIBC, "2.36", ("access",)),
        ("unlink", GLIBC, "2.36", ("unlink",)),
    ],
)
def test_preferred_member_per_libc_and_version(
    family: str, libc: str, version: str, preferred: tuple[str, ...]
) -> None:
    assert FAMILIES[family].preferred(libc, parse_version(version)) == preferred


def test_use_versions_are_since_inclusive_until_exclusive() -> None:
    use = Use("clone", GLIBC, "pthread_create()", since="2.30", until="2.34")
    assert [use.active(parse_version(v)) for v in ("2.29", "2.30", "2.33", "2.34")] == [False, True, True, False]
    assert use.describe() == "glibc 2.30 to 2.34 for pthread_create()"
    assert Use("clone3", GLIBC, "x", since="2.34").active(None)  # unknown version: the newest
    assert not Use("clone", GLIBC, "x", until="2.34").active(None)


@pytest.mark.parametrize(
    ("text", "version"), [("2.36", (2, 36)), ("6.18.44-fc-v595", (6, 18, 44)), ("3.11", (3, 11)), ("", ())]
)
def test_parse_version(text: str, version: tuple[int, ...]) -> None:
    assert parse_version(text) == version


def test_the_drift_the_issue_names_is_there_with_its_version() -> None:
    drift = {(d.syscall, d.by): d.since for d in LIBRARY_DRIFT}
    assert drift[("rseq", GLIBC)] == "2.35"
    assert drift[("clone3", GLIBC)] == "2.34"
    assert drift[("newfstatat", GLIBC)] == "2.33"
    assert drift[("faccessat2", GLIBC)] == "2.33"
    assert drift[("fchmodat2", GLIBC)] == "2.39"
    assert ("close_range", CPYTHON) in drift
    for d in LIBRARY_DRIFT:
        assert d.syscall not in d.before and d.before, d


def test_newer_table_numbers_have_a_linux_release_after_6_10() -> None:
    newer = {name for name, nr in NUMBERS.items() if nr in NEWER_NUMBERS}
    assert newer and newer <= set(LINUX_SINCE)
    assert all((6, 13) <= LINUX_SINCE[name] <= (6, 17) for name in newer)


def test_families_of() -> None:
    assert [f.name for f in families_of("newfstatat")] == ["stat"]
    assert families_of("getgroups") == ()
