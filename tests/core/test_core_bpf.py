"""bpf.validate, packing, the emulator's strictness and the disassembler (pure, no kernel)."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_syscall_sandbox import BpfError, EmulationError, SyscallSandboxPolicy
from pytest_syscall_sandbox.engine.bpf import (
    BPF_A,
    BPF_ABS,
    BPF_ADD,
    BPF_ALU,
    BPF_AND,
    BPF_DIV,
    BPF_H,
    BPF_IMM,
    BPF_JA,
    BPF_JEQ,
    BPF_JGE,
    BPF_JGT,
    BPF_JMP,
    BPF_JSET,
    BPF_K,
    BPF_LD,
    BPF_LDX,
    BPF_LEN,
    BPF_LSH,
    BPF_MEM,
    BPF_MISC,
    BPF_MOD,
    BPF_MUL,
    BPF_NEG,
    BPF_OR,
    BPF_RET,
    BPF_RSH,
    BPF_ST,
    BPF_STX,
    BPF_SUB,
    BPF_TAX,
    BPF_TXA,
    BPF_W,
    BPF_X,
    BPF_XOR,
    Instruction,
    disassemble,
    jump,
    pack,
    ret,
    stmt,
    unpack,
    validate,
)
from pytest_syscall_sandbox.engine.emulator import SeccompData, emulate
from pytest_syscall_sandbox.kernel.actions import ALLOW, ERRNO, KILL_PROCESS, TRAP, Action
from pytest_syscall_sandbox.roles.builder import build_policy_filter

REPO = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "golden" / "validation_script_check.txt"

LD_NR = stmt(BPF_LD | BPF_W | BPF_ABS, 0)
LD_ARCH = stmt(BPF_LD | BPF_W | BPF_ABS, 4)
RET_ALLOW = ret(ALLOW)
RET_A = stmt(BPF_RET | BPF_A, 0)


def reject(program: list[Instruction], pc: int | None, match: str) -> None:
    with pytest.raises(BpfError, match=match) as info:
        validate(program)
    assert info.value.pc == pc, str(info.value)
    if pc is not None:
        assert f"(at instruction {pc})" in str(info.value)


# --------------------------------------------------------------------------- constants


def test_opcodes_have_the_kernels_values() -> None:
    # <linux/bpf_common.h>, <linux/filter.h>
    assert BPF_LD | BPF_W | BPF_ABS == 0x20
    assert BPF_JMP | BPF_JEQ | BPF_K == 0x15
    assert BPF_JMP | BPF_JGE | BPF_K == 0x35
    assert BPF_JMP | BPF_JGT | BPF_K == 0x25
    assert BPF_JMP | BPF_JSET | BPF_K == 0x45
    assert BPF_JMP | BPF_JA == 0x05
    assert BPF_RET | BPF_K == 0x06
    assert BPF_RET | BPF_A == 0x16
    assert BPF_LD | BPF_MEM == 0x60
    assert BPF_LDX | BPF_MEM == 0x61
    assert BPF_ST == 0x02 and BPF_STX == 0x03
    assert BPF_MISC | BPF_TAX == 0x07 and BPF_MISC | BPF_TXA == 0x87
    assert BPF_ALU | BPF_NEG == 0x84
    assert BPF_ALU | BPF_ADD | BPF_X == 0x0C


# --------------------------------------------------------------------------- validate


def test_validate_accepts_a_minimal_program() -> None:
    validate([RET_ALLOW])
    validate([LD_NR, jump(BPF_JMP | BPF_JEQ | BPF_K, 39, 0, 1), RET_ALLOW, ret(TRAP)])


def test_validate_rejects_empty_program() -> None:
    reject([], None, "1 to 4096")


def test_validate_size_limit() -> None:
    validate([RET_ALLOW] * 4096)
    reject([RET_ALLOW] * 4097, None, "4097")


def test_validate_rejects_non_return_last() -> None:
    reject([LD_NR], 0, "last instruction must be a return")
    reject([LD_NR, RET_ALLOW, LD_ARCH], 2, "last instruction must be a return")


@pytest.mark.parametrize(
    ("program", "pc"),
    [
        ([LD_NR, jump(BPF_JMP | BPF_JEQ | BPF_K, 1, 1, 0), RET_ALLOW], 1),  # jt to pc 3 of 3
        ([LD_NR, jump(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 1), RET_ALLOW], 1),  # jf
        ([jump(BPF_JMP | BPF_JGT | BPF_K, 1, 255, 0), RET_ALLOW], 0),
        ([stmt(BPF_JMP | BPF_JA, 1), RET_ALLOW], 0),
        ([stmt(BPF_JMP | BPF_JA, 0xFFFFFFFF), RET_ALLOW], 0),  # would wrap around to pc 0
        ([LD_NR, RET_ALLOW, stmt(BPF_JMP | BPF_JA, 0), RET_ALLOW], None),  # fine: lands on the last
    ],
)
def test_validate_jump_range(program: list[Instruction], pc: int | None) -> None:
    if pc is None:
        validate(program)
    else:
        reject(program, pc, "leaves the program")


@pytest.mark.parametrize("offset", [1, 2, 3, 5, 62, 64, 68, 0x1000, 0xFFFFFFFC])
def test_validate_rejects_bad_load_offsets(offset: int) -> None:
    reject([LD_NR, stmt(BPF_LD | BPF_W | BPF_ABS, offset), RET_ALLOW], 1, "seccomp_data")


@pytest.mark.parametrize("offset", range(0, 64, 4))
def test_validate_accepts_every_aligned_field(offset: int) -> None:
    validate([stmt(BPF_LD | BPF_W | BPF_ABS, offset), RET_ALLOW])


@pytest.mark.parametrize(
    "code",
    [
        BPF_LD | BPF_H | BPF_ABS,  # half-word loads: not in seccomp
        BPF_LD | 0x10 | BPF_ABS,  # byte load
        BPF_LD | BPF_W | 0x40,  # BPF_IND
        BPF_LDX | 0xA0 | 0x10,  # BPF_MSH
        BPF_RET | BPF_X,
        BPF_JMP | BPF_JA | BPF_X,
        0xFF,
    ],
)
def test_validate_rejects_opcodes_seccomp_forbids(code: int) -> None:
    reject([LD_NR, Instruction(code, 0, 0, 0), RET_ALLOW], 1, f"opcode {code:#06x}")


@pytest.mark.parametrize("code", [BPF_ST, BPF_STX, BPF_LD | BPF_MEM, BPF_LDX | BPF_MEM])
def test_validate_rejects_scratch_index_16(code: int) -> None:
    reject([stmt(BPF_ST, 0), stmt(BPF_STX, 0), stmt(code, 16), RET_ALLOW], 2, "M\\[0..15\\]")
    validate([stmt(BPF_ST, 15), stmt(BPF_STX, 15), stmt(code, 15), RET_ALLOW])


def test_validate_rejects_division_by_constant_zero() -> None:
    reject([LD_NR, stmt(BPF_ALU | BPF_DIV | BPF_K, 0), RET_ALLOW], 1, "division by constant zero")
    validate([LD_NR, stmt(BPF_ALU | BPF_DIV | BPF_K, 3), RET_ALLOW])
    validate([LD_NR, stmt(BPF_ALU | BPF_DIV | BPF_X, 0), RET_ALLOW])  # by X: checked at run time


@pytest.mark.parametrize("code", [BPF_ALU | BPF_MOD | BPF_K, BPF_ALU | BPF_MOD | BPF_X], ids=["mod-k", "mod-x"])
def test_validate_rejects_modulo(code: int) -> None:
    """seccomp_check_filter() has no BPF_MOD: the kernel answers EINVAL (see test_core_kernel)."""
    reject([LD_NR, stmt(code, 3), RET_ALLOW], 1, f"opcode {code:#06x}")


@pytest.mark.parametrize("op", [BPF_LSH, BPF_RSH], ids=["lsh", "rsh"])
def test_validate_rejects_shift_by_constant_32_or_more(op: int) -> None:
    """bpf_check_classic() refuses ``BPF_ALU|BPF_LSH|BPF_K`` and ``...RSH|BPF_K`` with k >= 32."""
    validate([LD_NR, stmt(BPF_ALU | op | BPF_K, 31), RET_ALLOW])
    reject([LD_NR, stmt(BPF_ALU | op | BPF_K, 32), RET_ALLOW], 1, "shift")


def test_validate_rejects_reading_scratch_memory_before_a_store() -> None:
    """bpf_check_classic()'s check_load_and_stores() refuses a load of M[k] that some path
    reaches before any store to M[k]; the kernel answers EINVAL (see test_core_kernel)."""
    validate([stmt(BPF_ST, 3), stmt(BPF_LD | BPF_MEM, 3), RET_A])
    with pytest.raises(BpfError):
        validate([LD_NR, stmt(BPF_LD | BPF_MEM, 3), RET_A])


def test_validate_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        validate([])


def test_jump_helper_refuses_offsets_beyond_8_bits() -> None:
    with pytest.raises(BpfError, match="8 bits"):
        jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 256, 0)
    with pytest.raises(BpfError):
        jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, -1)


# --------------------------------------------------------------------------- pack / unpack


def test_pack_layout_is_struct_sock_filter() -> None:
    insn = Instruction(0x15, 1, 2, 0xC000003E)
    assert pack([insn]) == b"\x15\x00\x01\x02\x3e\x00\x00\xc0"
    assert pack([insn]) == struct.pack("<HBBI", 0x15, 1, 2, 0xC000003E)
    assert pack([]) == b""
    assert stmt(BPF_RET | BPF_K, -1).k == 0xFFFFFFFF


@pytest.mark.parametrize("policy", list(SyscallSandboxPolicy), ids=lambda p: p.name)
def test_pack_unpack_round_trip(policy: SyscallSandboxPolicy) -> None:
    program = build_policy_filter(policy, TRAP).program
    data = pack(program)
    assert len(data) == 8 * len(program)
    assert unpack(data) == list(program)
    assert pack(unpack(data)) == data


def test_unpack_rejects_partial_instructions() -> None:
    with pytest.raises(BpfError, match="multiple of 8"):
        unpack(b"\x06\x00\x00\x00\x00\x00\xff")


# --------------------------------------------------------------------------- emulator


def test_emulator_refuses_to_read_memory_before_a_store() -> None:
    with pytest.raises(EmulationError, match="mem\\[3\\]") as info:
        emulate([LD_NR, stmt(BPF_LD | BPF_MEM, 3), RET_A], SeccompData(39), check=False)
    assert info.value.pc == 1
    with pytest.raises(EmulationError) as info:
        emulate([stmt(BPF_ST, 2), stmt(BPF_LDX | BPF_MEM, 5), RET_A], SeccompData(39), check=False)
    assert info.value.pc == 1


def test_emulator_memory_after_a_store() -> None:
    program = [LD_NR, stmt(BPF_ST, 3), stmt(BPF_LD | BPF_IMM, 7), stmt(BPF_LDX | BPF_MEM, 3)]
    program += [stmt(BPF_MISC | BPF_TXA, 0), RET_A]
    assert emulate(program, SeccompData(39)).ret == 39


def test_emulator_only_takes_the_path_actually_run() -> None:
    # the read of M[1] is on the path not taken for nr 39
    program = [
        LD_NR,
        jump(BPF_JMP | BPF_JEQ | BPF_K, 39, 0, 1),
        RET_ALLOW,
        stmt(BPF_LD | BPF_MEM, 1),
        RET_A,
    ]
    assert emulate(program, SeccompData(39), check=False).action == ALLOW
    with pytest.raises(EmulationError):
        emulate(program, SeccompData(40), check=False)


def test_emulator_validates_unless_told_not_to() -> None:
    with pytest.raises(BpfError):
        emulate([LD_NR], SeccompData(0))
    with pytest.raises(EmulationError, match="past the end"):
        emulate([LD_NR], SeccompData(0), check=False)
    with pytest.raises(EmulationError, match="out of bounds"):
        emulate([stmt(BPF_LD | BPF_W | BPF_ABS, 64), RET_A], SeccompData(0), check=False)


def test_emulator_reads_every_field() -> None:
    data = SeccompData(0xFFFFFFFF, 0x40000003, 0x1122334455667788, (1, 2**64 - 1, 3, 4, 5, 0xAABBCCDD_00000006))
    expect = {0: 0xFFFFFFFF, 4: 0x40000003, 8: 0x55667788, 12: 0x11223344, 16: 1, 20: 0, 24: 0xFFFFFFFF, 28: 0xFFFFFFFF}
    expect.update({56: 6, 60: 0xAABBCCDD})
    for offset, want in expect.items():
        assert emulate([stmt(BPF_LD | BPF_W | BPF_ABS, offset), RET_A], data).ret == want, offset
    assert len(data.pack()) == 64
    assert SeccompData(-1).pack() == SeccompData(0xFFFFFFFF).pack()


ALU_CASES = [
    (BPF_ADD, 0xFFFFFFFF, 2, 1),
    (BPF_SUB, 1, 2, 0xFFFFFFFF),
    (BPF_MUL, 0x10000, 0x10000, 0),
    (BPF_DIV, 7, 2, 3),
    (BPF_MOD, 7, 3, 1),
    (BPF_OR, 0xF0, 0x0F, 0xFF),
    (BPF_AND, 0xF0, 0x3C, 0x30),
    (BPF_XOR, 0xFF, 0x0F, 0xF0),
    (BPF_LSH, 1, 31, 0x80000000),
    (BPF_RSH, 0x80000000, 31, 1),
]


@pytest.mark.parametrize(("op", "a", "b", "want"), ALU_CASES)
def test_emulator_alu(op: int, a: int, b: int, want: int) -> None:
    with_k = [stmt(BPF_LD | BPF_IMM, a), stmt(BPF_ALU | op | BPF_K, b), RET_A]
    with_x = [stmt(BPF_LDX | BPF_IMM, b), stmt(BPF_LD | BPF_IMM, a), stmt(BPF_ALU | op | BPF_X, 0), RET_A]
    # check=False: the emulator also runs what seccomp refuses (BPF_MOD), for classic BPF at large
    assert emulate(with_k, SeccompData(0), check=False).ret == want
    assert emulate(with_x, SeccompData(0), check=False).ret == want


def test_emulator_neg_len_and_division_by_x_zero() -> None:
    assert emulate([stmt(BPF_LD | BPF_IMM, 1), stmt(BPF_ALU | BPF_NEG, 0), RET_A], SeccompData(0)).ret == 0xFFFFFFFF
    assert emulate([stmt(BPF_LD | BPF_W | BPF_LEN, 0), RET_A], SeccompData(0)).ret == 64
    assert emulate([stmt(BPF_LDX | BPF_W | BPF_LEN, 0), stmt(BPF_MISC | BPF_TXA, 0), RET_A], SeccompData(0)).ret == 64
    # classic BPF: dividing by X == 0 ends the filter with 0 (SECCOMP_RET_KILL_THREAD)
    program = [stmt(BPF_LDX | BPF_IMM, 0), stmt(BPF_LD | BPF_IMM, 5), stmt(BPF_ALU | BPF_DIV | BPF_X, 0), RET_ALLOW]
    assert emulate(program, SeccompData(0)).ret == 0


@pytest.mark.parametrize(
    ("op", "k", "a", "taken"),
    [(BPF_JEQ, 5, 5, True), (BPF_JEQ, 5, 6, False), (BPF_JGT, 5, 6, True), (BPF_JGT, 5, 5, False),
     (BPF_JGE, 5, 5, True), (BPF_JGE, 5, 4, False), (BPF_JSET, 6, 2, True), (BPF_JSET, 6, 1, False)],
)  # fmt: skip
def test_emulator_jumps(op: int, k: int, a: int, taken: bool) -> None:
    program = [LD_NR, jump(BPF_JMP | op | BPF_K, k, 0, 1), RET_ALLOW, ret(TRAP)]
    result = emulate(program, SeccompData(a))
    assert result.action == (ALLOW if taken else TRAP)
    assert result.executed == (0, 1, 2 if taken else 3)
    via_x = [LD_NR, stmt(BPF_LDX | BPF_IMM, k), jump(BPF_JMP | op | BPF_X, 0, 0, 1), RET_ALLOW, ret(TRAP)]
    assert emulate(via_x, SeccompData(a)).action == (ALLOW if taken else TRAP)


def test_emulator_ja_and_return_values() -> None:
    program = [stmt(BPF_JMP | BPF_JA, 1), ret(TRAP), ret(ERRNO(13))]
    result = emulate(program, SeccompData(0))
    assert result.executed == (0, 2)
    assert result.action == ERRNO(13) and result.ret == 0x0005000D


def test_action_decoding() -> None:
    assert Action.from_ret(0x7FFF0000) == ALLOW
    assert Action.from_ret(0x80000000) == KILL_PROCESS
    assert Action.from_ret(0x00030005) == Action(0x00030000, 5)
    assert Action.from_ret(0x12340000) == KILL_PROCESS  # unknown actions act as KILL_PROCESS
    assert ERRNO(1).name == "ERRNO(1)" and TRAP.name == "TRAP"
    with pytest.raises(ValueError):
        Action(0x12340000)
    with pytest.raises(ValueError):
        ERRNO(65536)


# --------------------------------------------------------------------------- disassembly


def test_disassembly_names_syscalls_in_comparisons() -> None:
    listing = build_policy_filter(SyscallSandboxPolicy.NET, TRAP).disassemble()
    assert "A = arch" in listing and "A = sys_number" in listing
    assert "if (A == 0xc000003e) goto 0003" in listing  # the arch is a number, not a syscall name
    assert "return KILL_PROCESS" in listing and "return TRAP" in listing and "return ALLOW" in listing
    assert "if (A < 0x40000000) goto 0006" in listing  # x32 bit: no name
    assert "if (A >= getsid)" in listing  # 124: a boundary, shown by name
    assert "getgroups" not in listing  # 115 lies inside a run of NET, so it is never compared
    assert " 0000: 0x20 0x00 0x00 0x00000004  A = arch" in listing


def test_disassembly_names_only_after_loading_the_number() -> None:
    program = [LD_ARCH, jump(BPF_JMP | BPF_JEQ | BPF_K, 39, 0, 1), RET_ALLOW, LD_NR,
               jump(BPF_JMP | BPF_JEQ | BPF_K, 39, 1, 0), ret(TRAP), RET_ALLOW]  # fmt: skip
    lines = disassemble(program, {39: "getpid"}).splitlines()
    assert lines[3].endswith("if (A != 0x27) goto 0003")
    assert lines[6].endswith("if (A == getpid) goto 0006")
    assert "getpid" not in disassemble(program)  # no table, no names


def test_describe_every_kind_of_instruction() -> None:
    program = [
        stmt(BPF_LD | BPF_W | BPF_ABS, 16), stmt(BPF_LD | BPF_W | BPF_ABS, 20), stmt(BPF_LD | BPF_W | BPF_ABS, 8),
        stmt(BPF_LD | BPF_IMM, 5), stmt(BPF_LDX | BPF_IMM, 6), stmt(BPF_ST, 1), stmt(BPF_STX, 2),
        stmt(BPF_LD | BPF_MEM, 1), stmt(BPF_LDX | BPF_MEM, 2), stmt(BPF_MISC | BPF_TAX, 0),
        stmt(BPF_MISC | BPF_TXA, 0), stmt(BPF_ALU | BPF_NEG, 0), stmt(BPF_ALU | BPF_ADD | BPF_K, 3),
        stmt(BPF_ALU | BPF_AND | BPF_X, 0), jump(BPF_JMP | BPF_JSET | BPF_K, 4, 0, 1),
        jump(BPF_JMP | BPF_JGT | BPF_X, 0, 1, 0), stmt(BPF_LD | BPF_W | BPF_LEN, 0), RET_A,
    ]  # fmt: skip
    listing = disassemble(program)
    for text in ["A = args[0]", "A = args[0] >> 32", "A = instruction_pointer", "A = 0x5", "X = 0x6",
                 "mem[1] = A", "mem[2] = X", "A = mem[1]", "X = mem[2]", "X = A", "A = X", "A = -A",
                 "A += 0x3", "A &= X", "if (!(A & 0x4)) goto 0016", "if (A > X) goto 0017", "A = 64",
                 "return A"]:  # fmt: skip
        assert text in listing, text
    assert len(listing.splitlines()) == 2 + len(program)


def _golden_listing() -> str:
    return build_policy_filter(SyscallSandboxPolicy.VALIDATION_SCRIPT_CHECK, TRAP).disassemble() + "\n"


def test_golden_listing_validation_script_check() -> None:
    """The disassembled VALIDATION_SCRIPT_CHECK filter (log-and-abort) is byte for byte the golden file.

    The golden file was generated once from the code and checked by hand: the prologue,
    the x32 check, and the runs (e.g. 0-1 allowed, 2 open trapped, 21 access trapped,
    22-25 allowed, 435 clone3 the last allowed number).
    """
    assert _golden_listing() == GOLDEN.read_text()


def test_golden_listing_spot_checks() -> None:
    lines = GOLDEN.read_text().splitlines()
    assert len(lines) == 2 + 173
    assert lines[2:8] == [
        " 0000: 0x20 0x00 0x00 0x00000004  A = arch",
        " 0001: 0x15 0x01 0x00 0xc000003e  if (A == 0xc000003e) goto 0003",
        " 0002: 0x06 0x00 0x00 0x80000000  return KILL_PROCESS",
        " 0003: 0x20 0x00 0x00 0x00000000  A = sys_number",
        " 0004: 0x35 0x00 0x01 0x40000000  if (A < 0x40000000) goto 0006",
        " 0005: 0x06 0x00 0x00 0x00030000  return TRAP",
    ]
    text = GOLDEN.read_text()
    for name in ("open", "access", "socketpair", "clone3", "close_range", "rseq"):
        assert f"if (A >= {name})" in text, name
    # 83 comparisons cut the line into 84 runs that alternate, ALLOW first (read) and TRAP last;
    # plus the x32 check's TRAP and the arch check's KILL_PROCESS
    assert text.count("return ALLOW") == 42
    assert text.count("return TRAP") == 42 + 1
    assert text.count("return KILL_PROCESS") == 1


def test_cli_bpf_prints_the_golden_listing() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest_syscall_sandbox", "bpf", "validation_script_check"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    head, body = proc.stdout.split("\n", 1)
    assert head == "# VALIDATION_SCRIPT_CHECK, mode log-and-abort (TRAP), tree layout: 173 instructions"
    assert body == GOLDEN.read_text()
