"""Trap records: one trapped syscall, as the recorders produce and the reports read.

Plain data, free of pytest and BPF. A record is built once, by its recorder, from the
kernel's view (number, arguments, process, thread, result) and is given its Python
location once (:meth:`TrapRecord.place`: structured :class:`Frame` values, the one
shown chosen there); the plugin adds only what needs the role (the reason for an
argument rule's refusal, profile mode's ``used``). Two JSON forms, one per destination:
:meth:`TrapRecord.to_wire` (structured, to cross to an xdist controller) and
:meth:`TrapRecord.to_json` (the ``--sandbox-report`` file, the README's keys).
"""

from __future__ import annotations

import errno as _errno
import os
from dataclasses import dataclass, fields
from typing import Any

#: Phase of pytest's own code between a test's phases: its calls run (as in audit
#: mode) and are recorded, but never counted against the role.
HARNESS = "harness"
#: Outcome of a profile-mode record of a syscall the role allows: a use, not a gap.
USED = "used"
#: Outcome of an audit-mode record of a call the harness guard refused (it never ran).
REFUSED = "refused"
#: A record's ``reason`` when the harness guard (roles/guard.py) refused the call; the
#: plugin replaces it with the guard's own sentence.
GUARD_REFUSED = "refused by the harness guard"
#: The longest path or function name a frame keeps (what crosses from the child is bounded).
TEXT_LIMIT = 1024
#: Syscalls whose result strace shows in hex (an address).
_ADDRESS_RESULTS = frozenset({"mmap", "mremap", "brk", "shmat"})


