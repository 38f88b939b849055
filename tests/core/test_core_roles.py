"""Roles: custom definitions, variants, and their JSON form."""

from __future__ import annotations

import pytest

from pytest_syscall_sandbox.roles.registry import Role, RoleDefinitionError, RoleRegistry


def test_variants_are_named_by_how_they_differ_and_round_trip_through_json() -> None:
    registry = RoleRegistry()
    net = registry.get("net")
    variant = net.with_changes(allow=["getgroups"], deny=["socket"]).hardened()
    assert variant.name == "NET+getgroups-socket@Hardening" and variant.is_variant and not net.is_variant
    assert "getgroups" in variant.allowed and "socket" not in variant.allowed and variant.harden
    assert variant.definition == "NET +getgroups -socket @Hardening"
    assert registry.define("AGAIN", variant.definition).allowed == variant.allowed
    assert Role.from_json(variant.to_json()) == variant


def test_a_custom_role_cannot_replace_a_built_in_one() -> None:
    with pytest.raises(RoleDefinitionError, match="NET"):
        RoleRegistry().define("NET", "ESSENTIAL")


def test_every_named_allow_list_is_one_role_type() -> None:
    """Policies, profiles, custom roles and the builder all are, or build, a Role."""
    from pytest_syscall_sandbox import SeccompPolicyBuilder, SyscallSandboxPolicy
    from pytest_syscall_sandbox.roles.policies import policy_role
    from pytest_syscall_sandbox.roles.profiles import PROFILES

    registry = RoleRegistry()
    net = policy_role(SyscallSandboxPolicy.NET)
    assert isinstance(net, Role) and registry.get("NET") == net
    assert isinstance(PROFILES["MINIMAL"], Role) and registry.get("MINIMAL") == PROFILES["MINIMAL"]
    built = SeccompPolicyBuilder.for_policy(SyscallSandboxPolicy.NET).allow("getgroups").deny("socket").role("NETX")
    assert isinstance(built, Role)
    assert built.allowed == (net.allowed | {"getgroups"}) - {"socket"}
    assert registry.define("NETX", built.definition).allowed == built.allowed  # its definition builds it again


def test_a_project_role_builds_on_the_built_in_role_of_its_name_and_says_so() -> None:
    registry = RoleRegistry()
    upstream = registry.get("NET")
    net = registry.define("net", "NET +vfork -socket", source="ini sandbox_roles")
    assert registry.get("NET") is net and net.origin == "custom" and net.source == "ini sandbox_roles"
    assert net.allowed == (upstream.allowed | {"vfork"}) - {"socket"}
    assert net.overrides == "upstream NET + 1 (vfork) - 1 (socket)"
    assert Role.from_json(net.to_json()) == net
    with pytest.raises(RoleDefinitionError, match="start the definition with its name: TX_INDEX = TX_INDEX"):
        registry.define("TX_INDEX", "NET")  # replacing without building on it stays an error


def test_an_ini_role_extended_in_place_and_from_a_hook() -> None:
    from pytest_syscall_sandbox.roles.registry import parse_role_lines

    lines = parse_role_lines("INDEXER = @Futex +read  # base\nOTHER = INDEXER\nindexer = INDEXER +fsync\n")
    assert lines == {"INDEXER": "@Futex +read +fsync", "OTHER": "INDEXER"}  # the extension applies in place
    registry = RoleRegistry()
    registry.define_all(lines, "ini sandbox_roles")
    assert {"read", "fsync"} <= registry.get("OTHER").allowed
    hooked = registry.define("INDEXER", "INDEXER +getgroups", source="the pytest_sandbox_roles hook of conftest")
    assert hooked.overrides == "ini INDEXER + 1 (getgroups)" and "fsync" in hooked.allowed
    with pytest.raises(RoleDefinitionError, match="lines 1 and 2"):
        parse_role_lines("A = NET\nA = ESSENTIAL\n")  # a second definition that does not build on the first
    with pytest.raises(RoleDefinitionError, match="unknown sandbox policy 'NEWROLE'"):
        RoleRegistry().define("NEWROLE", "NEWROLE +read")  # nothing of that name to build on
