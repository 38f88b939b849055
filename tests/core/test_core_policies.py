"""Capability groups, the fifteen policies and SeccompPolicyBuilder against the reference."""

from __future__ import annotations

import re

import pytest
import reference_data
from core_support import (
    DEFAULT_GROUPS,
    DEFAULT_SYSCALLS,
    EXTRA_GROUPS,
    FS_SYSCALLS,
    NET_SYSCALLS,
    POLICIES,
    POLICY_NAMES,
    expected_allowed,
)

from pytest_syscall_sandbox import (
    SeccompPolicyBuilder,
    SyscallSandboxPolicy,
    UnknownPolicyError,
    UnknownSyscallError,
    get_policy,
    policy_syscalls,
)
from pytest_syscall_sandbox.engine.emulator import SeccompData, emulate
from pytest_syscall_sandbox.kernel.actions import ALLOW, KILL_PROCESS, TRAP
from pytest_syscall_sandbox.kernel.syscalls import NUMBERS
from pytest_syscall_sandbox.roles import groups as groups_mod
from pytest_syscall_sandbox.roles.builder import build_policy_filter, builder_for
from pytest_syscall_sandbox.roles.policies import ALIASES, POLICY_EXTRA_GROUPS, policy_groups


def snake(group: str) -> str:
    """``AddressSpaceAccess`` -> ``allow_address_space_access``, written independently."""
    out = ""
    for i, ch in enumerate(group):
        if ch.isupper() and i:
            out += "_"
        out += ch.lower()
    return "allow_" + out


# --------------------------------------------------------------------------- the reference file itself


def _md_tables(text: str) -> list[list[list[str]]]:
    """Every markdown table of ``text`` as rows of cells (header and rule rows dropped)."""
    tables: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(set(c) <= set("- ") for c in cells):
                current.append(cells)
        elif current:
            tables.append(current[1:])  # drop the header row
            current = []
    return tables


def _thread(cell: str) -> str:
    """``"main thread, init (superset of all others)"`` -> ``"init"``; ``"net"`` -> ``"net"``."""
    return cell.split("(")[0].split(",")[-1].strip()


def test_hand_written_table_matches_the_reference_data() -> None:
    data = reference_data.bitcoin_core()
    assert data["default_groups"] == {g: n.split() for g, n in DEFAULT_GROUPS.items()}
    assert data["extra_groups"] == {g: n.split() for g, n in EXTRA_GROUPS.items()}
    assert data["syscalls_on_by_default"] == len(DEFAULT_SYSCALLS)
    policies = {name: (p["thread"], p["file_system"], p["network"]) for name, p in data["policies"].items()}
    assert list(policies) == list(POLICY_NAMES) and policies == POLICIES
    markdown = reference_data.shared_file("reference/bitcoin-core-policies.md")
    if markdown is not None:  # where ../shared is checked out: the data is what its markdown says
        text = markdown.read_text()
        _actions, default_groups, extra_groups, rows = _md_tables(text)[:4]
        assert {g: names.split() for g, names in default_groups} == data["default_groups"]
        assert {g: names.split() for g, names in extra_groups} == data["extra_groups"]
        assert {row[0]: (_thread(row[1]), row[2] == "yes", row[3] == "yes") for row in rows} == policies
        on = re.search(r"That is (\d+) syscalls on by default", text)
        assert on is not None and int(on.group(1)) == data["syscalls_on_by_default"]


def test_reference_counts() -> None:
    assert len(DEFAULT_GROUPS) == 20
    assert len(DEFAULT_SYSCALLS) == 86
    assert len(FS_SYSCALLS) == 30
    assert len(NET_SYSCALLS) == 8
    assert not (DEFAULT_SYSCALLS & FS_SYSCALLS) and not (DEFAULT_SYSCALLS & NET_SYSCALLS)
    assert len(POLICIES) == 15


# --------------------------------------------------------------------------- groups


def test_groups_name_by_name() -> None:
    expected = {**DEFAULT_GROUPS, **EXTRA_GROUPS}
    assert set(groups_mod.GROUPS) == set(expected)
    for group, names in expected.items():
        assert sorted(groups_mod.GROUPS[group]) == sorted(names.split()), group


