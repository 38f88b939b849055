"""Argument rules stated the way OCI / libseccomp profiles can state them, verdict for verdict.

libseccomp lets an unconditional rule win over conditional ones of the same syscall,
refuses a rule whose action is the filter's default, and leaves the order of
overlapping rules with different actions unspecified. So an export cannot copy the
rules as "allow socket, refuse it when domain is AF_NETLINK". What it can state
exactly: the default (``ERRNO(EPERM)``, which is also what the hardening set's refusals
return) plus ALLOW rules for the *complement* of the refusals, each a conjunction of
``(args[i] & mask) == value`` tests (``SCMP_CMP_MASKED_EQ``), and a rule without
matchers as a plain errno (clone3's ENOSYS). Masked equalities also carry the
32-bit width exactly: ``(args[0] & 0xffffffff) == 16`` is what the kernel reads.

:func:`export_conditions` returns plain data (no engine types), for the exporters.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..engine.rules import ArgAnySet, ArgEq, ArgMaskedEq, Rule
from ..kernel.actions import ERRNO, SECCOMP_RET_ERRNO, Action

#: ``(index, mask, value)``: ``(args[index] & mask) == value`` on the whole 64-bit register.
Condition = tuple[int, int, int]
#: The default action of the exports (OCI ``defaultErrnoRet: 1``), and the hardening set's refusal.
EPERM = ERRNO(1)


def _cubes(matcher: object) -> list[tuple[int, int]]:
    """The matcher as a union of ``(mask, value)`` cubes, or a ValueError when it is not one."""
    if isinstance(matcher, ArgEq):
        return [(matcher.limit, matcher.value)]
    if isinstance(matcher, ArgMaskedEq):
        return [(matcher.mask, matcher.value)]
    if isinstance(matcher, ArgAnySet):
        return [(1 << bit, 1 << bit) for bit in range(64) if matcher.bits >> bit & 1]
    raise ValueError(f"{matcher} cannot be stated as masked equalities")


def _complement(cubes: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Cubes covering exactly the values no cube in ``cubes`` covers (few: split on the bits they test)."""
    bits = sorted({bit for mask, _ in cubes for bit in range(64) if mask >> bit & 1}, reverse=True)

    def split(rest: list[tuple[int, int]], todo: list[int], mask: int, value: int) -> list[tuple[int, int]]:
        if any(m == 0 for m, _ in rest):  # a cube covers all of this branch
            return []
        if not rest:
            return [(mask, value)]
        bit, below = todo[0], todo[1:]
        found = []
        for chosen in (0, 1 << bit):
            kept = [(m & ~(1 << bit), v & ~(1 << bit)) for m, v in rest if not m >> bit & 1 or v & (1 << bit) == chosen]
            found += split(kept, below, mask | 1 << bit, value | chosen)
        return found

    return split(list(cubes), bits, 0, 0)


def export_conditions(rules: Iterable[Rule], refused: Action = EPERM) -> dict[str, dict[str, object]]:
    """Per syscall with rules: ``{"allow_when": [[(index, mask, value), ...], ...]}`` or ``{"errno": n}``.

    ``allow_when`` lists alternatives (any one allows the call); each is a conjunction.
    ``refused`` is the export's default action: rules refusing with it become the
    complement of their matches. A rule without matchers that answers an errno
    decides its syscall alone. Anything else raises ValueError.
    """
    by_syscall: dict[str, list[Rule]] = {}
    for rule in rules:
        by_syscall.setdefault(rule.syscall, []).append(rule)
    exported: dict[str, dict[str, object]] = {}
    for syscall, group in by_syscall.items():
        first = group[0]
        if not first.matchers and first.action.action == SECCOMP_RET_ERRNO:
            exported[syscall] = {"errno": first.action.data}
            continue
        refused_when: dict[int, list[tuple[int, int]]] = {}
        for rule in group:
            if rule.action != refused or len(rule.matchers) != 1:
                raise ValueError(f"rule {rule} cannot be exported: only single-matcher refusals and plain errnos")
            matcher = rule.matchers[0]
            refused_when.setdefault(matcher.index, []).extend(_cubes(matcher))
        alternatives: list[list[Condition]] = [[]]
        for index, cubes in sorted(refused_when.items()):
            allowed = _complement(cubes)
            alternatives = [[*a, (index, mask, value)] for a in alternatives for mask, value in allowed]
        exported[syscall] = {"allow_when": alternatives}
    return exported
