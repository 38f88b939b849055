"""The plugin's work: run sandboxed tests in forked children and collect what they trap.

For a test with a role (marker or ``--sandbox-policy``) the main process forks. The
child waits at a gate until its test's turn (the next test's child is forked while the
current one runs), runs the test's setup unfiltered, installs the role's filter right
before the call phase (or before the fixtures' setup, with scope ``test``), runs the
call and the teardown under it, and sends each phase's report back as pytest's own
serializable form. A recorder (ptrace or sigsys) collects
every trapped syscall. A child that crashes, hangs or exits early becomes a failed
report that says so, with the records gathered up to then.
"""

from __future__ import annotations

import json
import os
import signal
import tempfile
import time
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any, Literal

import pytest

from ..errors import SandboxError
from ..kernel.support import unsupported_reason
from ..kernel.syscalls import NUMBERS
from ..recorders.base import ChildContext, ChildOutcome, Recorder, RecorderSession
from ..recorders.record import HARNESS, USED, TrapRecord
from ..roles.registry import BITCOIN_CORE, Role, RoleRegistry, parse_role_lines
from ..sandbox import explain_refusal, install_prepared, prepare_allow_list, violation_message
from .child_results import read_results, replay_warnings, sending_warnings, write_line
from .settings import Settings, TestSandbox, read_settings, resolve_item

if TYPE_CHECKING:
    from ..engine.compiler import CompiledFilter
    from ..lint.lint import LintReport

_SANDBOX_KEY = pytest.StashKey["TestSandbox | None"]()
PROFILE = "profile"
#: Seconds between rewrites of ``--sandbox-report`` during a run (and always at its end).
REPORT_INTERVAL = 2.0
#: What profile mode always lets through when the role allows it (so it is never counted
#: as used or unused): what the recorders need to deliver a record, and memory and
#: process creation, which glibc calls holding locks or with every signal blocked,
#: where a recorder's handler must not run.
PROFILE_ALWAYS = frozenset(
    {"rt_sigreturn", "rt_sigprocmask", "write", "getpid", "gettid", "futex", "tgkill"}
    | {"brk", "mmap", "munmap", "mprotect", "madvise", "mremap"}
    | {"clone", "clone3", "fork", "vfork"}
)
_PHASES = ("setup", "call", "teardown")
#: Exit code of a child whose harness failed (not the test): EX_SOFTWARE.
CHILD_INTERNAL_ERROR = 70
#: What a child waits for at its gate before running its test; end of file: exit.
GO = b"g"
#: Seconds a cancelled child (forked ahead, not needed) may take to exit before it is killed.
CANCEL_TIMEOUT = 5.0


class _ChildState:
    """Set in the forked child only: what the hook wrappers need there."""

    def __init__(
        self, sandbox: TestSandbox, session: RecorderSession, context: ChildContext, compiled: CompiledFilter
    ) -> None:
        self.sandbox = sandbox
        self.session = session
        self.context = context
        self.compiled = compiled  # prepared in the main process: the child only installs
        self.installed = False


class _Forked:
    """Main-process side of one test's child: it waits at its gate until :meth:`start`."""

    def __init__(
        self,
        item: pytest.Item,
        sandbox: TestSandbox,
        session: RecorderSession,
        compiled: CompiledFilter,
        report_file: Any,
        gate: int,
    ) -> None:
        self.item = item
        self.sandbox = sandbox
        self.session = session
        self.compiled = compiled  # the filter the child will install
        self.report_file = report_file
        self.started = 0.0
        self._gate = gate

    def start(self) -> None:
        """Let the child run its test."""
        self.started = time.monotonic()
        try:
            os.write(self._gate, GO)
        except OSError:
            pass  # the child is gone already: its outcome says how
        self._close_gate()

    def cancel(self) -> None:
        """The test will not run in this child: it exits at its closed gate, and is reaped."""
        self._close_gate()
        self.session.wait(time.monotonic() + CANCEL_TIMEOUT)
        self.report_file.close()

    def close_in_other_child(self) -> None:
        """In another child forked meanwhile: close what the main process holds for this one."""
        self.report_file.close()
        for fd in self.session.parent_fds():
            os.close(fd)

    def _close_gate(self) -> None:
        if self._gate >= 0:
            os.close(self._gate)
            self._gate = -1


