"""What runs in a sandboxed test's forked child, from its gate to ``os._exit``.

The child waits at its gate until its test's turn, runs the test's phases as pytest's
runner does, and appends every report it would log (:mod:`.forwarding`) and each
warning to its results area (:class:`.child_results.ResultsArea`). The filter goes on
right around the test function (scope ``call``) or its fixtures' setup (scope
``test``): the session's phase wrappers call :meth:`ChildState.filtered`, after every
other plugin's setup of that phase. Right before the filter, the child enters a
Landlock domain of its own (:mod:`..kernel.landlock`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any, Literal

import pytest

from ..kernel.landlock import confine_to_own_processes
from ..recorders.base import ChildContext, RecorderSession
from ..sandbox import install_prepared
from . import forwarding
from .child_results import ResultsArea, sending_warnings
from .outcomes import CHILD_INTERNAL_ERROR
from .quiet_capture import ChildOutput, quiet_fd_capture
from .settings import TestSandbox

if TYPE_CHECKING:
    from ..engine.compiler import CompiledFilter

#: What a child waits for at its gate before running its test; end of file: exit.
GO = b"g"


def go_message(session: pytest.Session) -> bytes:
    """What the main process writes to a child's gate: GO, then the run's failure count now.

    A child forked ahead was forked while the test before it ran: the Session's
    ``testsfailed`` it inherited lacks that test's failures, and ``--maxfail`` decides
    with it whether a failed subtest stops the test.
    """
    return GO + str(int(session.testsfailed)).encode()


def _take_go(session: pytest.Session, message: bytes) -> bool:
    """Whether ``message`` lets the child run; if so, the session takes its state."""
    if not message.startswith(GO):
        return False
    count = message[len(GO) :]
    if count.isdigit():
        session.testsfailed = int(count)
    return True


class ChildState:
    """Set in the forked child only: what the phase wrappers need there."""

    def __init__(
        self,
        sandbox: TestSandbox,
        session: RecorderSession,
        context: ChildContext,
        compiled: CompiledFilter,
        output: ChildOutput,
    ) -> None:
        self.sandbox = sandbox
        self.output = output  # the test's stdout and stderr files, read by the main process too
        self.session = session
        self.context = context
        self.compiled = compiled  # prepared in the main process: the child only installs
        self.installed = False
        self.results: ResultsArea | None = None  # where its reports go, once the test runs

    def filtered(self, phase: str, config: pytest.Config) -> Generator[None, None, None]:
        """Run the wrapped phase under the filter (installed now if it is not yet)."""
        if not self.installed:
            quiet_fd_capture(config)  # pytest's capture then needs no syscall between phases
            prepare_hand_over = getattr(self.session, "prepare_hand_over", None)  # notify: its listener's courier
            if prepare_hand_over is not None:
                prepare_hand_over()
            confine_to_own_processes()  # where the kernel has Landlock: pytest's memory is out of reach
            install_prepared(self.compiled, hand_over=getattr(self.session, "hand_over", None))
            self.installed = True
        self.context.phase = phase
        try:
            return (yield)
        finally:
            self.context.phase = "harness"


def child_main(item: pytest.Item, state: ChildState, area: ResultsArea, gate: int) -> None:  # pragma: no cover - child
    """Everything the child does after its fork set-up; whatever happens, it ends in ``os._exit``."""
    code = CHILD_INTERNAL_ERROR
    try:
        # The reports go to the main process, which logs them; logged here too, they
        # would reach pytest-xdist's worker plugin, whose state (the index of the test
        # it runs) is that of the test running when this child was forked ahead.
        config = item.config
        forwarding.quiet_logreport(config, keep=(config.pluginmanager.get_plugin("sandbox-session"), item.session))
        _forget_parent_finalizers(item)
        state.session.in_child()
        if not _take_go(item.session, os.read(gate, 64)):  # forked ahead, then not needed: exit quietly
            code = 0
            return
        os.close(gate)
        state.output.take_over(config)  # its output goes to its own files from now on
        state.results = area
        with sending_warnings(area):  # as they are made: a child that dies keeps them
            for report in run_phases(item):
                forwarding.send(config, area, report, True, state.context)
        code = 0
    except BaseException:
        import traceback

        os.write(2, f"sandbox: the child of {item.nodeid} failed:\n{traceback.format_exc()}".encode())
    finally:
        _flush_output()
        os._exit(code)


def _flush_output() -> None:
    """What the test printed and Python still buffers (``-s``, stdout a pipe or a file), as an exit would write it.

    ``os._exit`` skips it; a buffer with nothing in it makes no syscall. The main
    process flushed its own before the fork, so nothing of its output is repeated.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass  # closed or replaced by the test: nothing of pytest's is lost


def run_phases(item: pytest.Item) -> Iterator[pytest.TestReport]:
    """setup, call, teardown as pytest's runner does, with public API only."""
    setup = _run_phase(item, "setup")
    yield setup
    if setup.passed and not item.config.getoption("setuponly", False):
        yield _run_phase(item, "call")
    yield _run_phase(item, "teardown", nextitem=None)


def _run_phase(item: pytest.Item, when: Literal["setup", "call", "teardown"], **kwargs: Any) -> pytest.TestReport:
    hook = getattr(item.ihook, f"pytest_runtest_{when}")
    call = pytest.CallInfo.from_call(
        lambda: hook(item=item, **kwargs),
        when=when,
        reraise=(pytest.exit.Exception, KeyboardInterrupt),
    )
    report: pytest.TestReport = item.ihook.pytest_runtest_makereport(item=item, call=call)
    return report


def _forget_parent_finalizers(item: pytest.Item) -> None:
    """Keep the child from tearing down what the parent set up before the fork.

    The child finalizes everything it set up itself (teardown with nextitem=None),
    but fixtures that were live in the parent when it forked belong to the parent.
    """
    setup_state = getattr(item.session, "_setupstate", None)
    stack = getattr(setup_state, "stack", None)
    if isinstance(stack, dict):
        for finalizers, _exc in stack.values():
            if isinstance(finalizers, list):
                finalizers.clear()
