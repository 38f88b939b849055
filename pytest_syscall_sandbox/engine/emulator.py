"""A pure-Python interpreter of seccomp BPF programs, for tests and debugging.

It runs a program on one ``struct seccomp_data`` as the kernel would and returns the
verdict and the instructions it executed. It is strict: reading scratch memory that
was never written is an :class:`~..errors.EmulationError`, not a silent zero.
"""

from __future__ import annotations

import operator
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..errors import EmulationError
from ..kernel.actions import Action
from ..kernel.syscalls import AUDIT_ARCH_X86_64
from .bpf import (
    BPF_A,
    BPF_ABS,
    BPF_ADD,
    BPF_ALU,
    BPF_AND,
    BPF_DIV,
    BPF_IMM,
    BPF_JA,
    BPF_JEQ,
    BPF_JGE,
    BPF_JGT,
    BPF_JMP,
    BPF_JSET,
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
    BPF_X,
    BPF_XOR,
    SECCOMP_DATA_SIZE,
    Instruction,
    validate,
)

_MASK = 0xFFFFFFFF
_DATA = struct.Struct("=iIQ6Q")


@dataclass(frozen=True)
class SeccompData:
    """``struct seccomp_data``: what a filter sees of one syscall."""

    nr: int
    arch: int = AUDIT_ARCH_X86_64
    instruction_pointer: int = 0
    args: tuple[int, int, int, int, int, int] = (0, 0, 0, 0, 0, 0)

    def pack(self) -> bytes:
        """The 64 bytes the kernel hands the filter."""
        nr = self.nr - (1 << 32) if self.nr >= 1 << 31 else self.nr
        return _DATA.pack(nr, self.arch, self.instruction_pointer, *(a & (2**64 - 1) for a in self.args))


@dataclass(frozen=True)
class Emulation:
    """The outcome of one run: the 32-bit return value and the pcs executed, in order."""

    ret: int
    executed: tuple[int, ...]

    @property
    def action(self) -> Action:
        """The decoded verdict."""
        return Action.from_ret(self.ret)


def _lsh(a: int, b: int) -> int:
    return a << b if b < 32 else 0


def _rsh(a: int, b: int) -> int:
    return a >> b if b < 32 else 0


def _jset(a: int, b: int) -> bool:
    return bool(a & b)


_ALU: dict[int, Callable[[int, int], int]] = {
    BPF_ADD: operator.add,
    BPF_SUB: operator.sub,
    BPF_MUL: operator.mul,
    BPF_DIV: operator.floordiv,
    BPF_MOD: operator.mod,
    BPF_OR: operator.or_,
    BPF_AND: operator.and_,
    BPF_LSH: _lsh,
    BPF_RSH: _rsh,
    BPF_XOR: operator.xor,
}
_JMP: dict[int, Callable[[int, int], bool]] = {
    BPF_JEQ: operator.eq,
    BPF_JGT: operator.gt,
    BPF_JGE: operator.ge,
    BPF_JSET: _jset,
}


def emulate(program: Sequence[Instruction], data: SeccompData, *, check: bool = True) -> Emulation:
    """Run ``program`` on ``data``; validate it first unless ``check`` is False."""
    if check:
        validate(program)
    raw = data.pack()
    a = x = 0
    mem: list[int | None] = [None] * 16
    executed: list[int] = []
    pc = 0
    while True:
        if pc >= len(program):
            raise EmulationError("ran past the end of the program", pc)
        executed.append(pc)
        code, jt, jf, k = program[pc]
        cls = code & 0x07
        pc += 1
        if cls == BPF_RET:
            return Emulation((a if code & 0x18 == BPF_A else k) & _MASK, tuple(executed))
        if cls in (BPF_LD, BPF_LDX):
            mode = code & 0xE0
            if mode == BPF_ABS:
                if k % 4 or k + 4 > SECCOMP_DATA_SIZE:
                    raise EmulationError(f"load of seccomp_data[{k}] is out of bounds", pc - 1)
                value = int.from_bytes(raw[k : k + 4], "little")
            elif mode == BPF_IMM:
                value = k
            elif mode == BPF_LEN:
                value = SECCOMP_DATA_SIZE
            elif mode == BPF_MEM:
                stored = mem[k]
                if stored is None:
                    raise EmulationError(f"read of mem[{k}] before any store", pc - 1)
                value = stored
            else:
                raise EmulationError(f"load mode {mode:#x} is not allowed in seccomp", pc - 1)
            if cls == BPF_LD:
                a = value
            else:
                x = value
        elif cls == BPF_ST:
            mem[k] = a
        elif cls == BPF_STX:
            mem[k] = x
        elif cls == BPF_ALU:
            op = code & 0xF0
            if op == BPF_NEG:
                a = -a & _MASK
            else:
                b = x if code & BPF_X else k
                if op in (BPF_DIV, BPF_MOD) and b == 0:
                    return Emulation(0, tuple(executed))  # the kernel's classic BPF returns 0
                a = _ALU[op](a, b) & _MASK
        elif cls == BPF_JMP:
            op = code & 0xF0
            if op == BPF_JA:
                pc += k
            else:
                pc += jt if _JMP[op](a, x if code & BPF_X else k) else jf
        elif cls == BPF_MISC:
            if code & 0xF8 == BPF_TAX:
                x = a
            else:
                a = x
        else:  # pragma: no cover - validate() refuses every other class
            raise EmulationError(f"unknown instruction class {cls}", pc - 1)
