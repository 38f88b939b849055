"""The harness guard: argument rules every plugin filter carries, whatever the role.

A sandboxed test runs in a child of pytest, under the role's filter, watched by a
recorder. Code under test must not be able to blind the recorder, escape it or stop
pytest itself; these rules make that impossible in the filter, before any recorder
or role is asked:

=======================  ==========================================  ===================
syscall                  refused when                                verdict
=======================  ==========================================  ===================
``prctl``                ``option == PR_SET_SECCOMP``                the guard's refusal
``seccomp``              ``operation`` is ``SET_MODE_STRICT`` or     the guard's refusal
                         ``SET_MODE_FILTER``
``clone``                ``CLONE_UNTRACED`` is set                   the guard's refusal
``clone3``               always (flags behind a pointer)             ``ERRNO(ENOSYS)``
``kill``, ``tkill``,     the target is a harness process or thread;  the guard's refusal
``tgkill``,              ``kill`` also for ``-1`` and ``-PGID`` of a
``rt_sigqueueinfo``,     harness process group
``rt_tgsigqueueinfo``,
``pidfd_open``,
``process_vm_readv``,
``process_vm_writev``
``ptrace``               ``pid`` (argument 1) is a harness target    the guard's refusal
``setpgid``              ``pgid`` is a harness process group         the guard's refusal
``pidfd_send_signal``,   always: a pidfd (or a ``/proc/PID``         the guard's refusal
``pidfd_getfd``          directory) may name the harness, and a
                         filter cannot see which process it names
any x32 ABI number       always: the rules above are for x86-64      the guard's refusal
                         numbers (``kill`` is 62 | 0x40000000 there)
=======================  ==========================================  ===================

The rules also hold for the one instruction a filter may trust (the sigsys recorder's
trampoline in audit mode): it skips the role's verdicts, never the guard's.

Why: a filter of the test's own returning ``ERRNO`` outranks the recorder's
``TRACE``/``TRAP``, so every call it covers would vanish from the records (every
policy allows ``prctl``); a process made with ``CLONE_UNTRACED`` is not followed by
the ptrace tracer; ``clone3`` keeps its flags where no filter can read them (glibc
falls back to ``clone`` on ENOSYS); and a ``SIGSTOP`` to pytest's process (the
tracer) would hang the run forever, its timeout included. The harness's processes
(:meth:`HarnessGuard.around`: the calling process, which forks the test's child and
traces it, and its parent, which under pytest-xdist is the controller) are known
before the fork, so their pids, thread ids and process groups are compiled into the
filter; prepared filters are cached per guard, so they are part of the cache key.

The refusal is the recorder's own action with the recorder's guard data
(``guard_action``): the ptrace tracer reads the data with ``PTRACE_GETEVENTMSG``,
the SIGSYS handler in ``si_errno``, so a recorder knows from the kernel's view alone
that the guard refused a call, refuses it in every mode (audit too) and fails the
test. Every comparison is on the low 32 bits (``pid_t``, ``int option``,
``unsigned int operation``, clone's ``lower_32_bits(flags)``), as the kernel reads them.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..engine.rules import ArgAnySet, ArgEq, ArgLt, Rule, deciding_rule
from ..kernel.actions import ERRNO, Action
from ..kernel.calltext import c_int, decode_call
from ..kernel.syscalls import X32_CALLS, X32_SYSCALL_BIT

PR_SET_SECCOMP = 22
#: seccomp(2) operations below this one install something: SET_MODE_STRICT (0), SET_MODE_FILTER (1).
SECCOMP_GET_ACTION_AVAIL = 2
CLONE_UNTRACED = 0x00800000
CLONE3_FALLBACK = ERRNO(errno.ENOSYS)
#: The syscalls whose first argument names the process (or thread) they act on.
TARGETED = ("kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "pidfd_open")
MEMORY = ("process_vm_readv", "process_vm_writev")
#: Refused whatever their arguments.
ALWAYS = ("pidfd_send_signal", "pidfd_getfd")
#: What :func:`guard_rules` refuses with when no recorder action is given (outside a recorder).
REFUSED = ERRNO(errno.EPERM)
_BY_GUARD = "refused by the harness guard"


@dataclass(frozen=True)
class HarnessGuard:
    """The harness's processes a test may not signal, trace or join.

    ``targets``: process and thread ids (``kill`` of any thread id signals its whole
    process); ``groups``: process group ids (``kill(-PGID)``, ``setpgid``).
    """

    targets: frozenset[int]
    groups: frozenset[int]

    @classmethod
    def around(cls, pid: int | None = None) -> HarnessGuard:
        """``pid`` (default: the calling process) and its parent, with their threads and groups.

        Pid 0 and 1 are never taken (the parent of a daemon is init: refusing signals to
        it is harmless, but ``kill(0)`` is the child's own group and must stay allowed).
        """
        pid = os.getpid() if pid is None else pid
        processes = [pid]
        parent = _parent_of(pid)
        if parent > 1:
            processes.append(parent)
        targets: set[int] = set()
        groups: set[int] = set()
        for process in processes:
            targets.add(process)
            targets.update(_threads_of(process))
            try:
                groups.add(os.getpgid(process))
            except OSError:
                pass
        return cls(frozenset(t for t in targets if t > 1), frozenset(g for g in groups if g > 1))

    def __str__(self) -> str:
        return f"harness targets {sorted(self.targets)}, groups {sorted(self.groups)}"


def _parent_of(pid: int) -> int:
    if pid == os.getpid():
        return os.getppid()
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return int(handle.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def _threads_of(pid: int) -> list[int]:
    try:
        return [int(name) for name in os.listdir(f"/proc/{pid}/task")]
    except (OSError, ValueError):
        return []


def _equal_to(syscall: str, index: int, values: Iterable[int], refusal: Action, reason: str) -> list[Rule]:
    return [
        Rule(syscall, (ArgEq(index, value, width=32, label=str(value)),), refusal, reason) for value in sorted(values)
    ]


def guard_rules(guard: HarnessGuard, refusal: Action | None = None) -> tuple[Rule, ...]:
    """The guard's rules for ``guard``, refusing with ``refusal`` (default ``ERRNO(EPERM)``).

    They go before every other rule of a filter (the compiler tries a syscall's rules
    in order) and apply whether or not the role allows the syscall. ``clone3``'s ENOSYS
    is a fallback, not a refusal: it stays ``ERRNO(ENOSYS)`` whatever ``refusal`` is.
    """
    action = REFUSED if refusal is None else refusal
    signal_reason = f"the target is one of the harness's processes: {_BY_GUARD}"
    kill_values = set(guard.targets) | {-group for group in guard.groups} | {-1}
    rules = [
        Rule(
            "prctl",
            (ArgEq(0, PR_SET_SECCOMP, width=32, label="PR_SET_SECCOMP"),),
            action,
            f"a seccomp filter of the test's own would hide calls from the recorder: {_BY_GUARD}",
        ),
        Rule(
            "seccomp",
            (ArgLt(0, SECCOMP_GET_ACTION_AVAIL, width=32, label="SECCOMP_GET_ACTION_AVAIL"),),
            action,
            f"a seccomp filter of the test's own would hide calls from the recorder: {_BY_GUARD}",
        ),
        Rule(
            "clone",
            (ArgAnySet(0, CLONE_UNTRACED, width=32, label="CLONE_UNTRACED"),),
            action,
            f"a process made with CLONE_UNTRACED escapes the tracer: {_BY_GUARD}",
        ),
        Rule(
            "clone3",
            (),
            CLONE3_FALLBACK,
            "answered ENOSYS by the harness guard, so that libc falls back to clone, whose flags a filter can read",
        ),
        *_equal_to("kill", 0, kill_values, action, signal_reason),
        *(rule for name in TARGETED[1:] for rule in _equal_to(name, 0, guard.targets, action, signal_reason)),
        *(
            rule
            for name in MEMORY
            for rule in _equal_to(name, 0, guard.targets, action, f"the harness's memory: {_BY_GUARD}")
        ),
        *_equal_to("ptrace", 1, guard.targets, action, f"tracing the harness: {_BY_GUARD}"),
        *_equal_to("setpgid", 1, guard.groups, action, f"joining the harness's process group: {_BY_GUARD}"),
        *(Rule(name, (), action, f"a pidfd may name one of the harness's processes: {_BY_GUARD}") for name in ALWAYS),
    ]
    return tuple(rules)


#: The syscalls the guard looks at.
GUARDED_SYSCALLS: frozenset[str] = frozenset(
    {"prctl", "seccomp", "clone", "clone3", "ptrace", "setpgid", *TARGETED, *MEMORY, *ALWAYS}
)


def reason_for(nr: int, args: Sequence[int], guard: HarnessGuard | None = None) -> str | None:
    """The rule's part of :func:`explain` (``the target is one of the harness's processes: ...``), or None.

    Without ``guard``, the call is taken to be one the guard did refuse (a recorder saw
    it do so), whatever processes it protected then.
    """
    a = [*args, 0, 0, 0, 0, 0, 0][:6]
    if is_x32(nr):
        return f"x32 ABI call {nr & 0xFFFFFFFF:#x}: its arguments cannot be checked: {_BY_GUARD}"
    if guard is None:
        named = {c_int(a[0]), c_int(a[1])}
        guard = HarnessGuard(frozenset(named), frozenset(named | {-value for value in named}))
    rule = deciding_rule(guard_rules(guard), nr, a)
    if rule is None or rule.action != REFUSED:
        return None
    return rule.reason


def explain(nr: int, args: Sequence[int], guard: HarnessGuard | None = None) -> str | None:
    """Why the guard refuses this call, or None: ``kill(4242, SIGSTOP): the target is ...``.

    The call is written by the one argument printer (:mod:`..kernel.calltext`).
    """
    reason = reason_for(nr, args, guard)
    if reason is None or is_x32(nr):  # an x32 call's sentence names it itself
        return reason
    return f"{decode_call(nr, args)}: {reason}"


def is_x32(nr: int) -> bool:
    """Is ``nr`` an x32 ABI call (the guard refuses them whatever their arguments)?"""
    return X32_SYSCALL_BIT <= nr & 0xFFFFFFFF < X32_SYSCALL_BIT + X32_CALLS
