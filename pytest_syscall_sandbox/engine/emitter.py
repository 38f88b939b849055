"""The compiler's one emitter: BPF built back to front, so that every jump goes forward to code that exists."""

from __future__ import annotations

from collections.abc import Callable

from ..kernel.actions import Action
from .bpf import BPF_ABS, BPF_ALU, BPF_AND, BPF_JA, BPF_JMP, BPF_K, BPF_LD, BPF_W, Instruction, jump, ret, stmt

#: The farthest a conditional jump reaches (8-bit offsets); farther goes through a ``JA``.
MAX_JUMP = 255


class Backward:
    """A program built from its last instruction to its first: every jump target already exists.

    The compiler's one emitter, for the prologue, the dispatch and the argument
    sub-programs alike. A label is an instruction's index counted from the end (0 =
    the last one), so it never changes as code is prepended. Jumps farther than 255
    get a ``JA`` trampoline. Within a :meth:`subprogram`, identical returns are shared.
    """

    def __init__(self) -> None:
        self._reversed: list[Instruction] = []
        self._notes: dict[int, list[str]] = {}
        self._returns: dict[int, int] | None = None
        self._subprograms: list[tuple[str, int, int]] = []

    @property
    def next(self) -> int:
        """The label of the instruction pushed last (where the code built so far starts)."""
        return len(self._reversed) - 1

    def _push(self, insn: Instruction) -> int:
        self._reversed.append(insn)
        return len(self._reversed) - 1

    def _distance(self, target: int) -> int:
        """The jump offset from the next instruction pushed to ``target``."""
        return len(self._reversed) - 1 - target

    def ret(self, action: Action) -> int:
        """``return action``; inside a sub-program, shared with an earlier identical return."""
        if self._returns is None:
            return self._push(ret(action))
        if action.ret not in self._returns:
            self._returns[action.ret] = self._push(ret(action))
        return self._returns[action.ret]

    def load(self, offset: int) -> int:
        """``A = seccomp_data[offset]``."""
        return self._push(stmt(BPF_LD | BPF_W | BPF_ABS, offset))

    def mask(self, k: int) -> int:
        """``A &= k``."""
        return self._push(stmt(BPF_ALU | BPF_AND | BPF_K, k))

    def cond(self, op: int, k: int, true: int, false: int) -> int:
        """``if (A op k) goto true else goto false``."""
        while True:
            if self._distance(true) > MAX_JUMP:
                true = self._push(stmt(BPF_JMP | BPF_JA, self._distance(true)))
            elif self._distance(false) > MAX_JUMP:
                false = self._push(stmt(BPF_JMP | BPF_JA, self._distance(false)))
            else:
                return self._push(jump(BPF_JMP | op | BPF_K, k, self._distance(true), self._distance(false)))

    def note(self, label: int, text: str) -> None:
        """Attach a comment for the disassembly."""
        self._notes.setdefault(label, []).append(text)

    def subprogram(self, name: str, emit: Callable[[], int]) -> int:
        """Emit an argument sub-program with ``emit`` (returns its entry), shown opaque in listings."""
        end, self._returns = len(self._reversed), {}
        try:
            entry = emit()
        finally:
            self._returns = None
        self._subprograms.append((name, entry, end))
        return entry

    def build(self) -> tuple[list[Instruction], dict[int, str], list[tuple[str, int, int]]]:
        """The instructions in execution order, the comments by pc, the sub-programs' pc ranges."""
        last = len(self._reversed) - 1
        notes = {last - label: "; ".join(t) for label, t in self._notes.items()}
        ranges = sorted(
            ((name, last - entry, last - end + 1) for name, entry, end in self._subprograms), key=lambda r: r[1]
        )
        return list(reversed(self._reversed)), notes, ranges
