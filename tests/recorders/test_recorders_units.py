"""The recorders' pure parts: message framing, argument decoding, the context, registers."""

from __future__ import annotations

import ctypes
import dataclasses
import json
import struct

from pytest_syscall_sandbox.kernel.signals import parse_siginfo
from pytest_syscall_sandbox.recorders import _channel
from pytest_syscall_sandbox.recorders._child import abort_message, python_location
from pytest_syscall_sandbox.recorders._decode import decode_call
from pytest_syscall_sandbox.recorders._process import decode_status
from pytest_syscall_sandbox.recorders._sigcontext import Registers
from pytest_syscall_sandbox.recorders.base import ChildContext


def test_frames_survive_any_chunking() -> None:
    messages = [{"n": i, "text": "x" * i} for i in range(50)]
    data = b"".join(_channel.encode(m) for m in messages)
    decoder = _channel.Decoder()
    got = []
    for start in range(0, len(data), 7):
        got += decoder.feed(data[start : start + 7])
    assert got == messages and decoder.pending == 0


def test_a_large_message_is_cut_to_fit_one_atomic_pipe_write() -> None:
    stack = [f"/a/long/path/to/some/module_{i}.py:{i} in function_{i}" for i in range(200)]
    frame = _channel.encode({"record": {"stack": stack, "location": "f.py:1", "note": "y" * 9000}})
    assert len(frame) <= _channel.PIPE_BUF
    (message,) = _channel.Decoder().feed(frame)
    kept = message["record"]["stack"]
    assert kept and kept == stack[-len(kept) :]  # the innermost frames survive
    assert message["record"]["location"] == "f.py:1"


def test_garbage_on_the_pipe_becomes_a_note() -> None:
    payload = b"not json"
    (message,) = _channel.Decoder().feed(len(payload).to_bytes(4, "little") + payload)
    assert "note" in message


def test_decoding_with_and_without_memory() -> None:
    assert decode_call(115, (0, 0, 0, 0, 0, 0)) == "getgroups(0, NULL)"
    assert decode_call(115, (2, 0x1000)) == "getgroups(2, 0x1000)"  # no memory: the address
    assert decode_call(1000, (1,)).startswith("*unknown*(")


def test_context_observers_see_phase_changes_but_are_not_fields() -> None:
    context = ChildContext("NET", "audit", "t.py::t")
    seen: list[tuple[str, object]] = []
    context.observe(lambda name, value: seen.append((name, value)))
    context.phase = "call"
    assert seen == [("phase", "call")]
    fields = {"role": "NET", "mode": "audit", "nodeid": "t.py::t", "phase": "call", "show_env": False, "root": ""}
    assert dataclasses.asdict(context) == fields
    assert context == ChildContext("NET", "audit", "t.py::t", "call")
    json.dumps(dataclasses.asdict(context))


def test_registers_read_and_write_a_ucontext() -> None:
    buffer = (ctypes.c_uint64 * 64)()
    gregs = 5  # ucontext_t.uc_mcontext.gregs starts 40 bytes in
    for index, value in {8: 1, 9: 2, 12: 3, 2: 4, 0: 5, 1: 6, 13: 115, 16: 0x1234}.items():
        buffer[gregs + index] = value
    regs = Registers(ctypes.addressof(buffer))
    assert regs.syscall_args() == (1, 2, 3, 4, 5, 6)
    assert (regs.rax, regs.rip) == (115, 0x1234)
    regs.rax = -38
    assert buffer[gregs + 13] == (1 << 64) - 38


def test_abort_message_and_location() -> None:
    import sys

    location, function, stack = python_location(sys._getframe())
    assert function == "test_abort_message_and_location" and stack[-1] == f"{location} in {function}"
    message = abort_message(115, "msghand", "NET", location, function)
    assert message.startswith('ERROR: The syscall "getgroups" (syscall number 115) is not allowed')
    assert message.endswith(f'"msghand". Please report. [role NET, at {location} in {function}]')
    assert abort_message(115, "t", "NET", "", "").endswith("[role NET, at an unknown location]")
    assert python_location(None) == ("", "", [])


def test_status_decoding() -> None:
    assert decode_status(3 << 8) == (3, None)
    assert decode_status(31) == (None, 31)


def test_siginfo_is_read_as_either_union_member() -> None:
    """SIGSYS's call address, number and arch, and a queued signal's sender pid and 64-bit value."""
    buffer = ctypes.create_string_buffer(128)
    struct.pack_into("=iii4xQiI", buffer, 0, 31, 0x5CA, 1, 0x7F00_1234_5678, 39, 0xC000003E)
    sigsys = parse_siginfo(ctypes.addressof(buffer))
    assert (sigsys.signo, sigsys.errno, sigsys.code) == (31, 0x5CA, 1)
    assert (sigsys.call_addr, sigsys.syscall, sigsys.arch) == (0x7F00_1234_5678, 39, 0xC000003E)
    struct.pack_into("=iii4xiIQ", buffer, 0, 61, 0, -1, 4321, 0, (115 << 32) | 7)
    queued = parse_siginfo(ctypes.addressof(buffer))
    assert (queued.code, queued.pid, queued.value) == (-1, 4321, (115 << 32) | 7)
