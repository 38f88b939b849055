"""Bad input is a clear error before any test runs: what was wrong and what is valid, never a traceback.

Each run's test file would leave a mark if a test ran (``RAN`` in its output); a
usage error (exit 4) or a collection error must come before that.
"""

from __future__ import annotations

import pytest

RAN = "a test ran"
SIMPLE = f"""
import pytest

@pytest.mark.sandbox("NET")
def test_sandboxed():
    print({RAN!r})
"""


def _assert_usage_error(result: pytest.RunResult, *expected: str) -> None:
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, output
    assert "Traceback" not in output and "INTERNALERROR" not in output, output
    assert RAN not in output and "passed" not in output, output
    result.stderr.fnmatch_lines(list(expected))


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e400", "NaN"])
def test_non_finite_timeout_on_the_command_line(pytester: pytest.Pytester, value: str) -> None:
    pytester.makepyfile(SIMPLE)
    result = pytester.runpytest_subprocess(f"--sandbox-timeout={value}", "-s")
    _assert_usage_error(
        result, f"*--sandbox-timeout: timeout must be 0 (never) or a positive, finite number of seconds, got '{value}'"
    )


def test_non_finite_timeout_in_the_ini_file(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nsandbox_timeout = nan\n")
    pytester.makepyfile(SIMPLE)
    result = pytester.runpytest_subprocess("-s")
    _assert_usage_error(result, "*ini sandbox_timeout: timeout must be 0 (never) or a positive, finite number*'nan'")


@pytest.mark.parametrize(
    ("keywords", "expected"),
    [
        ('timeout=float("nan")', "timeout must be 0 (never) or a positive, finite number of seconds, got nan"),
        ('timeout=float("inf")', "timeout must be 0 (never) or a positive, finite number of seconds, got inf"),
        ("timeout=1e400", "timeout must be 0 (never) or a positive, finite number of seconds, got inf"),
        ("timeout=True", "timeout must be 0 (never) or a positive, finite number of seconds, got True"),
        ('timeout="10"', "timeout= takes a number (0 (never) or a positive*), got the string '10'"),
        ('strict="false"', "strict= takes True or False, got 'false'"),
        ("strict=0", "strict= takes True or False, got 0"),
        ('harden="no"', "harden= takes True or False, got 'no'"),
        ('recorder=["ptrace"]', "recorder must be one of ptrace, sigsys, notify, got ?'ptrace'?"),
    ],
)
def test_marker_keywords_take_the_types_they_document(pytester: pytest.Pytester, keywords: str, expected: str) -> None:
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.sandbox("NET", {keywords})
        def test_bad():
            print({RAN!r})

        def test_good():
            print({RAN!r})
        """
    )
    result = pytester.runpytest_subprocess("-s")
    output = result.stdout.str()
    assert result.ret == pytest.ExitCode.INTERRUPTED, output
    assert RAN not in output and "INTERNALERROR" not in output
    result.stdout.fnmatch_lines(["*ERROR collecting*", f"*test_bad: bad sandbox marker: sandbox marker: {expected}"])


def test_marker_keywords_are_checked_where_the_test_runs_in_process(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.sandbox(None, strict="yes")
        def test_bad():
            pass
        """
    )
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*test_bad: bad sandbox marker: sandbox marker: strict= takes True or False*"])


