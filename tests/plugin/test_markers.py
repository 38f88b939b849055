"""Where a test's role comes from: markers at every level, the command line, custom roles."""

from __future__ import annotations

import pytest

from pytest_syscall_sandbox.lint.environment import LintEnvironment
from pytest_syscall_sandbox.lint.findings import lint_role
from pytest_syscall_sandbox.roles.registry import RoleRegistry

LEVELS = """
import os
import pytest

pytestmark = pytest.mark.sandbox("NET")

def test_module_level():
    os.getgroups()

@pytest.mark.sandbox("SCHEDULER")
class TestClassLevel:
    def test_class(self):
        os.getgroups()

    @pytest.mark.sandbox("TX_INDEX")
    def test_function_wins(self):
        os.getgroups()
"""


def test_closest_marker_wins(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(LEVELS)
    result = pytester.runpytest_subprocess("--sandbox-mode=audit", "--sandbox-policy=INITIALIZATION")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines_random(
        ["NET: 1 missing: getgroups", "SCHEDULER: 1 missing: getgroups", "TX_INDEX: 1 missing: getgroups"]
    )
    assert "INITIALIZATION:" not in result.stdout.str()


def test_command_line_policy_applies_to_unmarked_tests_case_insensitively(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import os

        def test_unmarked():
            os.getgroups()
        """
    )
    result = pytester.runpytest_subprocess("--sandbox-mode=audit", "--sandbox-policy=net")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["NET: 1 missing: getgroups"])


def test_ini_values_apply_and_command_line_wins(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nsandbox_policy = TX_INDEX\nsandbox_mode = abort\n")
    pytester.makepyfile(
        """
        import os

        def test_unmarked():
            os.getgroups()
        """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*killed by SIGKILL (abort mode*"])  # ptrace: the tracer stops it
    result = pytester.runpytest_subprocess("--sandbox-mode=audit")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["TX_INDEX: 1 missing: getgroups"])


def test_marker_allow_deny_and_mode(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import os
        import socket
        import pytest

        @pytest.mark.sandbox(policy="NET", allow=["getgroups"], mode="abort")
        def test_allowed_by_marker():
            os.getgroups()

        @pytest.mark.sandbox(policy="NET", deny=["socket"], mode="audit")
        def test_denied_by_marker():
            socket.socket().close()
        """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines_random(["NET+getgroups: no missing syscalls", "NET-socket: 1 missing: socket"])
    result.stdout.fnmatch_lines(["not fixed: socket: the marker's deny= of NET-socket takes it away, and 1 test*"])
    assert "+socket" not in result.stdout.str()  # a fix never undoes a deny=


def test_custom_roles_from_ini_and_conftest_hook(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nsandbox_roles =\n    WALLET = MESSAGE_HANDLER -@FileSystem +getcwd\n")
    pytester.makeconftest(
        """
        def pytest_sandbox_roles(config):
            return {"INDEXER": "wallet +getgroups"}
        """
    )
    pytester.makepyfile(
        """
        import os
        import pytest

        @pytest.mark.sandbox("wallet")
        def test_wallet(tmp_path):
            os.getcwd()
            open(os.devnull).close()

        @pytest.mark.sandbox("INDEXER", mode="abort")
        def test_indexer():
            os.getgroups()
        """
    )
    result = pytester.runpytest_subprocess("--sandbox-mode=audit")
    result.assert_outcomes(passed=2)
    # open() is openat (the test's purpose), then whatever this glibc makes for its fstat(): the lint's word
    here = LintEnvironment.detect()
    wallet = RoleRegistry().define("WALLET", "MESSAGE_HANDLER -@FileSystem +getcwd").allowed
    gaps = ["openat", *lint_role("WALLET", wallet | {"openat"}, here).certain]
    # pytest's output capture needs no syscall between phases (plugin/quiet_capture.py): nothing of
    # pytest's own is left to show apart for these passing tests
    result.stdout.fnmatch_lines([f"WALLET: {len(gaps)} missing: {', '.join(gaps)}", "INDEXER: no missing syscalls"])
