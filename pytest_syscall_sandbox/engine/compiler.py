"""Compile a syscall -> action table (and argument rules) into a seccomp BPF program.

The program always has the same shape::

    A = arch; if (A != AUDIT_ARCH_X86_64) return arch_action
    A = sys_number; if (A >= X32_SYSCALL_BIT) return default
    <balanced binary search over the number line> -> return the number's action
                                                  or run its argument sub-program

The number line is cut into maximal runs of numbers with the same action, and a
balanced tree of ``JGE`` comparisons picks the run, so a verdict costs about
log2(runs) comparisons where upstream's linear chain costs one per allowed syscall.
Conditional jumps only reach 255 instructions; a subtree bigger than that is
reached through an unconditional ``JA`` (32-bit offset), so any table size works
up to the kernel's 4096-instruction limit, which :func:`~.bpf.validate` enforces.

**Argument rules** (:mod:`.rules`). A number whose verdict depends on its arguments
gets a run of its own, and the leaf of that run is a small sub-program: its rules
in order, each matcher a few loads of ``args[i]``'s 32-bit halves and comparisons,
ending in the rule's action, and the number's argument-free verdict when no rule
matched. The whole program is built back to front (:mod:`.emitter`), so every jump
goes forward to code that already exists, and one farther than 255 goes through a
``JA``. Every
other number stays argument-free: its path reads only ``arch`` and ``sys_number``,
so the kernel's action cache (``seccomp_cache_prepare``, Linux 5.11+) can prove an
ALLOW for it and skip the filter. Rules that cannot change a number's verdict are
dropped (a rule without matchers ends the list; trailing rules with the fallback's
action are redundant), so ``clone3 -> ERRNO(ENOSYS)`` compiles to a plain leaf.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Union

from ..errors import BpfError
from ..kernel.actions import ALLOW, KILL_PROCESS, Action
from ..kernel.syscalls import AUDIT_ARCH_X86_64, NAMES, NUMBERS, X32_CALLS, X32_SYSCALL_BIT
from .bpf import (
    BPF_JEQ,
    BPF_JGE,
    BPF_JGT,
    BPF_JSET,
    SECCOMP_DATA_ARCH,
    SECCOMP_DATA_ARGS,
    SECCOMP_DATA_IP,
    SECCOMP_DATA_NR,
    Instruction,
    disassemble,
    pack,
    validate,
)
from .emitter import Backward
from .rules import ArgAnySet, ArgEq, ArgGe, ArgGt, ArgLt, ArgMaskedEq, ArgMatcher, ArgNe, Rule, rules_by_number

TREE = "tree"
LINEAR = "linear"
LAYOUTS = (TREE, LINEAR)
_U32 = 0xFFFFFFFF


@dataclass(frozen=True)
class CompiledFilter:
    """A validated seccomp program and what it was built from."""

    program: tuple[Instruction, ...]
    #: Argument-free verdicts that differ from ``default`` (for an argument-checked
    #: number: its verdict when no rule matches).
    rules: Mapping[int, Action]
    default: Action
    arch_action: Action
    layout: str
    #: Number of ``JGE``/``JEQ`` comparisons of ``sys_number`` in the dispatch part.
    comparisons: int = field(default=0)
    #: The argument rules that made it into the program (redundant ones dropped).
    arg_rules: tuple[Rule, ...] = field(default=())
    #: ``(syscall name, first pc, end pc)`` of each argument sub-program.
    subprograms: tuple[tuple[str, int, int], ...] = field(default=())
    #: pc -> comment shown in :meth:`disassemble`.
    notes: Mapping[int, str] = field(default_factory=dict)

    def packed(self) -> bytes:
        """The ``struct sock_filter`` array for the kernel (packed once, then kept)."""
        return self._packed

    @functools.cached_property
    def _packed(self) -> bytes:
        return pack(self.program)

    @property
    def checked(self) -> tuple[str, ...]:
        """Names of the argument-checked syscalls, in number order."""
        return tuple(name for name, _start, _end in sorted(self.subprograms, key=lambda s: s[1]))

    def disassemble(self) -> str:
        """A readable listing with syscall names in comparisons.

        With argument rules, a first ``#`` line lists the argument-checked syscalls,
        and the sub-programs' lines carry the rules they test (``args[0] == AF_NETLINK``).
        """
        if not self.subprograms:
            return disassemble(self.program, NAMES)
        inside = {pc for _name, start, end in self.subprograms for pc in range(start, end)}
        checked = ", ".join(f"{name} ({NUMBERS[name]})" for name in sorted(self.checked, key=NUMBERS.__getitem__))
        listing = disassemble(self.program, NAMES, notes=self.notes, opaque=inside)
        return f"# argument-checked: {checked}\n{listing}"

    def __len__(self) -> int:
        return len(self.program)


def _halves(matcher: ArgMatcher, value: int) -> list[tuple[int, int]]:
    """``(offset, 32-bit constant)`` for each half the matcher tests, high half first."""
    low = SECCOMP_DATA_ARGS + 8 * matcher.index
    if matcher.width == 32:
        return [(low, value & _U32)]
    return [(low + 4, value >> 32), (low, value & _U32)]


def _emit_matcher(b: Backward, matcher: ArgMatcher, true: int, false: int) -> int:
    """Code that goes to ``true`` when ``matcher`` matches, else to ``false``; returns its entry."""
    if isinstance(matcher, (ArgEq, ArgNe)):
        if isinstance(matcher, ArgNe):
            true, false = false, true
        target = true
        for offset, half in reversed(_halves(matcher, matcher.value)):
            b.cond(BPF_JEQ, half, target, false)
            target = b.load(offset)
        return target
    if isinstance(matcher, ArgMaskedEq):
        target = true
        parts = zip(_halves(matcher, matcher.mask), _halves(matcher, matcher.value), strict=True)
        for (offset, mask), (_, half) in reversed(list(parts)):
            if mask == 0:  # nothing of this half is compared (the value's half is 0 too)
                continue
            b.cond(BPF_JEQ, half, target, false)
            if mask != _U32:
                b.mask(mask)
            target = b.load(offset)
        return target
    if isinstance(matcher, ArgAnySet):
        target = false
        for offset, bits in reversed(_halves(matcher, matcher.bits)):
            if bits:
                b.cond(BPF_JSET, bits, true, target)
                target = b.load(offset)
        return target
    # Unsigned order: decided by the high halves unless they are equal, then by the low halves.
    above = isinstance(matcher, (ArgGt, ArgGe))
    halves = _halves(matcher, matcher.value)
    offset, low_half = halves[-1]
    op = BPF_JGE if isinstance(matcher, (ArgGe, ArgLt)) else BPF_JGT  # Ge: >=, Lt: !(>=), Gt: >, Le: !(>)
    greater, not_greater = (true, false) if above else (false, true)
    b.cond(op, low_half, greater, not_greater)
    target = b.load(offset)
    if len(halves) == 2:
        high_offset, high = halves[0]
        if high == 0:  # high > 0 decides; otherwise high == 0 and the low half does
            b.cond(BPF_JGT, 0, greater, target)
        elif high == _U32:  # high can only equal it or be less
            b.cond(BPF_JEQ, high, target, not_greater)
        else:
            equal = b.cond(BPF_JEQ, high, target, not_greater)
            b.cond(BPF_JGT, high, greater, equal)
        target = b.load(high_offset)
    return target


def _effective(rules: Sequence[Rule], base: Action) -> tuple[tuple[Rule, ...], Action]:
    """Drop rules that cannot change the verdict; returns (rules, verdict when none matches)."""
    kept: list[Rule] = []
    fallback = base
    for rule in rules:
        if not rule.matchers:  # always matches: it decides, and later rules are dead
            fallback = rule.action
            break
        kept.append(rule)
    while kept and kept[-1].action == fallback:
        kept.pop()
    return tuple(kept), fallback


@dataclass(frozen=True)
class _Checked:
    """The leaf of an argument-checked number: its rules and its verdict when none matches."""

    nr: int
    rules: tuple[Rule, ...]
    fallback: Action


_Verdict = Union[Action, _Checked]


def _subprogram(b: Backward, leaf: _Checked) -> int:
    """The rules of one number, tried in order (A holds anything on entry); returns its entry."""
    name = NAMES.get(leaf.nr, str(leaf.nr))
    following = b.ret(leaf.fallback)
    b.note(following, f"{name}: no rule matched -> {leaf.fallback}")
    count = len(leaf.rules)
    for number, rule in reversed(list(enumerate(leaf.rules, 1))):
        target = b.ret(rule.action)
        for position, matcher in reversed(list(enumerate(rule.matchers))):
            target = _emit_matcher(b, matcher, target, following)
            if position:
                b.note(target, f"{name} rule {number}/{count}, and {matcher}")
        reason = f" ({rule.reason})" if rule.reason else ""
        b.note(target, f"{name} rule {number}/{count}: {rule.condition()} -> {rule.action}{reason}")
        following = target
    return following


# --------------------------------------------------------------------------- the dispatch


def _leaf(b: Backward, verdict: _Verdict) -> int:
    """A number's verdict: a return, or its argument sub-program; returns its entry."""
    if isinstance(verdict, Action):
        return b.ret(verdict)
    return b.subprogram(NAMES.get(verdict.nr, str(verdict.nr)), lambda: _subprogram(b, verdict))


