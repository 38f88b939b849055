"""pytest-syscall-sandbox: Bitcoin Core's seccomp syscall sandbox as a pytest auditing harness.

The upstream API below needs no pytest. Each name is imported on first use (PEP 562),
so importing one layer (say :mod:`.recorders.ptrace`) does not load the others: the
folders are the layers (see the README's "Layout").
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_EXPORTS = {
    "Action": ".kernel.actions",
    "SyscallSandboxAction": ".kernel.actions",
    "SeccompPolicyBuilder": ".roles.builder",
    "CompiledFilter": ".engine.compiler",
    "BpfError": ".errors",
    "EmulationError": ".errors",
    "InstallError": ".errors",
    "SandboxAlreadySetUpError": ".errors",
    "SandboxError": ".errors",
    "UnknownPolicyError": ".errors",
    "UnknownSyscallError": ".errors",
    "SyscallSandboxPolicy": ".roles.policies",
    "get_policy": ".roles.policies",
    "policy_syscalls": ".roles.policies",
    "set_syscall_sandbox_policy": ".sandbox",
    "setup_syscall_sandbox": ".sandbox",
    "test_disallowed_sandbox_call": ".sandbox",
    "thread_get_internal_name": ".sandbox",
    "is_supported": ".kernel.support",
    "unsupported_reason": ".kernel.support",
    "get_linux_syscall_name": ".kernel.syscalls",
}

__all__ = [
    "Action",
    "BpfError",
    "CompiledFilter",
    "EmulationError",
    "InstallError",
    "SandboxAlreadySetUpError",
    "SandboxError",
    "SeccompPolicyBuilder",
    "SyscallSandboxAction",
    "SyscallSandboxPolicy",
    "UnknownPolicyError",
    "UnknownSyscallError",
    "__version__",
    "get_linux_syscall_name",
    "get_policy",
    "is_supported",
    "policy_syscalls",
    "set_syscall_sandbox_policy",
    "setup_syscall_sandbox",
    "test_disallowed_sandbox_call",
    "thread_get_internal_name",
    "unsupported_reason",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


if TYPE_CHECKING:
    from .engine.compiler import CompiledFilter
    from .errors import (
        BpfError,
        EmulationError,
        InstallError,
        SandboxAlreadySetUpError,
        SandboxError,
        UnknownPolicyError,
        UnknownSyscallError,
    )
    from .kernel.actions import Action, SyscallSandboxAction
    from .kernel.support import is_supported, unsupported_reason
    from .kernel.syscalls import get_linux_syscall_name
    from .roles.builder import SeccompPolicyBuilder
    from .roles.policies import SyscallSandboxPolicy, get_policy, policy_syscalls
    from .sandbox import (
        set_syscall_sandbox_policy,
        setup_syscall_sandbox,
        test_disallowed_sandbox_call,
        thread_get_internal_name,
    )
