"""Allow-lists in other tools' formats: OCI/Docker seccomp profiles, systemd, custom roles.

Pure functions return the text to write; :func:`write_exports` writes the files (for a
run and for ``pytest-syscall-sandbox report --export``).
"""

from __future__ import annotations

import errno
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..kernel.syscalls import NUMBERS
from ..roles.groups import GROUPS
from ..roles.role import HARDENING_TERM
from .files import write_atomically

#: Per syscall with argument rules (``roles.conditions.export_conditions``, plain data):
#: ``{"allow_when": [[(index, mask, value), ...], ...]}`` or ``{"errno": n}``.
Conditions = Mapping[str, Mapping[str, Any]]


def _sorted(names: Iterable[str]) -> list[str]:
    return sorted(set(names), key=NUMBERS.__getitem__)


def oci_profile(names: Iterable[str], conditions: Conditions | None = None) -> str:
    """An OCI runtime-spec / Docker seccomp profile allowing exactly ``names`` on x86-64.

    Everything else fails with EPERM (``SCMP_ACT_ERRNO``), as Docker's default profile
    does, and as the hardening set's refusals do. ``conditions`` (the role's argument
    rules, see :mod:`..roles.conditions`) become ALLOW entries with ``args``
    (``SCMP_CMP_MASKED_EQ``: ``value`` is the mask, ``valueTwo`` the value; the args
    of one entry must all hold) or an ``errnoRet`` entry (clone3's ENOSYS).
    """
    conditions = conditions or {}
    plain = [name for name in names if name not in conditions]
    rules: list[dict[str, Any]] = [{"names": _sorted(plain), "action": "SCMP_ACT_ALLOW"}]
    for name in _sorted(conditions):
        given = conditions[name]
        if "errno" in given:
            rules.append({"names": [name], "action": "SCMP_ACT_ERRNO", "errnoRet": given["errno"]})
            continue
        for alternative in given["allow_when"]:
            args = [
                {"index": index, "value": mask, "valueTwo": value, "op": "SCMP_CMP_MASKED_EQ"}
                for index, mask, value in alternative
            ]
            rules.append({"names": [name], "action": "SCMP_ACT_ALLOW", "args": args})
    profile = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": errno.EPERM,
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": rules,
    }
    return json.dumps(profile, indent=2) + "\n"


def oci_profile_allowed(text: str) -> frozenset[str]:
    """The syscalls an OCI profile allows (the inverse of :func:`oci_profile`)."""
    profile = json.loads(text)
    if profile.get("defaultAction") == "SCMP_ACT_ALLOW":
        raise ValueError("profile allows everything by default; only allow-list profiles can be read back")
    allowed: set[str] = set()
    for rule in profile.get("syscalls", []):
        if rule.get("action") == "SCMP_ACT_ALLOW" and not rule.get("args"):
            allowed.update(rule.get("names", []))
    return frozenset(allowed)


def systemd_filter(names: Iterable[str], comment: Iterable[str] = (), rules: Sequence[str] = ()) -> str:
    """systemd unit lines: ``SystemCallFilter=name name ...``, after ``# comment`` lines.

    With the OCI profile's action (``SystemCallErrorNumber=EPERM``: a refused call fails
    with EPERM instead of killing the process) and ``SystemCallArchitectures=native``
    (the x86-64 ABI only, as the filter). ``rules`` (the role's argument rules, one a
    line) are named in comments: ``SystemCallFilter=`` cannot state them.
    """
    notes = list(comment)
    if rules:
        notes += [
            "argument rules of this role that SystemCallFilter= cannot state (the OCI profile has them):",
            *(f"  {rule}" for rule in rules),
        ]
    return (
        _comment(notes)
        + "SystemCallFilter="
        + " ".join(_sorted(names))
        + "\nSystemCallErrorNumber=EPERM\nSystemCallArchitectures=native\n"
    )


def export_name(role: str, kind: str) -> str:
    """A name the role parser accepts, as it loads back: ``NET_GETGROUPS_SOCKET_FIXED``."""
    return re.sub(r"\W+", "_", f"{role}_{kind}").strip("_").upper()