def _prologue(b: Backward, arch_action: Action, trusted: int | None, trusted_ip: int | None) -> None:
    """``A = arch; if (A != X86_64) return arch_action``, the trusted-IP branch, ``A = sys_number``.

    ``trusted``: the entry of the trusted calls' own dispatch (:func:`_trusted_body`).
    """
    number = b.load(SECCOMP_DATA_NR)  # A = sys_number
    if trusted_ip is not None and trusted is not None:
        # Syscalls made from one known instruction skip the role's verdicts (the SIGSYS
        # handler's way to re-issue a trapped call; Chromium's seccomp-bpf has the same
        # escape hatch), never the rules given for them (the harness guard's).
        b.cond(BPF_JEQ, trusted_ip >> 32, trusted, number)
        high = b.load(SECCOMP_DATA_IP + 4)  # A = instruction_pointer >> 32
        b.cond(BPF_JEQ, trusted_ip & 0xFFFFFFFF, high, number)
        b.load(SECCOMP_DATA_IP)  # A = instruction_pointer
    checks = b.next
    refuse = b.ret(arch_action)
    b.cond(BPF_JEQ, AUDIT_ARCH_X86_64, checks, refuse)  # if (A == X86_64) skip
    b.load(SECCOMP_DATA_ARCH)  # A = arch


