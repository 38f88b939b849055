"""A test cannot harm the next test: its child, forked ahead and waiting, is replaced if touched.

While a test runs, the next test's child already waits at its gate (forking ahead).
The running test can find it (``/proc/PPID/task/PPID/children``) and kill or stop it;
the next test must then run as if nothing happened, in a fresh child, and pass.
"""

from __future__ import annotations

import pytest
from hostile_support import attack

SIBLINGS = """
import os
import signal
import time

import pytest


@pytest.mark.sandbox("INITIALIZATION", allow=["getppid", "kill"])
def test_a_signals_its_siblings():
    parent = os.getppid()
    deadline = time.monotonic() + 10
    siblings = []
    while not siblings and time.monotonic() < deadline:  # the main process forks it once this test started
        with open(f"/proc/{{parent}}/task/{{parent}}/children") as handle:
            siblings = [int(pid) for pid in handle.read().split() if int(pid) != os.getpid()]
        time.sleep(0.01)
    assert siblings  # the next test's child, forked ahead
    for pid in siblings:
        os.kill(pid, signal.{signal})
    time.sleep(0.2)


@pytest.mark.sandbox("INITIALIZATION")
def test_b_runs_as_if_nothing_happened():
    assert True
"""


@pytest.mark.parametrize("signal", ["SIGKILL", "SIGSTOP", "SIGTERM"])
def test_the_next_tests_child_is_replaced_when_the_running_test_signals_it(
    pytester: pytest.Pytester, recorder: str, signal: str
) -> None:
    pytester.makepyfile(SIBLINGS.format(signal=signal))
    run = attack(pytester, recorder, "log-and-abort", "--sandbox-timeout=20", timeout=90)
    run.result.assert_outcomes(passed=2)
    assert run.result.duration < 30
