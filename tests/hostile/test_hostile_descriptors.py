"""The record path survives a program that closes every descriptor and reuses the numbers.

Item 4: daemonizing code, ptyprocess, ``os.closerange``: once a descriptor number the
recorder used is reused by the program, nothing of the recorder may land in the
program's files, and every violation is still recorded with its location.
"""

from __future__ import annotations

import pytest
from hostile_support import PRELUDE, attack

DESCRIPTORS = (
    PRELUDE
    + """
import pytest

DIRECTORY = {directory!r}
COUNT = 60


@pytest.mark.sandbox("NET", allow=["close_range", "dup3"])
def test_closes_every_descriptor_then_opens_files():
    os.closerange(3, 1 << 16)
    files = []
    for index in range(COUNT):
        fd = os.open(os.path.join(DIRECTORY, f"file-{{index}}"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, f"file {{index}} on fd {{fd}}\\n".encode())
        files.append(fd)
    os.dup2(files[0], files[1])  # dup2 onto a number the recorder might hold, as daemons do
    os.write(files[1], b"dup2\\n")
    os.getgroups()  # VIOLATION
    for fd in files:
        os.write(fd, b"after\\n")
"""
)


def _expected(index: int, mode: str) -> bytes:
    fd = 3 + index
    text = f"file {index} on fd {fd}\n".encode()
    if index == 0:
        text += b"dup2\n"  # files[1] is files[0] after the dup2
    if mode == "audit":
        text += b"after\n" * (2 if index == 0 else 1)
    return text


def test_closerange_and_reused_numbers_keep_the_programs_files_clean(
    pytester: pytest.Pytester, recorder: str, abort_mode: str
) -> None:
    directory = pytester.mkdir("files")
    source = DESCRIPTORS.format(directory=str(directory))
    pytester.makepyfile(source)
    run = attack(pytester, recorder, abort_mode, "-s")
    run.result.assert_outcomes(failed=1)
    contents = {int(path.name.split("-")[1]): path.read_bytes() for path in directory.iterdir()}
    assert sorted(contents) == list(range(60))
    for index, data in contents.items():
        if index != 1:  # file-1's descriptor became file-0's by dup2: nothing more was written to it
            assert data == _expected(index, abort_mode), (index, data)
    assert contents[1] == b"file 1 on fd 4\n"
    (record,) = run.records("getgroups")
    line = source.strip().splitlines().index("    os.getgroups()  # VIOLATION") + 1
    assert record["location"] == f"test_closerange_and_reused_numbers_keep_the_programs_files_clean.py:{line}"
    assert record["function"] == "test_closes_every_descriptor_then_opens_files"