def _verdicts(
    rules: Mapping[int, Action], default: Action, arg_rules: Sequence[Rule]
) -> tuple[dict[int, _Verdict], list[Rule]]:
    """Each number's verdict other than ``default`` (a sub-program where rules can change it)."""
    verdicts: dict[int, _Verdict] = {nr: action for nr, action in rules.items() if action != default}
    kept_rules: list[Rule] = []
    for nr, group in rules_by_number(arg_rules).items():
        kept, fallback = _effective(group, rules.get(nr, default))
        kept_rules += kept
        verdicts[nr] = _Checked(nr, kept, fallback) if kept else fallback
        if verdicts[nr] == default:
            del verdicts[nr]
    return verdicts, kept_rules


def _guarded_tree(b: Backward, verdicts: Mapping[int, _Verdict], default: Action, x32: Action) -> int:
    """``if (A >= X32_SYSCALL_BIT) return default`` (x32 calls: ``x32``), then the search tree.

    Returns the tree's comparisons. The kernel runs a number as an x32 call only in
    ``X32_SYSCALL_BIT + 0 .. X32_CALLS - 1``; any other number at or above the bit
    (``syscall(-1)`` too) is ENOSYS there, so only that range gets ``x32``.
    """
    comparisons = _tree(b, _runs(verdicts, default))
    body = b.next
    refuse = b.ret(default)
    if x32 == default:
        b.cond(BPF_JGE, X32_SYSCALL_BIT, refuse, body)  # x32 ABI: never allowed
        return comparisons
    x32_call = b.ret(x32)
    beyond = b.cond(BPF_JGE, X32_SYSCALL_BIT + X32_CALLS, refuse, x32_call)
    b.cond(BPF_JGE, X32_SYSCALL_BIT, beyond, body)
    return comparisons


def _trusted_body(b: Backward, trusted_rules: Sequence[Rule], x32_action: Action | None) -> int:
    """The dispatch of calls from the trusted instruction: ``trusted_rules``, else ALLOW; its entry."""
    if not trusted_rules and x32_action is None:
        return b.ret(ALLOW)
    verdicts, _kept = _verdicts({}, ALLOW, trusted_rules)
    _guarded_tree(b, verdicts, ALLOW, ALLOW if x32_action is None else x32_action)
    b.note(b.next, "the trusted instruction's calls: only the rules given for them")
    return b.load(SECCOMP_DATA_NR)


def _runs(rules: Mapping[int, _Verdict], default: Action) -> list[tuple[int, _Verdict]]:
    """Maximal runs ``(first_number, verdict)`` covering 0 .. X32_SYSCALL_BIT - 1."""
    runs: list[tuple[int, _Verdict]] = [(0, default)]
    for nr in sorted(rules):
        for start, action in ((nr, rules[nr]), (nr + 1, default))[: 1 if nr + 1 == X32_SYSCALL_BIT else 2]:
            if runs[-1][0] == start:
                runs[-1] = (start, action)
                if len(runs) > 1 and runs[-2][1] == action:
                    runs.pop()
            elif runs[-1][1] != action:
                runs.append((start, action))
    return runs


