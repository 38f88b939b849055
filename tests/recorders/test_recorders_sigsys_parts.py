"""The sigsys recorder's parts on their own: the watch filter (in the emulator) and the record area."""

from __future__ import annotations

import ctypes
import signal
import struct

import pytest

from pytest_syscall_sandbox.engine.bpf import unpack, validate
from pytest_syscall_sandbox.engine.emulator import SeccompData, emulate
from pytest_syscall_sandbox.kernel.actions import ALLOW, USER_NOTIF, Action
from pytest_syscall_sandbox.kernel.syscalls import AUDIT_ARCH_X86_64, syscall_number
from pytest_syscall_sandbox.recorders import _ring
from pytest_syscall_sandbox.recorders._ring import MAX_PAYLOAD, SLOT, RecordArea, encode
from pytest_syscall_sandbox.recorders._watch import watch_program

TRUSTED = 0x7F12_3456_7019
SIGSYS, SIGINT = signal.SIGSYS, signal.SIGINT
AUDIT_ARCH_I386 = 0x40000003


def verdict(
    nr_name: str, *args: int, ip: int = 0x4000, trusted: int | None = TRUSTED, arch: int = AUDIT_ARCH_X86_64
) -> Action:
    """What the watch filter returns for this call (emulated)."""
    program = unpack(watch_program(trusted))
    validate(program)
    padded = (*args, 0, 0, 0, 0, 0, 0)[:6]
    return emulate(program, SeccompData(syscall_number(nr_name), arch, ip, padded)).action  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("call", "args", "expected"),
    [
        ("execve", (), USER_NOTIF),
        ("execveat", (), USER_NOTIF),
        ("clone", (0x11,), USER_NOTIF),
        ("clone3", (0, 88), USER_NOTIF),
        ("fork", (), USER_NOTIF),
        ("vfork", (), USER_NOTIF),
        ("rt_sigaction", (SIGSYS, 0x1000, 0), USER_NOTIF),  # a new disposition: the parent looks at it
        ("rt_sigaction", (SIGSYS, 1 << 40, 0), USER_NOTIF),  # a pointer is 64 bits
        ("rt_sigaction", ((1 << 32) | SIGSYS, 0x1000, 0), USER_NOTIF),  # the signal is an int
        ("rt_sigaction", (SIGSYS, 0, 0x1000), ALLOW),  # only a question
        ("rt_sigaction", (SIGINT, 0x1000, 0), ALLOW),
        ("rt_sigqueueinfo", (42, SIGSYS, 0x1000), USER_NOTIF),
        ("rt_sigqueueinfo", (42, SIGINT, 0x1000), ALLOW),
        ("rt_tgsigqueueinfo", (42, 43, SIGSYS, 0x1000), USER_NOTIF),
        ("rt_tgsigqueueinfo", (42, 43, SIGINT, 0x1000), ALLOW),
        ("pidfd_send_signal", (3, SIGSYS, 0x1000, 0), USER_NOTIF),
        ("kill", (42, SIGSYS), ALLOW),  # SI_USER: the handler tells it from a trap itself
        ("getgroups", (), ALLOW),
        ("read", (), ALLOW),
    ],
)
def test_the_watch_stops_what_the_parent_must_see(call: str, args: tuple[int, ...], expected: object) -> None:
    assert verdict(call, *args) == expected


def test_every_call_from_the_trusted_instruction_stops_in_audit_mode_only() -> None:
    assert verdict("getgroups", ip=TRUSTED) == USER_NOTIF
    assert verdict("getgroups", ip=TRUSTED + (1 << 32)) == ALLOW  # both halves compared
    assert verdict("getgroups", ip=TRUSTED, trusted=None) == ALLOW


def test_other_architectures_are_the_role_filters_business() -> None:
    assert verdict("execve", arch=AUDIT_ARCH_I386) == ALLOW


def _fields(nr: int, pid: int = 42) -> tuple[int, ...]:
    return (nr, 0xC000003E, 0, 0x1000, 0x1000, nr, 1, 2, 3, 4, 5, 6, pid, pid + 1)


def test_the_record_area_hands_back_what_was_written_once_in_order() -> None:
    area = RecordArea(slots=4)
    for nr in (1, 2, 3):
        assert area.write(_fields(nr), encode({"location": f"x.py:{nr}"}))
    entries = area.read()
    assert [(e.nr, e.args, e.pid, e.tid, e.payload["location"]) for e in entries] == [
        (nr, (1, 2, 3, 4, 5, 6), 42, 43, f"x.py:{nr}") for nr in (1, 2, 3)
    ]
    assert area.read() == []
    for nr in range(4, 9):  # round the ring: the slots read are free again
        assert area.write(_fields(nr), encode({}))
        assert [e.nr for e in area.read()] == [nr]
    assert area.read(final=True) == [] and area.problems == []


def test_a_full_area_drops_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_ring, "FULL_SPIN", 1000)  # no parent reads it meanwhile
    area = RecordArea(slots=2)
    assert area.write(_fields(1), b"{}") and area.write(_fields(2), b"{}")
    assert not area.write(_fields(3), b"{}")
    assert [e.nr for e in area.read(final=True)] == [1, 2]
    assert area.problems == [
        "1 trap records were never completed (1 found the record area full; the rest: a process died writing one)"
    ]


def test_an_uncommitted_slot_is_waited_for_then_reported() -> None:
    area = RecordArea(slots=4)
    counter = ctypes.c_uint64.from_buffer(area._map, 0)  # a writer that took a slot and died
    counter.value += 1
    del counter
    assert area.write(_fields(2), b"{}")
    assert [e.nr for e in area.read()] == [2]
    assert area.read(final=True) == []
    assert "1 trap records were never completed" in area.problems[0]


def test_what_the_test_writes_into_the_area_is_checked() -> None:
    area = RecordArea(slots=4)
    area.write(_fields(1), b"not json")
    assert area.read() == []
    struct.pack_into("=Q", area._map, 0, 0)  # the counter goes backwards
    area.read()
    struct.pack_into("=Q", area._map, 0, 1 << 40)  # and jumps
    area.read()
    assert [p.split(":")[0] for p in area.problems] == [
        "an unreadable trap record was dropped (Expecting value",
        "the record area's counter went backwards",
        "the record area's counter jumped",
    ]


def test_a_payload_too_large_for_a_slot_loses_outer_frames_first() -> None:
    stack = [f"/very/long/path/{'x' * 80}/module_{n}.py:{n} in function_{n}" for n in range(60)]
    data = encode({"location": "here.py:1", "stack": stack})
    assert len(data) <= MAX_PAYLOAD < SLOT
    assert b"here.py:1" in data and stack[-1].encode() in data and stack[0].encode() not in data
