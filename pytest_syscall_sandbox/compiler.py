"""Compile a syscall -> action table into a seccomp BPF program.

The program always has the same shape::

    A = arch; if (A != AUDIT_ARCH_X86_64) return arch_action
    A = sys_number; if (A >= X32_SYSCALL_BIT) return default
    <balanced binary search over the number line> -> return the number's action

The number line is cut into maximal runs of numbers with the same action, and a
balanced tree of ``JGE`` comparisons picks the run, so a verdict costs about
log2(runs) comparisons where upstream's linear chain costs one per allowed syscall.
Conditional jumps only reach 255 instructions; a subtree bigger than that is
reached through an unconditional ``JA`` (32-bit offset), so any table size works
up to the kernel's 4096-instruction limit, which :func:`~.bpf.validate` enforces.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from .actions import ALLOW, KILL_PROCESS, Action
from .bpf import (
    BPF_ABS,
    BPF_JA,
    BPF_JEQ,
    BPF_JGE,
    BPF_JMP,
    BPF_K,
    BPF_LD,
    BPF_W,
    SECCOMP_DATA_ARCH,
    SECCOMP_DATA_IP,
    SECCOMP_DATA_NR,
    Instruction,
    disassemble,
    jump,
    pack,
    ret,
    stmt,
    validate,
)
from .errors import BpfError
from .syscalls import AUDIT_ARCH_X86_64, NAMES, X32_SYSCALL_BIT

TREE = "tree"
LINEAR = "linear"
LAYOUTS = (TREE, LINEAR)
_MAX_JUMP = 255


@dataclass(frozen=True)
class CompiledFilter:
    """A validated seccomp program and what it was built from."""

    program: tuple[Instruction, ...]
    rules: Mapping[int, Action]
    default: Action
    arch_action: Action
    layout: str
    #: Number of ``JGE``/``JEQ`` comparisons of ``sys_number`` in the dispatch part.
    comparisons: int = field(default=0)

    def packed(self) -> bytes:
        """The ``struct sock_filter`` array for the kernel."""
        return pack(self.program)

    def disassemble(self) -> str:
        """A readable listing with syscall names in comparisons."""
        return disassemble(self.program, dict(NAMES))

    def __len__(self) -> int:
        return len(self.program)


def _prologue(arch_action: Action, trusted_ip: int | None) -> list[Instruction]:
    program = [
        stmt(BPF_LD | BPF_W | BPF_ABS, SECCOMP_DATA_ARCH),  # A = arch
        jump(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),  # if (A == X86_64) skip
        ret(arch_action),
    ]
    if trusted_ip is not None:
        # Syscalls made from one known instruction run unchecked: the SIGSYS handler's
        # way to re-issue a trapped call (Chromium's seccomp-bpf has the same escape hatch).
        program += [
            stmt(BPF_LD | BPF_W | BPF_ABS, SECCOMP_DATA_IP),  # A = instruction_pointer
            jump(BPF_JMP | BPF_JEQ | BPF_K, trusted_ip & 0xFFFFFFFF, 0, 3),
            stmt(BPF_LD | BPF_W | BPF_ABS, SECCOMP_DATA_IP + 4),  # A = instruction_pointer >> 32
            jump(BPF_JMP | BPF_JEQ | BPF_K, trusted_ip >> 32, 0, 1),
            ret(ALLOW),
        ]
    program.append(stmt(BPF_LD | BPF_W | BPF_ABS, SECCOMP_DATA_NR))  # A = sys_number
    return program


def _runs(rules: Mapping[int, Action], default: Action) -> list[tuple[int, Action]]:
    """Maximal runs ``(first_number, action)`` covering 0 .. X32_SYSCALL_BIT - 1."""
    runs: list[tuple[int, Action]] = [(0, default)]
    for nr in sorted(rules):
        for start, action in ((nr, rules[nr]), (nr + 1, default))[: 1 if nr + 1 == X32_SYSCALL_BIT else 2]:
            if runs[-1][0] == start:
                runs[-1] = (start, action)
                if len(runs) > 1 and runs[-2][1] == action:
                    runs.pop()
            elif runs[-1][1] != action:
                runs.append((start, action))
    return runs


def _tree(runs: Sequence[tuple[int, Action]]) -> tuple[list[Instruction], int]:
    """Emit the search tree for ``runs``; returns (instructions, comparisons)."""
    if len(runs) == 1:
        return [ret(runs[0][1])], 0
    mid = len(runs) // 2
    left, left_cmp = _tree(runs[:mid])
    right, right_cmp = _tree(runs[mid:])
    boundary = runs[mid][0]
    if len(left) <= _MAX_JUMP:
        head = [jump(BPF_JMP | BPF_JGE | BPF_K, boundary, len(left), 0)]  # A >= boundary: right
    else:
        head = [
            jump(BPF_JMP | BPF_JGE | BPF_K, boundary, 0, 1),
            stmt(BPF_JMP | BPF_JA, len(left)),  # long jump over the left subtree
        ]
    return head + left + right, left_cmp + right_cmp + 1


def _check_rules(rules: Mapping[int, Action]) -> None:
    for nr in rules:
        if not 0 <= nr < X32_SYSCALL_BIT:
            raise BpfError(f"syscall number {nr} is outside 0..{X32_SYSCALL_BIT - 1}")


def compile_rules(
    rules: Mapping[int, Action],
    default: Action,
    *,
    arch_action: Action = KILL_PROCESS,
    layout: str = TREE,
    trusted_ip: int | None = None,
) -> CompiledFilter:
    """Compile per-number actions; every other number (and x32) gets ``default``.

    ``layout="linear"`` reproduces upstream Bitcoin Core's shape (one ``JEQ`` and one
    return per entry, no x32 check), kept for comparison and benchmarks.
    ``trusted_ip``: syscalls whose ``instruction_pointer`` (the address right after
    the ``syscall`` instruction) equals it are allowed whatever their number.
    """
    _check_rules(rules)
    if trusted_ip is not None and not 0 < trusted_ip < 1 << 64:
        raise BpfError(f"trusted_ip must be a 64-bit user address, got {trusted_ip:#x}")
    rules = {nr: action for nr, action in rules.items() if action != default}
    program = _prologue(arch_action, trusted_ip)
    if layout == TREE:
        program += [
            jump(BPF_JMP | BPF_JGE | BPF_K, X32_SYSCALL_BIT, 0, 1),  # x32 ABI: never allowed
            ret(default),
        ]
        body, comparisons = _tree(_runs(rules, default))
        program += body
    elif layout == LINEAR:
        for nr in sorted(rules):
            program += [jump(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1), ret(rules[nr])]
        program.append(ret(default))
        comparisons = len(rules)
    else:
        raise ValueError(f"unknown layout {layout!r}; valid layouts: {', '.join(LAYOUTS)}")
    validate(program)
    return CompiledFilter(tuple(program), dict(rules), default, arch_action, layout, comparisons)


def compile_allow_list(
    allowed: Iterable[int],
    default: Action,
    *,
    arch_action: Action = KILL_PROCESS,
    layout: str = TREE,
    trusted_ip: int | None = None,
) -> CompiledFilter:
    """Compile an allow-list: the numbers in ``allowed`` run, the rest get ``default``."""
    return compile_rules(
        dict.fromkeys(allowed, ALLOW), default, arch_action=arch_action, layout=layout, trusted_ip=trusted_ip
    )