class SandboxSession:
    """The plugin object registered for a run (see :mod:`.hooks`)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.registry = RoleRegistry()
        try:
            self.registry.define_all(parse_role_lines(config.getini("sandbox_roles")))
            for definitions in config.hook.pytest_sandbox_roles(config=config):
                self.registry.define_all(definitions or {})
        except SandboxError as exc:
            raise pytest.UsageError(f"sandbox: {exc}") from None
        self.settings: Settings = read_settings(config, self.registry)
        self.records: list[TrapRecord] = []
        #: Role name -> number of tests run under it (here or, under xdist, by the workers).
        self.roles_used: dict[str, int] = {}
        #: Role name -> syscalls seen in its tests' call and teardown phases (all modes).
        self.observed: dict[str, set[str]] = {}
        #: Role name -> syscalls pytest's own code made under it between phases (profile
        #: mode lets them through later, so whether the tests use them is not measured).
        self.harness_seen: dict[str, set[str]] = {}
        #: Role name -> the role, as the tests ran it (variants included).
        self.role_info: dict[str, Role] = {}
        self.interrupted = False
        self._recorders: dict[str, Recorder] = {}
        self._child: _ChildState | None = None
        self._lint: LintReport | None = None
        self._report_failed = False
        self._report_written = 0.0
        #: The next test's child, forked ahead and waiting at its gate (:meth:`_fork_ahead`).
        self._ready: _Forked | None = None
        #: The child whose test is running now.
        self._running: _Forked | None = None

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

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        s = self.settings
        reason = unsupported_reason()
        line = f"sandbox: policy {s.policy or '(markers only)'}, mode {s.mode}, recorder {s.recorder}"
        return [line + (f" -- UNSUPPORTED: {reason}" if reason else "")]

    # -- running a test in a child ----------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
        if self._child is not None:
            return None
        sandbox = item.stash.get(_SANDBOX_KEY, None)
        if sandbox is None:
            return None
        reason = unsupported_reason()
        if reason is not None:
            item.add_marker(pytest.mark.skip(reason=f"sandbox: {reason}"))
            return None
        item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
        reports = self._run_forked(item, sandbox, nextitem)
        # The child set up and tore down its own copy; here in the main process, take
        # down what earlier in-process tests left set up and ``nextitem`` does not need.
        parent = pytest.CallInfo.from_call(lambda: _teardown_to(item, nextitem), when="teardown")
        if parent.excinfo is not None:
            reports[-1] = item.ihook.pytest_runtest_makereport(item=item, call=parent)
        for report in reports:
            item.ihook.pytest_runtest_logreport(report=report)
        item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
        return True

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """Store what each test runs under; hooks may have added markers since collection."""
        for item in items:
            try:
                item.stash[_SANDBOX_KEY] = resolve_item(item, self.settings, self.registry)
            except (ValueError, SandboxError) as exc:
                raise pytest.UsageError(f"{item.nodeid}: bad sandbox marker: {exc}") from None

    def _recorder(self, name: str) -> Recorder:
        if name not in self._recorders:
            recorder = self.config.hook.pytest_sandbox_make_recorder(config=self.config, name=name)
            if recorder is None:
                raise pytest.UsageError(f"sandbox: no recorder called {name!r}")
            self._recorders[name] = recorder
        return self._recorders[name]

    @pytest.hookimpl(trylast=True)
    def pytest_sandbox_make_recorder(self, config: pytest.Config, name: str) -> Recorder | None:
        if name == "ptrace":
            from ..recorders.ptrace import PtraceRecorder

            ptrace_recorder: Recorder = PtraceRecorder()
            return ptrace_recorder
        if name == "sigsys":
            from ..recorders.sigsys import SigsysRecorder

            sigsys_recorder: Recorder = SigsysRecorder()
            return sigsys_recorder
        return None

    def _filter_allows(self, sandbox: TestSandbox) -> frozenset[str]:
        """The role's allow-list; in profile mode the part the role was seen to use so far.

        A profile run stops only on allowed syscalls not yet seen for the role, so its
        cost falls as the suite goes on; syscalls the role lacks stop every time, so
        the gap counts equal an audit run's. :meth:`_unmeasured` syscalls (what the
        recorders need, memory and process creation, and what pytest's own code was
        seen to make) are always allowed, so never counted as used or unused, and
        always kept in the minimal allow-list.
        """
        role = sandbox.role
        if sandbox.mode != PROFILE:
            return role.allowed
        return (frozenset(self.observed.get(role.name, ())) | self._unmeasured(role.name)) & role.allowed

    def _unmeasured(self, name: str) -> frozenset[str]:
        """Syscalls profile mode always lets through for the role: never called unused."""
        return PROFILE_ALWAYS | frozenset(self.harness_seen.get(name, ()))

    def _minimal(self, name: str) -> set[str]:
        """Profile mode's minimal allow-list: what was used, and what was not measured."""
        role = self._role(name)
        return set(self.observed.get(name, set())) | (role.allowed & self._unmeasured(name))

    def _fork(self, item: pytest.Item, sandbox: TestSandbox) -> _Forked:
        """Fork ``item``'s child, which waits at its gate; raises OSError if it cannot."""
        recorder_mode = "audit" if sandbox.mode == PROFILE else sandbox.mode
        context = ChildContext(role=sandbox.role.name, mode=recorder_mode, nodeid=item.nodeid)
        session = self._recorder(sandbox.recorder).start(context)
        compiled = self._prepare(sandbox, session)
        _make_base_temp(item)
        # The child appends its reports to a temporary file, read once it is gone: no
        # reader thread, and no pipe that a child with a large report could fill.
        try:
            report_file = tempfile.TemporaryFile(prefix="sandbox-reports-")
        except OSError:
            session.abandon()
            raise
        try:
            gate_read, gate = os.pipe()
            try:
                pid = os.fork()
            except OSError:
                os.close(gate_read)
                os.close(gate)
                raise
        except OSError:
            report_file.close()
            session.abandon()
            raise
        if pid == 0:  # pragma: no cover - runs in the child, which never returns
            state = _ChildState(sandbox, session, context, compiled)
            self._child_main(item, state, report_file.fileno(), gate_read, gate)
        os.close(gate_read)
        session.in_parent(pid)
        return _Forked(item, sandbox, session, compiled, report_file, gate)

    def _prepare(self, sandbox: TestSandbox, session: RecorderSession) -> CompiledFilter:
        """The filter the test's child installs (compiled once per distinct allow-list)."""
        return prepare_allow_list(
            self._filter_allows(sandbox) | session.needs,
            session.action,
            trusted_ip=session.trusted_ip,
            harden=sandbox.role.harden,
            harden_action=session.action,
        )

    def _run_forked(
        self, item: pytest.Item, sandbox: TestSandbox, nextitem: pytest.Item | None
    ) -> list[pytest.TestReport]:
        child = self._take_ready(item)
        if child is None:
            try:
                child = self._fork(item, sandbox)
            except OSError as exc:  # out of fds or processes: this test cannot run, the next may
                text = f"sandbox: could not start the test's child: {exc}"
                return [_failed_report(item, "setup", text, 0.0), _passed_report(item, "teardown")]
        session = child.session
        interrupted = False
        self._running = child
        try:
            child.start()
            self._fork_ahead(item, nextitem)
            outcome = session.wait(child.started + sandbox.timeout if sandbox.timeout else None)
        except KeyboardInterrupt:
            # Inside wait() the recorder killed the child's tree before re-raising; before
            # it, the deadline "now" makes wait() kill it. Either way nothing is left running.
            interrupted = True
            self._cancel_ready()
            outcome = session.wait(time.monotonic())
        finally:
            self._running = None
        raw_reports, emitted = read_results(child.report_file)
        if self.config.pluginmanager.has_plugin("warnings"):  # pytest's recording, unless -p no:warnings
            replay_warnings(emitted)
        duration = time.monotonic() - child.started
        reports = self._assemble(item, sandbox, session.needs, outcome, raw_reports, duration, interrupted)
        if interrupted:
            for report in reports:
                item.ihook.pytest_runtest_logreport(report=report)
            raise KeyboardInterrupt
        return reports

    # -- forking the next test's child ahead ----------------------------------------

    def _fork_ahead(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        """Fork the next test's child now, while this test's child runs; it waits at its gate.

        The fork, and the child's own start (CPython's after-fork work, the recorder's
        handlers, first page copies), then overlap the running test instead of adding
        to it. Only where the main process's state cannot change before the next test
        in a way that test could see: only if :func:`_teardown_to` will tear nothing
        down. (In profile mode the next filter may change with what this test does;
        :meth:`_take_ready` then forks again.)
        Nor if either test has ``filterwarnings`` marks: the next child is forked inside
        this test's ``pytest_runtest_protocol`` wrappers, so it gets this test's warning
        filters, not its own. What the main process's own hooks do when this test is
        logged (a conftest's ``pytest_runtest_logreport``), or other plugins' protocol
        wrappers, are not seen by the next test's child either; turn this off with
        ``--sandbox-no-prefork`` where that matters.
        """
        if nextitem is None or not self.settings.prefork:
            return
        sandbox = nextitem.stash.get(_SANDBOX_KEY, None)
        if sandbox is None or unsupported_reason() is not None:
            return
        if not _nothing_to_tear_down(nextitem) or _filters_warnings(item) or _filters_warnings(nextitem):
            return
        try:
            self._ready = self._fork(nextitem, sandbox)
        except Exception:
            pass  # forked again when its turn comes, which reports the error

    def _take_ready(self, item: pytest.Item) -> _Forked | None:
        """The child forked ahead for ``item``, if there is one and its filter is still right.

        In profile mode the filter grows with what earlier tests were seen to use: a
        child forked before the last test changed it is cancelled. Any other child is too.
        """
        ready, self._ready = self._ready, None
        if ready is None:
            return None
        stale = (
            ready.sandbox.mode == PROFILE
            and self._prepare(ready.sandbox, ready.session).program != ready.compiled.program
        )
        if ready.item is not item or stale:
            ready.cancel()
            return None
        return ready

    def _cancel_ready(self) -> None:
        ready, self._ready = self._ready, None
        if ready is not None:
            ready.cancel()

    def _child_main(
        self, item: pytest.Item, child: _ChildState, fd: int, gate: int, gate_write: int
    ) -> None:  # pragma: no cover - child
        """Everything the child does; whatever happens, it ends in ``os._exit`` here."""
        code = CHILD_INTERNAL_ERROR
        try:
            os.close(gate_write)
            if self._running is not None:  # forked ahead: the running test's descriptors are not ours
                self._running.close_in_other_child()
            self._child = child
            _forget_parent_finalizers(item)
            child.session.in_child()
            if os.read(gate, 1) != GO:  # forked ahead, then not needed: exit quietly
                code = 0
                return
            os.close(gate)
            with sending_warnings(fd):  # as they are emitted: a child that dies keeps them
                for report in _run_phases(item):
                    write_line(fd, self.config.hook.pytest_report_to_serializable(config=self.config, report=report))
            code = 0
        except BaseException:
            import traceback

            os.write(2, f"sandbox: the child of {item.nodeid} failed:\n{traceback.format_exc()}".encode())
        finally:
            os._exit(code)

    # In the child: the filter goes on right around the test function (scope "call") or
    # its fixtures' setup (scope "test"), after every other plugin's setup of that phase
    # (trylast wrappers are innermost).
    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None, None, None]:
        child = self._child
        if child is None or child.sandbox.scope != "test":
            return (yield)
        return (yield from self._filtered(child, "setup"))

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        child = self._child
        if child is None:
            return (yield)
        return (yield from self._filtered(child, "call"))

    @staticmethod
    def _filtered(child: _ChildState, phase: str) -> Generator[None, None, None]:
        """Run the wrapped phase under the filter (installed now if it is not yet)."""
        if not child.installed:
            install_prepared(child.compiled)
            child.installed = True
        child.context.phase = phase
        try:
            return (yield)
        finally:
            child.context.phase = "harness"

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Generator[None, None, None]:
        child = self._child
        if child is None or not child.installed:
            return (yield)
        return (yield from self._filtered(child, "teardown"))

    # -- turning the child's end into reports -------------------------------------

    def _assemble(
        self,
        item: pytest.Item,
        sandbox: TestSandbox,
        session_needs: frozenset[str],
        outcome: ChildOutcome,
        raw_reports: list[dict[str, Any]],
        duration: float,
        interrupted: bool,
    ) -> list[pytest.TestReport]:
        reports: dict[str, pytest.TestReport] = {}
        for data in raw_reports:
            report = self.config.hook.pytest_report_from_serializable(config=self.config, data=data)
            if isinstance(report, pytest.TestReport):
                reports[report.when] = report
        root = str(self.config.rootpath)
        for record in outcome.records:
            _point_at_project_code(record, root)
            if sandbox.role.harden:
                record.reason = explain_refusal(record.nr, record.args, sandbox.role.allowed)
        if sandbox.mode == PROFILE:
            for record in outcome.records:
                record.mode = PROFILE
                if record.syscall in sandbox.role.allowed and not record.reason:
                    record.outcome = USED
        records = [r for r in outcome.records if r.phase != HARNESS and r.outcome != USED]
        expected = list(_PHASES)
        if ("setup" in reports and not reports["setup"].passed) or item.config.getoption("setuponly", False):
            expected.remove("call")
        missing = [when for when in expected if when not in reports]
        clean_exit = outcome.exit_code == 0 and not outcome.timed_out and not interrupted
        if missing or not clean_exit:
            failed = missing[0] if missing else "teardown"
            text = _death_text(sandbox, outcome, records, interrupted)
            reports[failed] = _failed_report(item, failed, text, duration)
            if failed != "teardown":
                reports["teardown"] = _passed_report(item, "teardown")
        elif records and sandbox.mode == "audit" and sandbox.strict and "call" in reports and reports["call"].passed:
            reports["call"] = _failed_report(item, "call", _violations_text(sandbox, records, strict=True), duration)
        ordered = [reports[w] for w in _PHASES if w in reports]
        last = ordered[-1]
        shown = reports.get("call", last)  # -rA shows a passed test's call sections
        last.sandbox_records = [r.to_json() for r in outcome.records]  # type: ignore[attr-defined]
        role = sandbox.role
        last.sandbox_role = role.name  # type: ignore[attr-defined]
        last.sandbox_role_facts = role.to_json()  # type: ignore[attr-defined]  # crosses to an xdist controller
        if records:
            shown.sections.append(("sandbox violations", _violations_text(sandbox, records)))
        lent = sorted(session_needs - sandbox.role.allowed)
        notes = [*outcome.notes]
        if lent:
            notes.append(f"the {sandbox.recorder} recorder allowed {', '.join(lent)} for its own signal handler")
        for note in notes:
            shown.sections.append(("sandbox notes", note))
        return ordered

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        role = getattr(report, "sandbox_role", None)
        if role is None:
            return
        facts = getattr(report, "sandbox_role_facts", None)
        if role not in self.role_info and facts:
            self.role_info[role] = Role.from_json(facts)
        self.roles_used[role] = self.roles_used.get(role, 0) + 1
        observed = self.observed.setdefault(role, set())
        harness = self.harness_seen.setdefault(role, set())
        for data in getattr(report, "sandbox_records", None) or ():
            record = TrapRecord.from_json(data)
            self.records.append(record)
            if record.syscall in NUMBERS:  # a number the table lacks cannot go in an allow-list
                (harness if record.phase == HARNESS else observed).add(record.syscall)
            if record.outcome != USED and not self._is_worker():
                self.config.hook.pytest_sandbox_violation(config=self.config, record=record)
        if time.monotonic() - self._report_written > REPORT_INTERVAL:  # a crash loses at most this much
            self._write_report()
            self._report_written = time.monotonic()

    # -- reporting ---------------------------------------------------------------------

    def _is_worker(self) -> bool:
        return hasattr(self.config, "workerinput")  # a pytest-xdist worker: the controller reports

    def _role(self, name: str) -> Role:
        return self.role_info.get(name) or self.registry.get(name)

    def _role_facts(self) -> dict[str, dict[str, object]]:
        facts: dict[str, dict[str, object]] = {}
        for name, tests in self.roles_used.items():
            role = self._role(name)
            entry: dict[str, object] = {
                "tests": tests,
                "origin": role.origin,
                "definition": role.definition,
                "variant": role.is_variant,
                "harden": role.harden,
                "allowed": sorted(role.allowed),
            }
            if self.settings.mode == PROFILE:
                used = self.observed.get(name, set())
                entry["used"] = sorted(used & role.allowed)
                entry["unused"] = sorted(role.allowed - used - self._unmeasured(name))
                entry["minimal"] = sorted(self._minimal(name))
            facts[name] = entry
        return facts

    def _write_report(self) -> None:
        path = self.settings.report
        if not path or self._is_worker():
            return
        from ..lint.environment import describe
        from ..reports.gaps import build_json_report

        document = build_json_report(
            self.records,
            self._role_facts(),
            describe(),
            {
                "policy": self.settings.policy,
                "mode": self.settings.mode,
                "recorder": self.settings.recorder,
                "scope": self.settings.scope,
            },
            interrupted=self.interrupted,
        )
        try:
            _write_atomically(path, json.dumps(document, indent=1, sort_keys=True) + "\n")
        except OSError as exc:
            if not self._report_failed:
                self._report_failed = True
                self.config.issue_config_time_warning(
                    pytest.PytestWarning(f"sandbox: could not write the report {path}: {exc}"), stacklevel=2
                )

    def pytest_keyboard_interrupt(self) -> None:
        self.interrupted = True

    def pytest_sessionfinish(self) -> None:
        self._cancel_ready()  # -x, Ctrl-C or a plugin ended the run before its test
        if self._is_worker():
            return
        self._write_report()
        if self.settings.export and self.roles_used:
            self._export(self.settings.export)

    def _export(self, directory: str) -> None:
        from ..reports.export import oci_profile, role_definition, systemd_filter

        os.makedirs(directory, exist_ok=True)
        for name in self.roles_used:
            current = set(self._role(name).allowed)
            if self.settings.mode == PROFILE:
                second = ("minimal", self._minimal(name))
            else:  # without a profile only the gaps are known: the current list plus them
                second = ("fixed", current | self.observed.get(name, set()))
            for kind, names in (("current", current), second):
                stem = os.path.join(directory, f"{name}.{kind}")
                _write_atomically(stem + ".oci.json", oci_profile(names))
                _write_atomically(stem + ".systemd.conf", systemd_filter(names))
                _write_atomically(stem + ".role.ini", role_definition(f"{name}_{kind.upper()}", names))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.roles_used and not self.records:
            return
        from ..reports.gaps import render_profile, render_summary

        builtin = [r.name for r in self.registry.roles() if r.origin == BITCOIN_CORE]
        verbosity = self.config.get_verbosity()
        bases = {name: self._role(name).definition for name in self.roles_used if self._role(name).is_variant}
        text = render_summary(self.records, self.roles_used, verbosity=verbosity, builtin=builtin, bases=bases)
        lines = self._lint_summary()
        if self.settings.mode == PROFILE:
            text += "\n\n" + render_profile(self._role_facts())
        terminalreporter.write_sep("=", "syscall sandbox")
        for line in lines:
            terminalreporter.write_line(line)
        terminalreporter.write_line(text)
        if self.settings.report and not self._is_worker():
            terminalreporter.write_line(f"sandbox report: {self.settings.report}")

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """With ``--sandbox-lint``: lint the roles the collected tests use, before any runs."""
        if not self.settings.lint or self._is_worker():
            return
        from ..lint.lint import LintEnvironment, lint, render_table

        roles: dict[str, frozenset[str]] = {}
        for item in session.items:
            sandbox = item.stash.get(_SANDBOX_KEY, None)
            if sandbox is not None:
                roles[sandbox.role.name] = sandbox.role.allowed
        self._lint = lint(roles, LintEnvironment.detect())
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:
            return
        lines = self._lint_summary()
        if self.config.get_verbosity() > 0:
            lines = render_table(self._lint).splitlines()
        for line in lines:
            reporter.write_line(line)

    def _lint_summary(self) -> list[str]:
        if self._lint is None and self.settings.lint and self.roles_used:  # xdist: the controller collects nothing
            from ..lint.lint import LintEnvironment, lint

            roles = {name: self._role(name).allowed for name in self.roles_used}
            self._lint = lint(roles, LintEnvironment.detect())
        if self._lint is None:
            return []
        from ..lint.lint import summary_lines

        return summary_lines(self._lint) or [
            f"sandbox lint: no certain or likely findings for {len(self._lint.roles)} role(s)"
        ]


