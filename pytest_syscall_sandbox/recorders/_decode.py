"""Best-effort ``name(arg, ...)`` rendering of a syscall, with python-ptrace's prototypes.

python-ptrace knows each syscall's argument names and types and can follow pointers
(paths, ``struct`` arguments) through a process object. The tracer hands it a
:class:`ProcessMemory` reading the stopped tracee's ``/proc/PID/mem``; without one
(the SIGSYS recorder's parent cannot read the child) pointers print as addresses.
Each argument is formatted on its own, so one unreadable pointer costs only that
argument; python-ptrace's own error logging is bypassed.

The environment an ``execve``/``execveat`` passes is shown as names only
(``'TOKEN=<redacted>'``): records end up in reports and terminals, and environment
values are where secrets live. ``show_env=True`` shows the values.
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
#: Longest string, and most array entries, shown of one argument (as python-ptrace's options).
_STRING_MAX = 128
_ARRAY_MAX = 8
#: Syscalls whose ``argv`` and ``envp`` arguments are NULL-terminated arrays of strings.
_EXEC = frozenset({"execve", "execveat"})
#: What an environment value reads as in a record unless values are asked for.
REDACTED = "<redacted>"


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


def _without_value(entry: str) -> str:
    """``NAME=value`` as ``NAME=<redacted>``; an entry without a name is hidden whole."""
    name, sep, _ = entry.partition("=")
    return f"{name}={REDACTED}" if sep and name else REDACTED


def _string_array(memory: ProcessMemory, address: int, redact: bool) -> str:
    """An ``argv``/``envp`` array as ``<('a', 'b')>``; environment values hidden if ``redact``."""
    if not address:
        return "NULL"
    texts: list[str] = []
    for index in range(_ARRAY_MAX + 1):
        pointer = memory.readWord(address + index * _WORD)
        if not pointer:
            break
        if index == _ARRAY_MAX:
            texts.append(f"(... more than {_ARRAY_MAX} strings ...)")
            break
        data, truncated = memory.readCString(pointer, _STRING_MAX)
        text = os.fsdecode(data)
        if redact:
            texts.append(repr(_without_value(text)))
        else:
            texts.append(repr(text) + ("..." if truncated else ""))
    return f"<({', '.join(texts)})>"


def decode_call(nr: int, args: tuple[int, ...], memory: ProcessMemory | None = None, *, show_env: bool = False) -> str:
    """``getgroups(0, NULL)``-style text; never raises.

    Environment values of ``execve``/``execveat`` read ``<redacted>`` unless ``show_env``.
    """
    if PtraceSyscall is None:
        return _plain(nr, args)
    try:
        call = PtraceSyscall(
            memory, FunctionCallOptions(string_max_length=_STRING_MAX, max_array_count=_ARRAY_MAX), _Regs(nr, args)
        )
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
                elif memory is not None and name in _EXEC and argument.name in ("argv", "envp"):
                    text = _string_array(memory, argument.value, redact=argument.name == "envp" and not show_env)
                else:
                    created = argument.createText()
                    text = str(created) if created is not None else hex(argument.value)
            except Exception:
                text = hex(argument.value)
            texts.append(text)
        return f"{name}({', '.join(texts)})"
    except Exception:
        return _plain(nr, args)
