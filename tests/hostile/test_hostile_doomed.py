"""A doomed process runs nothing: after its first violation every forbidden call is refused.

The promise (abort modes): a syscall the role does not allow never runs, in any
thread, however the test treats the signals the recorder uses, and the violating
process is stopped for good at once.
"""

from __future__ import annotations

import pytest
from hostile_support import PRELUDE, attack

SWALLOW = (
    PRELUDE
    + """
import signal
import pytest

TARGET = {target!r}


@pytest.mark.sandbox("NET")
def test_swallows_the_recorders_signals():
    for number in range(signal.SIGRTMIN, signal.SIGRTMAX + 1):
        signal.signal(number, lambda *args: None)  # the where-signal among them
    try:
        signal.signal(signal.SIGSYS, lambda *args: None)
    except OSError:  # the sigsys recorder refuses a SIGSYS handler other than its own
        pass
    try:
        os.getgroups()  # the first violation: refused, the process is doomed
    except OSError:
        pass
    for attempt in range(2000):
        if try_mkdirat(TARGET):
            break
"""
)

RACE = (
    PRELUDE
    + """
import signal
import threading
import pytest

TARGET = {target!r}


@pytest.mark.sandbox("NET")
def test_a_thread_races_the_dying_one():
    # The dying thread cannot be asked where it is (it blocks the real-time signals, as glibc
    # does while it creates a thread) and survives a SIGSYS: it stays alive, and so do the racers.
    try:
        signal.signal(signal.SIGSYS, lambda *args: None)
    except OSError:  # the sigsys recorder refuses a SIGSYS handler other than its own
        pass
    go = threading.Event()

    def racer():
        go.wait()
        for attempt in range(100000):
            if try_mkdirat(f"{{TARGET}}-{{attempt}}"):
                break

    threads = [threading.Thread(target=racer) for _ in range(3)]
    for thread in threads:
        thread.start()
    signal.pthread_sigmask(signal.SIG_BLOCK, set(range(signal.SIGRTMIN, signal.SIGRTMAX + 1)))
    go.set()
    for attempt in range(1000):
        try:
            os.getgroups()
        except OSError:
            pass
    for thread in threads:
        thread.join()
"""
)


def test_a_test_that_swallows_the_where_signal_runs_nothing(
    pytester: pytest.Pytester, recorder: str, abort_mode: str
) -> None:
    target = pytester.path / "made-by-a-doomed-process"
    pytester.makepyfile(SWALLOW.format(target=str(target)))
    run = attack(pytester, recorder, abort_mode)
    assert not target.exists()
    run.result.assert_outcomes(failed=1)
    run.result.stdout.fnmatch_lines(['*The syscall "getgroups" (syscall number 115) is not allowed*[[]role NET*'])
    first = run.records()[0]
    assert (first["syscall"], first["phase"]) == ("getgroups", "call")
    assert run.result.duration < 60


def test_threads_racing_the_dying_one_run_nothing(pytester: pytest.Pytester, recorder: str, abort_mode: str) -> None:
    target = pytester.path / "made-by-a-racer"
    pytester.makepyfile(RACE.format(target=str(target)))
    run = attack(pytester, recorder, abort_mode)
    made = sorted(path.name for path in pytester.path.iterdir() if path.name.startswith(target.name))
    assert made == []
    run.result.assert_outcomes(failed=1)
    assert run.records(), run.output
    assert {r["syscall"] for r in run.records()} <= {"getgroups", "mkdirat"}
