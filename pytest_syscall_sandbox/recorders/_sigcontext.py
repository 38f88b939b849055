"""SA_SIGINFO handlers that also see the interrupted registers (x86-64 ``ucontext_t``).

:func:`..kernel.signals.install_handler` hands its handler the siginfo and the interrupted
Python frame but drops the third argument of an SA_SIGINFO handler, the
``ucontext_t *``. The SIGSYS recorder needs it: the syscall's arguments are in the
saved registers, and the value left in RAX when the handler returns is what the
trapped syscall returns (``SECCOMP_RET_TRAP`` sets RAX back to the syscall number
and skips the call; seccomp(2)). glibc's x86-64 layout::

    ucontext_t: uc_flags (8) uc_link (8) uc_stack (24) uc_mcontext.gregs[23] (8 each) ...
    gregs: R8 R9 R10 R11 R12 R13 R14 R15 RDI RSI RBP RBX RDX RAX RCX RSP RIP ...

This module reuses :mod:`..kernel.signals`' sigaction binding; only the trampoline differs.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from types import FrameType

from ..kernel import signals as _signals
from ..kernel.signals import SigInfo, parse_siginfo

_GREGS_OFFSET = 40
_NGREG = 23
REG_R8, REG_R9, REG_R10 = 0, 1, 2
REG_RDI, REG_RSI, REG_RDX, REG_RAX, REG_RIP = 8, 9, 12, 13, 16
_MASK64 = (1 << 64) - 1
#: Made once: ``c_uint64 * 23`` inside a handler would build a new ctypes type (malloc).
_Gregs = ctypes.c_uint64 * _NGREG
_SIG_DFL = 0


class Registers:
    """A live view of the general registers saved in a ``ucontext_t``."""

    def __init__(self, ucontext: int) -> None:
        self._gregs = _Gregs.from_address(ucontext + _GREGS_OFFSET)

    def syscall_args(self) -> tuple[int, int, int, int, int, int]:
        """The six syscall argument registers: RDI, RSI, RDX, R10, R8, R9."""
        g = self._gregs
        return (g[REG_RDI], g[REG_RSI], g[REG_RDX], g[REG_R10], g[REG_R8], g[REG_R9])

    @property
    def rax(self) -> int:
        """RAX: the syscall's return value once the handler returns (``-errno`` on failure)."""
        return int(self._gregs[REG_RAX])

    @rax.setter
    def rax(self, value: int) -> None:
        self._gregs[REG_RAX] = value & _MASK64

    @property
    def rip(self) -> int:
        """The instruction after the trapped ``syscall``."""
        return int(self._gregs[REG_RIP])


ContextHandler = Callable[[SigInfo, "Registers | None", "FrameType | None"], None]


def install_context_handler(signum: int, handler: ContextHandler, *, flags: int = 0) -> None:
    """Run ``handler(siginfo, registers, interrupted_frame)`` when ``signum`` arrives."""

    def trampoline(_signo: int, info: int | None, context: int | None) -> None:
        handler(parse_siginfo(info or 0), Registers(context) if context else None, _signals.interrupted_frame())

    _signals.register_trampoline(signum, trampoline, flags)


def set_default(signum: int) -> None:
    """Give ``signum`` its default disposition (``SIG_DFL``), from any thread."""
    _signals.set_action(signum, _SIG_DFL, 0)