def test_valid_marker_keywords_still_work(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import os, pytest

        @pytest.mark.sandbox("NET", strict=False, harden=True, timeout=30, mode="audit")
        def test_fine():
            os.getgroups()

        @pytest.mark.sandbox("NET", strict=True, timeout=2.5, mode="audit")
        def test_strict():
            os.getgroups()
        """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*--sandbox-strict: 1 syscall(s) not allowed for role NET*"])


@pytest.mark.parametrize("name", ["sandbox_strict", "sandbox_harden", "sandbox_prefork", "sandbox_show_env"])
def test_bad_truth_value_in_the_ini_file_names_the_option(pytester: pytest.Pytester, name: str) -> None:
    pytester.makeini(f"[pytest]\n{name} = maybe\n")
    pytester.makepyfile(SIMPLE)
    result = pytester.runpytest_subprocess("-s")
    _assert_usage_error(result, f"*sandbox: ini {name}: *'maybe'; valid: true, false, yes, no, on, off, 1, 0*")


@pytest.mark.parametrize(
    ("ini", "expected"),
    [
        ("sandbox_policy = NOPE", "*ini sandbox_policy: unknown sandbox policy 'NOPE'; valid policies: *NET*"),
        (
            "sandbox_recorder = gdb",
            "*ini sandbox_recorder: unknown recorder 'gdb'; valid recorders: ptrace, sigsys, notify",
        ),
        ("sandbox_scope = module", "*ini sandbox_scope: unknown scope 'module'; valid scopes: call, test"),
    ],
)
def test_bad_ini_values_name_the_option_and_the_choices(pytester: pytest.Pytester, ini: str, expected: str) -> None:
    pytester.makeini(f"[pytest]\n{ini}\n")
    pytester.makepyfile(SIMPLE)
    _assert_usage_error(pytester.runpytest_subprocess("-s"), expected)


def test_unknown_policy_on_the_command_line_names_the_option(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(SIMPLE)
    result = pytester.runpytest_subprocess("--sandbox-policy=NOPE", "-s")
    _assert_usage_error(result, "*--sandbox-policy: unknown sandbox policy 'NOPE'; valid policies: *MESSAGE_HANDLER*")


# -- custom roles -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("returned", "expected"),
    [
        ('["MINER"]', "custom roles come as a dict of role name -> definition (str: str), got ?'MINER'?"),
        ('"MINER = NET"', "custom roles come as a dict of role name -> definition (str: str), got 'MINER = NET'"),
        ('{"MINER": 3}', "a custom role is a name and a definition, both strings; got 'MINER': 3"),
        ('{3: "NET"}', "a custom role is a name and a definition, both strings; got 3: 'NET'"),
        (
            '{"miner": "NET", "MINER": "NET +getgroups"}',
            "custom roles 'miner' and 'MINER' are the same role MINER (role names ignore case*",
        ),
    ],
)
def test_roles_hook_returning_anything_but_str_to_str_names_the_hook(
    pytester: pytest.Pytester, returned: str, expected: str
) -> None:
    pytester.makeconftest(f"def pytest_sandbox_roles(config):\n    return {returned}\n")
    pytester.makepyfile(SIMPLE)
    result = pytester.runpytest_subprocess("-s")
    _assert_usage_error(result, f"*sandbox: the pytest_sandbox_roles hook of *conftest.py: {expected}")


def test_roles_from_ini_and_hook_differing_in_case_name_both(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nsandbox_roles =\n    WALLET = NET\n")
    pytester.makeconftest("def pytest_sandbox_roles(config):\n    return {'wallet': 'NET +getgroups'}\n")
    pytester.makepyfile(SIMPLE)
    result = pytester.runpytest_subprocess("-s")
    _assert_usage_error(
        result,
        "*the pytest_sandbox_roles hook of *conftest.py: custom roles 'WALLET' (ini sandbox_roles) and 'wallet' "
        "are the same role WALLET*",
    )


def test_two_ini_lines_for_one_role_name_both_lines(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nsandbox_roles =\n    wallet = NET\n    Wallet = NET +getgroups\n")
    pytester.makepyfile(SIMPLE)
    result = pytester.runpytest_subprocess("-s")
    _assert_usage_error(
        result, "*ini sandbox_roles: lines 1 and 2 of sandbox_roles both define role WALLET ('wallet', 'Wallet'*"
    )


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("WALLET =", "custom role WALLET: the definition is empty; give terms such as NET @Group +syscall -syscall"),
        ("WALLET = @Nope", "custom role WALLET: bad term '@Nope': unknown capability group 'Nope'; valid groups: *"),
        ("WALLET NET", "line 1 of sandbox_roles: expected 'NAME = definition', got 'WALLET NET'"),
        ("MY ROLE = NET", "custom role name 'MY ROLE' must be letters, digits and underscores"),
    ],
)
def test_bad_ini_roles_say_what_is_valid(pytester: pytest.Pytester, line: str, expected: str) -> None:
    pytester.makeini(f"[pytest]\nsandbox_roles =\n    {line}\n")
    pytester.makepyfile(SIMPLE)
    _assert_usage_error(pytester.runpytest_subprocess("-s"), f"*sandbox: ini sandbox_roles: {expected}")


def test_two_hooks_add_up_and_a_none_result_is_fine(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        pytest_plugins = ["more_roles"]

        def pytest_sandbox_roles(config):
            return {"MINER": "VALIDATION_SCRIPT_CHECK +getgroups"}
        """
    )
    pytester.makepyfile(more_roles="def pytest_sandbox_roles(config):\n    return None\n")
    pytester.makepyfile(
        """
        import os, pytest

        @pytest.mark.sandbox("miner")
        def test_mining():
            os.getgroups()
        """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)


