"""The one argument pretty-printer: ``name(arg, ...)`` of a syscall, for records and refusals.

The syscalls the argument rules read (``socket``, ``ioctl``, ``clone``, ``clone3``, the
signal and pidfd calls) are written here, with python-ptrace's tables corrected and
completed; every other syscall with python-ptrace's prototypes.

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
import signal
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .syscalls import get_linux_syscall_name

# python-ptrace's import warns on newer Pythons; that must not fail the runs of projects using -W error.
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    try:
        from ptrace.func_call import FunctionCallOptions
        from ptrace.syscall import SYSCALL_PROTOTYPES
        from ptrace.syscall.posix_arg import CLONE_FLAGS_BITMASK as _PTRACE_CLONE_FLAGS
        from ptrace.syscall.ptrace_syscall import PtraceSyscall
        from ptrace.syscall.socketcall_constants import SOCKET_FAMILY as _PTRACE_FAMILIES
        from ptrace.syscall.socketcall_constants import SOCKET_TYPE as _PTRACE_TYPES
    except ImportError:  # pragma: no cover - python-ptrace is a dependency
        PtraceSyscall = None
        _PTRACE_CLONE_FLAGS, _PTRACE_FAMILIES, _PTRACE_TYPES = (), {}, {}

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


def _plain(nr: int, args: Sequence[int]) -> str:
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


def decode_live(tid: int, nr: int, args: Sequence[int], *, show_env: bool = False) -> str:
    """:func:`decode_call` with pointers followed in the memory of thread ``tid`` (stopped in
    the call), or without them where that memory cannot be opened; never raises."""
    try:
        memory = ProcessMemory(tid)
    except OSError:
        return decode_call(nr, args)
    try:
        return decode_call(nr, args, memory, show_env=show_env)
    finally:
        memory.close()


def decode_call(nr: int, args: Sequence[int], memory: ProcessMemory | None = None, *, show_env: bool = False) -> str:
    """``getgroups(0, NULL)``-style text; never raises.

    ``args`` are the raw 64-bit registers (missing ones count as 0). Pointers are followed
    through ``memory`` where given. Environment values of ``execve``/``execveat`` read
    ``<redacted>`` unless ``show_env``.
    """
    args = tuple(args)
    own = _OWN.get(get_linux_syscall_name(nr))
    if own is not None:
        return f"{get_linux_syscall_name(nr)}({', '.join(own([*args, 0, 0, 0, 0, 0, 0][:6]))})"
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


# --------------------------------------------------------------------------- the calls written here

# <linux/sched.h>
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CSIGNAL = 0xFF
# <linux/socket.h>, <linux/net.h>
AF_UNIX = 1
AF_NETLINK = 16
SOCK_RAW = 3
SOCK_TYPE_MASK = 0xF
SOCK_NONBLOCK = 0o4000
SOCK_CLOEXEC = 0o2000000
# <asm-generic/ioctls.h>
TIOCSTI = 0x5412
TIOCLINUX = 0x541C
TIOCSETD = 0x5423

CLONE_FLAG_NAMES: Mapping[int, str] = {
    **{bit: name for bit, name in _PTRACE_CLONE_FLAGS if name != "CLONE_STOPPED"},  # 0x02000000 is NEWCGROUP now
    0x00001000: "CLONE_PIDFD",
    CLONE_NEWCGROUP: "CLONE_NEWCGROUP",
    CLONE_NEWUSER: "CLONE_NEWUSER",
    CLONE_NEWPID: "CLONE_NEWPID",
    CLONE_NEWNET: "CLONE_NEWNET",
    0x80000000: "CLONE_IO",
}
SOCKET_FAMILIES: Mapping[int, str] = {
    **_PTRACE_FAMILIES,
    AF_UNIX: "AF_UNIX",  # python-ptrace says AF_FILE, the old alias
    AF_NETLINK: "AF_NETLINK",
    38: "AF_ALG",
    40: "AF_VSOCK",
    44: "AF_XDP",
}
SOCKET_TYPES: Mapping[int, str] = {**_PTRACE_TYPES, SOCK_RAW: "SOCK_RAW"}
IOCTL_REQUESTS: Mapping[int, str] = {
    0x5401: "TCGETS",
    0x5402: "TCSETS",
    0x540E: "TIOCSCTTY",
    0x540F: "TIOCGPGRP",
    0x5410: "TIOCSPGRP",
    TIOCSTI: "TIOCSTI",
    0x5413: "TIOCGWINSZ",
    0x5414: "TIOCSWINSZ",
    0x541B: "FIONREAD",
    TIOCLINUX: "TIOCLINUX",
    0x5421: "FIONBIO",
    TIOCSETD: "TIOCSETD",
    0x5424: "TIOCGETD",
}


def c_int(value: int) -> int:
    """The low 32 bits as a C ``int``, which is what the kernel reads."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def _named(value: int, text: str) -> str:
    """``text``, with the raw value beside it when its high half (ignored by the kernel) is not 0."""
    return f"{text} ({value & (1 << 64) - 1:#x})" if value >> 32 and value >> 32 != 0xFFFFFFFF else text


