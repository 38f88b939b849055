"""Subtests (pytest's ``subtests`` fixture, unittest's ``subTest``) count as without the sandbox."""

from __future__ import annotations

import pytest
from plain_vs_sandbox import assert_same, run

pytest.importorskip("_pytest.subtests", reason="pytest 9's built-in subtests")

SUBTESTS = """
import unittest
import pytest

def test_fixture_subtests(subtests):
    for i in range(4):
        with subtests.test(msg="counting", i=i):
            assert i != 2

def test_fixture_subtests_all_pass(subtests):
    for name in ("a", "b"):
        with subtests.test(name=name):
            print("subtest", name)

def test_fixture_subtest_skips(subtests):
    with subtests.test("skips"):
        pytest.skip("not this one")
    with subtests.test("passes"):
        pass

class TestCase(unittest.TestCase):
    def test_subtest_fails(self):
        for i in range(3):
            with self.subTest(i=i):
                self.assertNotEqual(i, 1)

    def test_subtest_passes(self):
        for i in range(3):
            with self.subTest("each", i=i):
                self.assertGreaterEqual(i, 0)
"""


@pytest.mark.parametrize("verbosity", [[], ["-v"], ["-q"]])
def test_failing_subtests_fail_and_passing_ones_count(pytester: pytest.Pytester, verbosity: list[str]) -> None:
    """Outcome lines and junit results as without the sandbox.

    Not the captured output: plain pytest logs a unittest subtest's report while the
    test's output is captured, so with ``-v`` its terminal lines land in the test's
    captured stdout; the sandboxed run logs it after the test, to the terminal.
    """
    pytester.makepyfile(SUBTESTS)
    plain = run(pytester, "-rA", *verbosity, sandboxed=False)
    sandboxed = run(pytester, "-rA", *verbosity, sandboxed=True)
    assert_same(plain, sandboxed, everything=False)
    assert sandboxed.ret == 1
    summary = sandboxed.lines[-1]
    assert "3 failed" in summary and "4 passed" in summary, summary
    assert ("11 subtests passed" in summary) == (verbosity != []), summary  # quiet by default
    assert "FAILED test_failing_subtests_fail_and_passing_ones_count.py::test_fixture_subtests" in sandboxed.stdout


def test_a_failing_subtest_fails_the_run_in_every_mode(pytester: pytest.Pytester, recorder: str) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.sandbox("NET")
        def test_one_bad_subtest(subtests):
            for i in range(3):
                with subtests.test(i=i):
                    assert i < 2
        """
    )
    for mode in ("log-and-abort", "audit"):
        result = pytester.runpytest_subprocess(f"--sandbox-recorder={recorder}", f"--sandbox-mode={mode}", "-rf")
        assert result.ret == 1
        result.stdout.fnmatch_lines(["SUBFAILED(i=2) *", "FAILED *::test_one_bad_subtest*"])
        result.stdout.fnmatch_lines(["*= 2 failed in *"])  # the subtest and its test


def test_exitfirst_stops_at_the_first_failed_subtest(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_stops(subtests):
            for i in range(5):
                with subtests.test(i=i):
                    with open(f"ran-{i}", "w"):
                        pass
                    assert i != 1

        def test_never_runs():
            pass
        """
    )
    plain = run(pytester, "-x", "-rA", "-v", sandboxed=False)
    ran_plain = sorted(p.name for p in pytester.path.glob("ran-*"))
    for path in pytester.path.glob("ran-*"):
        path.unlink()
    sandboxed = run(pytester, "-x", "-rA", "-v", sandboxed=True)
    assert_same(plain, sandboxed)
    assert sorted(p.name for p in pytester.path.glob("ran-*")) == ran_plain == ["ran-0", "ran-1"]


XDIST = """
import unittest

class TestMany(unittest.TestCase):
    pass

def _make(n):
    def test(self):
        for i in range(3):
            with self.subTest(n=n, i=i):
                self.assertFalse(n == 5 and i == 1)
    return test

for n in range(12):
    setattr(TestMany, f"test_{n:02d}", _make(n))
"""


def test_subtests_under_xdist_with_forking_ahead(pytester: pytest.Pytester) -> None:
    """The child forked ahead never reaches xdist's worker plugin, which holds the running test's index."""
    pytester.makepyfile(XDIST)
    plain = pytester.runpytest_subprocess("-n", "2", "-rf", "-v")
    sandboxed = pytester.runpytest_subprocess("-n", "2", "-rf", "-v", "--sandbox-policy=NET")
    for result in (plain, sandboxed):
        assert result.ret == 1
        # n=5 or n='5': a run inside an outer xdist worker inherits its environment, and xdist
        # then shows the subtest's values repr'd twice
        result.stdout.fnmatch_lines(["SUBFAILED(n=*5*, i=*1*) *::test_05*"])
        result.stdout.fnmatch_lines(["*1 failed, 12 passed, 35 subtests passed*"])
    out = sandboxed.stdout.str() + sandboxed.stderr.str()
    assert "INTERNALERROR" not in out and "item_index" not in out


def test_maxfail_counts_the_failures_before_a_child_forked_ahead(pytester: pytest.Pytester) -> None:
    """The second test's child is forked while the first runs: it must still count the first's failure."""
    pytester.makepyfile(
        """
        import time

        def test_fails_first():
            time.sleep(0.3)  # its child is running when the next test's child is forked
            assert False

        def test_stops_at_its_first_failed_subtest(subtests):
            for i in range(3):
                with subtests.test(i=i):
                    with open(f"ran-{i}", "w"):
                        pass
                    assert False
        """
    )
    plain = run(pytester, "--maxfail=2", "-rA", "-v", sandboxed=False)
    ran_plain = sorted(p.name for p in pytester.path.glob("ran-*"))
    for path in pytester.path.glob("ran-*"):
        path.unlink()
    sandboxed = run(pytester, "--maxfail=2", "-rA", "-v", sandboxed=True)
    assert_same(plain, sandboxed)
    assert sorted(p.name for p in pytester.path.glob("ran-*")) == ran_plain == ["ran-0"]
