"""The child's reports reach the main process whatever the test does to its descriptors or syscalls.

Item 4 for the plugin's own channel: the reports travel through memory shared before
the fork, so a test that closes every descriptor and opens files gets nothing of the
harness in its files, and a role without ``write`` still reports a passing test.
"""

from __future__ import annotations

import pytest
from hostile_support import attack

CLOSE_THEN_OPEN = """
import os
import warnings

import pytest

DIRECTORY = {directory!r}


@pytest.mark.sandbox("NET", allow=["close_range"])
def test_closes_every_descriptor_then_opens_files():
    os.closerange(3, 1 << 16)
    for index in range(20):
        fd = os.open(os.path.join(DIRECTORY, f"file-{{index}}"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, b"mine")
    warnings.warn("still reaches the summary")
"""

NO_WRITE = """
import pytest


@pytest.mark.sandbox("VALIDATION_SCRIPT_CHECK", deny=["write", "writev", "pwrite64"])
def test_pure_compute():
    assert sum(range(1000)) == 499500
"""


def test_a_test_that_closes_every_descriptor_still_reports_and_its_files_hold_only_its_data(
    pytester: pytest.Pytester, recorder: str, abort_mode: str
) -> None:
    directory = pytester.mkdir("files")
    pytester.makepyfile(CLOSE_THEN_OPEN.format(directory=str(directory)))
    run = attack(pytester, recorder, abort_mode, "-s")  # plain pytest's own capture would not survive it
    run.result.assert_outcomes(passed=1, warnings=1)
    run.result.stdout.fnmatch_lines(["*UserWarning: still reaches the summary*"])
    assert sorted(path.read_bytes() for path in directory.iterdir()) == [b"mine"] * 20


def test_a_role_without_write_reports_a_passing_test(pytester: pytest.Pytester, recorder: str, abort_mode: str) -> None:
    pytester.makepyfile(NO_WRITE)
    run = attack(pytester, recorder, abort_mode)
    run.result.assert_outcomes(passed=1)
    assert run.records() == []
