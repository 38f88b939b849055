"""Bitcoin Core's syscall sandbox API, in Python.

``setup_syscall_sandbox`` picks the action once per process; afterwards each thread
calls ``set_syscall_sandbox_policy`` with its role, which installs that role's filter
on the calling thread (and on the threads and processes it creates later).
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .engine.compiler import TREE, CompiledFilter, compile_allow_list
from .engine.emulator import SeccompData, emulate
from .engine.install import install_filter, install_with_listener
from .errors import SandboxAlreadySetUpError
from .kernel.actions import Action, SyscallSandboxAction
from .kernel.calls import raw_syscall
from .kernel.naming import thread_get_internal_name, violation_message
from .kernel.signals import SigInfo, install_handler
from .kernel.support import unsupported_reason
from .kernel.syscalls import X32_SYSCALL_BIT, get_linux_syscall_name, numbers_of, syscall_number
from .roles.guard import REFUSED, HarnessGuard, guard_rules, is_x32
from .roles.guard import explain as explain_guard
from .roles.guard import reason_for as guard_reason
from .roles.hardening import explain, reason_for, rules_for
from .roles.policies import SyscallSandboxPolicy

if TYPE_CHECKING:
    from .roles.registry import RoleRegistry

__all__ = [
    "FilterSpec",
    "HarnessGuard",
    "allow_list_filter",
    "explain_refusal",
    "filter_verdict",
    "install_allow_list",
    "install_prepared",
    "prepare",
    "refusal_sentence",
    "sandbox_action",
    "set_syscall_sandbox_policy",
    "setup_syscall_sandbox",
    "test_disallowed_sandbox_call",
    "thread_get_internal_name",
    "violation_message",
]

logger = logging.getLogger("pytest_syscall_sandbox")
logger.addHandler(logging.NullHandler())

_NR_GETGROUPS = syscall_number("getgroups")
_state: dict[str, SyscallSandboxAction] = {}
_setup_lock = threading.Lock()


def _debug_handler(info: SigInfo, _frame: object) -> None:
    message = violation_message(info.syscall, thread_get_internal_name())
    os.write(2, message.encode() + b"\n")
    logger.error(message)
    os.abort()


def setup_syscall_sandbox(log_syscall_violation_before_terminating: bool) -> bool:
    """Enable the sandbox for this process; return False where it is unsupported.

    With ``log_syscall_violation_before_terminating`` a disallowed syscall raises
    SIGSYS (SECCOMP_RET_TRAP), whose handler logs upstream's message and aborts;
    otherwise the kernel kills the process (SECCOMP_RET_KILL_PROCESS). The syscall
    never runs. Calling this twice raises :class:`SandboxAlreadySetUpError`.
    """
    with _setup_lock:
        if "action" in _state:
            raise SandboxAlreadySetUpError("setup_syscall_sandbox() was already called in this process")
        if unsupported_reason() is not None:
            return False
        if log_syscall_violation_before_terminating:
            install_handler(signal.SIGSYS, _debug_handler)
            _state["action"] = SyscallSandboxAction.INVOKE_SIGNAL_HANDLER
        else:
            _state["action"] = SyscallSandboxAction.KILL_PROCESS
        return True


def sandbox_action() -> SyscallSandboxAction | None:
    """The action chosen by :func:`setup_syscall_sandbox`, or None before it."""
    return _state.get("action")


def set_syscall_sandbox_policy(policy: SyscallSandboxPolicy | str) -> None:
    """Install ``policy``'s filter on the calling thread; a no-op unless set up.

    ``policy`` is one of the fifteen, or the name of any built-in role (the
    sandbox-rs profiles too). Filters stack: a thread that already has one keeps
    it, so a later policy can only take syscalls away.
    """
    role = _builtin_roles().get(policy.name if isinstance(policy, SyscallSandboxPolicy) else policy)
    action = _state.get("action")
    if action is None:
        return
    install_allow_list(role.allowed, action.action)


@functools.cache
def _builtin_roles() -> RoleRegistry:
    from .roles.registry import RoleRegistry

    return RoleRegistry()


def test_disallowed_sandbox_call() -> bool:
    """Call ``getgroups``, which no policy allows; True if the call succeeded."""
    result, _ = raw_syscall(_NR_GETGROUPS, 0, 0)
    return result != -1


test_disallowed_sandbox_call.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


@dataclass(frozen=True)
class FilterSpec:
    """Everything an allow-list filter is made from (hashable: prepared filters are cached by it).

    ``names`` run, everything else gets ``action``. ``trusted_ip``: the one instruction
    whose calls skip the role's verdicts (the sigsys recorder's trampoline in audit);
    never the guard's. ``harden``: the hardening rules (:mod:`.roles.hardening`) of the
    allowed syscalls are compiled in, refusing with ``harden_action`` when given (see
    :func:`.roles.hardening.rules_for`), else with ERRNO(EPERM). ``guard``: the harness
    guard's rules (:func:`.roles.guard.guard_rules`) come first, whatever ``names``
    allows, also for the trusted instruction and for every x32 number, refusing with
    ``guard_action`` (else ERRNO(EPERM)); it must differ from ``action``, or a recorder
    could not tell its refusals apart. The guard's pids are part of the spec.
    """

    names: frozenset[str]
    action: Action
    trusted_ip: int | None = None
    harden: bool = False
    harden_action: Action | None = None
    guard: HarnessGuard | None = None
    guard_action: Action | None = None

    def __post_init__(self) -> None:
        if self.guard is not None and self.guard_action == self.action:
            raise ValueError(f"guard_action {self.guard_action} must differ from the filter's action")

    def compile(self) -> CompiledFilter:
        """The filter (pure: nothing is installed)."""
        guard = guard_rules(self.guard, self.guard_action) if self.guard is not None else ()
        hardening = rules_for(self.names, refusal=self.harden_action) if self.harden else ()
        return compile_allow_list(
            numbers_of(self.names),
            self.action,
            trusted_ip=self.trusted_ip,
            trusted_rules=guard,
            arg_rules=guard + hardening,
            x32_action=None if self.guard is None else (self.guard_action or REFUSED),
        )


def install_allow_list(
    names: frozenset[str],
    action: Action,
    *,
    trusted_ip: int | None = None,
    harden: bool = False,
    harden_action: Action | None = None,
) -> None:
    """Install a filter on the calling thread that allows ``names`` and answers the rest with ``action``.

    With ``harden`` the hardening set (:mod:`.roles.hardening`) is compiled in for the
    allowed syscalls it covers: namespace flags of ``clone``, netlink and raw
    ``socket``, terminal-injection ``ioctl`` fail with EPERM (or ``harden_action``,
    e.g. the recorder's action so that an audit records them), and ``clone3`` with
    ENOSYS. The plugin prepares its filters with :func:`prepare` (which also takes
    the harness guard); it never sees BPF.
    """
    install_prepared(prepare(FilterSpec(names, action, trusted_ip, harden, harden_action)))


@functools.lru_cache(maxsize=64)
def prepare(spec: FilterSpec) -> CompiledFilter:
    """Compile (once per distinct spec) and pack what :func:`install_prepared` installs.

    The plugin prepares in the main process, before it forks, so that a forked child
    only has to install: compiling a role costs about 0.4 ms, every test.
    """
    compiled = spec.compile()
    compiled.packed()  # packed here too, once: a forked child then only makes the one call
    return compiled


def install_prepared(compiled: CompiledFilter, *, hand_over: Callable[[int], None] | None = None) -> None:
    """Install a filter made by :func:`prepare` on the calling thread.

    With ``hand_over`` (the notify recorder's): the filter is installed with a listener
    (``SECCOMP_FILTER_FLAG_NEW_LISTENER``) and ``hand_over(listener)`` passes it on and
    closes it, without a syscall on this thread (:mod:`.recorders.notify`).
    """
    if hand_over is None:
        install_filter(compiled.program, packed=compiled.packed())
        return
    hand_over(install_with_listener(compiled.program, packed=compiled.packed()))


def filter_verdict(compiled: CompiledFilter, nr: int, args: Sequence[int], ip: int) -> Action:
    """What ``compiled`` answers a call (number, arguments, instruction pointer), as the kernel would.

    A number without argument rules gets its table verdict; the others run the program
    (already validated when it was compiled).
    """
    nr &= 0xFFFFFFFF
    if nr < X32_SYSCALL_BIT and get_linux_syscall_name(nr) not in compiled.checked and compiled.layout == TREE:
        return compiled.rules.get(nr, compiled.default)
    a = [value & (2**64 - 1) for value in args] + [0] * 6
    data = SeccompData(nr, instruction_pointer=ip, args=(a[0], a[1], a[2], a[3], a[4], a[5]))
    return emulate(compiled.program, data, check=False).action


def allow_list_filter(
    names: Collection[str],
    action: Action,
    *,
    trusted_ip: int | None = None,
    harden: bool = False,
    harden_action: Action | None = None,
    guard: HarnessGuard | None = None,
    guard_action: Action | None = None,
) -> CompiledFilter:
    """The filter of :class:`FilterSpec` ``(names, action, ...)`` (pure: nothing is installed)."""
    return FilterSpec(frozenset(names), action, trusted_ip, harden, harden_action, guard, guard_action).compile()


def explain_refusal(nr: int, args: tuple[int, ...], allowed: frozenset[str], *, guarded: bool = False) -> str:
    """Why the hardening set refuses this call of a role allowing ``allowed`` ('' if it does not);
    with ``guarded`` (a recorder saw the harness guard refuse it), why the guard did."""
    if guarded:
        return explain_guard(nr, args) or "refused by the harness guard"
    return explain(nr, args, allowed=allowed) or ""


def export_conditions(names: Collection[str]) -> dict[str, dict[str, object]]:
    """The hardening set's rules for the syscalls in ``names``, as exports state them
    (:func:`.roles.conditions.export_conditions`: plain data, no engine types)."""
    from .roles.conditions import export_conditions as conditions

    return conditions(rules_for(names))


def hardening_lines(names: Collection[str]) -> list[str]:
    """The hardening set's rules for the syscalls in ``names``, one a line."""
    return [str(rule) for rule in rules_for(names)]


def refusal_sentence(
    nr: int, args: tuple[int, ...], allowed: frozenset[str], call: str, *, guarded: bool = False
) -> str:
    """:func:`explain_refusal` with the call written as ``call`` (a record's own decoded text); '' if no rule refuses.

    With ``guarded``: the guard's reason (its bare sentence when none is found).
    """
    why = (guard_reason(nr, args) or "") if guarded else (reason_for(nr, args, allowed=allowed) or "")
    if not why or (guarded and is_x32(nr)):  # an x32 call's sentence names it itself
        return why
    return f"{call}: {why}"
