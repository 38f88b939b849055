"""The where-board: memory the ptrace tracer shares with its child tree, made before the fork.

An anonymous ``MAP_SHARED`` mapping: the tracer and every process of the child tree
see the same bytes (``fork`` keeps shared mappings; ``exec`` drops them, and exec'd
programs have no where-handler anyway). The child writes into it with plain memory
stores, so publishing its phase label or answering a where-request makes no syscall
and uses no descriptor: a role without ``write``, a program that closes or reuses
every descriptor number (``os.closerange``, ``dup2``), none of it reaches the record
path, and nothing of the recorder ever lands in the program's files.

Layout: the phase label (one length byte, then up to 63 bytes of ASCII) at offset 0,
then :data:`SLOTS` answer slots of ``4 + PIPE_BUF`` bytes: a 32-bit token, then one
:func:`._channel.encode` frame (32-bit length, JSON) of the ``innermost`` frame and the
``stack`` (``[file, line, function]`` lists, innermost last) and the Python ``thread`` name.

Trust: code under test can write anything anywhere here. The tracer therefore takes
the label as a label only (it never decides what runs), and an answer only from the
slot it assigned to a request, only while that request is outstanding, only if the
slot holds the request's random token, and only its location fields; it clears the
slot as it reads it, so each request is answered at most once.
"""

from __future__ import annotations

import json
import mmap
import secrets
import struct
from types import FrameType
from typing import Any

from ..kernel.naming import thread_get_internal_name
from ..kernel.signals import SigInfo
from ._channel import MAX_PAYLOAD, PIPE_BUF, encode
from ._child import die_by_signal, python_frames
from ._tracee import SI_QUEUE
from .record import Frame, frames_from

SLOTS = 32
LABEL_SIZE = 64
_TOKEN = struct.Struct("=I")
_LENGTH = struct.Struct("=I")
SLOT_SIZE = _TOKEN.size + PIPE_BUF
SIZE = LABEL_SIZE + SLOTS * SLOT_SIZE
#: How many frames a record may take from an answer.
_STACK_LIMIT = 30


def request_value(slot: int, token: int, *, compact: bool) -> int:
    """The 64-bit ``si_value`` of a where-request: token, slot, and the compact flag."""
    return token | slot << 32 | int(compact) << 48


def parse_request(value: int) -> tuple[int, int, bool]:
    """``(slot, token, compact)`` from a where-request's ``si_value``."""
    return (value >> 32) & 0xFFFF, value & 0xFFFFFFFF, bool(value >> 48 & 1)


def new_token() -> int:
    """A random, non-zero 32-bit token (a cleared slot holds 0)."""
    return secrets.randbits(32) or 1


class WhereBoard:
    """The shared mapping, with the child's writes and the tracer's checked reads."""

    def __init__(self) -> None:
        self._map: mmap.mmap | None = mmap.mmap(-1, SIZE)  # anonymous, MAP_SHARED
        self._free = list(range(SLOTS - 1, -1, -1))

    # -- the child: memory stores only ------------------------------------------------

    def publish_label(self, label: str) -> None:
        """Store the phase label (ASCII, cut to 63 bytes)."""
        board = self._map
        if board is None:
            return
        data = label.encode("ascii", "replace")[: LABEL_SIZE - 1]
        board[1 : 1 + len(data)] = data
        board[0] = len(data)

    def answer_request(self, info: SigInfo, frame: FrameType | None, asker: int, where_signal: int) -> None:
        """The where-signal handler's work: answer the request ``info`` carries, if ``asker`` sent it.

        A where-signal from anyone else does what the signal would have done unhandled.
        """
        if info.code != SI_QUEUE or info.pid != asker:
            die_by_signal(where_signal)
        slot, token, compact = parse_request(info.value)
        innermost, stack = python_frames(frame, compact=compact)
        self.answer(slot, token, {"innermost": innermost, "stack": stack, "thread": thread_get_internal_name()})

    def publish_phase(self, name: str, value: object) -> None:
        """A :meth:`ChildContext.observe` callback: the phase label, in memory (no syscall under the filter)."""
        if name == "phase":
            self.publish_label(str(value))

    def answer(self, slot: int, token: int, message: dict[str, Any]) -> None:
        """Store a where-answer in ``slot`` (the tracer named it in the request)."""
        board = self._map
        if board is None or not 0 <= slot < SLOTS:
            return
        start = LABEL_SIZE + slot * SLOT_SIZE
        frame = encode(message)
        board[start + _TOKEN.size : start + _TOKEN.size + len(frame)] = frame
        board[start : start + _TOKEN.size] = _TOKEN.pack(token)

    # -- the tracer ---------------------------------------------------------------------

    def label(self) -> str:
        """The phase label the child published last (whatever it wrote: a label only)."""
        board = self._map
        if board is None:
            return ""
        size = min(board[0], LABEL_SIZE - 1)
        return board[1 : 1 + size].decode("ascii", "replace")

    def acquire(self) -> int | None:
        """A free slot for a new request, or None when :data:`SLOTS` are outstanding."""
        return self._free.pop() if self._free else None

    def release(self, slot: int) -> None:
        """The request of ``slot`` is over (answered, abandoned, or its thread is gone)."""
        self._clear(slot)
        if slot not in self._free:
            self._free.append(slot)

    def take(self, slot: int, token: int) -> dict[str, Any] | None:
        """The answer to the request ``(slot, token)``: its location fields, or None.

        None when the slot does not hold ``token`` (no answer, or a forged one) or its
        frame is malformed. The slot is cleared and released either way.
        """
        board = self._map
        if board is None:
            return None
        start = LABEL_SIZE + slot * SLOT_SIZE
        try:
            (found,) = _TOKEN.unpack_from(board, start)
            (size,) = _LENGTH.unpack_from(board, start + _TOKEN.size)
            if found != token or size > MAX_PAYLOAD:
                return None
            body = board[start + _TOKEN.size + _LENGTH.size : start + _TOKEN.size + _LENGTH.size + size]
            message = json.loads(body)
        except ValueError:
            return None
        finally:
            self.release(slot)
        if not isinstance(message, dict):
            return None
        thread = message.get("thread")
        return {
            "innermost": Frame.from_list(message.get("innermost")),
            "frames": frames_from(message.get("stack"), _STACK_LIMIT),
            "thread": thread[:64] if isinstance(thread, str) else "",
        }

    def _clear(self, slot: int) -> None:
        board = self._map
        if board is not None and 0 <= slot < SLOTS:
            start = LABEL_SIZE + slot * SLOT_SIZE
            board[start : start + _TOKEN.size + _LENGTH.size] = bytes(_TOKEN.size + _LENGTH.size)

    def close(self) -> None:
        """Unmap (the tracer, once the child tree is gone)."""
        if self._map is not None:
            self._map.close()
            self._map = None
