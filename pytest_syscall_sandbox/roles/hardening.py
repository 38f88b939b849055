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

:func:`explain` turns a refused call back into a sentence for records and reports (the call
written by the one argument printer, :mod:`..kernel.calltext`)::

    socket(AF_NETLINK, SOCK_RAW, 0): domain AF_NETLINK refused by the hardening set
"""

from __future__ import annotations

import errno
from collections.abc import Collection, Sequence

from ..engine.rules import ArgAnySet, ArgEq, ArgMaskedEq, Rule, deciding_rule
from ..kernel.actions import ERRNO, Action
from ..kernel.calltext import (
    AF_NETLINK,
    AF_UNIX,
    CLONE_FLAG_NAMES,
    CLONE_NEWCGROUP,
    CLONE_NEWNET,
    CLONE_NEWPID,
    CLONE_NEWUSER,
    CSIGNAL,
    IOCTL_REQUESTS,
    SOCK_CLOEXEC,
    SOCK_NONBLOCK,
    SOCK_RAW,
    SOCK_TYPE_MASK,
    SOCKET_FAMILIES,
    SOCKET_TYPES,
    TIOCLINUX,
    TIOCSETD,
    TIOCSTI,
    decode_call,
    flag_names,
    format_clone_flags,
    format_socket_type,
)

__all__ = [
    "AF_NETLINK",
    "AF_UNIX",
    "CLONE_FLAG_NAMES",
    "CSIGNAL",
    "HARDENED_SYSCALLS",
    "HARDENING_RULES",
    "IOCTL_REQUESTS",
    "NAMESPACE_FLAGS",
    "SOCKET_FAMILIES",
    "SOCKET_TYPES",
    "SOCK_CLOEXEC",
    "SOCK_NONBLOCK",
    "SOCK_RAW",
    "SOCK_TYPE_MASK",
    "describe",
    "explain",
    "format_call",
    "format_clone_flags",
    "format_socket_type",
    "reason_for",
    "rules_for",
]

# <linux/sched.h>: the namespace flags (the rest of the constants live with the printer)
CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
NAMESPACE_FLAGS = (
    CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET
)
#: The one argument pretty-printer (:mod:`..kernel.calltext`), under the name this module always had.
format_call = decode_call

#: The verdict of a refused call, and clone3's.
REFUSED = ERRNO(errno.EPERM)
CLONE3_FALLBACK = ERRNO(errno.ENOSYS)
_BY_HARDENING = "refused by the hardening set"

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


def reason_for(nr: int, args: Sequence[int], *, allowed: Collection[str] | None = None) -> str | None:
    """The rule's part of :func:`explain` (``domain AF_NETLINK refused by the hardening set``), or None."""
    values = [*args, 0, 0, 0, 0, 0, 0][:6]
    rule = deciding_rule(HARDENING_RULES, nr, values)
    if rule is None or (allowed is not None and rule.syscall not in allowed):
        return None
    if rule.syscall == "clone":
        present = flag_names(values[0] & NAMESPACE_FLAGS, CLONE_FLAG_NAMES)
        return f"namespace flag{'s' if len(present) > 1 else ''} {'|'.join(present)} {_BY_HARDENING}"
    return rule.reason


def explain(nr: int, args: Sequence[int], *, allowed: Collection[str] | None = None) -> str | None:
    """Why the hardening set refuses this call, or None if it does not.

    ``socket(AF_NETLINK, SOCK_RAW, 0): domain AF_NETLINK refused by the hardening set``.
    Pure: ``args`` are the raw 64-bit register values (missing ones count as 0). With
    ``allowed`` (the role's allow-list), a syscall the role refuses anyway is not the
    hardening set's doing, and gives None.
    """
    reason = reason_for(nr, args, allowed=allowed)
    return None if reason is None else f"{decode_call(nr, args)}: {reason}"


def describe() -> str:
    """The hardening set, one rule a line."""
    return "\n".join(str(rule) for rule in HARDENING_RULES)
