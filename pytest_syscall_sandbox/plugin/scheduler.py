"""Forking and scheduling the sandboxed tests' children, the next one forked ahead.

For a test with a role the main process forks; the child waits at a gate (a pipe)
until its test's turn. While a test's child runs, the next sandboxed test's child is
already forked (:meth:`Scheduler.fork_ahead`), so the fork and the child's start
overlap the running test. A child forked for a test that then does not run (``-x``,
Ctrl-C) or whose profile-mode filter went stale is cancelled: it exits at its
closed gate and is reaped.
"""

from __future__ import annotations

import functools
import os
import sys
import time
import warnings
from typing import TYPE_CHECKING

import pytest

from ..kernel.support import unsupported_reason
from ..recorders.base import ChildContext, Recorder, RecorderSession
from ..sandbox import FilterSpec, HarnessGuard, filter_verdict, prepare
from .child import ChildState, child_main, go_message
from .child_results import ResultsArea, replay_warnings
from .ledger import PROFILE, Ledger
from .outcomes import Finished
from .quiet_capture import ChildOutput
from .settings import TestSandbox, sandbox_of

if TYPE_CHECKING:
    from ..engine.compiler import CompiledFilter

#: Seconds a cancelled child (forked ahead, not needed) may take to exit before it is killed.
CANCEL_TIMEOUT = 5.0
#: Fixtures that create directories under the run's base temporary directory.
_TMP_FIXTURES = frozenset({"tmp_path", "tmpdir", "tmp_path_factory", "tmpdir_factory"})


class Forked:
    """Main-process side of one test's child: it waits at its gate until :meth:`start`."""

    def __init__(
        self,
        item: pytest.Item,
        sandbox: TestSandbox,
        session: RecorderSession,
        compiled: CompiledFilter,
        results: ResultsArea,
        gate: int,
        pid: int,
        output: ChildOutput,
    ) -> None:
        self.item = item
        self.pid = pid
        self.output = output  # the child's stdout and stderr files
        self.sandbox = sandbox
        self.session = session
        self.compiled = compiled  # the filter the child will install
        self.results = results
        self.started = 0.0
        self._gate = gate

    def start(self) -> None:
        """Let the child run its test, and tell it the run's state now (:func:`.child.go_message`)."""
        self.started = time.monotonic()
        try:
            os.write(self._gate, go_message(self.item.session))
        except OSError:
            pass  # the child is gone already: its outcome says how
        self._close_gate()

    def cancel(self, at_once: bool = False) -> None:
        """The test will not run in this child: it exits at its closed gate (or is killed), and is reaped."""
        self._close_gate()
        self.session.wait(time.monotonic() + (0.0 if at_once else CANCEL_TIMEOUT))
        self.results.close()
        self.output.close()

    def untouched(self) -> bool:
        """Whether the child still waits at its gate as it was forked (not stopped, dead or traced).

        The test that ran while it waited may have found it and signalled it.
        """
        try:
            with open(f"/proc/{self.pid}/stat", "rb") as handle:
                state = handle.read().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            return False
        return state in (b"S", b"R", b"D")  # at its gate, or on its way there

    def close_in_other_child(self) -> None:
        """In another child forked meanwhile: close what the main process holds for this one."""
        self.results.close()
        self.output.close()
        for fd in self.session.parent_fds():
            os.close(fd)

    def _close_gate(self) -> None:
        if self._gate >= 0:
            os.close(self._gate)
            self._gate = -1


