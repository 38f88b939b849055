"""Length-prefixed JSON messages from a sandboxed child tree to the parent, over a pipe.

pipe(7): a write of at most PIPE_BUF (4096) bytes is atomic, so every process of
the child tree (threads, forked grandchildren: they inherit the write end) can
share one pipe without messages interleaving. :func:`encode` therefore shrinks a
message until its frame fits in PIPE_BUF: first the outermost stack entries go,
then long strings are cut.

The pipe is made with O_CLOEXEC (Python's default), so an exec'd program neither
inherits the write end nor keeps the parent waiting for end-of-file.
"""

from __future__ import annotations

import json
import os
import struct
from typing import Any

PIPE_BUF = 4096
_HEADER = struct.Struct("=I")
MAX_PAYLOAD = PIPE_BUF - _HEADER.size
_MAX_TEXT = 512


def _dump(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":"), default=str).encode()


def _shrink(message: dict[str, Any]) -> dict[str, Any]:
    """A copy whose nested ``stack`` lists lose outer frames and whose strings are cut."""
    shrunk: dict[str, Any] = {}
    for key, value in message.items():
        if isinstance(value, dict):
            shrunk[key] = _shrink(value)
        elif isinstance(value, list) and key == "stack" and value:
            shrunk[key] = value[len(value) // 2 + 1 :]
        elif isinstance(value, str) and len(value) > _MAX_TEXT:
            shrunk[key] = value[: _MAX_TEXT - 3] + "..."
        else:
            shrunk[key] = value
    return shrunk


def encode(message: dict[str, Any]) -> bytes:
    """One frame (4-byte length, JSON) of at most PIPE_BUF bytes."""
    payload = _dump(message)
    for _ in range(16):
        if len(payload) <= MAX_PAYLOAD:
            break
        message = _shrink(message)
        payload = _dump(message)
    else:
        payload = _dump({"note": f"a message of {len(payload)} bytes was too large for the pipe and dropped"})
    return _HEADER.pack(len(payload)) + payload


def send(fd: int, message: dict[str, Any]) -> bool:
    """Write one frame to ``fd`` (blocking, atomic); False if the pipe is gone."""
    try:
        os.write(fd, encode(message))
    except OSError:
        return False
    return True


class Decoder:
    """Reassembles frames from the bytes read off the pipe, in any chunking."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        """Add ``data``; return the messages completed by it."""
        self._buffer += data
        messages: list[dict[str, Any]] = []
        while len(self._buffer) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(self._buffer)
            if len(self._buffer) < _HEADER.size + size:
                break
            payload = bytes(self._buffer[_HEADER.size : _HEADER.size + size])
            del self._buffer[: _HEADER.size + size]
            try:
                decoded = json.loads(payload)
            except ValueError:
                decoded = {"note": f"an unreadable message of {size} bytes from the child was dropped"}
            messages.append(decoded if isinstance(decoded, dict) else {"note": "a malformed message was dropped"})
        return messages

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame (a writer died mid-frame, which atomic writes rule out)."""
        return len(self._buffer)


def read_available(fd: int, decoder: Decoder) -> tuple[list[dict[str, Any]], bool]:
    """Read everything ``fd`` (non-blocking) holds now; returns (messages, end_of_file)."""
    messages: list[dict[str, Any]] = []
    while True:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return messages, False
        except OSError:
            return messages, True
        if not data:
            return messages, True
        messages += decoder.feed(data)
