"""The x86-64 syscall table: names to numbers and back."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from ..errors import UnknownSyscallError
from ._syscalls_x86_64 import NEWER_X86_64, SYSCALLS_X86_64

#: ``AUDIT_ARCH_X86_64`` from <linux/audit.h>: EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE.
AUDIT_ARCH_X86_64 = 0xC000003E
#: ``AUDIT_ARCH_I386``: what ``seccomp_data.arch`` holds for an ``int 0x80`` call.
AUDIT_ARCH_I386 = 0x40000003
#: ``__X32_SYSCALL_BIT``: set in ``nr`` by x32-ABI calls, which share AUDIT_ARCH_X86_64.
X32_SYSCALL_BIT = 0x40000000
#: More than the x32 table holds (about 550 entries on Linux 6.x): the kernel runs
#: ``X32_SYSCALL_BIT + 0 .. X32_CALLS - 1`` as x32 calls, any other number at or above the bit is ENOSYS.
X32_CALLS = 1024

#: number -> name.
NAMES: Mapping[int, str] = MappingProxyType(SYSCALLS_X86_64)
#: name -> number.
NUMBERS: Mapping[str, int] = MappingProxyType({name: nr for nr, name in SYSCALLS_X86_64.items()})
#: Numbers added after Linux 6.10 (463-469), to be confirmed on the running kernel.
NEWER_NUMBERS: frozenset[int] = NEWER_X86_64

UNKNOWN_NAME = "*unknown*"


def get_linux_syscall_name(nr: int) -> str:
    """Return the name of syscall ``nr``, or ``"*unknown*"`` if the table lacks it."""
    return NAMES.get(nr, UNKNOWN_NAME)


def syscall_number(name: str) -> int:
    """Return the number of the syscall called ``name``; raise :class:`UnknownSyscallError`."""
    try:
        return NUMBERS[name]
    except KeyError:
        raise UnknownSyscallError(name, _names_hint(name)) from None


def resolve(name_or_number: str | int) -> tuple[int, str]:
    """Turn a name, a number or a numeric string into ``(number, name)``."""
    if isinstance(name_or_number, int) or (isinstance(name_or_number, str) and name_or_number.isdigit()):
        nr = int(name_or_number)
        if nr not in NAMES:
            raise UnknownSyscallError(nr, f"valid x86-64 numbers: {_number_ranges()}")
        return nr, NAMES[nr]
    return syscall_number(name_or_number), name_or_number


def numbers_of(names: Iterable[str]) -> frozenset[int]:
    """Numbers of all ``names``; the error names the first unknown one."""
    return frozenset(syscall_number(name) for name in names)


def check_names(names: Iterable[str]) -> tuple[str, ...]:
    """Return ``names`` as a tuple after checking each against the table."""
    checked = tuple(names)
    unknown = [n for n in checked if n not in NUMBERS]
    if unknown:
        raise UnknownSyscallError(unknown[0] if len(unknown) == 1 else unknown, _names_hint(unknown[0]))
    return checked


def _names_hint(name: str) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(NUMBERS), n=5, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    return hint + "valid names are those of the x86-64 table, which `python -m pytest_syscall_sandbox syscalls` lists"


def _number_ranges() -> str:
    spans: list[list[int]] = []
    for nr in sorted(NAMES):
        if spans and spans[-1][1] == nr - 1:
            spans[-1][1] = nr
        else:
            spans.append([nr, nr])
    return " ".join(f"{a}-{b}" if a != b else str(a) for a, b in spans)