def kernel_number(value: int) -> int:
    """A syscall number as the kernel reads it (``orig_rax``, ``seccomp_data.nr``): the low
    32 bits, signed. ``1 << 32 | 258`` is mkdirat; ``2**64 - 1`` is -1, no syscall."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


@dataclass(frozen=True)
class Frame:
    """One Python frame: file, line, function."""

    path: str
    line: int
    function: str

    @property
    def place(self) -> str:
        """``file:line``."""
        return f"{self.path}:{self.line}"

    def __str__(self) -> str:
        return f"{self.path}:{self.line} in {self.function}"

    def to_list(self) -> list[object]:
        """``[path, line, function]``: the form frames cross processes in."""
        return [self.path, self.line, self.function]

    @classmethod
    def from_list(cls, value: object) -> Frame | None:
        """Inverse of :meth:`to_list`; None for anything else (what crosses is not trusted)."""
        if not isinstance(value, (list, tuple)) or len(value) != 3:
            return None
        path, line, function = value
        if not isinstance(path, str) or not isinstance(function, str) or type(line) is not int:
            return None
        return cls(path[:TEXT_LIMIT], line, function[:TEXT_LIMIT])


def frames_from(values: object, limit: int) -> tuple[Frame, ...]:
    """The valid frames of a ``[[path, line, function], ...]`` list, at most the ``limit`` innermost."""
    if not isinstance(values, list):
        return ()
    frames = (Frame.from_list(v) for v in values[-limit:])
    return tuple(f for f in frames if f is not None)


def project_frame(frames: tuple[Frame, ...], innermost: Frame | None, root: str) -> Frame | None:
    """The frame a reader acts on: the innermost in the project (under ``root``, not in site-packages).

    The innermost frame is often in the standard library (``socket.py:232 in __init__``);
    the line of the project's code that led there is what to show. Without such a frame
    (or a ``root``), the innermost. A path under ``root`` is shown relative to it.
    """
    chosen = innermost or (frames[-1] if frames else None)
    if root:
        prefix = root.rstrip(os.sep) + os.sep
        for frame in reversed(frames):
            if frame.path.startswith(prefix) and f"{os.sep}site-packages{os.sep}" not in frame.path:
                chosen = frame
                break
        if chosen is not None and chosen.path.startswith(prefix):
            chosen = Frame(chosen.path[len(prefix) :], chosen.line, chosen.function)
    return chosen


def result_text(syscall: str, result: int | None) -> str:
    """What the call returned, as strace shows it: ``= 3``, ``= -1 EACCES (Permission denied)``."""
    if result is None:
        return ""
    if -4095 <= result < 0:
        name = _errno.errorcode.get(-result, f"errno {-result}")
        return f"= -1 {name} ({os.strerror(-result)})"
    if syscall in _ADDRESS_RESULTS:
        return f"= {result & (1 << 64) - 1:#x}"
    return f"= {result}"


@dataclass
class TrapRecord:
    """A syscall that a role's filter did not allow."""

    #: Syscall name from the x86-64 table (``"*unknown*"`` if not in it) and number.
    syscall: str
    nr: int
    #: Raw argument registers, and their decoded form (``recorders/_decode.py``, once).
    args: tuple[int, ...] = ()
    decoded_args: str = ""
    pid: int = 0
    tid: int = 0
    thread: str = ""
    #: Role (policy name), mode (``abort``, ``log-and-abort``, ``audit``, ...) and recorder.
    role: str = ""
    mode: str = ""
    recorder: str = ""
    #: pytest node id and phase (``setup``, ``call``, ``teardown``) of the test that made the call.
    nodeid: str = ""
    phase: str = ""
    #: The Python stack, innermost last (empty for process creation: see ``_child.FORK_FAMILY``).
    frames: tuple[Frame, ...] = ()
    #: The frame shown as the location (chosen once, by :meth:`place`), None when there is none.
    at: Frame | None = None
    #: Why there is no Python location, in the record's own words (empty when there is one).
    blank: str = ""
    #: What happened to the syscall: ``"allowed"`` (audit), ``"aborted"``, ``"killed"``,
    #: ``"refused"`` (the harness guard, audit), ``"used"`` or ``"not-run"``.
    outcome: str = ""
    #: Why an argument rule refused an allowed syscall, e.g.
    #: ``socket(AF_NETLINK, SOCK_RAW, 0): domain AF_NETLINK refused by the hardening set``.
    reason: str = ""
    #: What the call returned to the program (value or ``-errno``), where the recorder saw it.
    result: int | None = None

    def __post_init__(self) -> None:
        self.nr = kernel_number(int(self.nr))  # whoever made the record, the number the kernel used

    # -- the location, set once --------------------------------------------------------

    def place(self, frames: tuple[Frame, ...], innermost: Frame | None, root: str = "") -> None:
        """Give the record its Python stack and the location to show (see :func:`project_frame`)."""
        self.frames = frames
        self.at = project_frame(frames, innermost, root)
        if self.at is not None:
            self.blank = ""

    @property
    def location(self) -> str:
        """``file:line`` of the location shown ('' if none; :attr:`blank` says why)."""
        return self.at.place if self.at else ""

    @property
    def function(self) -> str:
        """The function of the location shown."""
        return self.at.function if self.at else ""

    @property
    def stack(self) -> list[str]:
        """The stack as ``file:line in function`` lines, innermost last (for people and the report)."""
        return [str(frame) for frame in self.frames]

    @property
    def returned(self) -> str:
        """:attr:`result` as strace shows it (``= -1 EACCES (Permission denied)``), '' if not seen."""
        return result_text(self.syscall, self.result)

    # -- the two JSON forms ------------------------------------------------------------

    def to_wire(self) -> dict[str, Any]:
        """The structured JSON form (frames as lists), read back by :meth:`from_json`."""
        data = {name: getattr(self, name) for name in _PLAIN}
        data["args"] = list(self.args)
        data["frames"] = [frame.to_list() for frame in self.frames]
        data["at"] = self.at.to_list() if self.at else None
        return data

    def to_json(self) -> dict[str, Any]:
        """The report file's form (the README's keys): location, function and stack as text."""
        data = {name: getattr(self, name) for name in _PLAIN}
        data["args"] = list(self.args)
        data["location"], data["function"], data["stack"] = self.location, self.function, self.stack
        data["returned"] = self.returned
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrapRecord:
        """A record from :meth:`to_wire`'s form (or :meth:`to_json`'s); unknown keys are ignored."""
        values = {k: v for k, v in data.items() if k in _PLAIN}
        values["args"] = tuple(data.get("args", ()))
        record = cls(**values)
        if "frames" in data:
            record.frames = frames_from(data.get("frames"), 1 << 16)
            record.at = Frame.from_list(data.get("at"))
        else:  # the report file's text form: one parse, for reading a report back
            record.frames = tuple(f for f in map(_parse_frame, data.get("stack") or ()) if f is not None)
            place, function = str(data.get("location") or ""), str(data.get("function") or "")
            path, _, line = place.rpartition(":")
            record.at = Frame(path, int(line), function) if path and line.isdigit() else None
        return record


def _parse_frame(text: object) -> Frame | None:
    place, _, function = str(text).rpartition(" in ")
    path, _, line = place.rpartition(":")
    return Frame(path, int(line), function) if path and line.isdigit() else None


#: The fields that are plain values (the rest: ``args``, ``frames``, ``at``).
_PLAIN = tuple(f.name for f in fields(TrapRecord) if f.name not in ("args", "frames", "at"))
