"""Children that crash, hang, exit early, or start threads and processes."""

from __future__ import annotations

import sys

import pytest


def test_crashes_hangs_and_early_exits_are_failed_tests(pytester: pytest.Pytester, recorder: str) -> None:
    pytester.makepyfile(
        """
        import ctypes
        import os
        import time
        import pytest

        pytestmark = pytest.mark.sandbox("NET")

        def test_segfault():
            ctypes.string_at(0)

        def test_exit_early():
            os._exit(3)

        def test_hang():
            time.sleep(60)

        def test_after_all_that():
            pass
        """
    )
    result = pytester.runpytest_subprocess(f"--sandbox-recorder={recorder}", "--sandbox-timeout=2")
    result.assert_outcomes(failed=3, passed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_segfault _*",
            "sandbox: the test's child was killed by SIGSEGV",
            "*_ test_exit_early _*",
            "sandbox: the test's child exited with code 3 before reporting (os._exit?)",
            "*_ test_hang _*",
            "sandbox: timed out after 2 s; the test's child was killed",
        ]
    )
    assert result.duration < 30


def test_records_survive_a_child_that_dies_after_a_violation(pytester: pytest.Pytester, recorder: str) -> None:
    pytester.makepyfile(
        """
        import os
        import pytest

        @pytest.mark.sandbox("MESSAGE_HANDLER")
        def test_violate_then_die():
            os.getgroups()
            os._exit(5)
        """
    )
    result = pytester.runpytest_subprocess(f"--sandbox-recorder={recorder}", "--sandbox-mode=audit")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*exited with code 5*", "MESSAGE_HANDLER: 1 missing: getgroups"])


def test_violation_in_a_thread_names_the_thread(pytester: pytest.Pytester, recorder: str) -> None:
    pytester.makepyfile(
        """
        import os
        import threading
        import pytest

        @pytest.mark.sandbox("MESSAGE_HANDLER")
        def test_thread():
            worker = threading.Thread(target=os.getgroups, name="msghand")
            worker.start()
            worker.join()
        """
    )
    result = pytester.runpytest_subprocess(f"--sandbox-recorder={recorder}")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(['*The syscall "getgroups"*in thread "msghand"*'])


def test_violation_in_a_forked_grandchild_is_recorded(pytester: pytest.Pytester, recorder: str) -> None:
    pytester.makepyfile(
        """
        import os
        import pytest

        @pytest.mark.sandbox("MESSAGE_HANDLER", mode="audit")
        def test_fork():
            pid = os.fork()
            if pid == 0:
                os.getgroups()
                os._exit(0)
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0
        """
    )
    result = pytester.runpytest_subprocess(f"--sandbox-recorder={recorder}")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["MESSAGE_HANDLER: 1 missing: getgroups"])


def test_exec_inside_a_test_is_followed_by_ptrace(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        f"""
        import subprocess
        import pytest

        @pytest.mark.sandbox("NET", mode="audit")
        def test_exec():
            code = "import os; os.getgroups()"
            assert subprocess.run([{sys.executable!r}, "-S", "-c", code]).returncode == 0
        """
    )
    result = pytester.runpytest_subprocess("--sandbox-recorder=ptrace")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["NET: * missing: *execve*"])
    assert "getgroups" in result.stdout.str()


def test_pytest_options_behave_normally(pytester: pytest.Pytester, recorder: str) -> None:
    pytester.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.sandbox("VALIDATION_SCRIPT_CHECK")

        def test_one():
            assert False, "first"

        def test_two():
            pass
        """
    )
    result = pytester.runpytest_subprocess(f"--sandbox-recorder={recorder}", "-x", "--junitxml=out.xml", "-v")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*test_one FAILED*", "*stopping after 1 failures*"])
    xml = (pytester.path / "out.xml").read_text()
    assert 'tests="1"' in xml and "first" in xml


def test_xdist_workers_report_to_the_controller(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import os
        import pytest

        @pytest.mark.parametrize("n", range(4))
        @pytest.mark.sandbox("MESSAGE_HANDLER", mode="audit")
        def test_many(n):
            os.getgroups()
        """
    )
    result = pytester.runpytest_subprocess("-n", "2")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["MESSAGE_HANDLER: 1 missing: getgroups", "*getgroups*115*4*4*"])
