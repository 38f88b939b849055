"""``SeccompPolicyBuilder``: an allow-list assembled from capability groups."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..engine.compiler import TREE, CompiledFilter, compile_allow_list
from ..kernel.actions import KILL_PROCESS, Action, SyscallSandboxAction
from ..kernel.syscalls import check_names, numbers_of
from .groups import DEFAULT_GROUPS, GROUPS, find_group, method_name
from .policies import SyscallSandboxPolicy, policy_groups
from .role import CUSTOM, Role


class SeccompPolicyBuilder:
    """Collect allowed syscalls, then compile them into a filter.

    A new builder allows Bitcoin Core's twenty default groups, as upstream's
    constructor does. Each group has an ``allow_<group>()`` method (snake_case of
    upstream's ``Allow<Group>``); :meth:`allow` and :meth:`deny` add or remove single
    syscalls by name.
    """

    def __init__(self, *, defaults: bool = True) -> None:
        self._allowed: set[str] = set()
        self.groups: list[str] = []
        #: What was asked for, in order, in the custom-role syntax (``@Group +name -name``).
        self._terms: list[str] = []
        if defaults:
            for group in DEFAULT_GROUPS:
                self.allow_group(group)

    @classmethod
    def for_policy(cls, policy: SyscallSandboxPolicy) -> SeccompPolicyBuilder:
        """A builder holding exactly what ``policy`` allows."""
        builder = cls(defaults=False)
        for group in policy_groups(policy):
            builder.allow_group(group)
        return builder

    def allow_group(self, group: str) -> SeccompPolicyBuilder:
        """Allow every syscall of the upstream group ``group`` (e.g. ``"FileSystem"``)."""
        group = find_group(group)
        if group not in self.groups:
            self.groups.append(group)
            self._terms.append(f"@{group}")
        self._allowed.update(GROUPS[group])
        return self

    def allow(self, *names: str) -> SeccompPolicyBuilder:
        """Allow single syscalls by name."""
        checked = check_names(names)
        self._allowed.update(checked)
        self._terms += [f"+{name}" for name in checked]
        return self

    def deny(self, *names: str) -> SeccompPolicyBuilder:
        """Remove single syscalls from the allow-list."""
        checked = check_names(names)
        self._allowed.difference_update(checked)
        self._terms += [f"-{name}" for name in checked]
        return self

    @property
    def allowed(self) -> frozenset[str]:
        """The names of the syscalls allowed so far."""
        return frozenset(self._allowed)

    def role(self, name: str = "BUILT", description: str = "") -> Role:
        """What was built, as a :class:`~.role.Role` called ``name`` (its definition in the role syntax)."""
        return Role(name, self.allowed, CUSTOM, " ".join(self._terms), description, tuple(self.groups))

    def build_filter(
        self, action: Action | SyscallSandboxAction = KILL_PROCESS, *, layout: str = TREE
    ) -> CompiledFilter:
        """Compile the allow-list; every other syscall gets ``action``.

        ``action`` is a seccomp :class:`Action` (``KILL_PROCESS``, ``TRAP``, ``ERRNO(1)``,
        ...) or one of upstream's :class:`SyscallSandboxAction` values; anything else is
        a TypeError.
        """
        return compile_allow_list(numbers_of(self.role().allowed), as_action(action), layout=layout)

    # One allow_* method per upstream group, generated below.
    allow_address_space_access: Callable[[], SeccompPolicyBuilder]
    allow_epoll: Callable[[], SeccompPolicyBuilder]
    allow_event_fd: Callable[[], SeccompPolicyBuilder]
    allow_futex: Callable[[], SeccompPolicyBuilder]
    allow_general_io: Callable[[], SeccompPolicyBuilder]
    allow_get_random: Callable[[], SeccompPolicyBuilder]
    allow_get_simple_id: Callable[[], SeccompPolicyBuilder]
    allow_get_time: Callable[[], SeccompPolicyBuilder]
    allow_global_process_environment: Callable[[], SeccompPolicyBuilder]
    allow_global_system_status: Callable[[], SeccompPolicyBuilder]
    allow_kernel_internal_api: Callable[[], SeccompPolicyBuilder]
    allow_network_socket_information: Callable[[], SeccompPolicyBuilder]
    allow_operation_on_existing_file_descriptor: Callable[[], SeccompPolicyBuilder]
    allow_pipe: Callable[[], SeccompPolicyBuilder]
    allow_prctl: Callable[[], SeccompPolicyBuilder]
    allow_process_start_or_death: Callable[[], SeccompPolicyBuilder]
    allow_scheduling: Callable[[], SeccompPolicyBuilder]
    allow_signal_handling: Callable[[], SeccompPolicyBuilder]
    allow_sleep: Callable[[], SeccompPolicyBuilder]
    allow_umask: Callable[[], SeccompPolicyBuilder]
    allow_file_system: Callable[[], SeccompPolicyBuilder]
    allow_network: Callable[[], SeccompPolicyBuilder]


def _group_method(group: str) -> Callable[[SeccompPolicyBuilder], SeccompPolicyBuilder]:
    def method(self: SeccompPolicyBuilder) -> SeccompPolicyBuilder:
        return self.allow_group(group)

    method.__name__ = method_name(group)
    method.__doc__ = f"Allow the {group} group: {' '.join(GROUPS[group])}."
    return method


for _group in GROUPS:
    setattr(SeccompPolicyBuilder, method_name(_group), _group_method(_group))


def as_action(action: object) -> Action:
    """``action`` as a seccomp :class:`Action`; a TypeError names the accepted types."""
    if isinstance(action, SyscallSandboxAction):
        return action.action
    if isinstance(action, Action):
        return action
    raise TypeError(
        f"a filter's action must be an Action (KILL_PROCESS, TRAP, ERRNO(n), ...) or a SyscallSandboxAction "
        f"({', '.join(a.name for a in SyscallSandboxAction)}), got {action!r}"
    )


def build_policy_filter(
    policy: SyscallSandboxPolicy, action: Action | SyscallSandboxAction, *, layout: str = TREE
) -> CompiledFilter:
    """The filter of one of the fifteen policies."""
    return SeccompPolicyBuilder.for_policy(policy).build_filter(action, layout=layout)


def builder_for(
    policy: SyscallSandboxPolicy, allow: Iterable[str] = (), deny: Iterable[str] = ()
) -> SeccompPolicyBuilder:
    """A policy's builder with single syscalls added and removed."""
    return SeccompPolicyBuilder.for_policy(policy).allow(*allow).deny(*deny)
