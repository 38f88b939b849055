"""The harness's memory is out of the test's reach: ``/proc/PID/mem`` of pytest cannot be opened.

A process may open ``/proc/PID/mem`` of another of its user's processes (root: any
process) and write there past every page protection; no seccomp filter sees which
file ``openat`` names. The test's processes live in a Landlock domain of their own
(where the kernel has Landlock), which no process outside may be traced from or have
its memory opened; the test's own processes still may, among themselves.
"""

from __future__ import annotations

import pytest
from hostile_support import attack

from pytest_syscall_sandbox.kernel.landlock import abi_version

OPEN_THE_HARNESS = """
import os

import pytest

ANSWER = {answer!r}


def _try(path, mode):
    try:
        with open(path, mode):
            return "opened"
    except OSError as exc:
        return type(exc).__name__


@pytest.mark.sandbox("INITIALIZATION", allow=["getppid", "wait4", "pipe2"])
def test_write_into_pytest():
    answers = [_try(f"/proc/{{os.getppid()}}/mem", "r+b"), _try(f"/proc/{{os.getppid()}}/mem", "rb")]
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(write_end)
        os.read(read_end, 1)  # until its parent has looked
        os._exit(0)
    os.close(read_end)
    answers.append(_try(f"/proc/{{pid}}/mem", "rb"))  # its own child: as without the sandbox
    os.close(write_end)
    os.waitpid(pid, 0)
    with open(ANSWER, "w") as handle:
        handle.write(" ".join(answers))
"""


@pytest.fixture(autouse=True)
def _needs_landlock() -> None:
    if abi_version() < 1:
        pytest.skip("the kernel has no Landlock: the README says a test can reach pytest's memory there")


def test_the_test_cannot_open_pytests_memory(pytester: pytest.Pytester, recorder: str) -> None:
    answer = pytester.path / "answer"
    pytester.makepyfile(OPEN_THE_HARNESS.format(answer=str(answer)))
    run = attack(pytester, recorder, "audit")
    run.result.assert_outcomes(passed=1)
    assert answer.read_text() == "PermissionError PermissionError opened"
