"""pytest's fd-level output capture in a sandboxed child, without syscalls between phases.

Under the filter, pytest's own code between a test's phases runs in the test's
process like the test's code: its records carry the phase label ``harness``, and in
the abort modes its trapped calls are refused and stop the child like any other
(the label is the child's word: it cannot make a call run). pytest's fd capture
makes, between phases, calls that many roles lack: ``fstat`` and ``ftruncate`` to
read and empty its temporary files (roles without ``@FileSystem``), and ``dup2`` to
switch descriptors 1 and 2 back and forth.

So, in the child only and right before the filter goes on, the global capture is
changed: it stays on across the phases (no switching: the child never writes to the
terminal between phases, the main process reports), it writes to a temporary file of
the child's own (pytest's is inherited from the main process, and shared with it),
and it reads that file from where it stopped last with ``lseek`` and ``read``,
without ``fstat`` or truncation.
Each phase's captured output is what it wrote, as before. Only pytest's own
``FDCapture`` objects are changed; where pytest's internals differ, nothing is.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import pytest

_CHUNK = 65536


def quiet_fd_capture(config: pytest.Config) -> None:
    """Make the child's global fd capture need only ``lseek`` and ``read`` between phases (best effort)."""
    capman = config.pluginmanager.getplugin("capturemanager")
    capturing = getattr(capman, "_global_capturing", None)  # pytest has no public handle on it
    for name in ("in_", "out", "err"):
        capture = getattr(capturing, name, None)
        if type(capture).__name__ != "FDCapture" or getattr(capture, "_state", None) != "started":
            continue
        _keep_started(capture)
        if name != "in_":
            _read_onwards(capture)


def _keep_started(capture: Any) -> None:
    def stay() -> None:
        return None

    capture.suspend = stay
    capture.resume = stay


def _read_onwards(capture: Any) -> None:
    tmpfile = capture.tmpfile
    try:
        fd = tmpfile.fileno()
        pending = [capture.snap()]  # pytest's own snap, unfiltered still: what this phase wrote so far
        private = tempfile.TemporaryFile(buffering=0)
        # The temporary file is the main process's too (inherited): the child writes its
        # own from now on, through the same descriptor numbers, so nothing is left over for
        # the next test's child to read, and nothing needs truncating.
        os.dup2(private.fileno(), fd)
        os.dup2(private.fileno(), capture.targetfd)
    except (OSError, ValueError, AttributeError):
        return
    offset = [0]

    def snap() -> str:
        # lseek and read (@GeneralIo): the reads end where the next writes go.
        os.lseek(fd, offset[0], os.SEEK_SET)
        chunks = []
        while True:
            data = os.read(fd, _CHUNK)
            if not data:
                break
            chunks.append(data)
            offset[0] += len(data)
        text = b"".join(chunks).decode("utf-8", "replace")
        return pending.pop() + text if pending else text

    capture.snap = snap
    capture.private_file = private  # kept open as long as the capture