def test_default_groups_in_upstream_order() -> None:
    assert list(groups_mod.DEFAULT_GROUPS) == list(DEFAULT_GROUPS)


def test_every_group_name_is_in_the_table() -> None:
    for group, names in groups_mod.GROUPS.items():
        for name in names:
            assert name in NUMBERS, (group, name)


@pytest.mark.parametrize("group", [*DEFAULT_GROUPS, *EXTRA_GROUPS])
def test_method_name_is_snake_case(group: str) -> None:
    assert groups_mod.method_name(group) == snake(group)


def test_group_of() -> None:
    assert groups_mod.group_of("mremap") == "AddressSpaceAccess"
    assert groups_mod.group_of("clone3") == "ProcessStartOrDeath"
    assert groups_mod.group_of("newfstatat") == "FileSystem"
    assert groups_mod.group_of("accept4") == "Network"
    assert groups_mod.group_of("getgroups") is None


# --------------------------------------------------------------------------- policies


def test_policy_enum_is_the_fifteen_in_order() -> None:
    assert [p.name for p in SyscallSandboxPolicy] == list(POLICY_NAMES)
    for name, (thread, _fs, _net) in POLICIES.items():
        assert SyscallSandboxPolicy[name].value == thread


def test_policy_allowed_set_name_by_name(policy_name: str) -> None:
    policy = SyscallSandboxPolicy[policy_name]
    got = policy_syscalls(policy)
    want = expected_allowed(policy_name)
    assert sorted(got - want) == [], "allowed but not upstream"
    assert sorted(want - got) == [], "upstream allows, we do not"
    assert got == SeccompPolicyBuilder.for_policy(policy).allowed


def test_policy_groups(policy_name: str) -> None:
    _thread, fs, net = POLICIES[policy_name]
    policy = SyscallSandboxPolicy[policy_name]
    extra = (["FileSystem"] if fs else []) + (["Network"] if net else [])
    assert list(POLICY_EXTRA_GROUPS[policy]) == extra
    assert list(policy_groups(policy)) == [*DEFAULT_GROUPS, *extra]


def test_policy_compiled_filter_allows_exactly_its_set(policy_name: str) -> None:
    """The compiled filter (not just the name set) allows each expected name and nothing else named."""
    program = build_policy_filter(SyscallSandboxPolicy[policy_name], KILL_PROCESS).program
    allowed = {name for name, nr in NUMBERS.items() if emulate(program, SeccompData(nr), check=False).action == ALLOW}
    assert allowed == expected_allowed(policy_name)


def test_no_policy_allows_getgroups() -> None:
    for policy in SyscallSandboxPolicy:
        assert "getgroups" not in policy_syscalls(policy)


def test_eighty_six_default_syscalls() -> None:
    assert SeccompPolicyBuilder().allowed == DEFAULT_SYSCALLS
    assert len(SeccompPolicyBuilder().allowed) == 86
    assert policy_syscalls(SyscallSandboxPolicy.VALIDATION_SCRIPT_CHECK) == DEFAULT_SYSCALLS


def test_initialization_is_a_superset_of_every_policy() -> None:
    init = policy_syscalls(SyscallSandboxPolicy.INITIALIZATION)
    assert init == DEFAULT_SYSCALLS | FS_SYSCALLS | NET_SYSCALLS
    for policy in SyscallSandboxPolicy:
        assert policy_syscalls(policy) <= init, policy


@pytest.mark.parametrize("spelling", ["net", "Net", "NET", " net ", "tx_index", "Tx-Index", "validation_script_check"])
def test_policy_names_are_case_insensitive(spelling: str) -> None:
    want = {"net": "NET", "txindex": "TX_INDEX", "validationscriptcheck": "VALIDATION_SCRIPT_CHECK"}
    key = re.sub(r"[^a-z]", "", spelling.lower())
    assert get_policy(spelling) is SyscallSandboxPolicy[want[key]]


def test_get_policy_passes_members_through(policy_name: str) -> None:
    policy = SyscallSandboxPolicy[policy_name]
    assert get_policy(policy) is policy
    assert get_policy(policy_name.lower()) is policy


