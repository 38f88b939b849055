"""The child does not decide what runs: the phase is a label, the records are the kernel's view.

Item 2: a test that sets its own phase to ``harness`` (the label of pytest's own code
between phases) must not get a forbidden call through, nor out of the verdict.
Item 5: forged "where" answers cannot move the blame or hide a violation.
Item 9: the recorder itself makes no syscall under the filter.
"""

from __future__ import annotations

import pytest
from hostile_support import PRELUDE, attack

AS_HARNESS = (
    PRELUDE
    + """
import gc
import pytest

TARGET = {target!r}


def claim_to_be_the_harness():
    for thing in gc.get_objects():
        if type(thing).__name__ == "ChildContext":
            thing.phase = "harness"


@pytest.mark.sandbox("NET")
def test_claims_to_be_the_harness():
    claim_to_be_the_harness()
    mkdirat(TARGET)
"""
)

FORGED = (
    PRELUDE
    + """
import gc
import json
import mmap
import struct
import pytest

FORGED = {"phase": "harness", "location": "elsewhere.py:1", "function": "somebody_else", "stack": []}


def forge_everything():
    for thing in gc.get_objects():
        if type(thing).__name__ == "PtraceSession" and isinstance(getattr(thing, "_write_fd", None), int):
            for seq in range(1, 50):  # the old channel: a pipe that took any "where" message
                body = json.dumps({"where": dict(FORGED, seq=seq)}).encode()
                try:
                    os.write(thing._write_fd, struct.pack("=I", len(body)) + body)
                except OSError:
                    pass
        if isinstance(thing, mmap.mmap):  # memory shared with the tracer, if there is any
            body = json.dumps(FORGED).encode()
            frame = struct.pack("=I", len(body)) + body
            for offset in range(0, len(thing) - len(frame) - 8, 64):
                thing[offset : offset + 8] = b"harness\\0"
                thing[offset + 8 : offset + 8 + len(frame)] = frame


@pytest.mark.sandbox("NET")
def test_forges_where_answers():
    forge_everything()
    os.getgroups()  # the violation, in audit mode it runs
    forge_everything()
"""
)

FAILING = """
import pytest


@pytest.mark.sandbox("VALIDATION_SCRIPT_CHECK")
def test_fails_on_its_own():
    assert 1 + 1 == 3
"""

PURE = """
import pytest


@pytest.mark.sandbox("VALIDATION_SCRIPT_CHECK", deny=["write"])
def test_pure_compute():
    assert sum(range(1000)) == 499500
"""


def test_a_test_claiming_to_be_the_harness_gets_no_call_through(
    pytester: pytest.Pytester, recorder: str, abort_mode: str
) -> None:
    target = pytester.path / "made-as-the-harness"
    pytester.makepyfile(AS_HARNESS.format(target=str(target)))
    run = attack(pytester, recorder, abort_mode)
    assert not target.exists()
    run.result.assert_outcomes(failed=1)
    run.result.stdout.fnmatch_lines(['*The syscall "mkdirat" (syscall number 258) is not allowed*'])
    (record,) = run.records("mkdirat")
    assert record["phase"] == "harness"  # the child's word, kept as a label
    assert record["stack"][-2].endswith(" in test_claims_to_be_the_harness")  # the kernel's view, located


def test_a_harness_label_does_not_hide_a_violation_under_strict(pytester: pytest.Pytester, recorder: str) -> None:
    target = pytester.path / "made-in-audit"
    pytester.makepyfile(AS_HARNESS.format(target=str(target)))
    run = attack(pytester, recorder, "audit", "--sandbox-strict")
    assert target.is_dir()  # audit: every trapped call runs
    run.result.assert_outcomes(failed=1)
    run.result.stdout.fnmatch_lines(["*--sandbox-strict: 1 syscall(s) not allowed for role NET*"])
    assert [r["phase"] for r in run.records("mkdirat")] == ["harness"]


def test_forged_where_answers_move_no_blame_and_hide_nothing(pytester: pytest.Pytester, recorder: str) -> None:
    pytester.makepyfile(FORGED)
    run = attack(pytester, recorder, "audit", "--sandbox-strict")
    outcomes = run.result.parseoutcomes()
    # The forger also writes over the memory its reports travel in: the test then fails at
    # the first phase whose report it destroyed, saying so, and never passes.
    assert "passed" not in outcomes and outcomes.get("failed", 0) + outcomes.get("errors", 0) == 1, outcomes
    run.result.stdout.fnmatch_lines(['*The syscall "getgroups" (syscall number 115) is not allowed*'])
    (record,) = run.records("getgroups")
    assert "elsewhere" not in run.output
    if recorder in ("ptrace", "notify"):  # the tracer (supervisor) asks the trapping thread itself, with a token
        assert record["function"] == "test_forges_where_answers"
        assert record["location"].startswith("test_forged_where_answers_move_no_blame_and_hide_nothing.py:")
    else:  # the forger wrote over the sigsys record area: the kernel's view, unlocated, and refused
        assert (record["location"], record["outcome"]) == ("", "refused")
        run.result.stdout.fnmatch_lines(
            ["*getgroups (process *) came through the recorder's trampoline with no trap record*"]
        )


def test_the_recorder_makes_no_syscall_of_its_own(pytester: pytest.Pytester, recorder: str) -> None:
    pytester.makepyfile(PURE)
    run = attack(pytester, recorder, "audit")
    run.result.assert_outcomes(passed=1)
    ours = [r for r in run.records() if "pytest_syscall_sandbox/recorders/" in " ".join([r["location"], *r["stack"]])]
    assert ours == []


def test_pytests_own_calls_between_phases_are_refused_labelled_and_survived(
    pytester: pytest.Pytester, recorder: str, abort_mode: str
) -> None:
    """Not an attack: the decision for pytest's own calls. VALIDATION_SCRIPT_CHECK has no file
    access, so pytest cannot read the test's source for the traceback: those calls are refused
    (never run), recorded with the label ``harness``, and pytest goes on and reports the
    test's own failure."""
    pytester.makepyfile(FAILING)
    run = attack(pytester, recorder, abort_mode)
    run.result.assert_outcomes(failed=1)
    run.result.stdout.fnmatch_lines(["*assert (1 + 1) == 3*"])
    harness = [r for r in run.records() if r["phase"] == "harness"]
    assert harness and {r["outcome"] for r in harness} == {"refused"}
