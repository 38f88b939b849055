"""Turning a child's end into the test's reports.

The child sends every report it would have logged, in order; the recorder says how
the child ended and what it trapped. A child that crashed, hung or exited before
reporting a phase gets a failed report for it that says so; the records go on the
teardown report, always the last (they cross to an xdist controller there), each
violation and note into the shown report's sections.
"""

from __future__ import annotations

import signal
from typing import Any

import pytest

from ..kernel.calltext import decode_call
from ..recorders.base import ChildOutcome
from ..recorders.record import GUARD_REFUSED, HARNESS, USED, TrapRecord
from ..reports.tables import short_location
from ..sandbox import refusal_sentence, violation_message
from . import forwarding
from .ledger import PROFILE
from .settings import TestSandbox

PHASES = ("setup", "call", "teardown")
ABORT_MODES = ("log-and-abort", "abort")
#: Exit code of a child whose harness failed (not the test): EX_SOFTWARE.
CHILD_INTERNAL_ERROR = 70


class Finished:
    """What the main process has once a test's child is gone."""

    def __init__(
        self,
        outcome: ChildOutcome,
        raw_reports: list[tuple[dict[str, Any], bool]],
        needs: frozenset[str],
        duration: float,
        interrupted: bool,
        output: dict[str, str] | None = None,
    ) -> None:
        self.outcome = outcome
        #: What the child wrote to stdout and stderr ("out", "err") and never reported: it died.
        self.output = output or {}
        self.raw_reports = raw_reports
        self.needs = needs  # what the recorder added to the role's filter for itself
        self.duration = duration
        self.interrupted = interrupted


def assemble(item: pytest.Item, sandbox: TestSandbox, finished: Finished) -> list[pytest.TestReport]:
    """Every report to log for the test, in order, from what the child sent and how it ended.

    The last is the teardown's, with the records.
    """
    config = item.config
    outcome = finished.outcome
    ordered, reports = forwarding.receive(config, finished.raw_reports)
    guarded = [r for r in outcome.records if r.reason == GUARD_REFUSED]
    finish_records(outcome.records, sandbox)
    # Harness-labelled records count: the label is the child's word, never a reason to pass.
    records = [r for r in outcome.records if r.outcome != USED]
    expected = list(PHASES)
    if ("setup" in reports and not reports["setup"].passed) or config.getoption("setuponly", False):
        expected.remove("call")
    missing = [when for when in expected if when not in reports]
    clean_exit = outcome.exit_code == 0 and not outcome.timed_out and not finished.interrupted
    notes = [*outcome.notes]
    lent = sorted(finished.needs - sandbox.role.allowed)
    if lent:
        notes.append(f"the {sandbox.recorder} recorder allowed {', '.join(lent)} for its own signal handler")
    # What a failure text already says is not repeated in a section: each violation and note shows once.
    said_records = said_notes = False
    if missing or not clean_exit:
        failed = missing[0] if missing else "teardown"
        text = death_text(sandbox, outcome, records, finished.interrupted, notes)
        report = failed_report(item, failed, text, finished.duration)
        report.sections = [*_sections_so_far(reports, failed), *_leftover_sections(finished.output, failed, records)]
        said_records = said_notes = True
        forwarding.replace(ordered, reports.get(failed), report)
        reports[failed] = report
        if failed != "teardown":
            if "teardown" in reports:  # written before the phase that is missing: not the child's
                forwarding.remove(ordered, reports["teardown"])
            reports["teardown"] = passed_report(item, "teardown")
            ordered.append(reports["teardown"])
    elif "call" in reports and reports["call"].passed and _fails(sandbox, records, guarded, outcome):
        text = violations_text(sandbox, records, strict=_strict(sandbox), incomplete=outcome.incomplete)
        report = failed_report(item, "call", text, finished.duration)
        report.sections = list(reports["call"].sections)  # the test's captured output stays
        said_records = True
        forwarding.replace(ordered, reports["call"], report)
        reports["call"] = report
    last = reports["teardown"]
    if ordered[-1] is not last:  # reports after the teardown's: only a forging child writes them
        forwarding.remove(ordered, last)
        ordered.append(last)
    shown = reports.get("call", last)  # -rA shows a passed test's call sections
    # The records themselves: serialised only if the report crosses to an xdist controller (.session).
    last.sandbox_records = list(outcome.records)  # type: ignore[attr-defined]
    role = sandbox.role
    last.sandbox_role = role.name  # type: ignore[attr-defined]
    last.sandbox_role_facts = role.to_json()  # type: ignore[attr-defined]  # crosses to an xdist controller
    last.sandbox_incomplete = list(outcome.incomplete)  # type: ignore[attr-defined]
    if records and not said_records:
        shown.sections.append(("sandbox violations", violations_text(sandbox, records)))
    if not said_notes:
        shown.sections.extend(("sandbox notes", note) for note in notes)
    return ordered


def _sections_so_far(reports: dict[str, pytest.TestReport], when: str) -> list[tuple[str, str]]:
    """The captured-output sections the test's report for ``when`` carries, as pytest's would.

    pytest's report of a phase holds the sections of every phase so far: those of the
    child's own report of it, else of the last phase the child reported.
    """
    for phase in reversed(PHASES[: PHASES.index(when) + 1]):
        if phase in reports:
            return list(reports[phase].sections)
    return []


