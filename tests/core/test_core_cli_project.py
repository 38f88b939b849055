"""The command line knows the project: its ini file's ``sandbox_roles``, found as pytest finds it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_syscall_sandbox.roles.groups import GROUPS
from pytest_syscall_sandbox.roles.registry import RoleRegistry

REPO = Path(__file__).resolve().parents[2]
_ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
WALLET = "MESSAGE_HANDLER -@FileSystem +openat +newfstatat"
INDEXER = "@AddressSpaceAccess @Futex @GeneralIo +fsync @Hardening"

#: One project's configuration, written each way pytest reads it.
CONFIGS = {
    "pytest.ini": f"[pytest]\nsandbox_roles =\n    WALLET = {WALLET}\n    INDEXER = {INDEXER}\n",
    "tox.ini": f"[tox]\nenvlist = py\n[pytest]\nsandbox_roles =\n    WALLET = {WALLET}\n    INDEXER = {INDEXER}\n",
    "setup.cfg": f"[metadata]\nname = x\n[tool:pytest]\nsandbox_roles =\n  WALLET = {WALLET}\n  INDEXER = {INDEXER}\n",
    "pyproject.toml": (
        '[project]\nname = "x"\n[tool.pytest.ini_options]\n'
        f'sandbox_roles = """\nWALLET = {WALLET}\nINDEXER = {INDEXER}\n"""\n'
    ),
    "pytest.toml": f'[pytest]\nsandbox_roles = """\nWALLET = {WALLET}\nINDEXER = {INDEXER}"""\n',
}


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m pytest_syscall_sandbox ARGS`` run in ``cwd``, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "pytest_syscall_sandbox", *args],
        cwd=cwd, env=_ENV, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def pytest_configfile(cwd: Path) -> str:
    """The configuration file pytest itself picks from ``cwd`` (its header line), or ''."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-p", "no:cacheprovider", "-p", "no:randomly"],
        cwd=cwd, env=_ENV, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    found = re.search(r"configfile: (\S+)", result.stdout)
    return found.group(1) if found else ""


def expected(definition: str) -> set[str]:
    registry = RoleRegistry()
    return set(registry.define("X", definition).allowed)


def allowed(result: subprocess.CompletedProcess[str]) -> set[str]:
    line = next(line for line in result.stdout.splitlines() if line.startswith("allowed: "))
    return set(line.split()[1:])


@pytest.mark.parametrize("filename", sorted(CONFIGS))
def test_show_and_bpf_read_the_projects_roles(tmp_path: Path, filename: str) -> None:
    """From a folder inside the project, each kind of ini file gives the roles pytest would see."""
    (tmp_path / filename).write_text(CONFIGS[filename])
    inside = tmp_path / "tests" / "unit"
    inside.mkdir(parents=True)
    show = cli("show", "wallet", cwd=inside)
    assert show.returncode == 0, show.stderr
    assert show.stdout.startswith(f"WALLET (project role, {tmp_path / filename}): "), show.stdout
    assert allowed(show) == expected(WALLET)
    assert "hardening" not in show.stdout
    indexer = cli("show", "INDEXER", cwd=inside)
    assert allowed(indexer) == expected(INDEXER) and "with the hardening set" in indexer.stdout
    bpf = cli("bpf", "INDEXER", cwd=inside)
    assert bpf.returncode == 0, bpf.stderr
    assert bpf.stdout.startswith("# INDEXER, mode log-and-abort (TRAP), tree, with the hardening set"), bpf.stdout
    assert pytest_configfile(inside) in (str(tmp_path / filename), filename)  # pytest reads that file too


def test_ini_file_precedence_matches_pytest(tmp_path: Path) -> None:
    """Within a folder pytest.ini wins over tox.ini; a tox.ini without [pytest] is passed over for a parent's."""
    (tmp_path / "setup.cfg").write_text(f"[tool:pytest]\nsandbox_roles = WALLET = {WALLET}\n")
    project = tmp_path / "project"
    project.mkdir()
    (project / "tox.ini").write_text("[tox]\nenvlist = py\n")  # no [pytest]: not pytest's
    assert cli("show", "WALLET", cwd=project).stdout.startswith(f"WALLET (project role, {tmp_path / 'setup.cfg'})")
    assert pytest_configfile(project).endswith("setup.cfg")
    (project / "pytest.ini").write_text("[pytest]\nsandbox_roles = WALLET = NET +getgroups\n")
    (project / "tox.ini").write_text(f"[pytest]\nsandbox_roles = WALLET = {WALLET}\n")
    show = cli("show", "WALLET", cwd=project)
    assert allowed(show) == expected("NET +getgroups"), show.stdout
    assert pytest_configfile(project).endswith("pytest.ini")