# -- output paths -----------------------------------------------------------------------------


def test_export_naming_an_existing_file(pytester: pytest.Pytester) -> None:
    (pytester.path / "out").write_text("mine\n")
    pytester.makepyfile(SIMPLE)
    result = pytester.runpytest_subprocess("--sandbox-export=out", "-s")
    _assert_usage_error(result, "*--sandbox-export: 'out' names an existing file; give a directory*")
    assert (pytester.path / "out").read_text() == "mine\n"


def test_export_under_a_file(pytester: pytest.Pytester) -> None:
    (pytester.path / "out").write_text("mine\n")
    pytester.makepyfile(SIMPLE)
    result = pytester.runpytest_subprocess("--sandbox-export=out/roles", "-s")
    _assert_usage_error(result, "*--sandbox-export: 'out/roles' would go under the file '*out'; give a directory*")


@pytest.mark.parametrize("option", ["--sandbox-report=/proc/sandbox-report.json", "--sandbox-export=/proc/allowlists"])
def test_output_in_an_unwritable_place(pytester: pytest.Pytester, option: str) -> None:
    """/proc takes no new files, not even from root (the suite may run as root)."""
    pytester.makepyfile(SIMPLE)
    result = pytester.runpytest_subprocess(option, "-s")
    name = option.split("=")[0]
    _assert_usage_error(result, f"*{name}: cannot write in '/proc': *")


def test_report_naming_a_directory(pytester: pytest.Pytester) -> None:
    (pytester.path / "reports").mkdir()
    pytester.makepyfile(SIMPLE)
    result = pytester.runpytest_subprocess("--sandbox-report=reports", "-s")
    _assert_usage_error(result, "*--sandbox-report: 'reports' is a directory; give the path of a file to write")


def test_report_in_the_ini_file_naming_a_directory(pytester: pytest.Pytester) -> None:
    (pytester.path / "reports").mkdir()
    pytester.makeini("[pytest]\nsandbox_report = reports\n")
    pytester.makepyfile(SIMPLE)
    result = pytester.runpytest_subprocess("-s")
    _assert_usage_error(result, "*ini sandbox_report: 'reports' is a directory; give the path of a file to write")


def test_export_and_report_go_where_pytest_was_started(pytester: pytest.Pytester) -> None:
    """Good paths still work: relative to where pytest was started, the export directory made as needed."""
    pytester.makepyfile(
        """
        import os, pytest

        @pytest.mark.sandbox("NET", mode="audit")
        def test_moves(tmp_path):
            os.chdir(tmp_path)
            os.getgroups()
        """
    )
    result = pytester.runpytest_subprocess("--sandbox-report=r.json", "--sandbox-export=out/new")
    result.assert_outcomes(passed=1)
    assert (pytester.path / "r.json").is_file()
    assert (pytester.path / "out" / "new" / "NET.fixed.role.ini").is_file()


def test_a_report_that_could_not_be_written_is_not_claimed(pytester: pytest.Pytester) -> None:
    """The place was fine when checked; a test then put a file where its directory was."""
    (pytester.path / "out").mkdir()
    pytester.makepyfile(
        """
        import os, shutil, pytest

        @pytest.mark.sandbox("NET", mode="audit")
        def test_a():
            os.getgroups()

        def test_b_replaces_the_directory():
            shutil.rmtree("out")
            open("out", "w").close()
        """
    )
    result = pytester.runpytest_subprocess("--sandbox-report=out/report.json")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["sandbox report: */out/report.json could not be written (see the warnings)"])
    result.stdout.fnmatch_lines(["*PytestWarning: sandbox: could not write the report *out/report.json*"])
