"""The contract between the pytest plugin and a recorder of trapped syscalls.

A recorder decides what a disallowed syscall's filter verdict is (TRACE for the
ptrace supervisor, TRAP for the SIGSYS handler) and collects one
:class:`~pytest_syscall_sandbox.recorders.record.TrapRecord` per trapped syscall of a forked
child and of everything that child starts. The plugin drives it like this::

    session = recorder.start(context)        # parent, before fork: pipes etc.
    pid = os.fork()                          # (failed: session.abandon())
    if pid == 0:
        session.in_child()                   # child: handlers; waits until the parent is ready
        ... setup ...; context.phase = "call"
        install_filter(compile_allow_list(allowed, session.action, trusted_ip=session.trusted_ip).program)
        ... call, teardown ...; os._exit(...)
    session.in_parent(pid)                   # parent: attach (ptrace) or start draining
    outcome = session.wait(deadline)         # parent: until the child is gone; never hangs

Nothing is lost: ``wait`` returns every record gathered, also when the child
crashed, was killed or ran past the deadline (then it kills the whole child tree).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from ..kernel.actions import Action
from .record import TrapRecord


@dataclass
class ChildContext:
    """What the child's records are stamped with; ``phase`` changes as the test runs."""

    role: str
    mode: str
    nodeid: str
    phase: str = "setup"
    #: Whether decoded arguments show environment values (``execve``'s envp), not only names.
    show_env: bool = False
    #: The project's root (pytest's rootdir): a record's location is its innermost frame under it.
    root: str = ""

    def __setattr__(self, name: str, value: object) -> None:
        object.__setattr__(self, name, value)
        for observer in self.__dict__.get("_observers", ()):
            observer(name, value)

    def observe(self, callback: Callable[[str, object], None]) -> None:
        """Call ``callback(name, value)`` after every later assignment to a field.

        The ptrace recorder's child uses it to tell the tracer when ``phase`` changes.
        Observers are not fields: ``asdict``, ``==`` and ``repr`` do not see them.
        """
        self.__dict__.setdefault("_observers", []).append(callback)


@dataclass
class ChildOutcome:
    """How the child ended and what it did."""

    records: list[TrapRecord] = field(default_factory=list)
    #: ``os.waitpid`` status of the direct child, None if it could not be reaped.
    exit_code: int | None = None
    signal: int | None = None
    timed_out: bool = False
    #: Anything the recorder wants the user to see (a lost tracer, a dropped record).
    notes: list[str] = field(default_factory=list)
    #: Why the records may not hold every trapped syscall of the child's tree (tampering
    #: detected, a process the recorder could not follow, a child that died before its
    #: records were complete), one sentence each. Non-empty: the test fails saying so, and
    #: its role's summary counts it as ended without a complete record.
    incomplete: list[str] = field(default_factory=list)


class RecorderSession(Protocol):
    """One child's recording, created by :meth:`Recorder.start`."""

    #: The action the role's filter returns for a disallowed syscall.
    action: Action
    #: Pass to the compiler with the action (``compile_allow_list(..., session.action,
    #: trusted_ip=session.trusted_ip)``): the sigsys recorder in ``audit`` mode re-issues
    #: trapped calls from this one instruction (see :mod:`..kernel.trampoline`); None otherwise.
    trusted_ip: int | None
    #: Syscalls the filter must allow whatever the role says, for the recorder itself.
    needs: frozenset[str]

    def in_child(self) -> None:
        """In the forked child, before setup: install handlers, wait for the parent."""

    def in_parent(self, pid: int) -> None:
        """In the parent right after fork."""

    def parent_fds(self) -> list[int]:
        """Descriptors the parent holds for this child from ``in_parent`` until ``wait`` ends.

        Another child forked meanwhile (the next test's, forked ahead) closes them.
        """

    def abandon(self) -> None:
        """The fork failed: close every descriptor ``start`` opened."""

    def wait(self, deadline: float | None) -> ChildOutcome:
        """Supervise until the child exits; at ``deadline`` (time.monotonic) kill it."""


class Recorder(Protocol):
    """A way to record trapped syscalls (``ptrace``, ``sigsys`` or ``notify``)."""

    name: str

    def start(self, context: ChildContext) -> RecorderSession:
        """Prepare one child's recording (parent side, before fork)."""
