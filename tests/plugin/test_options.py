"""The plugin's surface: options, ini values, the marker, usage and collection errors."""

from __future__ import annotations

import pytest

SIMPLE = """
import os

def test_plain():
    assert os.getgroups() is not None
"""


def test_help_lists_the_options_in_their_group(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(
        [
            "syscall sandbox (seccomp) auditing:",
            "*--sandbox-policy=NAME*",
            "*--sandbox-mode=MODE*",
            "*--sandbox-recorder=NAME*",
            "*--sandbox-timeout=SECONDS*",
            "*--sandbox-scope=SCOPE*",
            "*--sandbox-strict*",
        ]
    )
    assert "sandbox_roles" in result.stdout.str()


def test_marker_is_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.sandbox(policy, *, allow=(), deny=()*"])
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.sandbox("NET")
        def test_marked():
            pass
        """
    )
    result = pytester.runpytest_subprocess("--strict-markers", "-W", "error::pytest.PytestUnknownMarkWarning")
    result.assert_outcomes(passed=1)


def test_report_header_names_the_settings(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(SIMPLE)
    result = pytester.runpytest_subprocess("--sandbox-mode=audit", "--sandbox-recorder=sigsys")
    result.stdout.fnmatch_lines(["sandbox: policy (markers only), mode audit, recorder sigsys"])


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--sandbox-policy=NOPE"],
            "*unknown sandbox policy 'NOPE'; valid policies: *INITIALIZATION, *VALIDATION_SCRIPT_CHECK*",
        ),
        (["--sandbox-mode=loud"], "*--sandbox-mode: unknown mode 'loud'; valid modes: log-and-abort, abort, audit*"),
        (["--sandbox-recorder=gdb"], "*--sandbox-recorder: unknown recorder 'gdb'; valid recorders: ptrace, sigsys*"),
        (["--sandbox-timeout=soon"], "*--sandbox-timeout: timeout must be 0 (never) or a positive, *, got 'soon'*"),
        (["--sandbox-timeout=-1"], "*timeout must be 0 (never) or a positive, finite number of seconds, got '-1'"),
        (["--sandbox-scope=module"], "*--sandbox-scope: unknown scope 'module'; valid scopes: call, test*"),
    ],
)
def test_bad_command_line_values_are_usage_errors(pytester: pytest.Pytester, args: list[str], expected: str) -> None:
    pytester.makepyfile(SIMPLE)
    result = pytester.runpytest_subprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([expected])


def test_bad_ini_value_names_the_ini_option(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nsandbox_mode = loud\n")
    pytester.makepyfile(SIMPLE)
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*ini sandbox_mode: unknown mode 'loud'*"])


def test_bad_custom_role_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nsandbox_roles =\n    WALLET = NET +getgrops\n")
    pytester.makepyfile(SIMPLE)
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*custom role WALLET: bad term '+getgrops': unknown syscall 'getgrops'; did you mean getgroups*"]
    )


@pytest.mark.parametrize(
    ("marker", "expected"),
    [
        ('"NOPE"', "*test_bad: bad sandbox marker: unknown sandbox policy 'NOPE'; valid policies:*"),
        ('"NET", mode="loud"', "*test_bad: bad sandbox marker: sandbox marker: unknown mode 'loud'*"),
        ('"NET", mode=3', "*test_bad: bad sandbox marker: sandbox marker: mode must be one of log-and-abort, *got 3*"),
        ('"NET", scope="module"', "*test_bad: bad sandbox marker: sandbox marker: unknown scope 'module'*"),
        ('"NET", allow=["getgrops"]', "*test_bad: bad sandbox marker: unknown syscall 'getgrops'*"),
        (
            '"NET", color="red"',
            "*test_bad: bad sandbox marker: sandbox marker got unknown keywords ?'color'?; valid: policy, allow*",
        ),
        ('allow=["getgroups"]', "*test_bad: bad sandbox marker: *needs a policy*"),
        ('None, allow=["getgroups"]', "*test_bad: bad sandbox marker: *policy None (no sandbox) takes no allow*"),
    ],
)
def test_malformed_marker_is_a_collection_error_naming_the_test(
    pytester: pytest.Pytester, marker: str, expected: str
) -> None:
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.sandbox({marker})
        def test_bad():
            pass

        def test_good():
            pass
        """
    )
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*ERROR collecting*", expected])


def test_sandbox_none_runs_a_test_in_process_under_a_policy(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import os
        import pytest

        MAIN = os.getpid()

        @pytest.mark.sandbox(None)
        def test_opted_out():
            assert os.getpid() == MAIN

        def test_sandboxed():
            assert os.getpid() != MAIN
        """
    )
    result = pytester.runpytest_subprocess("--sandbox-policy=NET")
    result.assert_outcomes(passed=2)


def test_unmarked_tests_run_in_the_main_process(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import os
        MAIN_PID = os.getpid()
        """
    )
    pytester.makepyfile(
        """
        import os
        import conftest

        def test_same_process():
            assert os.getpid() == conftest.MAIN_PID
            os.getgroups()
        """
    )
    result = pytester.runpytest_subprocess("--sandbox-mode=abort")
    result.assert_outcomes(passed=1)
    assert "syscall sandbox" not in result.stdout.str()
