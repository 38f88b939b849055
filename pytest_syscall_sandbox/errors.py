"""Exception hierarchy: every error of the project derives from :class:`SandboxError`."""

from __future__ import annotations

from collections.abc import Iterable


class SandboxError(Exception):
    """Base class of every error raised by pytest-syscall-sandbox."""


def _choices(valid: Iterable[str]) -> str:
    return ", ".join(sorted(valid))


class UnknownSyscallError(SandboxError, ValueError):
    """A syscall name or number that the x86-64 table does not know."""

    def __init__(self, value: object, hint: str = "") -> None:
        self.value = value
        super().__init__(f"unknown syscall {value!r}" + (f"; {hint}" if hint else ""))


class UnknownPolicyError(SandboxError, ValueError):
    """A policy (role) name that is not defined."""

    def __init__(self, value: object, valid: Iterable[str]) -> None:
        self.value = value
        self.valid = sorted(valid)
        super().__init__(f"unknown sandbox policy {value!r}; valid policies: {_choices(self.valid)}")


class BpfError(SandboxError, ValueError):
    """A BPF program the kernel would reject; ``pc`` is the offending instruction."""

    def __init__(self, message: str, pc: int | None = None) -> None:
        self.pc = pc
        super().__init__(message if pc is None else f"{message} (at instruction {pc})")


class EmulationError(SandboxError):
    """The emulator met something a seccomp filter may not do at run time."""

    def __init__(self, message: str, pc: int) -> None:
        self.pc = pc
        super().__init__(f"{message} (at instruction {pc})")


class InstallError(SandboxError, OSError):
    """A kernel call that installs a filter failed; ``call`` names it."""

    def __init__(self, call: str, errno_value: int, detail: str = "") -> None:
        import os

        self.call = call
        reason = os.strerror(errno_value)
        text = f"{call} failed: {reason} (errno {errno_value})"
        if detail:
            text += f"; {detail}"
        super().__init__(errno_value, text)

    def __str__(self) -> str:
        return str(self.strerror)


class SandboxAlreadySetUpError(SandboxError, RuntimeError):
    """``setup_syscall_sandbox`` was called a second time in one process."""
