"""The plugin's hooks for a run: which tests are sandboxed, and running each in its child.

For a test with a role (marker or ``--sandbox-policy``) the main process forks; the
child waits at a gate until its test's turn (the next test's child is forked while
the current one runs), runs the test's setup unfiltered, installs the role's filter
right before the call phase (or before the fixtures' setup, with scope ``test``), runs
the call and the teardown under it, and sends every report it would log back in
pytest's own serializable form, which the main process logs (:mod:`.forwarding`). A
recorder (ptrace, sigsys or notify) collects every trapped syscall.

The work is shared out, as pytest-xdist shares out its ``DSession``: the
:class:`~.scheduler.Scheduler` forks and schedules children (:mod:`.child` is what
runs in them), :mod:`.outcomes` turns a child's end into reports, the
:class:`~.ledger.Ledger` keeps the records and roles, and
:class:`~.output.SandboxOutput` (a plugin of its own) shows and writes them.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from ..errors import SandboxError
from ..kernel.landlock import abi_version as landlock_abi_version
from ..kernel.support import unsupported_reason
from ..recorders.base import Recorder
from ..recorders.record import TrapRecord
from . import forwarding
from .ledger import Ledger
from .outcomes import assemble, failed_report, passed_report
from .output import SandboxOutput, is_worker
from .scheduler import Scheduler, teardown_to
from .settings import SANDBOX_KEY, Settings, load_roles, read_settings, resolve_item, sandbox_of


class SandboxSession:
    """The plugin object registered for a run (see :mod:`.hooks`)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.registry = load_roles(config)
        self.settings: Settings = read_settings(config, self.registry)
        self.ledger = Ledger(self.registry, self.settings.mode)
        self.scheduler = Scheduler(config, self.ledger, self.settings.prefork)
        self.output = SandboxOutput(config, self.settings, self.registry, self.ledger)

    def register(self) -> None:
        """Register the session and its output as plugins of ``config``."""
        self.config.pluginmanager.register(self, "sandbox-session")
        self.config.pluginmanager.register(self.output, "sandbox-output")

    # -- collection -------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(
        self, collector: pytest.Collector
    ) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
        """Turn a malformed ``sandbox`` marker into a collection error naming the test.

        Only validates: what a test runs under is stored once collection is complete
        (:meth:`pytest_collection_modifyitems`), after every hook had its say.
        """
        report = yield
        if report.outcome != "passed":
            return report
        problems = []
        for node in report.result:
            if isinstance(node, pytest.Item):
                try:
                    resolve_item(node, self.settings, self.registry)
                except (ValueError, SandboxError) as exc:
                    problems.append(f"{node.nodeid}: bad sandbox marker: {exc}")
        if problems:
            return pytest.CollectReport(collector.nodeid, "failed", "\n".join(problems), [])
        return report

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """Store what each test runs under; hooks may have added markers since collection."""
        for item in items:
            try:
                item.stash[SANDBOX_KEY] = resolve_item(item, self.settings, self.registry)
            except (ValueError, SandboxError) as exc:
                raise pytest.UsageError(f"{item.nodeid}: bad sandbox marker: {exc}") from None

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Note which tests are selected for which role: the summary counts those that never ran."""
        if session.config.getoption("collectonly"):
            return
        selected = ((item.nodeid, sandbox_of(item)) for item in session.items)
        self.ledger.select((nodeid, sandbox.role.name) for nodeid, sandbox in selected if sandbox is not None)

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        """One header line: policy, mode and recorder, and why the sandbox cannot run (fully) here."""
        s = self.settings
        reason = unsupported_reason()
        line = f"sandbox: policy {s.policy or '(markers only)'}, mode {s.mode}, recorder {s.recorder}"
        if reason:
            return [f"{line} -- UNSUPPORTED: {reason}"]
        if landlock_abi_version() < 1:
            line += " -- no Landlock here: a test could open pytest's memory (/proc/PID/mem)"
        return [line]

    # -- running a test in a child ----------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
        """Run a sandboxed test in its forked child and log its reports; others run as usual."""
        if self.scheduler.child is not None:
            return None
        sandbox = sandbox_of(item)
        if sandbox is None:
            return None
        reason = unsupported_reason()
        if reason is not None:
            item.add_marker(pytest.mark.skip(reason=f"sandbox: {reason}"))
            return None
        item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
        finished = self.scheduler.run(item, sandbox, nextitem)
        if isinstance(finished, str):
            reports = [failed_report(item, "setup", finished, 0.0), passed_report(item, "teardown")]
        else:
            reports = assemble(item, sandbox, finished)
            if finished.interrupted:
                for report in reports:
                    item.ihook.pytest_runtest_logreport(report=report)
                raise KeyboardInterrupt
        # The child set up and tore down its own copy; here in the main process, take
        # down what earlier in-process tests left set up and ``nextitem`` does not need.
        parent = pytest.CallInfo.from_call(lambda: teardown_to(item, nextitem), when="teardown")
        if parent.excinfo is not None:  # the last report is the teardown's, with the records
            reports[-1] = forwarding.with_claims(
                item.ihook.pytest_runtest_makereport(item=item, call=parent), reports[-1]
            )
        for report in reports:
            item.ihook.pytest_runtest_logreport(report=report)
        item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
        return True

    @pytest.hookimpl(trylast=True)
    def pytest_sandbox_make_recorder(self, config: pytest.Config, name: str) -> Recorder | None:
        """The built-in recorders, ``ptrace``, ``sigsys`` and ``notify`` (imported when first asked for)."""
        if name == "ptrace":
            from ..recorders.ptrace import PtraceRecorder

            ptrace_recorder: Recorder = PtraceRecorder()
            return ptrace_recorder
        if name == "sigsys":
            from ..recorders.sigsys import SigsysRecorder

            sigsys_recorder: Recorder = SigsysRecorder()
            return sigsys_recorder
        if name == "notify":
            from ..recorders.notify import NotifyRecorder

            notify_recorder: Recorder = NotifyRecorder()
            return notify_recorder
        return None

    # In the child: the filter goes on right around the test function (scope "call") or
    # its fixtures' setup (scope "test"), after every other plugin's setup of that phase
    # (trylast wrappers are innermost).
    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None, None, None]:
        """In the child, with scope ``test``: the fixtures' setup runs under the filter."""
        child = self.scheduler.child
        if child is None or child.sandbox.scope != "test":
            return (yield)
        return (yield from child.filtered("setup", item.config))

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        """In the child: the test function runs under the filter (installed now, at the latest)."""
        child = self.scheduler.child
        if child is None:
            return (yield)
        return (yield from child.filtered("call", item.config))

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Generator[None, None, None]:
        """In the child: the teardown runs under the filter, once it is installed."""
        child = self.scheduler.child
        if child is None or not child.installed:
            return (yield)
        return (yield from child.filtered("teardown", item.config))

    # -- after each test and at the end ----------------------------------------------

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """In a child: send the report to the main process. There: enter a test's records in the ledger.

        Under xdist the controller's ledger gets them too, from the reports the workers send.
        """
        child = self.scheduler.child
        if child is not None:
            if child.results is not None:
                forwarding.send(self.config, child.results, report, False, child.context)
            return
        role = getattr(report, "sandbox_role", None)
        if role is None:
            return
        facts = getattr(report, "sandbox_role_facts", None)
        records = self.ledger.add(
            role,
            facts,
            getattr(report, "sandbox_records", None) or (),
            report.nodeid,
            getattr(report, "sandbox_incomplete", None) or (),
        )
        if not is_worker(self.config):
            for record in records:
                if self.ledger.counts_as_gap(record):
                    self.config.hook.pytest_sandbox_violation(config=self.config, record=record)
        self.output.test_done()

    @pytest.hookimpl(wrapper=True)
    def pytest_report_to_serializable(
        self, config: pytest.Config, report: pytest.CollectReport | pytest.TestReport
    ) -> Generator[None, dict[str, Any] | None, dict[str, Any] | None]:
        """A test's records cross to an xdist controller in their structured JSON form, once each."""
        data = yield
        records = data.get("sandbox_records") if isinstance(data, dict) else None
        if isinstance(data, dict) and isinstance(records, list):
            data["sandbox_records"] = [r.to_wire() if isinstance(r, TrapRecord) else r for r in records]
        return data

    @pytest.hookimpl(wrapper=True)
    def pytest_report_from_serializable(
        self, config: pytest.Config, data: dict[str, Any]
    ) -> Generator[None, object, object]:
        """The records of a report read back (from an xdist worker) are records again.

        What a sandboxed child writes is dropped later (:func:`.forwarding.receive`);
        anything unreadable is left for that, never raised here.
        """
        report = yield
        records = getattr(report, "sandbox_records", None)
        if isinstance(records, list):
            try:
                report.sandbox_records = [  # type: ignore[attr-defined]
                    TrapRecord.from_json(r) if isinstance(r, dict) else r for r in records
                ]
            except Exception:
                pass
        return report

    def pytest_sessionfinish(self) -> None:
        """Cancel a child forked ahead for a test that will not run (-x, Ctrl-C, a plugin's stop)."""
        self.scheduler.cancel_ready()
