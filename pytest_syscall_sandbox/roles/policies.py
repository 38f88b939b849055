"""The fifteen syscall sandbox policies of Bitcoin Core, one per thread role."""

from __future__ import annotations

import enum
import functools
from collections.abc import Mapping
from types import MappingProxyType

from ..errors import UnknownPolicyError
from .groups import DEFAULT_GROUPS, FILE_SYSTEM, GROUPS, NETWORK
from .role import BITCOIN_CORE, Role


class SyscallSandboxPolicy(enum.Enum):
    """A thread role; the value is upstream's thread name for it."""

    INITIALIZATION = "init"
    INITIALIZATION_DNS_SEED = "dnsseed"
    INITIALIZATION_LOAD_BLOCKS = "loadblk"
    INITIALIZATION_MAP_PORT = "mapport"
    MESSAGE_HANDLER = "msghand"
    NET = "net"
    NET_ADD_CONNECTION = "addcon"
    NET_HTTP_SERVER = "http"
    NET_HTTP_SERVER_WORKER = "httpworker.N"
    NET_OPEN_CONNECTION = "opencon"
    SCHEDULER = "scheduler"
    TOR_CONTROL = "torcontrol"
    TX_INDEX = "txindex"
    VALIDATION_SCRIPT_CHECK = "scriptch.N"
    SHUTOFF = "shutoff"


_P = SyscallSandboxPolicy
_BOTH = (FILE_SYSTEM, NETWORK)
_FS = (FILE_SYSTEM,)

#: The groups each policy enables on top of :data:`~.groups.DEFAULT_GROUPS`.
POLICY_EXTRA_GROUPS: Mapping[SyscallSandboxPolicy, tuple[str, ...]] = MappingProxyType(
    {
        _P.INITIALIZATION: _BOTH,
        _P.INITIALIZATION_DNS_SEED: _BOTH,
        _P.INITIALIZATION_LOAD_BLOCKS: _FS,
        _P.INITIALIZATION_MAP_PORT: _BOTH,
        _P.MESSAGE_HANDLER: _FS,
        _P.NET: _BOTH,
        _P.NET_ADD_CONNECTION: _BOTH,
        _P.NET_HTTP_SERVER: _BOTH,
        _P.NET_HTTP_SERVER_WORKER: _BOTH,
        _P.NET_OPEN_CONNECTION: _BOTH,
        _P.SCHEDULER: _FS,
        _P.TOR_CONTROL: _BOTH,
        _P.TX_INDEX: _FS,
        _P.VALIDATION_SCRIPT_CHECK: (),
        _P.SHUTOFF: _FS,
    }
)

#: Older spellings still accepted by :func:`get_policy`.
ALIASES: Mapping[str, SyscallSandboxPolicy] = MappingProxyType({"INITIALIZATION_TOR_CONTROL": _P.TOR_CONTROL})


def policy_groups(policy: SyscallSandboxPolicy) -> tuple[str, ...]:
    """Every group the policy enables, defaults first."""
    return DEFAULT_GROUPS + POLICY_EXTRA_GROUPS[policy]


@functools.cache
def policy_role(policy: SyscallSandboxPolicy) -> Role:
    """The policy as a role: its groups, upstream's thread name, every syscall they allow."""
    groups = policy_groups(policy)
    allowed = frozenset(name for group in groups for name in GROUPS[group])
    definition = " ".join(f"@{g}" for g in groups)
    return Role(policy.name, allowed, BITCOIN_CORE, definition, f"Bitcoin Core thread {policy.value}", groups)


def policy_syscalls(policy: SyscallSandboxPolicy) -> frozenset[str]:
    """The names of all syscalls the policy allows."""
    return policy_role(policy).allowed


def policy_key(name: str) -> str:
    """How policy and role names compare: any case, ``-`` as ``_``, spaces around ignored."""
    return name.strip().upper().replace("-", "_")


def get_policy(name: str | SyscallSandboxPolicy) -> SyscallSandboxPolicy:
    """Look a policy up by name, case-insensitively; raise :class:`UnknownPolicyError`."""
    if isinstance(name, SyscallSandboxPolicy):
        return name
    key = policy_key(str(name))
    if key in SyscallSandboxPolicy.__members__:
        return SyscallSandboxPolicy[key]
    if key in ALIASES:
        return ALIASES[key]
    raise UnknownPolicyError(name, _P.__members__)
