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
