"""The hardening set: argument rules any role can add (after the evalbox sandbox's filter).

============  ==============================================  ==================
syscall       refused when                                    verdict
============  ==============================================  ==================
``clone``     a namespace flag is set: ``CLONE_NEWNS``,        ``ERRNO(EPERM)``
              ``NEWCGROUP``, ``NEWUTS``, ``NEWIPC``,
              ``NEWUSER``, ``NEWPID``, ``NEWNET``
``clone3``    always: its flags sit in a struct behind a       ``ERRNO(ENOSYS)``
              pointer, which a filter cannot read
``socket``    ``domain == AF_NETLINK``                         ``ERRNO(EPERM)``
``socket``    ``(type & 0xf) == SOCK_RAW``, whatever           ``ERRNO(EPERM)``
              ``SOCK_CLOEXEC``/``SOCK_NONBLOCK`` are or-ed in
``ioctl``     ``request`` is ``TIOCSTI``, ``TIOCSETD`` or      ``ERRNO(EPERM)``
              ``TIOCLINUX``
============  ==============================================  ==================

Why these verdicts: a refused call fails with ``EPERM`` ("operation not
permitted"), a clean error that programs already handle (an unprivileged user gets
the same from ``clone(CLONE_NEWNET)``); the syscall never runs. ``clone3`` gets
``ENOSYS``, "not implemented", because that is the one answer on which glibc (2.34+)
and other runtimes fall back to ``clone``, whose flags the filter can read: threads
keep working (a role that allows clone3 but not clone then meets its own verdict
for clone). The evalbox seed killed the process instead of failing with EPERM.

The rules only narrow an allow-list: :func:`rules_for` keeps the rules of the
syscalls the role allows, so a role that refuses ``socket`` still refuses it with
its own action. Every test is on the low 32 bits of the argument, which is what
the kernel reads (``int domain``, ``int type``, ``unsigned int cmd``, and clone's
``lower_32_bits(clone_flags)``), so a value with junk in the high half cannot slip
past (see :mod:`..engine.rules`).

:func:`explain` turns a refused call back into a sentence for records and reports::

    socket(AF_NETLINK, SOCK_RAW, 0): domain AF_NETLINK refused by the hardening set
"""

from __future__ import annotations

import errno
import signal
import warnings
from collections.abc import Collection, Mapping, Sequence

from ..engine.rules import ArgAnySet, ArgEq, ArgMaskedEq, Rule, deciding_rule
from ..kernel.actions import ERRNO, Action
from ..kernel.syscalls import get_linux_syscall_name

# python-ptrace's decoding tables, corrected and completed below. Its import warns on
# newer Pythons; that must not fail the runs of projects using -W error.
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    try:
        from ptrace.syscall.posix_arg import CLONE_FLAGS_BITMASK as _PTRACE_CLONE_FLAGS
        from ptrace.syscall.socketcall_constants import SOCKET_FAMILY as _PTRACE_FAMILIES
        from ptrace.syscall.socketcall_constants import SOCKET_TYPE as _PTRACE_TYPES
    except ImportError:  # pragma: no cover - python-ptrace is a dependency
        _PTRACE_CLONE_FLAGS, _PTRACE_FAMILIES, _PTRACE_TYPES = (), {}, {}

# <linux/sched.h>
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
NAMESPACE_FLAGS = (
    CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET
)
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

#: The verdict of a refused call, and clone3's.
REFUSED = ERRNO(errno.EPERM)
CLONE3_FALLBACK = ERRNO(errno.ENOSYS)
_BY_HARDENING = "refused by the hardening set"

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

#: The hardening set, in the order the filter tries the rules.
HARDENING_RULES: tuple[Rule, ...] = (
    Rule(
        "clone",
        (ArgAnySet(0, NAMESPACE_FLAGS, width=32, label="CLONE_NEW*"),),
        REFUSED,
        f"namespace flags {_BY_HARDENING}",
    ),
    Rule(
        "clone3",
        (),
        CLONE3_FALLBACK,
        "answered ENOSYS by the hardening set, so that libc falls back to clone, whose flags a filter can read",
    ),
    Rule(
        "socket", (ArgEq(0, AF_NETLINK, width=32, label="AF_NETLINK"),), REFUSED, f"domain AF_NETLINK {_BY_HARDENING}"
    ),
    Rule(
        "socket",
        (ArgMaskedEq(1, SOCK_TYPE_MASK, SOCK_RAW, width=32, label="SOCK_RAW"),),
        REFUSED,
        f"type SOCK_RAW {_BY_HARDENING}",
    ),
    *(
        Rule("ioctl", (ArgEq(1, request, width=32, label=name),), REFUSED, f"request {name} {_BY_HARDENING}")
        for request, name in ((TIOCSTI, "TIOCSTI"), (TIOCSETD, "TIOCSETD"), (TIOCLINUX, "TIOCLINUX"))
    ),
)
#: The syscalls the hardening set looks at.
HARDENED_SYSCALLS: frozenset[str] = frozenset(rule.syscall for rule in HARDENING_RULES)


