"""Everything the plugin shows and writes: the terminal section, the JSON report, the exports, the lint.

Registered as a pytest plugin of its own (``sandbox-output``) beside the session; it
reads the :class:`~.ledger.Ledger` and writes nothing else. Under pytest-xdist the
controller writes and shows; workers only feed their reports to it.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

import pytest

from ..reports.files import write_atomically as write_atomically  # fix_in_place writes with it too
from ..roles.registry import RoleRegistry
from .ledger import PROFILE, Ledger
from .settings import Settings, sandbox_of

if TYPE_CHECKING:
    from ..lint.report import LintReport

#: Seconds between rewrites of ``--sandbox-report`` during a run (and always at its end).
REPORT_INTERVAL = 2.0


def is_worker(config: pytest.Config) -> bool:
    """A pytest-xdist worker: its controller reports."""
    return hasattr(config, "workerinput")


class SandboxOutput:
    """The terminal section, ``--sandbox-report``, ``--sandbox-export`` and ``--sandbox-lint``."""

    def __init__(self, config: pytest.Config, settings: Settings, registry: RoleRegistry, ledger: Ledger) -> None:
        self.config = config
        self.settings = settings
        self.registry = registry
        self.ledger = ledger
        self.interrupted = False
        self._lint: LintReport | None = None
        self._report_failed = False
        self._report_written = 0.0
        #: What ``--sandbox-fix`` and ``--sandbox-export`` did, for the terminal section.
        self._told: list[str] = []
        #: The report file's text of each record of the ledger so far, in order: made once per record.
        self._record_texts: list[str] = []

    def test_done(self) -> None:
        """After each sandboxed test: rewrite the report now and then (a crash loses at most this much).

        Each rewrite serialises only the records added since the last one; the file is still
        written whole, to a temporary file renamed over it, so it is always complete JSON.
        """
        if time.monotonic() - self._report_written > REPORT_INTERVAL:
            self.write_report()
            self._report_written = time.monotonic()

    def write_report(self) -> None:
        """Write ``--sandbox-report`` (atomically), if asked for and not an xdist worker.

        Each record's text is made once (:func:`..reports.gaps.record_text`) and spliced in.
        """
        from ..reports.gaps import record_text, report_text

        path = self.settings.report
        if not path or is_worker(self.config):
            return
        records = self.ledger.records
        self._record_texts += [record_text(r) for r in records[len(self._record_texts) :]]  # each record once
        try:
            write_atomically(path, report_text(self.document(with_records=False), self._record_texts))
        except OSError as exc:
            if not self._report_failed:
                self._report_failed = True
                self.config.issue_config_time_warning(
                    pytest.PytestWarning(f"sandbox: could not write the report {path}: {exc}"), stacklevel=2
                )

    def document(self, with_records: bool = True) -> dict[str, object]:
        """The ``--sandbox-report`` document of the run so far (``with_records=False``: without ``records``)."""
        from ..lint.environment import describe
        from ..reports.gaps import build_json_report

        document = build_json_report(
            self.ledger.records,
            self.ledger.role_facts(),
            describe(),
            {
                "policy": self.settings.policy,
                "mode": self.settings.mode,
                "recorder": self.settings.recorder,
                "scope": self.settings.scope,
            },
            interrupted=self.interrupted,
            tallies=self.ledger.tallies(),
            fixes=self._fixes(),
            tests=self.ledger.tests_run.items(),
            with_records=with_records,
        )
        for name, target in self._fix_targets().items():  # so that a merge of reports can plan the same fix
            document["roles"][name]["fix_target"] = target  # type: ignore[index]
        return document

    def write_html(self, path: str) -> None:
        """Write ``--sandbox-html``: the page ``pytest-syscall-sandbox report --html`` makes of the report."""
        from ..reports.html import render_html
        from ..reports.schema import SavedReport

        write_atomically(path, render_html(SavedReport(self.document(), self.settings.report or "this run")))

    def pytest_keyboard_interrupt(self) -> None:
        """Ctrl-C: the report says the run was interrupted."""
        self.interrupted = True

    def pytest_sessionfinish(self) -> None:
        """Write the final report and, with ``--sandbox-export``, each role's allow-lists."""
        if is_worker(self.config):
            return
        self.write_report()
        if self.settings.export and self.ledger.roles_used:
            self._export(self.settings.export)
        if self.settings.html:
            self.write_html(self.settings.html)
        if self.settings.fix:
            from .fix_in_place import apply_fixes

            self._told += apply_fixes(self.config, self._fixes(), conflicts=self.config.get_verbosity() < 0)

    def _fixes(self) -> dict[str, Any]:
        from .fix_in_place import role_fixes

        return role_fixes(self.ledger, self.registry)

    def _fix_targets(self) -> dict[str, dict[str, Any]]:
        """Per role with gaps: the role its fix goes into, as JSON."""
        from ..errors import SandboxError

        targets = {}
        for name, fix in self._fixes().items():
            try:
                targets[name] = self.registry.get(fix.target).to_json()
            except SandboxError:  # a role only an xdist worker knew
                targets[name] = self.ledger.role(name).to_json()
        return targets

    def pytest_report_header(self) -> list[str]:
        """One line per project role defined on top of a role of the same name."""
        return [
            f"sandbox: {role.name}: project role, {role.overrides}" for role in self.registry.roles() if role.overrides
        ]

    def _export(self, directory: str) -> None:
        from ..reports.export import RoleLists, write_exports
        from ..sandbox import export_conditions, hardening_lines

        profile = self.settings.mode == PROFILE
        roles = [
            RoleLists(
                name,
                self.ledger.role(name).allowed,
                frozenset(self.ledger.observed.get(name, set())),
                profile=profile,
                unmeasured=self.ledger.unmeasured(name) if profile else {},
                harden=self.ledger.role(name).harden,
            )
            for name in self.ledger.roles_used
        ]
        for stem in write_exports(directory, roles, lambda names: (export_conditions(names), hardening_lines(names))):
            shown = os.path.relpath(stem, self.config.invocation_params.dir)
            self._told.append(f"sandbox export: {shown}.oci.json, {shown}.systemd.conf, {shown}.role.ini")

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """The "syscall sandbox" section: lint summary, per-role gaps, profile lists, report path."""
        ledger = self.ledger
        if not ledger.roles_used and not ledger.records and not ledger.selected:
            return
        from ..reports.terminal import builtin_roles, section_lines

        bases = {name: ledger.role(name).definition for name in ledger.roles_used if ledger.role(name).is_variant}
        # pytest's own writer: its width (COLUMNS, the terminal) and its --color decide.
        width = self.config.get_terminal_writer().fullwidth
        lines = section_lines(
            ledger.records,
            ledger.roles_used,
            ledger.tallies(),
            ledger.role_facts() if self.settings.mode == PROFILE else {},
            self.settings.mode,
            verbosity=self.config.get_verbosity(),
            bases=bases,
            builtin=builtin_roles(self.registry),
            fixes=self._fixes(),
            width=width,
        )
        terminalreporter.write_sep("=", "syscall sandbox")
        for line in self._lint_summary():
            terminalreporter.write_line(line)
        for text, style in lines:
            terminalreporter.write_line(text, **({style: True} if style else {}))
        for line in self._told:
            terminalreporter.write_line(line)
        if self.settings.report and not is_worker(self.config):
            failed = " could not be written (see the warnings)" if self._report_failed else ""
            terminalreporter.write_line(f"sandbox report: {self.settings.report}{failed}")
        if self.settings.html and not is_worker(self.config):
            terminalreporter.write_line(f"sandbox HTML report: {self.settings.html}")

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """With ``--sandbox-lint``: lint the roles the collected tests use, before any runs."""
        if not self.settings.lint or is_worker(self.config):
            return
        from ..lint.environment import LintEnvironment
        from ..lint.report import lint, render_table

        roles: dict[str, frozenset[str]] = {}
        for item in session.items:
            sandbox = sandbox_of(item)
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
        ledger = self.ledger
        if self._lint is None and self.settings.lint and ledger.roles_used:  # xdist: the controller collects nothing
            from ..lint.environment import LintEnvironment
            from ..lint.report import lint

            roles = {name: ledger.role(name).allowed for name in ledger.roles_used}
            self._lint = lint(roles, LintEnvironment.detect())
        if self._lint is None:
            return []
        from ..lint.report import summary_lines

        return summary_lines(self._lint) or [
            f"sandbox lint: no certain or likely findings for {len(self._lint.roles)} role(s)"
        ]
