"""Exports as strong as the test run: each OCI profile, loaded into libseccomp, gives the role's own verdicts.

The profile is read the way runc reads one (``defaultAction``/``defaultErrnoRet``, one
libseccomp rule per name, the ``args`` of an entry ANDed) in a forked child, which
exports libseccomp's BPF and then loads the filter and makes real calls. The parent
compares, in the emulator, libseccomp's program with the role's own filter (the one
the plugin compiles, with EPERM as its default action) on every native syscall number
and on the argument values at the edges of every argument rule, and the real calls'
results with the role's own verdicts.
"""

from __future__ import annotations

import itertools
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from args_support import (
    AF_INET,
    AF_NETLINK,
    AF_UNIX,
    CLONE_NEWUSER,
    CLONE_THREAD,
    EPERM,
    FIONREAD,
    NR,
    SOCK_CLOEXEC,
    SOCK_DGRAM,
    SOCK_RAW,
    SOCK_STREAM,
    TIOCSTI,
    run_in_child,
    sys_call,
)

from pytest_syscall_sandbox.engine.bpf import Instruction, unpack
from pytest_syscall_sandbox.engine.emulator import SeccompData, emulate
from pytest_syscall_sandbox.kernel.actions import ERRNO
from pytest_syscall_sandbox.kernel.syscalls import NUMBERS
from pytest_syscall_sandbox.reports.export import oci_profile
from pytest_syscall_sandbox.roles.hardening import HARDENING_RULES
from pytest_syscall_sandbox.roles.registry import RoleRegistry, parse_role_lines
from pytest_syscall_sandbox.sandbox import allow_list_filter, export_conditions

try:
    import pyseccomp as seccomp
except (ImportError, RuntimeError) as exc:  # RuntimeError: libseccomp.so is missing
    pytest.skip(f"pyseccomp and libseccomp are the oracle of these tests: {exc}", allow_module_level=True)

#: Real calls made under the loaded profile; none of them changes anything when allowed.
PROBES: list[tuple[str, tuple[int, ...]]] = [
    ("socket", (AF_NETLINK, SOCK_RAW, 0)),
    ("socket", ((1 << 32) | AF_NETLINK, SOCK_DGRAM, 0)),  # the kernel reads an int: AF_NETLINK
    ("socket", (AF_UNIX, SOCK_STREAM, 0)),
    ("socket", (AF_INET, SOCK_RAW | SOCK_CLOEXEC, 1)),
    ("ioctl", (2**32 - 1, TIOCSTI, 0)),
    ("ioctl", (2**32 - 1, FIONREAD, 0)),
    ("clone", (CLONE_NEWUSER | CLONE_THREAD, 0, 0, 0, 0)),  # EINVAL when it runs: no process is made
    ("clone3", (0, 0)),  # EINVAL when it runs
    ("getgroups", (0, 0)),
    ("getppid", ()),
]


def _libseccomp_filter(profile: dict[str, Any]) -> Any:
    """The profile as runc builds it with libseccomp."""
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO" and profile["architectures"] == ["SCMP_ARCH_X86_64"]
    f = seccomp.SyscallFilter(defaction=seccomp.ERRNO(profile["defaultErrnoRet"]))
    for entry in profile["syscalls"]:
        action = seccomp.ALLOW if entry["action"] == "SCMP_ACT_ALLOW" else seccomp.ERRNO(entry["errnoRet"])
        assert entry["action"] in ("SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO")
        args = entry.get("args", [])
        assert len({a["index"] for a in args}) == len(args)  # runc ANDs the args of distinct indexes
        assert all(a["op"] == "SCMP_CMP_MASKED_EQ" for a in args)
        for name in entry["names"]:
            f.add_rule(
                action, name, *(seccomp.Arg(a["index"], seccomp.MASKED_EQ, a["value"], a["valueTwo"]) for a in args)
            )
    return f


def _load_and_probe(text: str) -> tuple[bytes, list[tuple[int, int]]]:
    """In the child: libseccomp's program for the profile, then the probes' results under it."""
    f = _libseccomp_filter(json.loads(text))
    with tempfile.TemporaryFile() as out:
        f.export_bpf(out)
        out.seek(0)
        program = out.read()
    f.load()
    return program, [sys_call(NR.get(name) or NUMBERS[name], *args) for name, args in PROBES]


def _edge_args() -> dict[str, list[tuple[int, ...]]]:
    """Per hardened syscall: argument tuples at the edges of its rules (each argument position crossed)."""
    values: dict[tuple[str, int], set[int]] = {}
    for rule in HARDENING_RULES:
        for matcher in rule.matchers:
            values.setdefault((rule.syscall, matcher.index), set()).update(matcher.boundary_values()[::3])
    cases: dict[str, list[tuple[int, ...]]] = {}
    for syscall in {rule.syscall for rule in HARDENING_RULES}:
        first = sorted(values.get((syscall, 0), {0, 1}))
        second = sorted(values.get((syscall, 1), {0, 1}))
        cases[syscall] = [(a, b, 0, 0, 0, 0) for a, b in itertools.product(first, second)]
    return cases