def _tree(b: Backward, runs: Sequence[tuple[int, _Verdict]]) -> int:
    """The search tree for ``runs`` (left half first in the program); returns the comparisons."""
    if len(runs) == 1:
        _leaf(b, runs[0][1])
        return 0
    mid = len(runs) // 2
    right_cmp = _tree(b, runs[mid:])
    right = b.next
    left_cmp = _tree(b, runs[:mid])
    b.cond(BPF_JGE, runs[mid][0], right, b.next)  # A >= boundary: right
    return left_cmp + right_cmp + 1


def _linear(b: Backward, verdicts: Mapping[int, _Verdict], default: Action) -> int:
    """Upstream's chain: ``if (A == nr) <its leaf>`` per number, then ``return default``."""
    following = b.ret(default)
    for nr in sorted(verdicts, reverse=True):
        entry = _leaf(b, verdicts[nr])
        following = b.cond(BPF_JEQ, nr, entry, following)  # A != nr: past its leaf
    return len(verdicts)


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
    trusted_rules: Sequence[Rule] = (),
    arg_rules: Sequence[Rule] = (),
    x32_action: Action | None = None,
) -> CompiledFilter:
    """Compile per-number actions; every other number (and x32) gets ``default``.

    ``layout="linear"`` reproduces upstream Bitcoin Core's shape (one ``JEQ`` and one
    return per entry, no x32 check), kept for comparison and benchmarks.
    ``trusted_ip``: syscalls whose ``instruction_pointer`` (the address right after
    the ``syscall`` instruction) equals it are allowed whatever their number, except
    where one of ``trusted_rules`` (tried as argument rules, ALLOW their fallback) says
    otherwise. ``arg_rules``: :class:`~.rules.Rule` objects, tried in order per syscall
    before its entry in ``rules`` (or ``default``) applies; see :mod:`.rules` for the
    semantics. ``x32_action``: what x32 numbers get instead of ``default`` (tree layout;
    also from the trusted instruction): their arguments are never checked.
    """
    _check_rules(rules)
    if trusted_ip is not None and not 0 < trusted_ip < 1 << 64:
        raise BpfError(f"trusted_ip must be a 64-bit user address, got {trusted_ip:#x}")
    verdicts, kept_rules = _verdicts(rules, default, arg_rules)
    b = Backward()
    trusted = _trusted_body(b, trusted_rules, x32_action) if trusted_ip is not None else None
    if layout == TREE:
        comparisons = _guarded_tree(b, verdicts, default, default if x32_action is None else x32_action)
    elif layout == LINEAR:
        comparisons = _linear(b, verdicts, default)
    else:
        raise ValueError(f"unknown layout {layout!r}; valid layouts: {', '.join(LAYOUTS)}")
    _prologue(b, arch_action, trusted, trusted_ip)
    instructions, notes, subprograms = b.build()
    validate(instructions)
    fallbacks = {nr: (v.fallback if isinstance(v, _Checked) else v) for nr, v in verdicts.items()}
    base = {nr: action for nr, action in fallbacks.items() if action != default}
    return CompiledFilter(
        tuple(instructions),
        base,
        default,
        arch_action,
        layout,
        comparisons,
        tuple(kept_rules),
        tuple(subprograms),
        notes,
    )


def compile_allow_list(
    allowed: Iterable[int],
    default: Action,
    *,
    arch_action: Action = KILL_PROCESS,
    layout: str = TREE,
    trusted_ip: int | None = None,
    trusted_rules: Sequence[Rule] = (),
    arg_rules: Sequence[Rule] = (),
    x32_action: Action | None = None,
) -> CompiledFilter:
    """Compile an allow-list: the numbers in ``allowed`` run, the rest get ``default``.

    ``arg_rules`` refine single syscalls by their arguments; ``trusted_ip``,
    ``trusted_rules`` and ``x32_action`` as in :func:`compile_rules`.
    """
    return compile_rules(
        dict.fromkeys(allowed, ALLOW),
        default,
        arch_action=arch_action,
        layout=layout,
        trusted_ip=trusted_ip,
        trusted_rules=trusted_rules,
        arg_rules=arg_rules,
        x32_action=x32_action,
    )
