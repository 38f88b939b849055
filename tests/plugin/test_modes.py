"""Each mode under each recorder, against the real kernel, end to end through pytester."""

from __future__ import annotations

import pytest

GROUPS_TEST = """
import os
import pytest

@pytest.mark.sandbox("MESSAGE_HANDLER")
def test_groups():
    groups = os.getgroups()
    assert isinstance(groups, list)
"""
#: The line of ``os.getgroups()`` in the file pytester writes (it strips the first newline).
GROUPS_LINE = GROUPS_TEST.strip().splitlines().index("    groups = os.getgroups()") + 1
#: How each recorder ends a violating child: the ptrace tracer and the notify supervisor stop it
#: themselves (SIGKILL), the sigsys handler aborts (log-and-abort) or dies of SIGSYS (abort), as
#: upstream does.
DEATH = {(recorder, mode): "SIGKILL" for recorder in ("ptrace", "notify") for mode in ("log-and-abort", "abort")}


def test_log_and_abort_fails_with_upstreams_message_and_location(pytester: pytest.Pytester, recorder: str) -> None:
    pytester.makepyfile(GROUPS_TEST)
    result = pytester.runpytest_subprocess(f"--sandbox-recorder={recorder}")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            'ERROR: The syscall "getgroups" (syscall number 115) is not allowed by the syscall sandbox in thread'
            ' "MainThread". Please report. [[]role MESSAGE_HANDLER, at'
            f" test_log_and_abort_fails_with_upstreams_message_and_location.py:{GROUPS_LINE} in test_groups]*",
            f"*killed by {DEATH.get((recorder, 'log-and-abort'), 'SIGABRT')} (log-and-abort mode)*",
        ]
    )


def test_abort_kills_the_child_like_the_kernel(pytester: pytest.Pytester, recorder: str) -> None:
    pytester.makepyfile(GROUPS_TEST)
    result = pytester.runpytest_subprocess(f"--sandbox-recorder={recorder}", "--sandbox-mode=abort")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            '*The syscall "getgroups" (syscall number 115) is not allowed*[[]role MESSAGE_HANDLER*',
            f"*killed by {DEATH.get((recorder, 'abort'), 'SIGSYS')} (abort mode*",
        ]
    )


def test_audit_lets_the_call_run_and_reports_the_gap(pytester: pytest.Pytester, recorder: str) -> None:
    pytester.makepyfile(GROUPS_TEST)
    result = pytester.runpytest_subprocess(f"--sandbox-recorder={recorder}", "--sandbox-mode=audit")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*syscall sandbox*", "MESSAGE_HANDLER: 1 missing: getgroups", "*getgroups*115*"])


def test_audit_strict_fails_the_test(pytester: pytest.Pytester, recorder: str) -> None:
    pytester.makepyfile(GROUPS_TEST)
    result = pytester.runpytest_subprocess(f"--sandbox-recorder={recorder}", "--sandbox-mode=audit", "--sandbox-strict")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*--sandbox-strict: 1 syscall(s) not allowed for role MESSAGE_HANDLER*"])


def test_allowed_work_passes_and_output_is_captured(pytester: pytest.Pytester, recorder: str) -> None:
    pytester.makepyfile(
        """
        import os
        import pytest

        @pytest.mark.sandbox("VALIDATION_SCRIPT_CHECK")
        def test_pure():
            print("computed", sum(range(1000)))
            assert os.getpid() > 0

        @pytest.mark.sandbox("VALIDATION_SCRIPT_CHECK")
        def test_fails_normally():
            assert 1 + 1 == 3
        """
    )
    result = pytester.runpytest_subprocess(f"--sandbox-recorder={recorder}", "-rA")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*assert (1 + 1) == 3*", "*Captured stdout call*", "computed 499500"])
    # The failure's report is made under the filter: pytest's own calls, shown apart and not counted.
    result.stdout.fnmatch_lines(
        ["VALIDATION_SCRIPT_CHECK: 0 missing; * calls by pytest's own code between phases, not counted: newfstatat x*"]
    )
