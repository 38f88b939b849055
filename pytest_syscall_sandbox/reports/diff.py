"""``pytest-syscall-sandbox diff OLD NEW``: what changed in each role's gaps between two saved reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..recorders.record import HARNESS, USED
from .gaps import count as _count
from .schema import SavedReport


@dataclass
class RoleChange:
    """One role's change between two reports."""

    role: str
    appeared: list[dict[str, Any]] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    now_used: list[str] = field(default_factory=list)
    no_longer_used: list[str] = field(default_factory=list)
    #: ``"new"`` (no tests in the old report), ``"gone"`` (none in the new one) or ``""``.
    presence: str = ""

    def __bool__(self) -> bool:
        return bool(self.appeared or self.gone or self.now_used or self.no_longer_used or self.presence)


def diff_reports(old: SavedReport, new: SavedReport) -> list[RoleChange]:
    """Per role (in name order), the gaps that appeared and went away, and profile mode's use changes."""
    changes = []
    for role in sorted(set(old.roles) | set(new.roles)):
        before, after = old.roles.get(role, {}), new.roles.get(role, {})
        missing_before = {gap["syscall"] for gap in before.get("missing", ())}
        missing_after = {gap["syscall"] for gap in after.get("missing", ())}
        used_before, used_after = set(before.get("used", ())), set(after.get("used", ()))
        change = RoleChange(
            role,
            appeared=[gap for gap in after.get("missing", ()) if gap["syscall"] not in missing_before],
            gone=[gap["syscall"] for gap in before.get("missing", ()) if gap["syscall"] not in missing_after],
            now_used=sorted(used_after - used_before) if "used" in before else [],
            no_longer_used=sorted(used_before - used_after) if "used" in after else [],
        )
        if not before.get("tests") and after.get("tests"):
            change.presence = "new"
        elif before.get("tests") and not after.get("tests"):
            change.presence = "gone"
        if change:
            changes.append(change)
    return changes


def _locations(report: SavedReport, role: str, syscall: str, used: bool = False) -> list[str]:
    """Distinct ``file:line in function`` of the role's calls of ``syscall`` (``used``: its profile-mode uses)."""
    found: dict[str, None] = {}
    for record in report.records():
        if (
            record.role == role
            and record.syscall == syscall
            and record.phase != HARNESS
            and (record.outcome == USED) == used
        ):
            where = f"{record.location} in {record.function}" if record.function else record.location
            found.setdefault(f"{where or 'no Python location'} ({record.nodeid})", None)
    return list(found)


def render_diff(old: SavedReport, new: SavedReport, changes: list[RoleChange]) -> str:
    """The changes as text: new gaps with their tests and locations first in each role."""
    head = f"sandbox diff: {old.source} -> {new.source}"
    if not changes:
        return head + "\nno change in any role's gaps" + (" or uses" if new.mode == "profile" else "")
    lines = [head]
    for change in changes:
        presence = {"new": " (new: no tests in the old report)", "gone": " (no tests in the new report)"}
        lines.append(f"{change.role}:{presence.get(change.presence, '')}")
        for gap in change.appeared:
            tests = gap["tests"]
            counts = f"{_count(gap['calls'], 'call')} in {_count(len(tests), 'test')}"
            lines.append(f"  + {gap['syscall']} ({gap['nr']}): new gap, {counts}")
            lines += [f"      test {nodeid}" for nodeid in tests]
            lines += [f"      at {where}" for where in _locations(new, change.role, gap["syscall"])]
        lines += [f"  - {syscall}: gap gone" for syscall in change.gone]
        if change.now_used:
            lines.append(f"  now used: {' '.join(change.now_used)}")
            for syscall in change.now_used:
                lines += [f"      {syscall} at {where}" for where in _locations(new, change.role, syscall, used=True)]
        if change.no_longer_used:
            lines.append(f"  no longer used: {' '.join(change.no_longer_used)}")
    gained = [change.role for change in changes if change.appeared]
    lines.append(f"roles that gained a gap: {', '.join(gained)}" if gained else "no role gained a gap")
    return "\n".join(lines)