def test_rootdir_option(tmp_path: Path) -> None:
    """``--rootdir DIR`` reads DIR's project, whatever the current directory; a missing DIR is a clear error."""
    (tmp_path / "pytest.ini").write_text(f"[pytest]\nsandbox_roles = WALLET = {WALLET}\n")
    elsewhere = tmp_path.parent
    for command in (("show", "WALLET"), ("bpf", "WALLET"), ("lint", "WALLET", "--no-probe")):
        result = cli(*command, "--rootdir", str(tmp_path), cwd=elsewhere)
        assert result.returncode in (0, 1), result.stderr  # lint: 1 when a role has a certain finding
        assert "WALLET" in result.stdout
    missing = cli("show", "WALLET", "--rootdir", str(tmp_path / "nope"), cwd=elsewhere)
    assert missing.returncode == 2
    assert f"--rootdir '{tmp_path / 'nope'}': not a directory" in missing.stderr


def test_unknown_role_names_where_roles_were_read(tmp_path: Path) -> None:
    """An unknown role lists the valid ones, says which file was read, and that hook roles need pytest."""
    (tmp_path / "pytest.ini").write_text(f"[pytest]\nsandbox_roles = WALLET = {WALLET}\n")
    for command in (("show", "MINER"), ("bpf", "MINER"), ("lint", "MINER", "--no-probe")):
        result = cli(*command, cwd=tmp_path)
        assert result.returncode == 2, result.stdout
        assert "unknown sandbox policy 'MINER'" in result.stderr and "WALLET" in result.stderr
        assert f"{tmp_path / 'pytest.ini'} defines WALLET" in result.stderr
    assert "pytest_sandbox_roles hook" in cli("show", "MINER", cwd=tmp_path).stderr
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "tox.ini").write_text("[tox]\n")
    result = cli("show", "WALLET", "--rootdir", str(bare), cwd=tmp_path)
    assert result.returncode == 0  # the parent's pytest.ini: tox.ini without [pytest] is not pytest's


@pytest.mark.parametrize(
    ("filename", "text", "message"),
    [
        ("pytest.ini", "[pytest]\nsandbox_roles = WALLET = NET +nosuchcall\n", "nosuchcall"),
        ("pytest.ini", "[pytest]\nsandbox_roles = WALLET NET\n", "expected 'NAME = definition'"),
        ("pyproject.toml", "[tool.pytest.ini_options\nsandbox_roles = 1\n", "cannot be read as TOML"),
        ("pytest.toml", "[pytest]\nsandbox_roles = 3\n", "must be a string of 'NAME = definition' lines"),
    ],
)
def test_bad_project_config_is_a_clear_error(tmp_path: Path, filename: str, text: str, message: str) -> None:
    """A broken ini file or role definition: exit code 2, naming the file and what was wrong."""
    (tmp_path / filename).write_text(text)
    result = cli("show", "WALLET", cwd=tmp_path)
    assert result.returncode == 2
    assert str(tmp_path / filename) in result.stderr and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_show_group(tmp_path: Path) -> None:
    """``show @Group`` (any case) lists the group's syscalls; an unknown group lists the valid ones."""
    result = cli("show", "@filesystem", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"@FileSystem: {len(GROUPS['FileSystem'])} syscalls")
    assert allowed_line(result.stdout, "syscalls: ") == set(GROUPS["FileSystem"])
    assert "NET" in allowed_line(result.stdout, "allowed whole by the policies: ")
    bad = cli("show", "@Nope", cwd=tmp_path)
    assert bad.returncode == 2
    assert "unknown capability group 'Nope'; valid groups: AddressSpaceAccess" in bad.stderr


def allowed_line(text: str, prefix: str) -> set[str]:
    return set(next(line for line in text.splitlines() if line.startswith(prefix))[len(prefix) :].split())


def test_lint_min_severity(tmp_path: Path) -> None:
    """``--min-severity`` hides the milder findings, in the table and the JSON; a bad value lists the valid ones."""
    (tmp_path / "pytest.ini").write_text(f"[pytest]\nsandbox_roles = WALLET = {WALLET}\n")
    every = json.loads(cli("lint", "--format", "json", "--no-probe", cwd=tmp_path).stdout)
    assert [role["role"] for role in every["roles"]] == ["WALLET"]  # the project's roles by default
    severities = {f["severity"] for f in every["roles"][0]["findings"]}
    assert "note" in severities
    ranks = {"certain": {"certain"}, "likely": {"certain", "likely"}, "note": {"certain", "likely", "note"}}
    for least, kept in ranks.items():
        result = cli("lint", "--format", "json", "--no-probe", f"--min-severity={least}", cwd=tmp_path)
        data = json.loads(result.stdout)
        findings = data["roles"][0]["findings"]
        assert findings == [f for f in every["roles"][0]["findings"] if f["severity"] in kept]
        assert result.returncode == every["exit_code"]
        table = cli("lint", "--no-probe", f"--min-severity={least}", cwd=tmp_path).stdout
        rows = re.findall(r"^\w+\s+(certain|likely|note)\s", table, re.MULTILINE)
        assert set(rows) <= kept and len(rows) == len(findings), table
    bad = cli("lint", "--min-severity=high", cwd=tmp_path)
    assert bad.returncode == 2
    assert re.search(
        r"--min-severity: invalid choice: 'high' \(choose from '?certain'?, '?likely'?, '?note'?\)", bad.stderr
    )
