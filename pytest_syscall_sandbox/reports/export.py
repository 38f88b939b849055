"""Allow-lists in other tools' formats: OCI/Docker seccomp profiles, systemd, custom roles.

Pure functions: each returns the text to write; the plugin writes the files.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from ..kernel.syscalls import NUMBERS
from ..roles.groups import GROUPS


def _sorted(names: Iterable[str]) -> list[str]:
    return sorted(set(names), key=NUMBERS.__getitem__)


def oci_profile(names: Iterable[str]) -> str:
    """An OCI runtime-spec / Docker seccomp profile allowing exactly ``names`` on x86-64.

    Everything else fails with EPERM (``SCMP_ACT_ERRNO``), as Docker's default profile does.
    """
    profile = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": _sorted(names), "action": "SCMP_ACT_ALLOW"}],
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


def systemd_filter(names: Iterable[str], comment: Iterable[str] = ()) -> str:
    """A systemd unit line: ``SystemCallFilter=name name ...``, after ``# comment`` lines."""
    return _comment(comment) + "SystemCallFilter=" + " ".join(_sorted(names)) + "\n"


def role_definition(role: str, names: Iterable[str], comment: Iterable[str] = ()) -> str:
    """A ``sandbox_roles`` line: whole capability groups as ``@Group``, the rest as ``+name``.

    ``comment`` lines come first, as ``#`` lines (``sandbox_roles`` ignores them).
    """
    remaining = set(names)
    terms = []
    for group, members in GROUPS.items():
        if set(members) <= remaining:
            terms.append(f"@{group}")
    covered = {name for term in terms for name in GROUPS[term[1:]]}
    terms += [f"+{name}" for name in _sorted(remaining - covered)]
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