EDGES = _edge_args()


def _verdict(program: tuple[Instruction, ...], nr: int, args: tuple[int, ...] = (0,) * 6) -> int:
    return emulate(program, SeccompData(nr, args=(tuple(args) + (0,) * 6)[:6]), check=False).ret  # type: ignore[arg-type]


def check_profile(text: str, allowed: frozenset[str], harden: bool) -> None:
    """``text`` (an OCI profile) gives the verdicts of the role's own filter, in the emulator and the kernel."""
    child = run_in_child(_load_and_probe, text, timeout=60)
    assert child.ok, str(child)
    theirs = tuple(unpack(child.value[0]))
    ours = allow_list_filter(allowed, ERRNO(EPERM), harden=harden).program
    differ = [n for n in range(max(NUMBERS.values()) + 8) if _verdict(ours, n) != _verdict(theirs, n)]
    assert differ == [], f"verdicts differ for syscall numbers {differ}"
    for syscall, cases in EDGES.items():
        nr = NUMBERS[syscall]
        bad = [[hex(a) for a in args[:2]] for args in cases if _verdict(ours, nr, args) != _verdict(theirs, nr, args)]
        assert bad == [], f"{syscall}: verdicts differ for {bad[:5]}"
    for (name, args), (result, errno) in zip(PROBES, child.value[1], strict=True):
        expected = emulate(ours, SeccompData(NUMBERS[name], args=(tuple(args) + (0,) * 6)[:6]), check=False).action
        if expected == ERRNO(EPERM) or expected.action == ERRNO(38).action:
            assert (result, errno) == (-1, expected.data), (name, args, expected)
        elif not (name == "socket" and args[1] & 0xF == SOCK_RAW):  # raw sockets need CAP_NET_RAW when allowed
            assert errno != EPERM, (name, args, "refused, but the role allows it")


@pytest.mark.parametrize("harden", [True, False], ids=["hardened", "plain"])
@pytest.mark.parametrize("role", ["NET", "MESSAGE_HANDLER", "NETWORK"])
def test_an_exported_profile_gives_the_roles_own_verdicts(role: str, harden: bool) -> None:
    allowed = RoleRegistry().get(role).allowed
    conditions = export_conditions(allowed) if harden else {}
    check_profile(oci_profile(allowed, conditions), allowed, harden)


def test_a_profile_without_the_argument_rules_would_fail_the_check() -> None:
    """The check can fail: the hardened role's list exported without its rules allows netlink sockets."""
    allowed = RoleRegistry().get("NET").allowed
    with pytest.raises(AssertionError, match="verdicts differ"):
        check_profile(oci_profile(allowed), allowed, harden=True)


TESTS = """
import os
import socket
import pytest

@pytest.mark.sandbox("NET", harden=True)
def test_hardened():
    try:
        socket.socket(socket.AF_NETLINK, socket.SOCK_RAW).close()
    except OSError:
        pass
    os.getgroups()

@pytest.mark.sandbox("NET", allow=["getgroups"], deny=["socket"])
def test_variant():
    os.getgroups()
    os.getpriority(os.PRIO_PROCESS, 0)
"""


def test_the_plugins_exports_load_back_and_into_libseccomp(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(TESTS)
    result = pytester.runpytest_subprocess(
        "--sandbox-mode=audit", "--sandbox-export=out", "--sandbox-report=r.json", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=2)
    out = Path(pytester.path / "out")
    report = json.loads((pytester.path / "r.json").read_text())
    exported = {"NET@Hardening": "NET_HARDENING", "NET+getgroups-socket": "NET_GETGROUPS_SOCKET"}
    for role, stem in exported.items():
        facts = report["roles"][role]
        gaps = {gap["syscall"] for gap in facts["missing"] if not gap["reason"]}
        for kind, allowed in (("current", set(facts["allowed"])), ("fixed", set(facts["allowed"]) | gaps)):
            path = f"out/{role}.{kind}"
            result.stdout.fnmatch_lines([f"sandbox export: {path}.oci.json, {path}.systemd.conf, {path}.role.ini"])
            [(name, definition)] = parse_role_lines((out / f"{role}.{kind}.role.ini").read_text()).items()
            assert name == f"{stem}_{kind.upper()}"
            loaded = RoleRegistry().define(name, definition)  # loads back under its own name
            assert loaded.name == name and loaded.allowed == allowed and loaded.harden == facts["harden"]
            systemd = (out / f"{role}.{kind}.systemd.conf").read_text()
            assert "\nSystemCallErrorNumber=EPERM\nSystemCallArchitectures=native\n" in systemd
            assert ("AF_NETLINK" in systemd) == facts["harden"]  # the rules it cannot state are named
            check_profile((out / f"{role}.{kind}.oci.json").read_text(), frozenset(allowed), facts["harden"])
