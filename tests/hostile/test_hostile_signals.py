"""The test cannot stop or kill the harness.

Item 7: a SIGSTOP to the main pytest process (the child's tracer) would hang the run
forever, its timeout included; under pytest-xdist the worker and the controller are
targets too. The harness guard refuses such calls and the test fails naming them.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from hostile_support import PRELUDE, attack

STOP = (
    PRELUDE
    + """
import signal
import pytest

PIDS = {pids!r}


def parent_of(pid):
    with open(f"/proc/{{pid}}/stat") as handle:
        return int(handle.read().rsplit(")", 1)[1].split()[1])


@pytest.mark.sandbox("NET", allow=["kill"])
def test_stops_the_harness():
    harness = [os.getppid()]  # pytest's main process: the child's tracer
    if os.environ.get("PYTEST_XDIST_WORKER"):  # the worker is that; its parent is the controller
        harness.append(parent_of(os.getppid()))
    with open(PIDS, "w") as handle:
        handle.write(" ".join(map(str, harness)))
    for pid in harness:
        try:
            os.kill(pid, signal.SIGSTOP)
        except OSError:
            pass
        _libc.syscall(234, pid, pid, signal.SIGSTOP)  # tgkill, which NET allows
"""
)


def _kill_leftovers(pids: Path) -> None:
    """After a hang (the unfixed harness): SIGKILL the stopped pytest processes the attack named."""
    if not pids.exists():
        return
    for pid in map(int, pids.read_text().split()):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                if b"pytest" in handle.read():
                    os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["plain", "xdist"])
def test_a_sigstop_to_the_harness_is_refused_and_the_run_ends(
    pytester: pytest.Pytester, recorder: str, abort_mode: str, workers: tuple[str, ...]
) -> None:
    pids = pytester.path / "harness-pids"
    pytester.makepyfile(STOP.format(pids=str(pids)))
    try:
        run = attack(pytester, recorder, abort_mode, "--sandbox-timeout=20", *workers, timeout=90)
    except pytest.Pytester.TimeoutExpired:
        _kill_leftovers(pids)
        raise
    run.result.assert_outcomes(failed=1)
    run.result.stdout.fnmatch_lines(
        ["*The syscall *kill* is not allowed*the target is one of the harness's processes*by the harness guard*"]
    )
    assert run.result.duration < 60
