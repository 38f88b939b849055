"""Trap records in memory shared before the fork: no descriptor the program could close or reuse.

The parent maps an anonymous ``MAP_SHARED`` area before it forks; the child, its
threads and the processes it forks inherit it, and the SIGSYS handler writes one
record per trap into it. Nothing a program does with descriptors (``closerange``,
``dup2``, ``close_range``, daemonizing) can redirect or lose a record; an exec'd
program drops the mapping, and has no handler either.

Layout: a header page (``next``: slots handed out so far, ``dropped``), then
:data:`SLOTS` slots of one page each, used round-robin (untouched pages cost nothing). A writer takes an index
with an atomic fetch-and-add (:func:`..kernel.trampoline.fetch_add`, ``lock xadd``:
atomic between processes), writes its slot, and commits it last by storing
``index + 1`` in the slot's first word. The parent reads committed slots in index
order, frees each (word back to 0) and remembers indices it found uncommitted: at
the end they are records a process died while writing (or that found their slot
still full: ``dropped``).

The area is in the test's address space, so the test can write it too: the parent
treats every byte as untrusted (bounds, types, the trap's own consistency) and
says when the counters move in ways no writer would make them move.
"""

from __future__ import annotations

import ctypes
import json
import mmap
import struct
from dataclasses import dataclass, field
from typing import Any

from ..kernel.trampoline import fetch_add

SLOT = mmap.PAGESIZE
SLOTS = 4096
#: How many times a writer that finds its slot still unread looks again (about half a
#: second here) before it counts the record as dropped; the parent reads every 50 ms.
FULL_SPIN = 5_000_000
#: seq, payload length, nr, arch, filter data, call address, RIP, RAX, six arguments, pid, tid.
_FIXED = struct.Struct("=QIiIiQQQ6QII")
_PAYLOAD_AT = 112
MAX_PAYLOAD = SLOT - _PAYLOAD_AT
_HEADER = struct.Struct("=QQ")  # next, dropped
_MAX_TEXT = 512
#: More slots handed out between two reads than this: no writer did that.
_MAX_JUMP = 16 * SLOTS


@dataclass
class Entry:
    """One slot as a writer left it (nothing here is trusted yet)."""

    index: int
    nr: int
    arch: int
    data: int
    call_addr: int
    rip: int
    rax: int
    args: tuple[int, ...]
    pid: int
    tid: int
    payload: dict[str, Any] = field(default_factory=dict)


def encode(payload: dict[str, Any]) -> bytes:
    """``payload`` as JSON of at most :data:`MAX_PAYLOAD` bytes: outer stack frames go first, then long text."""
    for _ in range(16):
        data = json.dumps(payload, separators=(",", ":"), default=str).encode()
        if len(data) <= MAX_PAYLOAD:
            return data
        stack = payload.get("stack") or []
        if len(stack) > 1:
            payload = {**payload, "stack": stack[len(stack) // 2 + 1 :]}
        else:
            payload = {k: v[: _MAX_TEXT - 3] + "..." if isinstance(v, str) else v for k, v in payload.items()}
            payload["stack"] = []
    return b"{}"


class RecordArea:
    """The shared area: made by the parent before fork; written by the child; read by the parent."""

    def __init__(self, slots: int = SLOTS) -> None:
        self.slots = slots
        self._map = mmap.mmap(-1, SLOT * (slots + 1), flags=mmap.MAP_SHARED)
        self._next = ctypes.c_uint64.from_buffer(self._map, 0)
        self._dropped = ctypes.c_uint64.from_buffer(self._map, 8)
        # Parent side.
        self._cursor = 0
        self._missing: set[int] = set()  # handed out, not (yet) committed
        self._lost = 0
        self._garbled = False
        self.problems: list[str] = []

    # -- child ------------------------------------------------------------------------

    def write(self, fixed: tuple[int, ...], payload: bytes) -> bool:
        """Write one record (``fixed`` = nr, arch, data, call_addr, rip, rax, 6 args, pid, tid); False if dropped."""
        return self.put(fixed, payload) >= 0

    def put(self, fixed: tuple[int, ...], payload: bytes) -> int:
        """:meth:`write`, returning the record's index (-1 if it was dropped: the area stayed full)."""
        index = fetch_add(ctypes.addressof(self._next), 1)
        at = SLOT * (index % self.slots + 1)
        seq = ctypes.c_uint64.from_buffer(self._map, at)
        if seq.value:  # still unread: wait for the parent's next read (a spin: no syscall, not even the clock)
            for _ in range(FULL_SPIN):
                if not seq.value:
                    break
            else:  # the parent is gone or stuck (or the area was written over)
                fetch_add(ctypes.addressof(self._dropped), 1)
                return -1
        _FIXED.pack_into(self._map, at, 0, len(payload), *fixed)
        self._map[at + _PAYLOAD_AT : at + _PAYLOAD_AT + len(payload)] = payload
        seq.value = index + 1  # commit: one aligned 8-byte store, after everything else
        return int(index)

    # -- parent -----------------------------------------------------------------------

    def read(self, final: bool = False) -> list[Entry]:
        """The records committed since the last read; ``final``: the writers are gone."""
        handed_out, dropped = _HEADER.unpack_from(self._map, 0)
        if handed_out < self._cursor:
            self._problem("the record area's counter went backwards: the test wrote into the recorder's memory")
            handed_out = self._cursor
            self._garbled = True
        if handed_out - self._cursor > _MAX_JUMP:
            self._problem("the record area's counter jumped: the test wrote into the recorder's memory")
            self._cursor = handed_out - self.slots
            self._garbled = True
        entries: list[Entry] = []
        for index in [*sorted(self._missing), *range(self._cursor, handed_out)]:
            entry = self._take(index)
            if entry is not None:
                entries.append(entry)
            elif len(self._missing) < _MAX_JUMP:
                self._missing.add(index)
            else:
                self._lost += 1
        self._cursor = handed_out
        if final:
            lost = len(self._missing) + self._lost
            if lost and not self._garbled:  # (after tampering, counts mean nothing: that was said)
                cause = f"{dropped} found the record area full; the rest: " if 0 < dropped <= lost else ""
                self._problem(f"{lost} trap records were never completed ({cause}a process died writing one)")
            self._missing.clear()
            self._lost = 0
        return entries

    def _take(self, index: int) -> Entry | None:
        at = SLOT * (index % self.slots + 1)
        seq, length, *fixed = _FIXED.unpack_from(self._map, at)
        if seq != index + 1:
            return None
        self._missing.discard(index)
        try:
            if length > MAX_PAYLOAD:
                raise ValueError(f"payload of {length} bytes")
            payload = json.loads(self._map[at + _PAYLOAD_AT : at + _PAYLOAD_AT + length])
            if not isinstance(payload, dict):
                raise ValueError("payload is not an object")
        except ValueError as exc:
            self._problem(f"an unreadable trap record was dropped ({exc}): the test wrote into the recorder's memory")
            return None
        finally:
            struct.pack_into("=Q", self._map, at, 0)  # free the slot
        nr, arch, data, call_addr, rip, rax, *rest = fixed
        return Entry(index, nr, arch, data, call_addr, rip, rax, tuple(rest[:6]), rest[6], rest[7], payload)

    def _problem(self, text: str) -> None:
        if text not in self.problems:
            self.problems.append(text)

    def close(self) -> None:
        """Unmap (parent, once read for the last time)."""
        del self._next, self._dropped
        self._map.close()
