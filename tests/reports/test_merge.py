"""``merge``: the merged report of shards equals the report of one run over all their tests."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from saved import ROOT, assert_same_report, cli, comparable, load, run_pytest, section
from suite import HALVES, make_suite

from pytest_syscall_sandbox.reports.environments import environment_label

#: The bundled fixtures in two halves.
FIXTURE_HALVES = ("net or opens", "not (net or opens)")


def _runs(
    tmp_path: Path, cwd: Path, base: list[str], halves: tuple[str, str], env: dict[str, str] | None = None
) -> None:
    for name, select in (("full", None), ("a", halves[0]), ("b", halves[1])):
        args = [*base, f"--sandbox-report={tmp_path / name}.json"] + (["-k", select] if select else [])
        result = run_pytest(args, cwd=cwd, env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        if name == "full":
            (tmp_path / "full.out").write_text(result.stdout)


def test_the_bundled_fixtures_in_two_halves_merge_into_the_full_run(tmp_path: Path) -> None:
    _runs(tmp_path, ROOT, ["fixtures", "--sandbox-mode=audit"], FIXTURE_HALVES)
    a, b, full = load(tmp_path / "a.json"), load(tmp_path / "b.json"), load(tmp_path / "full.json")
    assert a["tests"] and b["tests"] and len(a["tests"]) + len(b["tests"]) == len(full["tests"]) == 9
    assert {t["role"] for t in a["tests"]} & {t["role"] for t in b["tests"]}  # a role in both halves
    merged = cli("merge", tmp_path / "a.json", tmp_path / "b.json", "-o", tmp_path / "all.json")
    assert merged.returncode == 0, merged.stderr
    assert "merged 2 reports (9 test runs, 1 environment(s))" in merged.stdout
    assert_same_report(load(tmp_path / "all.json"), full)
    # `report` prints the run's own section: exactly for the full run's file, and for the merged one
    # the same lines (in shard order)
    printed = cli("report", tmp_path / "full.json")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.rstrip("\n") == section((tmp_path / "full.out").read_text())
    merged_lines = cli("report", tmp_path / "all.json").stdout.splitlines()
    # the pids a blank names ("in a vfork child of process 7806") differ between the two runs
    assert sorted(map(_without_pids, merged_lines)) == sorted(map(_without_pids, printed.stdout.splitlines()))


@pytest.mark.parametrize("mode", ["audit", "profile"])
def test_a_suite_of_our_own_in_two_halves_merges_into_the_full_run(
    pytester: pytest.Pytester, tmp_path: Path, mode: str
) -> None:
    make_suite(pytester)
    _runs(tmp_path, pytester.path, [f"--sandbox-mode={mode}"], HALVES)
    full = load(tmp_path / "full.json")
    assert full["roles"]["MESSAGE_HANDLER"]["missing"][0]["tests"] == [
        "test_a.py::test_a_asks_for_groups",
        "test_b.py::test_b_asks_for_groups_again",
    ]
    if mode == "profile":
        roles = full["roles"].values()
        assert any(facts["used"] for facts in roles) and all(facts["unmeasured"] for facts in roles), full["roles"]
    assert cli("merge", tmp_path / "a.json", tmp_path / "b.json", "-o", tmp_path / "all.json").returncode == 0
    merged = load(tmp_path / "all.json")
    assert_same_report(merged, full)
    # the project role's fix conflict counts the tests of both halves, as the full run's does
    [conflict] = merged["roles"]["WALLET"]["fix_conflicts"]
    assert "and 2 tests called it" in conflict and merged["roles"]["WALLET"]["fix_target"]["origin"] == "custom"
    # the summaries, gap tables, fixes and (profile) least-privilege table the run printed
    assert cli("report", tmp_path / "all.json").stdout.rstrip("\n") == section((tmp_path / "full.out").read_text())
    # and the exports a run writes
    assert cli("report", tmp_path / "all.json", "--export", tmp_path / "from-merge").returncode == 0
    result = run_pytest([f"--sandbox-mode={mode}", f"--sandbox-export={tmp_path / 'from-run'}"], cwd=pytester.path)
    assert result.returncode == 0
    ours = {p.name: p.read_text() for p in (tmp_path / "from-merge").iterdir()}
    assert ours == {p.name: p.read_text() for p in (tmp_path / "from-run").iterdir()}
    assert len(ours) == 3 * (2 if mode == "audit" else 3) * 4  # 3 formats, 2-3 lists, 4 roles


def _other_machine(path: Path, libc: str) -> dict[str, Any]:
    """Edit the environment block of a saved report, as if another machine had written it."""
    document = load(path)
    document["environment"]["libc"] = libc
    path.write_text(json.dumps(document))
    return dict(document["environment"])


def test_shards_of_two_machines_keep_each_tests_environment(pytester: pytest.Pytester, tmp_path: Path) -> None:
    make_suite(pytester)
    here = run_pytest(["--sandbox-mode=audit", f"--sandbox-report={tmp_path / 'here.json'}"], cwd=pytester.path)
    env = {**os.environ, "ON_MACHINE_B": "1"}
    there = run_pytest(["--sandbox-mode=audit", f"--sandbox-report={tmp_path / 'there.json'}"], pytester.path, env)
    assert here.returncode == there.returncode == 0
    other = _other_machine(tmp_path / "there.json", "glibc 9.99")
    result = cli("merge", tmp_path / "here.json", tmp_path / "there.json", "-o", tmp_path / "all.json")
    assert result.returncode == 0, result.stderr
    merged = load(tmp_path / "all.json")
    mine, theirs = environment_label(load(tmp_path / "here.json")["environment"]), environment_label(other)
    assert merged["environment"] is None and merged["environments"] == {
        mine: load(tmp_path / "here.json")["environment"],
        theirs: other,
    }
    assert len(merged["tests"]) == 14  # seven sandboxed tests, on each machine
    assert {(t["nodeid"], t["environment"]) for t in merged["tests"]} == {
        (t["nodeid"], label) for t in load(tmp_path / "here.json")["tests"] for label in (mine, theirs)
    }
    scheduler = merged["roles"]["SCHEDULER"]
    assert scheduler["environment_gaps"] == {"getgroups": [theirs]}
    assert scheduler["tests"] == 1
    number = sorted(merged["environments"]).index(theirs) + 1
    assert (
        scheduler["summary"] == f"SCHEDULER: 1 missing: getgroups (only in some environments: getgroups in E{number})"
    )
    # a gap both machines showed is not environment-specific
    assert merged["roles"]["MESSAGE_HANDLER"]["environment_gaps"] == {}
    [gap] = merged["roles"]["MESSAGE_HANDLER"]["missing"]
    assert gap["calls"] == 2 * 3
    assert {r["environment"] for r in merged["records"] if r["role"] == "SCHEDULER" and r["phase"] != "harness"} == {
        theirs
    }
    printed = cli("report", tmp_path / "all.json", "-q").stdout
    assert f"  E{number}: {theirs} (7 test runs)" in printed
    assert f"  SCHEDULER: getgroups only in E{number}" in printed
    # the merged report merges again, with a third machine
    third = tmp_path / "third.json"
    third.write_text((tmp_path / "here.json").read_text())
    _other_machine(third, "musl 1.2")
    assert cli("merge", tmp_path / "all.json", third, "-o", tmp_path / "all3.json").returncode == 0
    assert len(load(tmp_path / "all3.json")["environments"]) == 3
    assert load(tmp_path / "all3.json")["roles"]["SCHEDULER"]["environment_gaps"] == {"getgroups": [theirs]}


def test_halves_on_two_machines_show_no_environment_specific_gap(pytester: pytest.Pytester, tmp_path: Path) -> None:
    make_suite(pytester)
    for name, select in zip("ab", HALVES, strict=True):
        result = run_pytest(
            ["--sandbox-mode=audit", f"--sandbox-report={tmp_path / name}.json", "-k", select], pytester.path
        )
        assert result.returncode == 0
    _other_machine(tmp_path / "b.json", "glibc 9.99")
    assert cli("merge", tmp_path / "a.json", tmp_path / "b.json", "-o", tmp_path / "all.json").returncode == 0
    merged = load(tmp_path / "all.json")
    assert len(merged["environments"]) == 2
    # each test ran on one machine only: no machine lacked a gap that another showed
    assert all(not facts["environment_gaps"] for facts in merged["roles"].values())
    assert (
        "every gap appears in every environment whose tests could make it"
        in cli("report", tmp_path / "all.json").stdout
    )


def test_merge_refuses_what_cannot_be_one_run(pytester: pytest.Pytester, tmp_path: Path) -> None:
    make_suite(pytester)
    for name, mode in (("audit", "audit"), ("profile", "profile")):
        assert (
            run_pytest([f"--sandbox-mode={mode}", f"--sandbox-report={tmp_path / name}.json"], pytester.path).returncode
            == 0
        )
    audit = tmp_path / "audit.json"
    overlap = cli("merge", audit, audit, "-o", tmp_path / "x.json")
    assert overlap.returncode == 2
    assert "ran in both" in overlap.stderr and "the shards overlap" in overlap.stderr
    modes = cli("merge", audit, tmp_path / "profile.json", "-o", tmp_path / "x.json")
    assert modes.returncode == 2 and "different settings (mode)" in modes.stderr
    old = load(audit)
    old["version"] = 1
    (tmp_path / "v1.json").write_text(json.dumps(old))
    for command in (["merge", tmp_path / "v1.json", "-o", tmp_path / "x.json"], ["report", tmp_path / "v1.json"]):
        refused = cli(*command)
        assert refused.returncode == 2
        assert "report schema version 1, but this pytest-syscall-sandbox reads only version 2" in refused.stderr
    (tmp_path / "broken.json").write_text('{"version": 2, "records": ')
    assert "not JSON" in cli("report", tmp_path / "broken.json").stderr
    del old["roles"]["SCHEDULER"]["missing"]
    old["version"] = 2
    (tmp_path / "partial.json").write_text(json.dumps(old))
    assert "role SCHEDULER lacks 'missing'" in cli("diff", audit, tmp_path / "partial.json").stderr
    assert not (tmp_path / "x.json").exists()
    assert comparable(load(audit))  # the file refused above is still a report


def _without_pids(line: str) -> str:
    return re.sub(r"\b\d{3,}\b", "<pid>", line)
