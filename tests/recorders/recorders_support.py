"""Run a function in a forked child under a real filter, recorded by a real recorder.

No filter is ever installed in the pytest process. The child reports values back
through a pipe (one JSON object a line; anything else an exec'd program prints is
kept as a raw line) and always ends with ``os._exit``.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pytest_syscall_sandbox.engine.compiler import compile_allow_list
from pytest_syscall_sandbox.engine.install import install_filter
from pytest_syscall_sandbox.kernel.actions import Action
from pytest_syscall_sandbox.kernel.syscalls import NAMES, numbers_of
from pytest_syscall_sandbox.recorders.base import ChildContext, ChildOutcome, Recorder
from pytest_syscall_sandbox.recorders.notify import NotifyRecorder
from pytest_syscall_sandbox.recorders.ptrace import PtraceRecorder
from pytest_syscall_sandbox.recorders.record import TrapRecord
from pytest_syscall_sandbox.recorders.sigsys import SigsysRecorder
from pytest_syscall_sandbox.roles.guard import HarnessGuard, guard_rules
from pytest_syscall_sandbox.roles.policies import SyscallSandboxPolicy, policy_syscalls
from pytest_syscall_sandbox.sandbox import filter_verdict, install_prepared

RECORDERS: dict[str, Callable[[], Recorder]] = {
    "sigsys": SigsysRecorder,
    "ptrace": PtraceRecorder,
    "notify": NotifyRecorder,
}
MODES = ("audit", "log-and-abort", "abort")
ROLE = SyscallSandboxPolicy.VALIDATION_SCRIPT_CHECK
#: The role's allow-list: no file system, no getgroups, no execve, no kill.
SCRIPT_CHECK = numbers_of(policy_syscalls(ROLE))
NR_GETGROUPS = 115
#: Everything but getgroups: for tests about the recorders' plumbing, not the role.
ALL_BUT_GETGROUPS = frozenset(NAMES) - {NR_GETGROUPS}
NODEID = "tests/recorders/test_example.py::test_example"
#: Supplementary groups set before the filter (as root), so getgroups has something to say.
GROUPS = [4242, 4343]
CHILD_FAILED = 99


def death_signal(recorder: str, mode: str) -> int | None:
    """How the child of a violating test dies in ``mode``.

    The ptrace tracer and the notify supervisor stop a violating process themselves, with
    SIGKILL, in both abort modes; the sigsys handler aborts (log-and-abort) or dies of
    SIGSYS (abort).
    """
    if mode == "audit":
        return None
    if recorder in ("ptrace", "notify"):
        return signal.SIGKILL
    return signal.SIGABRT if mode == "log-and-abort" else signal.SIGSYS


def prints_the_message(recorder: str) -> bool:
    """Whether the child itself prints upstream's message in log-and-abort (the sigsys handler
    does; under ptrace the tracer stops the child and the plugin shows the message)."""
    return recorder == "sigsys"


@dataclass
class Child:
    """What a child body gets: the context (to change the phase) and a way to report."""

    context: ChildContext
    fd: int

    def report(self, **values: Any) -> None:
        """Send ``values`` to the parent (one small write; allowed by every policy)."""
        os.write(self.fd, (json.dumps(values) + "\n").encode())


@dataclass
class Run:
    """A finished child: the recorder's outcome, what it reported, how long ``wait`` took."""

    outcome: ChildOutcome
    results: dict[str, Any]
    lines: list[str]
    elapsed: float
    stderr: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def records(self, syscall: str | None = None) -> list[TrapRecord]:
        """The records, optionally only those of ``syscall``."""
        return [r for r in self.outcome.records if syscall is None or r.syscall == syscall]


def set_groups() -> None:
    """Give the child known supplementary groups when we may (root)."""
    try:
        os.setgroups(GROUPS)
    except PermissionError:
        pass


def run_child(
    recorder: str,
    mode: str,
    body: Callable[[Child], int | None],
    *,
    allowed: Iterable[int] = SCRIPT_CHECK,
    setup: Callable[[], None] | None = set_groups,
    timeout: float = 30.0,
    trusted_ip: bool = True,
    action: Action | None = None,
    guard: bool = False,
    root: str = "",
) -> Run:
    """Fork; in the child: ``in_child``, setup, phase "call", the filter, ``body``; wait.

    ``action``: what the filter returns for calls ``allowed`` lacks (default: the recorder's).
    ``guard``: compile in the harness guard (as the plugin does), refusing with the
    session's ``guard_action``. ``root``: the project root records are located under.
    """
    context = ChildContext(role=ROLE.name, mode=mode, nodeid=NODEID, root=root)
    session = RECORDERS[recorder]().start(context)
    rules = guard_rules(HarnessGuard.around(), getattr(session, "guard_action", None)) if guard else ()
    compiled = compile_allow_list(
        allowed, action or session.action, trusted_ip=session.trusted_ip if trusted_ip else None, arg_rules=rules
    )
    program = compiled.program
    hand_over = getattr(session, "hand_over", None)  # notify: the filter goes on with a listener
    if hasattr(session, "verdict_of"):
        session.verdict_of = functools.partial(filter_verdict, compiled)
    results_r, results_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = CHILD_FAILED
        try:
            os.close(results_r)
            session.in_child()
            if setup is not None:
                setup()
            context.phase = "call"
            if hand_over is not None:
                session.prepare_hand_over()  # type: ignore[attr-defined]
                install_prepared(compiled, hand_over=hand_over)
            else:
                install_filter(program)
            returned = body(Child(context, results_w))
            code = returned if isinstance(returned, int) else 0
        except BaseException as exc:  # no traceback: formatting it would open source files
            try:
                os.write(2, f"child failed: {type(exc).__name__}: {exc}\n".encode())
            except BaseException:
                pass
        finally:
            os._exit(code)
    os.close(results_w)
    session.in_parent(pid)
    started = time.monotonic()
    outcome = session.wait(started + timeout)
    elapsed = time.monotonic() - started
    results, lines = _read_results(results_r)
    return Run(outcome, results, lines, elapsed)


def _read_results(fd: int) -> tuple[dict[str, Any], list[str]]:
    os.set_blocking(fd, False)
    data = b""
    try:
        while True:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            data += chunk
    finally:
        os.close(fd)
    results: dict[str, Any] = {}
    lines: list[str] = []
    for line in data.decode(errors="replace").splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            value = None
        if isinstance(value, dict):
            results.update(value)
        else:
            lines.append(line)
    return results, lines


def line_of(function: Callable[..., Any], marker: str) -> str:
    """``file:line`` of the line of ``function`` containing ``marker``."""
    source, first = inspect.getsourcelines(function)
    for offset, text in enumerate(source):
        if marker in text:
            return f"{inspect.getsourcefile(function)}:{first + offset}"
    raise AssertionError(f"{marker!r} not in {function.__name__}")


def wait_gone(pid: int, timeout: float = 5.0) -> bool:
    """True once ``pid`` no longer exists or is a zombie."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                state = handle.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.02)
    return False
