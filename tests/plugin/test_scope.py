"""``--sandbox-scope``: the filter goes on before the test function (call) or its fixtures (test)."""

from __future__ import annotations

import json

import pytest

FIXTURE_CALLS = """
import os
import pytest

@pytest.fixture
def groups():
    return os.getgroups()  # MESSAGE_HANDLER does not allow getgroups

@pytest.mark.sandbox("MESSAGE_HANDLER", mode="audit")
def test_call_scope(groups):
    pass

@pytest.mark.sandbox("MESSAGE_HANDLER", mode="audit", scope="test")
def test_test_scope(groups):
    pass
"""


def _records(pytester: pytest.Pytester, *args: str, scope: str = "call") -> list[tuple[str, str, str]]:
    """The run's non-harness records as (test, phase, syscall); checks the report's run-wide scope."""
    report = pytester.path / "report.json"
    result = pytester.runpytest_subprocess(f"--sandbox-report={report}", *args)
    result.assert_outcomes(passed=2)
    document = json.loads(report.read_text())
    assert document["settings"]["scope"] == scope
    records = document["records"]
    return sorted((r["nodeid"].split("::")[-1], r["phase"], r["syscall"]) for r in records if r["phase"] != "harness")


def test_call_scope_leaves_setup_unfiltered_and_test_scope_filters_it(pytester: pytest.Pytester, recorder: str) -> None:
    pytester.makepyfile(FIXTURE_CALLS)
    assert _records(pytester, f"--sandbox-recorder={recorder}") == [("test_test_scope", "setup", "getgroups")]


def test_scope_from_the_command_line_and_the_ini_file(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(FIXTURE_CALLS.replace(', scope="test"', ""))
    expected = [("test_call_scope", "setup", "getgroups"), ("test_test_scope", "setup", "getgroups")]
    assert _records(pytester, "--sandbox-scope=test", scope="test") == expected
    pytester.makeini("[pytest]\nsandbox_scope = test\n")
    assert _records(pytester, scope="test") == expected
    assert _records(pytester, "--sandbox-scope=call") == []


def test_a_violation_in_a_fixture_is_a_setup_error_in_log_and_abort_mode(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(FIXTURE_CALLS.replace('mode="audit", ', ""))
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_test_scope*",
            "*getgroups*[[]role MESSAGE_HANDLER, at test_a_violation_in_a_fixture*.py:6 in groups[]]*",
        ]
    )


def test_marker_keywords_given_as_none_take_the_command_line_values(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        FIXTURE_CALLS.replace('mode="audit"', "mode=None, recorder=None, timeout=None").replace(
            'scope="test"', "scope=None"
        )
    )
    expected = [("test_call_scope", "setup", "getgroups"), ("test_test_scope", "setup", "getgroups")]
    assert _records(pytester, "--sandbox-mode=audit", "--sandbox-scope=test", scope="test") == expected