def role_definition(role: str, names: Iterable[str], comment: Iterable[str] = (), harden: bool = False) -> str:
    """A ``sandbox_roles`` line: whole capability groups as ``@Group``, the rest as ``+name``.

    ``comment`` lines come first, as ``#`` lines (``sandbox_roles`` ignores them);
    ``harden`` ends the line with ``@Hardening``.
    """
    remaining = set(names)
    terms = []
    for group, members in GROUPS.items():
        if set(members) <= remaining:
            terms.append(f"@{group}")
    covered = {name for term in terms for name in GROUPS[term[1:]]}
    terms += [f"+{name}" for name in _sorted(remaining - covered)]
    if harden:
        terms.append(HARDENING_TERM)
    return _comment(comment) + f"{role} = {' '.join(terms)}\n"


def unmeasured_comment(role: str, unmeasured: Mapping[str, str], included: bool) -> list[str]:
    """Comment lines for a profile run's minimal list: what was not measured, and whether it is in.

    ``unmeasured``: syscall -> why it could not be measured.
    """
    if not unmeasured:
        return ["measured by a profile run: every syscall the role allows was measured"]
    if included:
        head = f"the profile run's minimal list plus {len(unmeasured)} syscall(s) it could not measure:"
    else:
        head = (
            f"measured by a profile run; {len(unmeasured)} syscall(s) it could not measure are left out"
            f" ({role}.minimal+unmeasured.* has them):"
        )
    grouped: dict[str, list[str]] = {}
    for name, reason in unmeasured.items():
        grouped.setdefault(reason, []).append(name)
    return [head, *(f"  {' '.join(names)}: {reason}" for reason, names in grouped.items())]


def _comment(lines: Iterable[str]) -> str:
    return "".join(f"# {line}\n" for line in lines)


#: ``names`` -> the hardening set's conditions and rule lines for them (``sandbox.export_conditions``,
#: ``sandbox.hardening_lines``): the caller passes them, as this layer cannot load the engine.
Rules = Callable[[set[str]], tuple[Conditions, list[str]]]


@dataclass
class RoleLists:
    """What a role's exports are made of: its allow-list and what the run saw of it."""

    name: str
    allowed: frozenset[str]
    #: Syscalls seen in its tests' phases (gaps, and in profile mode uses too).
    observed: frozenset[str]
    profile: bool = False
    #: Profile mode: syscall -> why the run could not measure it.
    unmeasured: Mapping[str, str] = field(default_factory=dict)
    harden: bool = False


def export_lists(role: RoleLists) -> list[tuple[str, set[str], list[str]]]:
    """``(kind, syscalls, comment lines)`` of each list exported for the role.

    ``current`` always; in profile mode ``minimal`` (what was measured) and, when
    something was not measured, ``minimal+unmeasured``; otherwise ``fixed`` (the
    current list plus its gaps: without a profile only the gaps are known).
    """
    current = set(role.allowed)
    lists: list[tuple[str, set[str], list[str]]] = [("current", current, [])]
    if role.profile:
        minimal = set(role.observed)
        lists.append(("minimal", minimal, unmeasured_comment(role.name, role.unmeasured, included=False)))
        if role.unmeasured:
            comment = unmeasured_comment(role.name, role.unmeasured, included=True)
            lists.append(("minimal+unmeasured", minimal | set(role.unmeasured), comment))
    else:
        lists.append(("fixed", current | set(role.observed), []))
    return lists


def write_exports(directory: str, roles: Iterable[RoleLists], rules: Rules) -> list[str]:
    """Write ``ROLE.KIND.oci.json``, ``.systemd.conf`` and ``.role.ini`` for each role's lists; return their stems.

    Each is as strong as the test run: a hardened role's lists carry its argument rules.
    """
    os.makedirs(directory, exist_ok=True)
    stems = []
    for role in roles:
        for kind, names, comment in export_lists(role):
            stem = os.path.join(directory, f"{role.name}.{kind}")
            conditions, lines = rules(names) if role.harden else ({}, [])
            write_atomically(stem + ".oci.json", oci_profile(names, conditions))
            write_atomically(stem + ".systemd.conf", systemd_filter(names, comment, lines))
            write_atomically(
                stem + ".role.ini", role_definition(export_name(role.name, kind), names, comment, role.harden)
            )
            stems.append(stem)
    return stems