@pytest.mark.parametrize("spelling", ["INITIALIZATION_TOR_CONTROL", "initialization_tor_control"])
def test_tor_control_alias(spelling: str) -> None:
    assert get_policy(spelling) is SyscallSandboxPolicy.TOR_CONTROL
    assert ALIASES["INITIALIZATION_TOR_CONTROL"] is SyscallSandboxPolicy.TOR_CONTROL


@pytest.mark.parametrize("spelling", ["nope", "", "NETWORK", "init", "INITIALIZATION_"])
def test_unknown_policy_lists_the_valid_ones(spelling: str) -> None:
    with pytest.raises(UnknownPolicyError) as info:
        get_policy(spelling)
    message = str(info.value)
    assert repr(spelling) in message
    for name in POLICY_NAMES:
        assert name in message
    assert sorted(info.value.valid) == sorted(POLICY_NAMES)
    assert isinstance(info.value, ValueError)


# --------------------------------------------------------------------------- builder


@pytest.mark.parametrize("group", [*DEFAULT_GROUPS, *EXTRA_GROUPS])
def test_builder_has_an_allow_method_per_group(group: str) -> None:
    names = {**DEFAULT_GROUPS, **EXTRA_GROUPS}[group].split()
    builder = SeccompPolicyBuilder(defaults=False)
    assert builder.allowed == frozenset()
    method = getattr(builder, snake(group))
    assert method() is builder  # chainable
    assert builder.allowed == frozenset(names)
    assert builder.groups == [group]


def test_builder_allow_methods_are_exactly_the_groups() -> None:
    methods = {m for m in dir(SeccompPolicyBuilder) if m.startswith("allow_") and m != "allow_group"}
    assert methods == {snake(g) for g in [*DEFAULT_GROUPS, *EXTRA_GROUPS]}


def test_builder_defaults_and_extra_groups() -> None:
    builder = SeccompPolicyBuilder()
    assert builder.groups == list(DEFAULT_GROUPS)
    builder.allow_file_system().allow_network()
    assert builder.allowed == expected_allowed("INITIALIZATION")
    builder.allow_network()  # twice changes nothing
    assert builder.groups.count("Network") == 1


def test_builder_allow_and_deny_single_names() -> None:
    builder = SeccompPolicyBuilder()
    assert builder.allow("getgroups", "memfd_create") is builder
    assert {"getgroups", "memfd_create"} <= builder.allowed
    assert builder.deny("getgroups", "getpid") is builder
    assert "getgroups" not in builder.allowed and "getpid" not in builder.allowed
    assert "memfd_create" in builder.allowed
    assert builder.deny("socket").allowed == builder.allowed  # denying what is not allowed is fine
    assert len(builder.allowed) == 86 + 1 - 1


def test_builder_filter_follows_allow_and_deny() -> None:
    builder = SeccompPolicyBuilder().allow("getgroups").deny("getpid")
    program = builder.build_filter(TRAP).program
    assert emulate(program, SeccompData(115)).action.name == "ALLOW"
    assert emulate(program, SeccompData(39)).action.name == "TRAP"
    assert emulate(program, SeccompData(0)).action.name == "ALLOW"
    default = SeccompPolicyBuilder().build_filter().program  # default action: KILL_PROCESS
    assert emulate(default, SeccompData(115)).action.name == "KILL_PROCESS"


@pytest.mark.parametrize("method", ["allow", "deny"])
def test_builder_unknown_names_raise_with_the_name(method: str) -> None:
    builder = SeccompPolicyBuilder()
    before = builder.allowed
    with pytest.raises(UnknownSyscallError, match="sys_frobnicate"):
        getattr(builder, method)("read", "sys_frobnicate")
    assert builder.allowed == before, "a failed call must not half-apply"


def test_builder_unknown_group() -> None:
    with pytest.raises(ValueError, match="NoSuchGroup") as info:
        SeccompPolicyBuilder().allow_group("NoSuchGroup")
    assert "FileSystem" in str(info.value)


def test_builder_for_helper() -> None:
    builder = builder_for(SyscallSandboxPolicy.NET, allow=["getgroups"], deny=["socket"])
    assert builder.allowed == (expected_allowed("NET") | {"getgroups"}) - {"socket"}
    with pytest.raises(UnknownSyscallError, match="bogus"):
        builder_for(SyscallSandboxPolicy.NET, allow=["bogus"])
