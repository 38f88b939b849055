"""Classic BPF as seccomp uses it: opcodes, instructions, packing, validation, listing.

Constants keep the kernel's spelling (<linux/filter.h>, <linux/bpf_common.h>) so they
can be grepped against the uapi headers.
"""

from __future__ import annotations

import struct
from collections.abc import Container, Mapping, Sequence
from typing import NamedTuple

from ..errors import BpfError
from ..kernel.actions import Action

# Instruction classes.
BPF_LD = 0x00
BPF_LDX = 0x01
BPF_ST = 0x02
BPF_STX = 0x03
BPF_ALU = 0x04
BPF_JMP = 0x05
BPF_RET = 0x06
BPF_MISC = 0x07
# Load sizes and modes.
BPF_W = 0x00
BPF_H = 0x08
BPF_B = 0x10
BPF_IMM = 0x00
BPF_ABS = 0x20
BPF_IND = 0x40
BPF_MEM = 0x60
BPF_LEN = 0x80
BPF_MSH = 0xA0
# ALU and jump operations.
BPF_ADD = 0x00
BPF_SUB = 0x10
BPF_MUL = 0x20
BPF_DIV = 0x30
BPF_OR = 0x40
BPF_AND = 0x50
BPF_LSH = 0x60
BPF_RSH = 0x70
BPF_NEG = 0x80
BPF_MOD = 0x90
BPF_XOR = 0xA0
BPF_JA = 0x00
BPF_JEQ = 0x10
BPF_JGT = 0x20
BPF_JGE = 0x30
BPF_JSET = 0x40
# Operand sources.
BPF_K = 0x00
BPF_X = 0x08
BPF_A = 0x10
# BPF_MISC operations.
BPF_TAX = 0x00
BPF_TXA = 0x80

#: BPF_MAXINSNS: the kernel refuses longer programs.
BPF_MAXINSNS = 4096
#: BPF_MEMWORDS: scratch memory M[0..15].
BPF_MEMWORDS = 16

# struct seccomp_data offsets (little-endian x86-64).
SECCOMP_DATA_NR = 0
SECCOMP_DATA_ARCH = 4
SECCOMP_DATA_IP = 8
SECCOMP_DATA_ARGS = 16
SECCOMP_DATA_SIZE = 64

_SOCK_FILTER = struct.Struct("=HBBI")


class Instruction(NamedTuple):
    """One ``struct sock_filter``: opcode, jump-if-true, jump-if-false, constant."""

    code: int
    jt: int
    jf: int
    k: int


def stmt(code: int, k: int) -> Instruction:
    """``BPF_STMT(code, k)``."""
    return Instruction(code, 0, 0, k & 0xFFFFFFFF)


def jump(code: int, k: int, jt: int, jf: int) -> Instruction:
    """``BPF_JUMP(code, k, jt, jf)``; offsets are relative to the next instruction."""
    if not (0 <= jt <= 255 and 0 <= jf <= 255):
        raise BpfError(f"jump offsets must fit in 8 bits, got jt={jt} jf={jf}")
    return Instruction(code, jt, jf, k & 0xFFFFFFFF)


def ret(action: Action) -> Instruction:
    """``return action``."""
    return stmt(BPF_RET | BPF_K, action.ret)


def pack(program: Sequence[Instruction]) -> bytes:
    """The program as the kernel reads it: an array of ``struct sock_filter``."""
    return b"".join(_SOCK_FILTER.pack(*insn) for insn in program)


def unpack(data: bytes) -> list[Instruction]:
    """Inverse of :func:`pack`."""
    if len(data) % _SOCK_FILTER.size:
        raise BpfError(f"a packed program is a multiple of {_SOCK_FILTER.size} bytes, got {len(data)}")
    return [Instruction(*fields) for fields in _SOCK_FILTER.iter_unpack(data)]


def _is_cond_jump(code: int) -> bool:
    return code & 0x07 == BPF_JMP and code & 0xF0 != BPF_JA


