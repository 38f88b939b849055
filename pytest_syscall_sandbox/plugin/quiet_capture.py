"""pytest's fd-level output capture in a sandboxed child: its own files, no syscalls between phases.

Two things are changed, in the child only, in pytest's own ``FDCapture`` objects
(where pytest's internals differ, nothing is):

- **Where the output goes.** pytest's temporary capture files are the main
  process's, inherited: what a child wrote there and never read back (it died in
  the middle of a phase) would show in the next test's "Captured stdout setup", or
  raw after the final summary line. So the main process makes each child two files
  of its own (:class:`ChildOutput`, memfds made before the fork), which the child
  puts under pytest's descriptor numbers as soon as its test's turn comes. The child
  keeps how far it has read in memory shared with the main process (no syscall);
  once the child is gone, the main process reads the rest (:meth:`ChildOutput.leftover`)
  and puts it in the test's own report sections, as pytest-forked does. A
  faulthandler dump (a segfault) goes to the same stderr file.
- **Which calls it needs.** Under the filter, pytest's own code between a test's
  phases runs in the test's process like the test's code (records of phase
  ``harness``; refused in the abort modes). pytest's capture makes, between phases,
  ``fstat`` and ``ftruncate`` to read and empty its files, and ``dup2`` to switch
  descriptors 1 and 2 back and forth. Right before the filter goes on, the capture is
  told to stay on across the phases (the child never writes to the terminal between
  phases: the main process reports), and it reads its file from where it stopped last
  with ``lseek`` and ``read``. Each phase's captured output is what it wrote, as before.
"""

from __future__ import annotations

import faulthandler
import mmap
import os
import struct
import tempfile
from typing import Any

import pytest

_CHUNK = 65536
STREAMS = ("out", "err")
_OFFSET = struct.Struct("=q")


class ChildOutput:
    """One child's stdout and stderr files, made in the main process before the fork."""

    def __init__(self) -> None:
        self.fds: dict[str, int] = {}
        try:
            for stream in STREAMS:
                self.fds[stream] = _private_file()
            #: How far the child has read each file (the rest is its test's unreported output).
            self.offsets = mmap.mmap(-1, _OFFSET.size * len(STREAMS))
        except OSError:
            self.close()
            raise

    def take_over(self, config: pytest.Config) -> None:
        """In the child, when its test's turn comes: pytest's fd capture writes to this child's files."""
        capman = config.pluginmanager.getplugin("capturemanager")
        capturing = getattr(capman, "_global_capturing", None)  # pytest has no public handle on it
        for index, stream in enumerate(STREAMS):
            capture = getattr(capturing, stream, None)
            if type(capture).__name__ != "FDCapture" or getattr(capture, "_state", None) not in CAPTURING:
                continue
            try:
                self._redirect(capture, index, self.fds[stream])
            except (OSError, ValueError, AttributeError):
                continue
            if stream == "err" and faulthandler.is_enabled():
                faulthandler.enable(file=self.fds[stream], all_threads=True)  # a crash's dump: the test's stderr

    def _redirect(self, capture: Any, index: int, private: int) -> None:
        fd = capture.tmpfile.fileno()
        os.dup2(private, fd)  # pytest's file object now writes and reads this child's file
        if capture._state == "started":
            os.dup2(private, capture.targetfd)
        offsets = self.offsets

        def snap() -> str:
            # lseek and read (@GeneralIo): the reads end where the next writes go.
            start = _OFFSET.unpack_from(offsets, index * _OFFSET.size)[0]
            os.lseek(fd, start, os.SEEK_SET)
            chunks = []
            while True:
                data = os.read(fd, _CHUNK)
                if not data:
                    break
                chunks.append(data)
                start += len(data)
            _OFFSET.pack_into(offsets, index * _OFFSET.size, start)  # memory shared with the main process
            return b"".join(chunks).decode("utf-8", "replace")

        capture.snap = snap

    def leftover(self) -> dict[str, str]:
        """In the main process, once the child is gone: what it wrote and never reported, per stream."""
        found = {}
        for index, stream in enumerate(STREAMS):
            start = _OFFSET.unpack_from(self.offsets, index * _OFFSET.size)[0]
            chunks = []
            try:
                while data := os.pread(self.fds[stream], _CHUNK, start):
                    chunks.append(data)
                    start += len(data)
            except OSError:
                pass
            if chunks:
                found[stream] = b"".join(chunks).decode("utf-8", "replace")
        return found

    def close(self) -> None:
        """Close the files and the shared memory (the main process's, or another child's copy)."""
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()
        offsets = getattr(self, "offsets", None)
        if offsets is not None and not offsets.closed:
            offsets.close()


#: States of an ``FDCapture`` that is in use (``suspended`` between phases in the main process).
CAPTURING = ("started", "suspended")


def quiet_fd_capture(config: pytest.Config) -> None:
    """Keep the child's global fd capture on across phases: no ``dup2`` between them (best effort)."""
    capman = config.pluginmanager.getplugin("capturemanager")
    capturing = getattr(capman, "_global_capturing", None)
    for name in ("in_", "out", "err"):
        capture = getattr(capturing, name, None)
        if type(capture).__name__ == "FDCapture" and getattr(capture, "_state", None) == "started":
            _keep_started(capture)


def _keep_started(capture: Any) -> None:
    def stay() -> None:
        return None

    capture.suspend = stay
    capture.resume = stay


def _private_file() -> int:
    """An anonymous file in memory (memfd), else an unlinked temporary file: its descriptor."""
    try:
        return os.memfd_create("sandbox-capture", os.MFD_CLOEXEC)
    except (AttributeError, OSError):
        handle, path = tempfile.mkstemp(prefix="sandbox-capture-")
        os.unlink(path)
        return handle
