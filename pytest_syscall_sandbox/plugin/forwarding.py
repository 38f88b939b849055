"""Every report a sandboxed test's child makes, logged in the main process as pytest would log it.

In the child, every ``pytest_runtest_logreport`` call (the three phase reports, the
reports of pytest's ``subtests`` fixture and of unittest's ``subTest``, any other
plugin's) is written to the results area as it is made, in pytest's own
serializable form (:mod:`.transport` keeps its tuples), and reaches no other plugin
there: :func:`quiet_logreport` removes their implementations in the child. The main
process decodes the reports (:func:`receive`) and logs each, in order, through
``item.ihook.pytest_runtest_logreport``, so the terminal, ``-r``, ``--junitxml``,
pytest-xdist's worker and any reporting plugin see what they would see without the
sandbox, and see it once.

Two things a plugin does in the child while a report is logged are kept:
``Session.pytest_runtest_logreport`` (``-x`` and ``--maxfail`` decide there whether a
failed subtest stops the test), and ``pytest_report_teststatus``, which the terminal
reporter calls for every report and where pytest's subtests plugin fails a test
whose subtests failed (it counts them in the child).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from ..recorders.base import ChildContext
from ..recorders.record import HARNESS
from .child_results import ResultsArea, write_report

#: Key the child adds to a report whose longrepr pytest could carry only as text.
TEXT_LONGREPR = "sandbox_text_longrepr"
#: Attributes the plugin puts on a test's last report in the main process; a child's are dropped.
CLAIMS = ("sandbox_records", "sandbox_role", "sandbox_role_facts", "sandbox_incomplete")


def quiet_logreport(config: pytest.Config, keep: tuple[object, ...]) -> None:
    """In the child: ``pytest_runtest_logreport`` calls reach only the plugins in ``keep``.

    The main process logs the child's reports to every plugin; in the child they
    would be logged twice (the terminal reporter would write to the real terminal,
    pytest-xdist's worker would send them on its channel with the index of the test
    the main process is running). pluggy has no public way to remove one hook's
    implementations; the child is a throw-away copy, so its caller is edited.
    """
    caller = config.hook.pytest_runtest_logreport
    for impl in caller.get_hookimpls():
        if not any(impl.plugin is plugin for plugin in keep):
            caller._remove_plugin(impl.plugin)


def send(config: pytest.Config, area: ResultsArea, report: pytest.TestReport, own: bool, context: ChildContext) -> None:
    """In the child: write ``report`` for the main process; ``own``: one of the protocol's phase reports.

    Logging a report is pytest's work, not the test's: its records carry the phase
    ``harness`` (a label, never a reason to let a call run). A longrepr pytest can only
    serialize as its text (a plugin's own object) is marked, so the main process shows
    it as the object was shown (:class:`TextLongrepr`).
    """
    phase = context.phase
    if phase != HARNESS:
        context.phase = HARNESS
    try:
        if config.pluginmanager.has_plugin("terminalreporter"):
            config.hook.pytest_report_teststatus(report=report, config=config)
        data = config.hook.pytest_report_to_serializable(config=config, report=report)
        if isinstance(data, dict):
            if _text_only(report.longrepr) and isinstance(data.get("longrepr"), str):
                data[TEXT_LONGREPR] = True
            write_report(area, data, own)
    finally:
        if phase != HARNESS:
            context.phase = phase


def receive(
    config: pytest.Config, raw: list[tuple[dict[str, Any], bool]]
) -> tuple[list[pytest.TestReport], dict[str, pytest.TestReport]]:
    """In the main process: (every report, in order; the protocol's own reports by phase).

    What the child wrote is the sandboxed test's to forge: a line pytest cannot read
    back is dropped (a phase report it was then counts as missing), and the
    plugin's own attributes on a child's report (:data:`CLAIMS`) are removed.
    """
    reports: list[pytest.TestReport] = []
    own: dict[str, pytest.TestReport] = {}
    for data, is_own in raw:
        data = dict(data)
        text_only = data.pop(TEXT_LONGREPR, None) is True
        try:
            report = config.hook.pytest_report_from_serializable(config=config, data=data)
        except Exception:
            continue
        if not isinstance(report, pytest.TestReport):
            continue
        if text_only and isinstance(report.longrepr, str):
            report.longrepr = TextLongrepr(report.longrepr)  # type: ignore[assignment]  # renders itself, as pytest asks
        for name in CLAIMS:
            report.__dict__.pop(name, None)
        _keep_subtest_values(report, data)
        if is_own and report.when not in own:
            own[report.when] = report
        reports.append(report)
    return reports, own


def _text_only(longrepr: object) -> bool:
    """Whether pytest serializes ``longrepr`` as ``str(longrepr)``: an object that renders itself, not a traceback."""
    return hasattr(longrepr, "toterminal") and not (
        hasattr(longrepr, "reprtraceback") and hasattr(longrepr, "reprcrash")
    )


class TextLongrepr:
    """A plugin's own longrepr object, back from the child as its text, and shown as the object was.

    pytest shows a ``str`` longrepr in the short summary line (`` - text``) but nothing
    for an object without ``reprcrash``: as a ``str`` the line would differ from plain
    pytest's. Everywhere else (the failure section, ``--junitxml``, pytest-xdist, which
    serializes it as its text again) the text and the object read the same.
    """

    def __init__(self, text: str) -> None:
        self.text = text

    def toterminal(self, out: Any) -> None:
        """Write the text, as the terminal writes a ``str`` longrepr."""
        out.line(self.text)

    def __str__(self) -> str:
        return self.text


def _keep_subtest_values(report: pytest.TestReport, data: dict[str, Any]) -> None:
    """Undo pytest's second ``repr`` of a subtest's values (``i='1'`` for ``i=1``) when it reads one back.

    pytest's ``SubtestContext`` stores each value's ``saferepr`` and, rebuilt from its
    serialized form, takes the ``saferepr`` of those strings again (pytest-xdist shows
    the same); here the strings the child made are put back, so ``SUBFAILED(i=1)``
    reads as without the sandbox.
    """
    written = data.get("_subtest.context")
    context = getattr(report, "context", None)
    if not isinstance(written, dict) or not dataclasses.is_dataclass(context):
        return
    values = written.get("kwargs")
    if isinstance(values, dict) and all(isinstance(v, str) for v in values.values()):
        try:
            object.__setattr__(context, "kwargs", dict(values))  # a frozen dataclass
        except (AttributeError, TypeError):
            pass


def with_claims(report: pytest.TestReport, old: pytest.TestReport) -> pytest.TestReport:
    """``report``, given the plugin's attributes (:data:`CLAIMS`) that ``old`` carries; it replaces ``old``."""
    for name in CLAIMS:
        if name in old.__dict__:
            setattr(report, name, old.__dict__[name])
    return report


def replace(reports: list[pytest.TestReport], old: pytest.TestReport | None, new: pytest.TestReport) -> None:
    """Put ``new`` where ``old`` is in ``reports`` (by identity), or at the end."""
    for i, report in enumerate(reports):
        if report is old:
            reports[i] = new
            return
    reports.append(new)


def remove(reports: list[pytest.TestReport], old: pytest.TestReport) -> None:
    """Take ``old`` out of ``reports`` (by identity)."""
    reports[:] = [r for r in reports if r is not old]
