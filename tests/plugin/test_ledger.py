"""The ledger on its own: pure bookkeeping, no fork, no filter, no pytest run."""

from __future__ import annotations

from pytest_syscall_sandbox.plugin.ledger import PROFILE, PROFILE_ALWAYS, Ledger
from pytest_syscall_sandbox.recorders.record import HARNESS, USED, TrapRecord
from pytest_syscall_sandbox.roles.registry import RoleRegistry


def _record(syscall: str, nr: int, *, role: str = "NET", phase: str = "call", outcome: str = "allowed") -> TrapRecord:
    return TrapRecord(syscall=syscall, nr=nr, role=role, phase=phase, outcome=outcome)


def test_add_counts_tests_and_sorts_calls_into_test_and_harness_sets() -> None:
    ledger = Ledger(RoleRegistry(), "audit")
    ledger.add("NET", None, [_record("mkdirat", 258).to_json(), _record("openat", 257, phase=HARNESS).to_json()])
    added = ledger.add("NET", None, [_record("mkdirat", 258).to_json()])
    assert ledger.roles_used == {"NET": 2}
    assert ledger.observed == {"NET": {"mkdirat"}}
    assert ledger.harness_seen == {"NET": {"openat"}}
    assert [r.syscall for r in added] == ["mkdirat"]
    assert [r.syscall for r in ledger.records] == ["mkdirat", "openat", "mkdirat"]


def test_a_number_the_table_lacks_is_recorded_but_never_enters_an_allow_list() -> None:
    ledger = Ledger(RoleRegistry(), "audit")
    ledger.add("NET", None, [_record("*unknown*", 4000).to_json()])
    assert len(ledger.records) == 1
    assert ledger.observed == {"NET": set()}


def test_role_facts_from_a_worker_describe_a_variant_the_registry_does_not_know() -> None:
    registry = RoleRegistry()
    variant = registry.get("NET").with_changes(allow=["getgroups"])
    ledger = Ledger(registry, "audit")
    ledger.add(variant.name, variant.to_json(), [])
    assert ledger.role(variant.name) == variant
    facts = ledger.role_facts()[variant.name]
    assert facts["tests"] == 1 and facts["variant"] is True
    assert "getgroups" in facts["allowed"]  # type: ignore[operator]


def test_profile_filter_grows_with_what_was_seen_and_minimal_is_only_what_was_measured() -> None:
    registry = RoleRegistry()
    net = registry.get("NET")
    ledger = Ledger(registry, PROFILE, vdso={"clock_gettime": "the vDSO answers it"})
    first = ledger.filter_allows(net, PROFILE)
    assert first == PROFILE_ALWAYS & net.allowed
    ledger.add("NET", None, [_record("sendto", 44, outcome=USED).to_json()])
    assert ledger.filter_allows(net, PROFILE) == first | {"sendto"}
    assert ledger.filter_allows(net, "audit") == net.allowed
    assert ledger.minimal("NET") == {"sendto"}
    assert set(ledger.unmeasured("NET")) == (PROFILE_ALWAYS & net.allowed) | {"clock_gettime"}
    facts = ledger.role_facts()["NET"]
    assert facts["used"] == ["sendto"]
    assert "sendto" not in facts["unused"]  # type: ignore[operator]
    assert not set(facts["unused"]) & (PROFILE_ALWAYS | {"clock_gettime"})  # type: ignore[arg-type]
    assert {"syscall": "clock_gettime", "reason": "the vDSO answers it"} in facts["unmeasured"]  # type: ignore[operator]


def test_only_records_of_calls_the_role_lacks_count_as_gaps() -> None:
    assert Ledger.counts_as_gap(_record("mkdirat", 258))
    assert not Ledger.counts_as_gap(_record("sendto", 44, outcome=USED))