def _leftover_sections(output: dict[str, str], when: str, records: list[TrapRecord]) -> list[tuple[str, str]]:
    """What a child wrote and never reported (it died): sections named as pytest names them.

    The line a recorder writes to stderr before it aborts the child (upstream's
    message, log-and-abort mode) is left out: the failure text shows that violation.
    """
    said = tuple(f"{violation_message(r.nr, r.thread or '*unnamed*')} [role {r.role}, " for r in records)
    sections = []
    for stream, name in (("out", "stdout"), ("err", "stderr")):
        text = output.get(stream, "")
        if stream == "err" and said:
            text = "".join(line for line in text.splitlines(True) if not line.startswith(said))
        if text:
            sections.append((f"Captured {name} {when}", text))
    return sections


def _strict(sandbox: TestSandbox) -> bool:
    return sandbox.mode == "audit" and sandbox.strict


def _fails(sandbox: TestSandbox, records: list[TrapRecord], guarded: list[TrapRecord], outcome: ChildOutcome) -> bool:
    """Whether a test whose call passed fails all the same.

    In the abort modes a violation always fails it (a process the test forked may have
    made it, or pytest's own code between phases); in audit ``--sandbox-strict`` does;
    the harness guard's refusals and an incomplete record fail it in every mode.
    """
    return bool(outcome.incomplete or guarded or (records and (_strict(sandbox) or sandbox.mode in ABORT_MODES)))


def finish_records(records: list[TrapRecord], sandbox: TestSandbox) -> None:
    """What only the role knows: why an argument rule refused a call, and profile mode's uses.

    The recorder built each record whole (kernel's view, decoded arguments, located);
    a refusal's sentence is the record's own call text and the rule's reason.
    """
    for record in records:
        call = record.decoded_args or decode_call(record.nr, record.args)
        if record.reason == GUARD_REFUSED:
            record.reason = refusal_sentence(record.nr, record.args, sandbox.role.allowed, call, guarded=True) or (
                GUARD_REFUSED
            )
        elif sandbox.role.harden:
            record.reason = refusal_sentence(record.nr, record.args, sandbox.role.allowed, call)
        if sandbox.mode == PROFILE:
            record.mode = PROFILE
            if record.syscall in sandbox.role.allowed and not record.reason:
                record.outcome = USED


def failed_report(item: pytest.Item, when: str, text: str, duration: float) -> pytest.TestReport:
    """A failed ``when`` report of ``item`` whose failure text is ``text``."""
    call = pytest.CallInfo.from_call(lambda: pytest.fail(text, pytrace=False), when=when)  # type: ignore[arg-type]
    report: pytest.TestReport = item.ihook.pytest_runtest_makereport(item=item, call=call)
    report.duration = duration
    return report


def passed_report(item: pytest.Item, when: str) -> pytest.TestReport:
    """A passed ``when`` report of ``item``."""
    call = pytest.CallInfo.from_call(lambda: None, when=when)  # type: ignore[arg-type]
    report: pytest.TestReport = item.ihook.pytest_runtest_makereport(item=item, call=call)
    return report


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def record_line(record: TrapRecord) -> str:
    """Upstream's message for ``record``, with role, location, arguments and reason."""
    if record.location:
        where = f", at {short_location(record.location)} in {record.function}"
    else:
        where = f", no Python location: {record.blank}" if record.blank else ""
    args = f" {record.decoded_args}" if record.decoded_args and not record.reason else ""
    if record.returned:
        args += f" {record.returned}"
    reason = f" -- {record.reason}" if record.reason else ""
    if record.phase == HARNESS:
        reason += " (phase harness: between the test's phases, by the child's own label)"
    return f"{violation_message(record.nr, record.thread or '*unnamed*')} [role {record.role}{where}]{args}{reason}"


def violations_text(
    sandbox: TestSandbox, records: list[TrapRecord], strict: bool = False, incomplete: list[str] | None = None
) -> str:
    """One line per violation (the first 50), the strict-mode verdict, and why the record is incomplete."""
    lines = [record_line(r) for r in records[:50]]
    if len(records) > 50:
        lines.append(f"... and {len(records) - 50} more")
    if strict and records:
        lines.append(f"sandbox: --sandbox-strict: {len(records)} syscall(s) not allowed for role {sandbox.role.name}")
    lines.extend(f"sandbox: the record is not complete: {sentence}" for sentence in incomplete or ())
    return "\n".join(lines)


def death_text(
    sandbox: TestSandbox, outcome: ChildOutcome, records: list[TrapRecord], interrupted: bool, notes: list[str]
) -> str:
    """Why a child ended without reporting: its violations, then how it ended, then the notes."""
    lines = [record_line(r) for r in records[:50]]
    if len(records) > 50:
        lines.append(f"... and {len(records) - 50} more")
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
        lines.append("sandbox: the plugin failed in the test's child (its traceback is in the test's stderr)")
    elif outcome.exit_code is not None:
        lines.append(f"sandbox: the test's child exited with code {outcome.exit_code} before reporting (os._exit?)")
    else:
        lines.append("sandbox: the test's child vanished before reporting")
    lines.extend(f"sandbox: the record is not complete: {sentence}" for sentence in outcome.incomplete)
    lines.extend(notes)
    return "\n".join(lines)
