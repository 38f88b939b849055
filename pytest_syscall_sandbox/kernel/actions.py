"""Seccomp filter return values (actions) and Bitcoin Core's two sandbox actions."""

from __future__ import annotations

import enum
from dataclasses import dataclass

# <linux/seccomp.h>, highest precedence first.
SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_KILL_THREAD = 0x00000000
SECCOMP_RET_TRAP = 0x00030000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_USER_NOTIF = 0x7FC00000
SECCOMP_RET_TRACE = 0x7FF00000
SECCOMP_RET_LOG = 0x7FFC0000
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ACTION_FULL = 0xFFFF0000
SECCOMP_RET_DATA = 0x0000FFFF

_NAMES = {
    SECCOMP_RET_KILL_PROCESS: "KILL_PROCESS",
    SECCOMP_RET_KILL_THREAD: "KILL_THREAD",
    SECCOMP_RET_TRAP: "TRAP",
    SECCOMP_RET_ERRNO: "ERRNO",
    SECCOMP_RET_USER_NOTIF: "USER_NOTIF",
    SECCOMP_RET_TRACE: "TRACE",
    SECCOMP_RET_LOG: "LOG",
    SECCOMP_RET_ALLOW: "ALLOW",
}


@dataclass(frozen=True)
class Action:
    """One seccomp return value: an action in the high 16 bits, data in the low 16."""

    action: int
    data: int = 0

    def __post_init__(self) -> None:
        if self.action not in _NAMES:
            raise ValueError(f"not a seccomp action: {self.action:#x}; valid: {sorted(_NAMES.values())}")
        if not 0 <= self.data <= SECCOMP_RET_DATA:
            raise ValueError(f"action data must be in 0..65535, got {self.data}")

    @property
    def ret(self) -> int:
        """The 32-bit value the filter returns."""
        return self.action | self.data

    @property
    def name(self) -> str:
        """``"ALLOW"``, ``"ERRNO(1)"``, ``"TRACE(7)"``, ..."""
        base = _NAMES[self.action]
        if self.action in (SECCOMP_RET_ERRNO, SECCOMP_RET_TRACE, SECCOMP_RET_TRAP) and self.data:
            return f"{base}({self.data})"
        return base

    def __str__(self) -> str:
        return self.name

    @classmethod
    def from_ret(cls, ret: int) -> Action:
        """Decode a filter's 32-bit return value (unknown actions act as KILL_PROCESS)."""
        action = ret & SECCOMP_RET_ACTION_FULL
        if action not in _NAMES:
            return cls(SECCOMP_RET_KILL_PROCESS)
        data = 0 if action in (SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_ALLOW, SECCOMP_RET_LOG) else ret & SECCOMP_RET_DATA
        return cls(action, data)


ALLOW = Action(SECCOMP_RET_ALLOW)
KILL_PROCESS = Action(SECCOMP_RET_KILL_PROCESS)
KILL_THREAD = Action(SECCOMP_RET_KILL_THREAD)
TRAP = Action(SECCOMP_RET_TRAP)
LOG = Action(SECCOMP_RET_LOG)
USER_NOTIF = Action(SECCOMP_RET_USER_NOTIF)


def ERRNO(errno_value: int) -> Action:  # noqa: N802 - reads like the kernel's SECCOMP_RET_ERRNO
    """Fail the syscall with ``-errno_value`` without running it."""
    return Action(SECCOMP_RET_ERRNO, errno_value)


def TRACE(data: int = 0) -> Action:  # noqa: N802
    """Stop in the ptrace tracer (PTRACE_EVENT_SECCOMP), ``data`` readable by the tracer."""
    return Action(SECCOMP_RET_TRACE, data)


class SyscallSandboxAction(enum.Enum):
    """Bitcoin Core's sandbox actions and the mode names that select them."""

    KILL_PROCESS = "abort"
    INVOKE_SIGNAL_HANDLER = "log-and-abort"

    @property
    def action(self) -> Action:
        """The seccomp action the filter returns for a disallowed syscall."""
        return KILL_PROCESS if self is SyscallSandboxAction.KILL_PROCESS else TRAP
