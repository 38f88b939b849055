"""Best-effort ``name(arg, ...)`` rendering of a syscall, with python-ptrace's prototypes.

python-ptrace knows each syscall's argument names and types and can follow pointers
(paths, ``struct`` arguments) through a process object. The tracer hands it a
:class:`ProcessMemory` reading the stopped tracee's ``/proc/PID/mem``; without one
(the SIGSYS recorder's parent cannot read the child) pointers print as addresses.
Each argument is formatted on its own, so one unreadable pointer costs only that
argument; python-ptrace's own error logging is bypassed.
"""

from __future__ import annotations

import ctypes
import os
from typing import Any

from ..kernel.syscalls import get_linux_syscall_name

try:
    from ptrace.func_call import FunctionCallOptions
    from ptrace.syscall import SYSCALL_PROTOTYPES
    from ptrace.syscall.ptrace_syscall import PtraceSyscall
except ImportError:  # pragma: no cover - python-ptrace is a dependency
    PtraceSyscall = None

_WORD = 8


class ProcessMemory:
    """The part of python-ptrace's ``PtraceProcess`` that argument formatting reads."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY | os.O_CLOEXEC)

    def close(self) -> None:
        """Close ``/proc/PID/mem``."""
        os.close(self._fd)

    def readBytes(self, address: int, size: int) -> bytes:  # noqa: N802 - python-ptrace's name
        """``size`` bytes at ``address``; raises OSError if unmapped."""
        data = os.pread(self._fd, size, address)
        if len(data) != size:
            raise OSError(f"short read at {address:#x}")
        return data

    def readWord(self, address: int) -> int:  # noqa: N802
        """One 64-bit word."""
        return int.from_bytes(self.readBytes(address, _WORD), "little")

    def readStruct(self, address: int, struct: Any) -> Any:  # noqa: N802
        """A ctypes ``struct`` read from ``address``."""
        return struct.from_buffer_copy(self.readBytes(address, ctypes.sizeof(struct)))

    def readArray(self, address: int, basetype: Any, count: int) -> Any:  # noqa: N802
        """A ctypes array of ``count`` ``basetype``."""
        return self.readStruct(address, basetype * count)

    def readCString(self, address: int, max_size: int) -> tuple[bytes, bool]:  # noqa: N802
        """The NUL-terminated string at ``address``, cut at ``max_size``; (data, truncated)."""
        data = b""
        while len(data) < max_size:
            chunk = os.pread(self._fd, 256, address + len(data))
            if not chunk:
                raise OSError(f"unreadable string at {address:#x}")
            end = chunk.find(b"\0")
            if end >= 0:
                data += chunk[:end]
                return data[:max_size], len(data) > max_size
            data += chunk
        return data[:max_size], True


class _Regs:
    def __init__(self, nr: int, args: tuple[int, ...]) -> None:
        padded = tuple(args) + (0,) * (6 - len(args))
        self.orig_rax = nr
        self.rdi, self.rsi, self.rdx, self.r10, self.r8, self.r9 = padded[:6]


def _plain(nr: int, args: tuple[int, ...]) -> str:
    return f"{get_linux_syscall_name(nr)}({', '.join(hex(a) for a in args)})"


def decode_call(nr: int, args: tuple[int, ...], memory: ProcessMemory | None = None) -> str:
    """``getgroups(0, NULL)``-style text; never raises."""
    if PtraceSyscall is None:
        return _plain(nr, args)
    try:
        call = PtraceSyscall(memory, FunctionCallOptions(string_max_length=128, max_array_count=8), _Regs(nr, args))
        name = get_linux_syscall_name(nr)
        call.name = name
        prototype = SYSCALL_PROTOTYPES.get(name)
        values = args[: len(prototype[1])] if prototype else args
        call.readArguments(values)
        texts: list[str] = []
        for argument in call.arguments:
            try:
                if memory is None and argument.type and argument.type.endswith("*"):
                    text = "NULL" if not argument.value else hex(argument.value)
                else:
                    created = argument.createText()
                    text = str(created) if created is not None else hex(argument.value)
            except Exception:
                text = hex(argument.value)
            texts.append(text)
        return f"{name}({', '.join(texts)})"
    except Exception:
        return _plain(nr, args)
