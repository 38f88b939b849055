"""Trap records: one trapped syscall, as the recorders produce and the reports read.

Plain data, free of pytest and BPF, with a JSON form for crossing process
boundaries (pipes between a sandboxed child and the parent, xdist workers, the
``--sandbox-report`` file).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
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


def kernel_number(value: int) -> int:
    """A syscall number as the kernel reads it (``orig_rax``, ``seccomp_data.nr``): the low
    32 bits, signed. ``1 << 32 | 258`` is mkdirat; ``2**64 - 1`` is -1, no syscall."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


@dataclass
class TrapRecord:
    """A syscall that a role's filter did not allow."""

    #: Syscall name from the x86-64 table (``"*unknown*"`` if not in it) and number.
    syscall: str
    nr: int
    #: Raw argument registers, and their decoded form where python-ptrace could decode them.
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
    #: Python location of the call: ``file:line`` and function, and the stack, innermost last.
    location: str = ""
    function: str = ""
    stack: list[str] = field(default_factory=list)
    #: What happened to the syscall: ``"allowed"`` (audit), ``"aborted"``, ``"killed"``,
    #: ``"refused"`` (the harness guard, audit), ``"used"`` or ``"not-run"``.
    outcome: str = ""
    #: Why an argument rule refused an allowed syscall, e.g.
    #: ``socket(AF_NETLINK, SOCK_RAW, 0): domain AF_NETLINK refused by the hardening set``.
    reason: str = ""

    def __post_init__(self) -> None:
        self.nr = kernel_number(int(self.nr))  # whoever made the record, the number the kernel used

    def to_json(self) -> dict[str, Any]:
        """A JSON-compatible dict (a copy: changing it leaves the record as it is)."""
        data = dict(self.__dict__)  # every field is a plain value but these two
        data["args"] = list(self.args)
        data["stack"] = list(self.stack)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrapRecord:
        """Inverse of :meth:`to_json`; unknown keys are ignored."""
        values = {k: v for k, v in data.items() if k in _FIELDS}
        values["args"] = tuple(values.get("args", ()))
        return cls(**values)


#: The names :meth:`TrapRecord.from_json` keeps.
_FIELDS = frozenset(f.name for f in fields(TrapRecord))