# Opcodes seccomp_check_filter() in kernel/seccomp.c lets through (LD|W|LEN is rewritten
# there, so it is accepted too).
_ALU_OPS = (BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_OR, BPF_AND, BPF_LSH, BPF_RSH, BPF_XOR)  # no BPF_MOD
SECCOMP_OPCODES: frozenset[int] = frozenset(
    [
        BPF_LD | BPF_W | BPF_ABS,
        BPF_LD | BPF_W | BPF_LEN,
        BPF_LDX | BPF_W | BPF_LEN,
        BPF_LD | BPF_IMM,
        BPF_LDX | BPF_IMM,
        BPF_LD | BPF_MEM,
        BPF_LDX | BPF_MEM,
        BPF_ST,
        BPF_STX,
        BPF_MISC | BPF_TAX,
        BPF_MISC | BPF_TXA,
        BPF_RET | BPF_K,
        BPF_RET | BPF_A,
        BPF_ALU | BPF_NEG,
        BPF_JMP | BPF_JA,
    ]
    + [BPF_ALU | op | src for op in _ALU_OPS for src in (BPF_K, BPF_X)]
    + [BPF_JMP | op | src for op in (BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET) for src in (BPF_K, BPF_X)]
)


def validate(program: Sequence[Instruction]) -> None:
    """Reject what the kernel would reject (bpf_check_classic + seccomp_check_filter).

    Raises :class:`BpfError` with the offending pc.
    """
    n = len(program)
    if not 1 <= n <= BPF_MAXINSNS:
        raise BpfError(f"a program has 1 to {BPF_MAXINSNS} instructions, this one has {n}")
    for pc, insn in enumerate(program):
        code, jt, jf, k = insn
        if code not in SECCOMP_OPCODES:
            raise BpfError(f"opcode {code:#06x} is not allowed in a seccomp filter", pc)
        if code == BPF_LD | BPF_W | BPF_ABS and (k % 4 or k >= SECCOMP_DATA_SIZE):
            raise BpfError(f"load offset {k} is not an aligned field of seccomp_data", pc)
        if (code & 0x07 in (BPF_LD, BPF_LDX) and code & 0xE0 == BPF_MEM) or code in (BPF_ST, BPF_STX):
            if k >= BPF_MEMWORDS:
                raise BpfError(f"scratch memory index {k} is out of M[0..{BPF_MEMWORDS - 1}]", pc)
        if code == BPF_ALU | BPF_DIV | BPF_K and k == 0:
            raise BpfError("division by constant zero", pc)
        if code in (BPF_ALU | BPF_LSH | BPF_K, BPF_ALU | BPF_RSH | BPF_K) and k >= 32:
            raise BpfError(f"shift by {k} (32 or more)", pc)
        if code == BPF_JMP | BPF_JA:
            if pc + 1 + k >= n:
                raise BpfError(f"jump by {k} leaves the program", pc)
        elif _is_cond_jump(code) and (pc + 1 + jt >= n or pc + 1 + jf >= n):
            raise BpfError(f"jump by jt={jt} jf={jf} leaves the program", pc)
    if program[-1].code & 0x07 != BPF_RET:
        raise BpfError("the last instruction must be a return", n - 1)
    _check_memory(program)


def _check_memory(program: Sequence[Instruction]) -> None:
    """Refuse a read of M[k] that some path reaches before a store (check_load_and_stores)."""
    everything = (1 << BPF_MEMWORDS) - 1
    masks = [everything] * len(program)
    valid = 0
    for pc, (code, jt, jf, k) in enumerate(program):
        valid &= masks[pc]
        if code in (BPF_ST, BPF_STX):
            valid |= 1 << k
        elif code in (BPF_LD | BPF_MEM, BPF_LDX | BPF_MEM):
            if not valid & (1 << k):
                raise BpfError(f"M[{k}] may be read before it is stored", pc)
        elif code == BPF_JMP | BPF_JA:
            masks[pc + 1 + k] &= valid
            valid = everything
        elif _is_cond_jump(code):
            masks[pc + 1 + jt] &= valid
            masks[pc + 1 + jf] &= valid
            valid = everything


_FIELD_NAMES = {SECCOMP_DATA_NR: "sys_number", SECCOMP_DATA_ARCH: "arch"}
_FIELD_NAMES.update({SECCOMP_DATA_IP: "instruction_pointer", SECCOMP_DATA_IP + 4: "instruction_pointer >> 32"})
for _i in range(6):
    _FIELD_NAMES[SECCOMP_DATA_ARGS + 8 * _i] = f"args[{_i}]"
    _FIELD_NAMES[SECCOMP_DATA_ARGS + 8 * _i + 4] = f"args[{_i}] >> 32"