def rules_for(allowed: Collection[str] | None = None, *, refusal: Action | None = None) -> tuple[Rule, ...]:
    """The hardening rules for the syscalls in ``allowed`` (all of them when None).

    ``refusal`` replaces ``ERRNO(EPERM)`` as the verdict of refused calls, e.g. with the
    recorder's TRACE/TRAP so that an audit records them; clone3's ENOSYS stays, since
    it is a fallback, not a refusal.
    """
    return tuple(
        Rule(rule.syscall, rule.matchers, refusal, rule.reason)
        if refusal is not None and rule.action == REFUSED
        else rule
        for rule in HARDENING_RULES
        if allowed is None or rule.syscall in allowed
    )


# --------------------------------------------------------------------------- explaining a refusal


def _int(value: int) -> int:
    """The low 32 bits as a C ``int``, which is what the kernel reads."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def _named(value: int, text: str) -> str:
    """``text``, with the raw value beside it when its high half (ignored by the kernel) is not 0."""
    return f"{text} ({value & (1 << 64) - 1:#x})" if value >> 32 and value >> 32 != 0xFFFFFFFF else text


def _flags(value: int, names: Mapping[int, str]) -> list[str]:
    parts = [names[bit] for bit in sorted(names) if value & bit]
    rest = value & ~sum(bit for bit in names if value & bit)
    return [*parts, f"{rest:#x}"] if rest else parts


def format_socket_type(value: int) -> str:
    """``SOCK_RAW|SOCK_CLOEXEC``."""
    low = value & 0xFFFFFFFF
    kind = low & SOCK_TYPE_MASK
    parts = [SOCKET_TYPES.get(kind, str(kind))]
    parts += _flags(low & ~SOCK_TYPE_MASK, {SOCK_NONBLOCK: "SOCK_NONBLOCK", SOCK_CLOEXEC: "SOCK_CLOEXEC"})
    return _named(value, "|".join(parts))


def format_clone_flags(value: int) -> str:
    """``CLONE_NEWUSER|SIGCHLD``: flags of the low 32 bits, then the exit signal."""
    low = value & 0xFFFFFFFF
    parts = _flags(low & ~CSIGNAL, CLONE_FLAG_NAMES)
    if low & CSIGNAL:
        try:
            parts.append(signal.Signals(low & CSIGNAL).name)
        except ValueError:
            parts.append(str(low & CSIGNAL))
    return _named(value, "|".join(parts) or "0")


def format_call(nr: int, args: Sequence[int]) -> str:
    """``socket(AF_NETLINK, SOCK_RAW, 0)``: the call with the arguments the hardening set reads decoded."""
    a = [*args, 0, 0, 0, 0, 0, 0][:6]
    name = get_linux_syscall_name(nr)
    if name == "socket":
        family = _named(a[0], SOCKET_FAMILIES.get(_int(a[0]), str(_int(a[0]))))
        shown = [family, format_socket_type(a[1]), str(_int(a[2]))]
    elif name == "ioctl":
        request = _named(a[1], IOCTL_REQUESTS.get(a[1] & 0xFFFFFFFF, f"{a[1] & 0xFFFFFFFF:#x}"))
        shown = [str(_int(a[0])), request, f"{a[2]:#x}"]
    elif name == "clone":
        shown = [format_clone_flags(a[0]), *(f"{v:#x}" for v in a[1:5])]
    elif name == "clone3":
        shown = [f"{a[0]:#x}", str(a[1])]
    else:
        shown = [f"{v:#x}" for v in a]
    return f"{name}({', '.join(shown)})"


def explain(nr: int, args: Sequence[int], *, allowed: Collection[str] | None = None) -> str | None:
    """Why the hardening set refuses this call, or None if it does not.

    ``socket(AF_NETLINK, SOCK_RAW, 0): domain AF_NETLINK refused by the hardening set``.
    Pure: ``args`` are the raw 64-bit register values (missing ones count as 0). With
    ``allowed`` (the role's allow-list), a syscall the role refuses anyway is not the
    hardening set's doing, and gives None.
    """
    rule = deciding_rule(HARDENING_RULES, nr, args)
    if rule is None or (allowed is not None and rule.syscall not in allowed):
        return None
    reason = rule.reason
    if rule.syscall == "clone":
        present = _flags(args[0] & NAMESPACE_FLAGS, CLONE_FLAG_NAMES)
        reason = f"namespace flag{'s' if len(present) > 1 else ''} {'|'.join(present)} {_BY_HARDENING}"
    return f"{format_call(nr, args)}: {reason}"


def describe() -> str:
    """The hardening set, one rule a line."""
    return "\n".join(str(rule) for rule in HARDENING_RULES)
