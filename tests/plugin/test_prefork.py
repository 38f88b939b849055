"""Forking the next test's child ahead, while the current test runs."""

from __future__ import annotations

import pytest

TWO_TESTS = """
import os
import time
import pytest

pytestmark = pytest.mark.sandbox("NET", mode="audit")

def test_1():
    # The main process forks test 2's child right after letting this one run: wait a little.
    main = os.getppid()
    give_up = time.monotonic() + 2
    while True:
        with open(f"/proc/{main}/task/{main}/children") as handle:
            children = handle.read().split()
        if len(children) > 1 or time.monotonic() > give_up:
            break
        time.sleep(0.01)
    with open("children-during-test-1.txt", "w") as handle:
        handle.write(" ".join(children))
    assert os.environ.get("FAIL_FIRST") != "1"

def test_2():
    with open("test-2-pid.txt", "w") as handle:
        handle.write(str(os.getpid()))
"""

#: Runs in the main process after the session: which of its children are still there.
LEFTOVERS = """
import os

def pytest_unconfigure(config):
    me = os.getpid()
    with open(f"/proc/{me}/task/{me}/children") as handle:
        left = handle.read().split()
    with open("children-at-exit.txt", "w") as handle:
        handle.write(" ".join(left))
"""


def test_the_next_tests_child_exists_while_a_test_runs(pytester: pytest.Pytester, recorder: str) -> None:
    pytester.makepyfile(TWO_TESTS)
    pytester.makeconftest(LEFTOVERS)
    result = pytester.runpytest_subprocess(f"--sandbox-recorder={recorder}")
    result.assert_outcomes(passed=2)
    during = (pytester.path / "children-during-test-1.txt").read_text().split()
    second = (pytester.path / "test-2-pid.txt").read_text()
    assert second in during and len(during) == 2  # test 1's own child and test 2's, waiting
    assert (pytester.path / "children-at-exit.txt").read_text() == ""


def test_no_prefork_forks_each_child_when_its_test_starts(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(TWO_TESTS)
    for how in ("option", "ini"):
        args = ["--sandbox-no-prefork"] if how == "option" else []
        if how == "ini":
            pytester.makeini("[pytest]\nsandbox_prefork = false\n")
        result = pytester.runpytest_subprocess(*args)
        result.assert_outcomes(passed=2)
        during = (pytester.path / "children-during-test-1.txt").read_text().split()
        assert len(during) == 1 and (pytester.path / "test-2-pid.txt").read_text() not in during, how


def test_a_child_forked_ahead_for_a_test_that_never_runs_is_reaped(
    pytester: pytest.Pytester, recorder: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``-x`` stops after test 1: test 2's waiting child exits without running it, and is reaped."""
    pytester.makepyfile(TWO_TESTS)
    pytester.makeconftest(LEFTOVERS)
    monkeypatch.setenv("FAIL_FIRST", "1")
    result = pytester.runpytest_subprocess(f"--sandbox-recorder={recorder}", "-x")
    result.assert_outcomes(failed=1)
    assert len((pytester.path / "children-during-test-1.txt").read_text().split()) == 2
    assert not (pytester.path / "test-2-pid.txt").exists()
    assert (pytester.path / "children-at-exit.txt").read_text() == ""


def test_no_prefork_while_the_main_process_would_tear_down_fixtures(pytester: pytest.Pytester) -> None:
    """An in-process test's module fixture is torn down before the next module's sandboxed test.

    Forking that test's child earlier would give it the fixture still set up.
    """
    pytester.makeconftest(
        """
        import pytest

        STATE = {"resource": "down"}

        @pytest.fixture(scope="module")
        def resource():
            STATE["resource"] = "up"
            yield
            STATE["resource"] = "down"

        @pytest.fixture
        def seen():
            return STATE["resource"]
        """
    )
    pytester.makepyfile(
        test_a="""
        import pytest

        def test_in_process(resource):
            pass

        @pytest.mark.sandbox("NET")
        def test_sandboxed_same_module(resource, seen):
            assert seen == "up"
        """,
        test_b="""
        import pytest

        @pytest.mark.sandbox("NET")
        def test_sandboxed_next_module(seen):
            assert seen == "down"
        """,
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=3)


def test_each_test_keeps_its_own_warning_filters(pytester: pytest.Pytester) -> None:
    """A child forked during a test with ``filterwarnings`` marks would inherit that test's filters."""
    pytester.makepyfile(
        """
        import warnings
        import pytest

        pytestmark = pytest.mark.sandbox("NET")

        @pytest.mark.filterwarnings("error")
        def test_a():
            pass

        def test_b():
            warnings.warn("harmless")

        @pytest.mark.filterwarnings("error::UserWarning")
        def test_c():
            with pytest.raises(UserWarning):
                warnings.warn("an error here")
        """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=3)


def test_a_child_forked_ahead_does_not_hold_the_running_tests_descriptors(
    pytester: pytest.Pytester, recorder: str
) -> None:
    pytester.makepyfile(
        """
        import os
        import pytest

        pytestmark = pytest.mark.sandbox("NET", mode="audit")

        @pytest.mark.parametrize("n", range(3))
        def test_fds(n):
            with open("fds.txt", "a") as handle:
                handle.write(f"{len(os.listdir('/proc/self/fd'))}\\n")
        """
    )
    result = pytester.runpytest_subprocess(f"--sandbox-recorder={recorder}")
    result.assert_outcomes(passed=3)
    counts = (pytester.path / "fds.txt").read_text().split()
    assert len(counts) == 3 and len(set(counts)) == 1, counts


def test_profile_mode_forks_again_when_the_filter_grew(pytester: pytest.Pytester) -> None:
    """Test 1's calls widen profile mode's filter, so test 2's waiting child is replaced.

    In audit mode the filter stays the same, and test 2 runs in the child forked ahead.
    """
    pytester.makepyfile(TWO_TESTS.replace('"NET", mode="audit"', '"NET"'))
    for mode, reused in (("audit", True), ("profile", False)):
        result = pytester.runpytest_subprocess(f"--sandbox-mode={mode}")
        result.assert_outcomes(passed=2)
        during = (pytester.path / "children-during-test-1.txt").read_text().split()
        assert len(during) == 2, mode
        assert ((pytester.path / "test-2-pid.txt").read_text() in during) is reused, mode