class Scheduler:
    """Forks each sandboxed test's child, runs it to its end, and forks the next one ahead."""

    def __init__(self, config: pytest.Config, ledger: Ledger, prefork: bool) -> None:
        self.config = config
        self.ledger = ledger
        self.prefork = prefork
        #: In a forked child only: its test's state (the session's phase wrappers read it).
        self.child: ChildState | None = None
        self._recorders: dict[str, Recorder] = {}
        #: The next test's child, forked ahead and waiting at its gate.
        self._ready: Forked | None = None
        #: The child whose test is running now.
        self._running: Forked | None = None

    def recorder(self, name: str) -> Recorder:
        """The recorder called ``name``, made once by the ``pytest_sandbox_make_recorder`` hook."""
        if name not in self._recorders:
            recorder = self.config.hook.pytest_sandbox_make_recorder(config=self.config, name=name)
            if recorder is None:
                raise pytest.UsageError(f"sandbox: no recorder called {name!r}")
            self._recorders[name] = recorder
        return self._recorders[name]

    def run(self, item: pytest.Item, sandbox: TestSandbox, nextitem: pytest.Item | None) -> Finished | str:
        """Run ``item`` in its child until the child is gone; a sentence if it could not start.

        Interrupted (Ctrl-C), the child's tree is killed and the result says so.
        """
        child = self._take_ready(item)
        if child is None:
            try:
                child = self._fork(item, sandbox)
            except OSError as exc:  # out of fds or processes: this test cannot run, the next may
                return f"sandbox: could not start the test's child: {exc}"
        session = child.session
        interrupted = False
        self._running = child
        try:
            child.start()
            self.fork_ahead(item, nextitem)
            outcome = session.wait(child.started + sandbox.timeout if sandbox.timeout else None)
        except KeyboardInterrupt:
            # Inside wait() the recorder killed the child's tree before re-raising; before
            # it, the deadline "now" makes wait() kill it. Either way nothing is left running.
            interrupted = True
            self.cancel_ready()
            outcome = session.wait(time.monotonic())
        finally:
            self._running = None
        results = child.results.take()
        leftover = child.output.leftover()
        child.output.close()
        if self.config.pluginmanager.has_plugin("warnings"):  # pytest's recording, unless -p no:warnings
            replay_warnings(results.warnings)
        duration = time.monotonic() - child.started
        finished = Finished(outcome, results.reports, session.needs, duration, interrupted, leftover)
        if results.lost:
            finished.outcome.notes.append(results.lost)
        return finished

    def _fork(self, item: pytest.Item, sandbox: TestSandbox) -> Forked:
        """Fork ``item``'s child, which waits at its gate; raises OSError if it cannot."""
        recorder_mode = "audit" if sandbox.mode == PROFILE else sandbox.mode
        context = ChildContext(
            role=sandbox.role.name,
            mode=recorder_mode,
            nodeid=item.nodeid,
            show_env=sandbox.show_env,
            root=str(item.config.rootpath),
        )
        session = self.recorder(sandbox.recorder).start(context)
        compiled = self._prepare(sandbox, session)
        if hasattr(session, "verdict_of"):  # the notify supervisor asks the filter which rule stopped a call
            session.verdict_of = functools.partial(filter_verdict, compiled)
        _make_base_temp(item)
        # The child appends its reports to shared memory, read once it is gone.
        try:
            results = ResultsArea()
        except OSError:
            session.abandon()
            raise
        try:
            output = ChildOutput()
        except OSError:
            results.close()
            session.abandon()
            raise
        try:
            gate_read, gate = os.pipe()
            try:
                pid = _fork_quietly()
            except OSError:
                os.close(gate_read)
                os.close(gate)
                raise
        except OSError:
            results.close()
            output.close()
            session.abandon()
            raise
        if pid == 0:  # pragma: no cover - runs in the child, which never returns
            os.close(gate)
            if self._running is not None:  # forked ahead: the running test's descriptors are not ours
                self._running.close_in_other_child()
            self.child = ChildState(sandbox, session, context, compiled, output)
            child_main(item, self.child, results, gate_read)
        os.close(gate_read)
        session.in_parent(pid)
        return Forked(item, sandbox, session, compiled, results, gate, pid, output)

    def _prepare(self, sandbox: TestSandbox, session: RecorderSession) -> CompiledFilter:
        """The filter the test's child installs (compiled once per distinct allow-list and guard).

        The harness guard (:mod:`..roles.guard`) protects this process (the child's
        parent, its tracer under ptrace) and its parent (the xdist controller) from the
        test, and keeps the test from blinding or escaping the recorder.
        """
        return prepare(
            FilterSpec(
                self.ledger.filter_allows(sandbox.role, sandbox.mode) | session.needs,
                session.action,
                trusted_ip=session.trusted_ip,
                harden=sandbox.role.harden,
                harden_action=session.action,
                guard=HarnessGuard.around(),
                guard_action=getattr(session, "guard_action", None),
            )
        )

    def fork_ahead(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        """Fork the next test's child now, while this test's child runs; it waits at its gate.

        The fork, and the child's own start (CPython's after-fork work, the recorder's
        handlers, first page copies), then overlap the running test instead of adding
        to it. Only where the main process's state cannot change before the next test
        in a way that test could see: only if :func:`teardown_to` will tear nothing
        down. (In profile mode the next filter may change with what this test does;
        :meth:`_take_ready` then forks again.)
        Nor if either test has ``filterwarnings`` marks: the next child is forked inside
        this test's ``pytest_runtest_protocol`` wrappers, so it gets this test's warning
        filters, not its own. What the main process's own hooks do when this test is
        logged (a conftest's ``pytest_runtest_logreport``), or other plugins' protocol
        wrappers, are not seen by the next test's child either; turn this off with
        ``--sandbox-no-prefork`` where that matters.
        """
        if nextitem is None or not self.prefork:
            return
        sandbox = sandbox_of(nextitem)
        if sandbox is None or unsupported_reason() is not None:
            return
        if not _nothing_to_tear_down(nextitem) or _filters_warnings(item) or _filters_warnings(nextitem):
            return
        try:
            self._ready = self._fork(nextitem, sandbox)
        except Exception:
            pass  # forked again when its turn comes, which reports the error

    def _take_ready(self, item: pytest.Item) -> Forked | None:
        """The child forked ahead for ``item``, if there is one and its filter is still right.

        In profile mode the filter grows with what earlier tests were seen to use: a
        child forked before the last test changed it is cancelled. Any other child is too,
        and one the test before touched (stopped or killed it): it is killed, and the test
        gets a fresh child, as if nothing had happened.
        """
        ready, self._ready = self._ready, None
        if ready is None:
            return None
        if not ready.untouched():
            ready.cancel(at_once=True)
            return None
        stale = (
            ready.sandbox.mode == PROFILE
            and self._prepare(ready.sandbox, ready.session).program != ready.compiled.program
        )
        if ready.item is not item or stale:
            ready.cancel()
            return None
        return ready

    def cancel_ready(self) -> None:
        """Cancel the child forked ahead, if any (its test will not run next)."""
        ready, self._ready = self._ready, None
        if ready is not None:
            ready.cancel()


def _fork_quietly() -> int:
    """``os.fork()`` without CPython 3.12+'s warning that the process has threads.

    The fork is the harness's, not the test's (a pytest-xdist worker has execnet's
    threads): plain pytest would show no such warning, and under ``-W error`` it would
    stop the fork. The filters are back as they were on both sides of the fork.
    Python's output buffers are flushed first: the child writes out what it buffers
    before it exits (:func:`.child.child_main`), and must not write this process's too.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass  # closed or replaced: nothing buffered here to repeat
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"This process .* is multi-threaded", category=DeprecationWarning)
        return os.fork()


def teardown_to(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """``SetupState.teardown_exact(nextitem)`` of the main process (pytest has no public API for it)."""
    item.session._setupstate.teardown_exact(nextitem)


def _filters_warnings(item: pytest.Item) -> bool:
    """Whether ``item`` has ``filterwarnings`` marks (pytest applies them around its protocol)."""
    return next(item.iter_markers("filterwarnings"), None) is not None


def _nothing_to_tear_down(nextitem: pytest.Item) -> bool:
    """Whether ``teardown_to(any sandboxed test, nextitem)`` would leave the main process as it is.

    True if every node with live fixtures here (set up by in-process tests) is one of
    ``nextitem``'s parents, which ``SetupState.teardown_exact`` keeps.
    """
    stack = getattr(getattr(nextitem.session, "_setupstate", None), "stack", None)
    if not isinstance(stack, dict):
        return False  # another pytest: cannot tell
    return set(stack) <= set(nextitem.listchain())


def _make_base_temp(item: pytest.Item) -> None:
    """Make the run's base temporary directory here in the main process, if the test may use it.

    pytest makes it lazily, at the first use; made in a child, it would be forgotten
    with the child: the next child would make another (pytest-of-USER/pytest-N per
    test) or, with ``--basetemp``, wipe and remake it, deleting the directories of the
    tests before. ``config._tmp_path_factory`` is pytest's own (no public API reaches
    it outside a fixture).
    """
    if _TMP_FIXTURES.isdisjoint(getattr(item, "fixturenames", ())):
        return
    factory = getattr(item.config, "_tmp_path_factory", None)
    if factory is not None:
        try:
            factory.getbasetemp()
        except OSError:
            pass  # the child tries again, and its setup reports the error as pytest would