def flag_names(value: int, names: Mapping[int, str]) -> list[str]:
    """The names of the bits set in ``value``, then what is left in hex."""
    parts = [names[bit] for bit in sorted(names) if value & bit]
    rest = value & ~sum(bit for bit in names if value & bit)
    return [*parts, f"{rest:#x}"] if rest else parts


def format_socket_type(value: int) -> str:
    """``SOCK_RAW|SOCK_CLOEXEC``."""
    low = value & 0xFFFFFFFF
    kind = low & SOCK_TYPE_MASK
    parts = [SOCKET_TYPES.get(kind, str(kind))]
    parts += flag_names(low & ~SOCK_TYPE_MASK, {SOCK_NONBLOCK: "SOCK_NONBLOCK", SOCK_CLOEXEC: "SOCK_CLOEXEC"})
    return _named(value, "|".join(parts))


def signal_name(value: int) -> str:
    """``SIGSTOP`` for 19 (low 32 bits); the number for anything else."""
    try:
        return signal.Signals(value & 0xFFFFFFFF).name
    except ValueError:
        return str(value & 0xFFFFFFFF)


def format_clone_flags(value: int) -> str:
    """``CLONE_NEWUSER|SIGCHLD``: flags of the low 32 bits, then the exit signal."""
    low = value & 0xFFFFFFFF
    parts = flag_names(low & ~CSIGNAL, CLONE_FLAG_NAMES)
    if low & CSIGNAL:
        parts.append(signal_name(low & CSIGNAL))
    return _named(value, "|".join(parts) or "0")


def _socket(a: list[int]) -> list[str]:
    family = _named(a[0], SOCKET_FAMILIES.get(c_int(a[0]), str(c_int(a[0]))))
    return [family, format_socket_type(a[1]), str(c_int(a[2]))]


def _ioctl(a: list[int]) -> list[str]:
    request = _named(a[1], IOCTL_REQUESTS.get(a[1] & 0xFFFFFFFF, f"{a[1] & 0xFFFFFFFF:#x}"))
    return [str(c_int(a[0])), request, f"{a[2]:#x}"]


def _pointer(value: int) -> str:
    return "NULL" if not value else f"{value:#x}"


#: Syscall -> its arguments as text, for the calls the argument rules read.
_OWN: dict[str, Callable[[list[int]], list[str]]] = {
    "socket": _socket,
    "ioctl": _ioctl,
    "clone": lambda a: [format_clone_flags(a[0]), *(f"{v:#x}" for v in a[1:5])],
    "clone3": lambda a: [f"{a[0]:#x}", str(a[1])],
    "kill": lambda a: [str(c_int(a[0])), signal_name(a[1])],
    "tkill": lambda a: [str(c_int(a[0])), signal_name(a[1])],
    "rt_sigqueueinfo": lambda a: [str(c_int(a[0])), signal_name(a[1]), _pointer(a[2])],
    "tgkill": lambda a: [str(c_int(a[0])), str(c_int(a[1])), signal_name(a[2])],
    "rt_tgsigqueueinfo": lambda a: [str(c_int(a[0])), str(c_int(a[1])), signal_name(a[2]), _pointer(a[3])],
    "pidfd_open": lambda a: [str(c_int(a[0])), str(a[1] & 0xFFFFFFFF)],
    "pidfd_send_signal": lambda a: [str(c_int(a[0])), signal_name(a[1]), _pointer(a[2]), str(a[3] & 0xFFFFFFFF)],
    "pidfd_getfd": lambda a: [str(c_int(a[0])), str(c_int(a[1])), str(a[2] & 0xFFFFFFFF)],
}
