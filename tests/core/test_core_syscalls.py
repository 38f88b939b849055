"""The x86-64 syscall table against the repository's syscall data (and a few numbers written here).

``syscalls_tsv`` is ``tests/data/syscalls-x86_64.tsv``; where ``../shared`` is checked
out, that data is checked against its reference TSV too.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import reference_data
from core_support import NR

from pytest_syscall_sandbox import UnknownSyscallError, get_linux_syscall_name
from pytest_syscall_sandbox.kernel.syscalls import (
    AUDIT_ARCH_I386,
    AUDIT_ARCH_X86_64,
    NAMES,
    NEWER_NUMBERS,
    NUMBERS,
    X32_SYSCALL_BIT,
    check_names,
    numbers_of,
    resolve,
    syscall_number,
)

REPO = Path(__file__).resolve().parents[2]


def test_every_reference_entry_round_trips(syscalls_tsv: dict[int, str]) -> None:
    assert len(syscalls_tsv) == 382
    for nr, name in syscalls_tsv.items():
        assert get_linux_syscall_name(nr) == name, nr
        assert syscall_number(name) == nr, name
        assert resolve(nr) == (nr, name)
        assert resolve(str(nr)) == (nr, name)
        assert resolve(name) == (nr, name)


def test_table_is_exactly_the_reference(syscalls_tsv: dict[int, str]) -> None:
    assert dict(NAMES) == syscalls_tsv
    assert dict(NUMBERS) == {name: nr for nr, name in syscalls_tsv.items()}
    assert len(NUMBERS) == len(NAMES), "two numbers share a name"


def test_newer_numbers_are_the_ones_marked_newer() -> None:
    assert set(NEWER_NUMBERS) == reference_data.newer_numbers() == set(range(463, 470))


def test_the_repository_data_is_the_reference() -> None:
    table = {nr: (name, nr in reference_data.newer_numbers()) for nr, name in reference_data.syscall_table().items()}
    assert len({name for name, _ in table.values()}) == len(table) == 382
    assert set(table) <= set(range(470)) and not any(512 <= nr <= 547 for nr in table)
    reference = reference_data.shared_file("reference/syscalls-x86_64.tsv")
    if reference is not None:  # where ../shared is checked out
        assert reference_data.reference_table(reference) == table


@pytest.mark.parametrize(("name", "nr"), sorted(NR.items()))
def test_numbers_written_here(name: str, nr: int) -> None:
    assert syscall_number(name) == nr
    assert get_linux_syscall_name(nr) == name


def test_constants() -> None:
    assert AUDIT_ARCH_X86_64 == 0xC000003E
    assert AUDIT_ARCH_I386 == 0x40000003
    assert X32_SYSCALL_BIT == 0x40000000


@pytest.mark.parametrize(
    "nr", [336, 387, 423, 470, 512, 547, 1023, -1, -115, 0x40000000, 0x40000000 | 39, 0xFFFFFFFF, 2**64]
)
def test_unknown_numbers_print_as_unknown(nr: int) -> None:
    assert get_linux_syscall_name(nr) == "*unknown*"


def test_x32_only_range_is_not_in_the_table() -> None:
    assert not any(512 <= nr <= 547 for nr in NAMES)
    assert max(NAMES) == 469
    assert min(NAMES) == 0


@pytest.mark.parametrize("name", ["getgroupz", "no_such_call", "", "GETPID", "sys_getpid", "39x"])
def test_unknown_names_raise_with_what_is_valid(name: str) -> None:
    with pytest.raises(UnknownSyscallError) as info:
        syscall_number(name)
    message = str(info.value)
    assert repr(name) in message
    assert info.value.value == name
    assert "valid" in message and "x86-64" in message
    assert isinstance(info.value, ValueError)


def test_unknown_name_suggests_close_names() -> None:
    with pytest.raises(UnknownSyscallError, match="did you mean getgroups"):
        syscall_number("getgroupz")


def test_command_the_unknown_name_message_points_to_exists() -> None:
    """The message tells the user where the valid names are; that place must exist."""
    with pytest.raises(UnknownSyscallError) as info:
        syscall_number("no_such_call")
    command = re.search(r"`python -m pytest_syscall_sandbox ([^`]*)`", str(info.value))
    if command is None:
        pytest.skip("the message names no command")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest_syscall_sandbox", *command.group(1).split()],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, f"{str(info.value)!r} points to a command that fails:\n{proc.stderr}"
    assert "getgroups" in proc.stdout and "clone3" in proc.stdout


@pytest.mark.parametrize("nr", [336, 470, 999, -1])
def test_resolve_unknown_number_lists_valid_ranges(nr: int) -> None:
    with pytest.raises(UnknownSyscallError) as info:
        resolve(nr)
    assert "0-335" in str(info.value) and "424-469" in str(info.value)


def test_check_names_and_numbers_of() -> None:
    assert check_names(["read", "getpid"]) == ("read", "getpid")
    assert numbers_of(["read", "getpid", "read"]) == frozenset({0, 39})
    with pytest.raises(UnknownSyscallError, match="bogus"):
        check_names(["read", "bogus"])
    with pytest.raises(UnknownSyscallError) as info:
        check_names(["bogus1", "read", "bogus2"])
    assert "bogus1" in str(info.value) and "bogus2" in str(info.value)
    with pytest.raises(UnknownSyscallError, match="nope"):
        numbers_of(["write", "nope"])


def test_tables_are_read_only() -> None:
    with pytest.raises(TypeError):
        NAMES[999] = "x"  # type: ignore[index]
    with pytest.raises(TypeError):
        NUMBERS["x"] = 999  # type: ignore[index]
