"""The six sandbox-rs profiles: data, the cumulative chain, roles and the CLI listing."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_syscall_sandbox.errors import UnknownPolicyError
from pytest_syscall_sandbox.kernel.syscalls import NUMBERS, check_names
from pytest_syscall_sandbox.roles.profiles import DROPPED, PROFILE_BASE, PROFILE_NAMES, PROFILE_OWN, PROFILES
from pytest_syscall_sandbox.roles.registry import BITCOIN_CORE, RoleDefinitionError, RoleRegistry

REPO = Path(__file__).resolve().parents[2]
#: The crate's lists, as the repository's data; the seed text where ../shared is checked out.
LISTS = REPO / "tests" / "data" / "sandbox-rs-0.2.1.json"
SEED = REPO.parent / "shared" / "seeds" / "sandbox-seccomp-0.2.1.rs.txt"
ORDER = ["ESSENTIAL", "MINIMAL", "IO_HEAVY", "COMPUTE", "NETWORK", "UNRESTRICTED"]
SEED_FUNCTIONS = dict(
    zip(ORDER, ["essential_syscalls", "minimal_extras", "io_heavy_extras", "compute_extras", "network_extras",
                "unrestricted_extras"], strict=True)
)  # fmt: skip
DESCRIPTIONS = {
    "ESSENTIAL": "Process bootstrap only (~40 syscalls)",
    "MINIMAL": "Essential + signals, pipes, timers, process control",
    "IO_HEAVY": "Minimal + file manipulation (mkdir, chmod, rename, ...)",
    "COMPUTE": "IoHeavy + advanced scheduling/NUMA",
    "NETWORK": "Compute + socket operations",
    "UNRESTRICTED": "Network + privileged operations",
}


def test_six_profiles_lowest_first() -> None:
    assert list(PROFILE_NAMES) == ORDER
    assert {name: p.description for name, p in PROFILES.items()} == DESCRIPTIONS


def test_each_profile_is_a_strict_superset_of_the_one_below() -> None:
    for lower, upper in itertools.pairwise(ORDER):
        below, above = PROFILES[lower].allowed, PROFILES[upper].allowed
        assert below < above, f"{upper} must strictly contain {lower}"
        assert above - below == set(PROFILE_OWN[upper]) - below
        assert PROFILE_BASE[upper] == lower
    assert PROFILE_BASE["ESSENTIAL"] == ""


def test_every_name_is_in_the_x86_64_table() -> None:
    for profile in PROFILES.values():
        check_names(profile.allowed)
    assert "waitpid" in DROPPED and "waitpid" not in NUMBERS
    assert "wait4" in PROFILES["MINIMAL"].allowed


def test_spot_checks_from_the_crates_own_tests() -> None:
    essential, minimal, network = PROFILES["ESSENTIAL"], PROFILES["MINIMAL"], PROFILES["NETWORK"]
    assert {
        "read",
        "write",
        "exit",
        "execve",
        "mmap",
        "brk",
        "openat",
        "arch_prctl",
        "futex",
        "fcntl",
    } <= essential.allowed
    assert not {"clone", "rt_sigaction", "nanosleep", "socket", "ptrace", "mkdir"} & essential.allowed
    assert 35 <= len(essential.allowed) <= 50
    assert {"clone3", "sched_getaffinity", "nanosleep", "rt_sigaction"} <= minimal.allowed
    assert not {"ptrace", "mkdir", "socket"} & minimal.allowed
    assert len(minimal.allowed) > 100
    assert {"socket", "connect", "bind", "mkdir", "sched_setscheduler"} <= network.allowed
    assert {"ptrace", "mount", "bpf", "setuid", "getgroups"} <= PROFILES["UNRESTRICTED"].allowed
    assert len(PROFILES["UNRESTRICTED"].allowed) < len(NUMBERS)  # NETWORK plus privileged operations, not everything


def _seed_list(text: str, function: str) -> list[str]:
    body = text[text.index(f"fn {function}") :]
    return re.findall(r'"([^"]+)"', body[body.index("vec![") : body.index("]")])


def test_lists_are_the_seeds() -> None:
    lists: dict[str, list[str]] = json.loads(LISTS.read_text())["functions"]
    assert set(lists) == set(SEED_FUNCTIONS.values())
    for name, function in SEED_FUNCTIONS.items():
        assert list(PROFILE_OWN[name]) == [n for n in lists[function] if n not in DROPPED], name
    if SEED.is_file():  # where ../shared is checked out: the data is what the crate's source lists
        text = SEED.read_text()
        assert {function: _seed_list(text, function) for function in lists} == lists


def test_profiles_are_built_in_roles_usable_by_name() -> None:
    registry = RoleRegistry()
    names = registry.names()
    assert names[-6:] == ORDER
    for name in ORDER:
        role = registry.get(name.lower().replace("_", "-"))
        assert role.name == name and role.origin == "sandbox-rs"
        assert role.allowed == PROFILES[name].allowed
        assert role.description == DESCRIPTIONS[name]
        rebuilt = RoleRegistry().define(f"COPY_{name}", role.definition)
        assert rebuilt.allowed == role.allowed  # the definition is valid custom-role syntax
    assert sum(r.origin == BITCOIN_CORE for r in registry.roles()) == 15


def test_custom_roles_build_on_profiles_and_cannot_replace_them() -> None:
    registry = RoleRegistry()
    role = registry.define("WORKER", "NETWORK -socket +getgroups")
    assert role.allowed == (PROFILES["NETWORK"].allowed - {"socket"}) | {"getgroups"}
    assert registry.define("SMALL", "UNRESTRICTED -NETWORK").allowed == set(PROFILE_OWN["UNRESTRICTED"]) - set(
        PROFILES["NETWORK"].allowed
    )
    with pytest.raises(RoleDefinitionError, match="built-in role"):
        registry.define("MINIMAL", "ESSENTIAL")
    with pytest.raises(UnknownPolicyError):
        registry.get("MINIMUM")


def _cli(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest_syscall_sandbox", *args], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_cli_lists_every_origin_grouped() -> None:
    out = _cli("policies", "--origin", "all")
    # Bitcoin Core's group first, then sandbox-rs's, each with its title
    marks = [out.index(text) for text in ("Bitcoin Core", "INITIALIZATION ", "SHUTOFF", "sandbox-rs", "ESSENTIAL ")]
    assert marks == sorted(marks)
    rows = [line for line in out[marks[3] :].splitlines() if line.split()[:1] and line.split()[0] in ORDER]
    assert [row.split()[0] for row in rows] == ORDER
    for row in rows:
        name = row.split()[0]
        assert DESCRIPTIONS[name] in row
        assert row.split()[-1] == str(len(PROFILES[name].allowed))
        assert row.split()[-2] == str(len(PROFILE_OWN[name]))


def test_cli_one_origin() -> None:
    out = _cli("policies", "--origin", "sandbox-rs").splitlines()
    assert out[0].split()[0] == "profile"
    assert [line.split()[0] for line in out[2:]] == ORDER
    both = _cli("policies")
    assert _cli("policies", "--origin", "bitcoin-core") in both
    assert both.index("Bitcoin Core") < both.index("sandbox-rs")