# -- helpers ------------------------------------------------------------------------


def _run_phases(item: pytest.Item) -> Iterator[pytest.TestReport]:
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


def _filters_warnings(item: pytest.Item) -> bool:
    """Whether ``item`` has ``filterwarnings`` marks (pytest applies them around its protocol)."""
    return next(item.iter_markers("filterwarnings"), None) is not None


def _nothing_to_tear_down(nextitem: pytest.Item) -> bool:
    """Whether ``_teardown_to(any sandboxed test, nextitem)`` would leave the main process as it is.

    True if every node with live fixtures here (set up by in-process tests) is one of
    ``nextitem``'s parents, which ``SetupState.teardown_exact`` keeps.
    """
    stack = getattr(getattr(nextitem.session, "_setupstate", None), "stack", None)
    if not isinstance(stack, dict):
        return False  # another pytest: cannot tell
    return set(stack) <= set(nextitem.listchain())


def _teardown_to(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """``SetupState.teardown_exact(nextitem)`` of the main process (pytest has no public API for it)."""
    item.session._setupstate.teardown_exact(nextitem)


#: Fixtures that create directories under the run's base temporary directory.
_TMP_FIXTURES = frozenset({"tmp_path", "tmpdir", "tmp_path_factory", "tmpdir_factory"})


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


def _failed_report(item: pytest.Item, when: str, text: str, duration: float) -> pytest.TestReport:
    call = pytest.CallInfo.from_call(lambda: pytest.fail(text, pytrace=False), when=when)  # type: ignore[arg-type]
    report: pytest.TestReport = item.ihook.pytest_runtest_makereport(item=item, call=call)
    report.duration = duration
    return report


def _passed_report(item: pytest.Item, when: str) -> pytest.TestReport:
    call = pytest.CallInfo.from_call(lambda: None, when=when)  # type: ignore[arg-type]
    report: pytest.TestReport = item.ihook.pytest_runtest_makereport(item=item, call=call)
    return report


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _record_line(record: TrapRecord) -> str:
    where = f", at {record.location} in {record.function}" if record.location else ""
    args = f" {record.decoded_args}" if record.decoded_args and not record.reason else ""
    reason = f" -- {record.reason}" if record.reason else ""
    return f"{violation_message(record.nr, record.thread or '*unnamed*')} [role {record.role}{where}]{args}{reason}"


def _violations_text(sandbox: TestSandbox, records: list[TrapRecord], strict: bool = False) -> str:
    lines = [_record_line(r) for r in records[:50]]
    if len(records) > 50:
        lines.append(f"... and {len(records) - 50} more")
    if strict:
        lines.append(f"sandbox: --sandbox-strict: {len(records)} syscall(s) not allowed for role {sandbox.role.name}")
    return "\n".join(lines)


def _death_text(sandbox: TestSandbox, outcome: ChildOutcome, records: list[TrapRecord], interrupted: bool) -> str:
    lines = [_record_line(r) for r in records[:20]]
    if interrupted:
        lines.append("sandbox: interrupted (Ctrl-C); the test's child was killed")
    elif outcome.timed_out:
        lines.append(f"sandbox: timed out after {sandbox.timeout:g} s; the test's child was killed")
    elif outcome.signal is not None:
        cause = (
            {
                "abort": " (abort mode: killed as the kernel kills a disallowed syscall)",
                "log-and-abort": " (log-and-abort mode)",
            }.get(sandbox.mode, "")
            if records
            else ""
        )
        lines.append(f"sandbox: the test's child was killed by {_signal_name(outcome.signal)}{cause}")
    elif outcome.exit_code == CHILD_INTERNAL_ERROR:
        lines.append("sandbox: the plugin failed in the test's child (see its stderr above)")
    elif outcome.exit_code is not None:
        lines.append(f"sandbox: the test's child exited with code {outcome.exit_code} before reporting (os._exit?)")
    else:
        lines.append("sandbox: the test's child vanished before reporting")
    lines.extend(outcome.notes)
    return "\n".join(lines)


def _point_at_project_code(record: TrapRecord, root: str) -> None:
    """Make the record's location the innermost frame in the project (under the rootdir).

    The recorders report the innermost Python frame, often inside the standard
    library (``socket.py:232 in __init__``); the line of the project's own code that
    led there is what a reader acts on. The full stack stays in ``record.stack``.
    Paths under the rootdir are shown relative to it.
    """
    prefix = root.rstrip(os.sep) + os.sep
    for entry in reversed(record.stack):
        path_line, _, function = entry.rpartition(" in ")
        if path_line.startswith(prefix) and f"{os.sep}site-packages{os.sep}" not in path_line:
            record.location, record.function = path_line, function
            break
    if record.location.startswith(prefix):
        record.location = record.location[len(prefix) :]


def _write_atomically(path: str, text: str) -> None:
    """Write a temporary file beside ``path``, then rename it over ``path``."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    temporary = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
