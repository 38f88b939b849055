"""pytest-syscall-sandbox: Bitcoin Core's seccomp syscall sandbox as a pytest auditing harness.

The core (everything importable from here) builds and installs real seccomp-BPF
filters and needs no pytest; the pytest plugin lives in :mod:`.plugin`.
"""

from __future__ import annotations

from .actions import Action, SyscallSandboxAction
from .builder import SeccompPolicyBuilder
from .compiler import CompiledFilter
from .errors import (
    BpfError,
    EmulationError,
    InstallError,
    SandboxAlreadySetUpError,
    SandboxError,
    UnknownPolicyError,
    UnknownSyscallError,
)
from .policies import SyscallSandboxPolicy, get_policy, policy_syscalls
from .sandbox import (
    set_syscall_sandbox_policy,
    setup_syscall_sandbox,
    test_disallowed_sandbox_call,
    thread_get_internal_name,
)
from .support import is_supported, unsupported_reason
from .syscalls import get_linux_syscall_name

__version__ = "0.1.0"

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