_JMP_OPS = {BPF_JEQ: "==", BPF_JGT: ">", BPF_JGE: ">=", BPF_JSET: "&"}
_ALU_SYMBOLS = {
    BPF_ADD: "+=", BPF_SUB: "-=", BPF_MUL: "*=", BPF_DIV: "/=", BPF_OR: "|=", BPF_AND: "&=",
    BPF_LSH: "<<=", BPF_RSH: ">>=", BPF_MOD: "%=", BPF_XOR: "^=",
}  # fmt: skip


def describe(pc: int, insn: Instruction, name_of: Mapping[int, str] | None = None) -> str:
    """Pseudo-C for one instruction, as seccomp-tools prints it."""
    code, jt, jf, k = insn
    cls = code & 0x07
    if code == BPF_LD | BPF_W | BPF_ABS:
        return f"A = {_FIELD_NAMES.get(k, f'data[{k}]')}"
    if code in (BPF_LD | BPF_W | BPF_LEN, BPF_LDX | BPF_W | BPF_LEN):
        return f"{'A' if cls == BPF_LD else 'X'} = {SECCOMP_DATA_SIZE}"
    if code in (BPF_LD | BPF_IMM, BPF_LDX | BPF_IMM):
        return f"{'A' if cls == BPF_LD else 'X'} = {k:#x}"
    if code in (BPF_LD | BPF_MEM, BPF_LDX | BPF_MEM):
        return f"{'A' if cls == BPF_LD else 'X'} = mem[{k}]"
    if code in (BPF_ST, BPF_STX):
        return f"mem[{k}] = {'A' if code == BPF_ST else 'X'}"
    if code == BPF_MISC | BPF_TAX:
        return "X = A"
    if code == BPF_MISC | BPF_TXA:
        return "A = X"
    if code == BPF_RET | BPF_A:
        return "return A"
    if cls == BPF_RET:
        return f"return {Action.from_ret(k).name}"
    if code == BPF_ALU | BPF_NEG:
        return "A = -A"
    if cls == BPF_ALU:
        operand = "X" if code & BPF_X else f"{k:#x}"
        return f"A {_ALU_SYMBOLS.get(code & 0xF0, '?=')} {operand}"
    if code == BPF_JMP | BPF_JA:
        return f"goto {pc + 1 + k:04d}"
    if cls == BPF_JMP:
        operand = "X" if code & BPF_X else f"{k:#x}"
        if name_of and not code & BPF_X and k in name_of:
            operand = name_of[k]
        cond = f"A {_JMP_OPS.get(code & 0xF0, '?')} {operand}"
        true, false = pc + 1 + jt, pc + 1 + jf
        if jf == 0:
            return f"if ({cond}) goto {true:04d}"
        if jt == 0:
            negated = {"==": "!=", ">": "<=", ">=": "<"}.get(_JMP_OPS.get(code & 0xF0, ""))
            inverse = f"A {negated} {operand}" if negated else f"!({cond})"
            return f"if ({inverse}) goto {false:04d}"
        return f"if ({cond}) goto {true:04d} else goto {false:04d}"
    return f"??? code {code:#x}"


def disassemble(
    program: Sequence[Instruction],
    name_of: Mapping[int, str] | None = None,
    *,
    notes: Mapping[int, str] | None = None,
    opaque: Container[int] = (),
) -> str:
    """A listing in seccomp-tools' ``line CODE JT JF K`` form with pseudo-C beside it.

    ``name_of`` maps syscall numbers to names shown in comparisons of ``sys_number``;
    ``notes`` maps a pc to a ``# comment`` at the end of its line; at the pcs in
    ``opaque`` (argument sub-programs) loads and comparisons are never syscall numbers.
    """
    lines = [" line  CODE  JT   JF      K", "================================="]
    loaded_nr = False
    for pc, insn in enumerate(program):
        plain = pc in opaque
        comment = describe(pc, insn, name_of if loaded_nr and not plain else None)
        if insn.code & 0x07 == BPF_LD and not plain:
            loaded_nr = insn.code == BPF_LD | BPF_W | BPF_ABS and insn.k == SECCOMP_DATA_NR
        line = f" {pc:04d}: 0x{insn.code:02x} 0x{insn.jt:02x} 0x{insn.jf:02x} 0x{insn.k:08x}  {comment}"
        if notes and pc in notes:
            line = f"{line:<64}# {notes[pc]}"
        lines.append(line)
    return "\n".join(lines)
