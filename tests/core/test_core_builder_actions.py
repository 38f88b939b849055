"""``SeccompPolicyBuilder.build_filter`` takes both action types, and says which it takes otherwise."""

from __future__ import annotations

import pytest

from pytest_syscall_sandbox import SeccompPolicyBuilder, SyscallSandboxPolicy
from pytest_syscall_sandbox.engine.emulator import SeccompData, emulate
from pytest_syscall_sandbox.kernel.actions import ERRNO, KILL_PROCESS, TRAP, Action, SyscallSandboxAction
from pytest_syscall_sandbox.kernel.syscalls import NUMBERS
from pytest_syscall_sandbox.roles.builder import build_policy_filter

AUDIT_ARCH_X86_64 = 0xC000003E


def _verdict(program: tuple, name: str) -> int:
    return emulate(program, SeccompData(NUMBERS[name], AUDIT_ARCH_X86_64), check=False).ret


@pytest.mark.parametrize(
    ("sandbox_action", "action"),
    [(SyscallSandboxAction.KILL_PROCESS, KILL_PROCESS), (SyscallSandboxAction.INVOKE_SIGNAL_HANDLER, TRAP)],
)
def test_an_upstream_action_builds_the_same_filter_as_its_seccomp_action(
    sandbox_action: SyscallSandboxAction, action: Action
) -> None:
    builder = SeccompPolicyBuilder()
    compiled = builder.build_filter(sandbox_action)
    assert compiled.program == builder.build_filter(action).program
    assert _verdict(compiled.program, "getgroups") == action.ret
    assert _verdict(compiled.program, "read") != action.ret


def test_build_policy_filter_takes_an_upstream_action() -> None:
    compiled = build_policy_filter(SyscallSandboxPolicy.NET, SyscallSandboxAction.INVOKE_SIGNAL_HANDLER)
    assert _verdict(compiled.program, "getgroups") == TRAP.ret


def test_any_seccomp_action_still_works() -> None:
    compiled = SeccompPolicyBuilder().build_filter(ERRNO(1))
    assert _verdict(compiled.program, "getgroups") == ERRNO(1).ret


@pytest.mark.parametrize("bad", ["abort", 0x80000000, None, SyscallSandboxPolicy.NET])
def test_anything_else_is_a_type_error_naming_both_types(bad: object) -> None:
    with pytest.raises(TypeError) as excinfo:
        SeccompPolicyBuilder().build_filter(bad)  # type: ignore[arg-type]
    message = str(excinfo.value)
    assert "an Action (KILL_PROCESS, TRAP, ERRNO(n), ...)" in message
    assert "a SyscallSandboxAction (KILL_PROCESS, INVOKE_SIGNAL_HANDLER)" in message
    assert repr(bad) in message
