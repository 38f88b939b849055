"""``python -m pytest_syscall_sandbox``, run as a user would (in a subprocess)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from core_support import POLICIES, POLICY_NAMES, expected_allowed

from pytest_syscall_sandbox import SyscallSandboxPolicy
from pytest_syscall_sandbox.engine.bpf import Instruction
from pytest_syscall_sandbox.kernel.actions import KILL_PROCESS, TRAP
from pytest_syscall_sandbox.roles.builder import build_policy_filter

REPO = Path(__file__).resolve().parents[2]


_ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
_RESULTS: dict[tuple[str, ...], subprocess.CompletedProcess[str]] = {}


def _start(args: tuple[str, ...]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pytest_syscall_sandbox", *args],
        cwd=REPO, env=_ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _finish(args: tuple[str, ...], proc: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI once per distinct argument list (the module fixture starts them all at once)."""
    if args not in _RESULTS:
        _RESULTS[args] = _finish(args, _start(args))
    return _RESULTS[args]


def ok(*args: str) -> str:
    proc = cli(*args)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return proc.stdout


def test_policies_lists_the_fifteen() -> None:
    lines = ok("policies", "--origin", "bitcoin-core").splitlines()
    rows = [line.split() for line in lines[2:]]
    assert [row[0] for row in rows] == list(POLICY_NAMES)
    for row in rows:
        thread, fs, net = POLICIES[row[0]]
        assert row[1] == thread
        assert row[-1] == str(len(expected_allowed(row[0])))
        assert ("FileSystem" in row) is fs and ("Network" in row) is net
        if not fs and not net:
            assert row[2] == "-"
    assert lines[0].split()[0] == "policy"


@pytest.mark.parametrize("spelling", ["NET", "net", "MESSAGE_HANDLER", "validation_script_check", "TX_INDEX"])
def test_show_one_policy(spelling: str) -> None:
    name = spelling.upper()
    out = ok("show", spelling)
    thread, fs, net = POLICIES[name]
    want = expected_allowed(name)
    assert out.splitlines()[0] == f"{name} (upstream thread {thread}): {len(want)} syscalls"
    allowed_line = [line for line in out.splitlines() if line.startswith("allowed: ")]
    assert len(allowed_line) == 1
    assert allowed_line[0].split()[1:] == sorted(want)
    assert re.search(r"^FileSystem\s+access chdir", out, re.M) is not None if fs else "FileSystem" not in out
    assert re.search(r"^Network\s+accept accept4", out, re.M) is not None if net else "Network " not in out
    assert re.search(r"^AddressSpaceAccess\s+brk madvise", out, re.M)
    assert "getgroups" not in out


def test_show_accepts_the_old_tor_control_name() -> None:
    assert ok("show", "INITIALIZATION_TOR_CONTROL").startswith("TOR_CONTROL (upstream thread torcontrol)")


def _parse_listing(text: str) -> list[Instruction]:
    insns = []
    for line in text.splitlines():
        m = re.match(r" (\d{4}): 0x([0-9a-f]{2}) 0x([0-9a-f]{2}) 0x([0-9a-f]{2}) 0x([0-9a-f]{8})  ", line)
        if m:
            assert int(m.group(1)) == len(insns)
            insns.append(Instruction(*(int(g, 16) for g in m.groups()[1:])))
    return insns


@pytest.mark.parametrize(
    ("args", "action", "layout"),
    [
        (("bpf", "NET"), TRAP, "tree"),
        (("bpf", "net", "--mode", "abort"), KILL_PROCESS, "tree"),
        (("bpf", "MESSAGE_HANDLER", "--mode", "log-and-abort", "--layout", "linear"), TRAP, "linear"),
        (("bpf", "SHUTOFF", "--layout", "tree", "--mode", "abort"), KILL_PROCESS, "tree"),
    ],
)
def test_bpf_prints_the_compiled_filter(args: tuple[str, ...], action: object, layout: str) -> None:
    out = ok(*args)
    policy = SyscallSandboxPolicy[args[1].upper()]
    compiled = build_policy_filter(policy, action, layout=layout)  # type: ignore[arg-type]
    mode = "abort" if action == KILL_PROCESS else "log-and-abort"
    head = out.splitlines()[0]
    assert head == f"# {policy.name}, mode {mode} ({action}), {layout} layout: {len(compiled)} instructions"
    assert _parse_listing(out) == list(compiled.program)
    if action == KILL_PROCESS:
        assert "return TRAP" not in out
    else:
        assert "return TRAP" in out
    if layout == "linear":
        assert "if (A != read) goto" in out and "if (A != getpid) goto" in out
    else:
        assert "if (A >= " in out and "if (A != getpid)" not in out


@pytest.mark.parametrize(("arg", "line"), [("435", "435\tclone3"), ("clone3", "435\tclone3"), ("0", "0\tread"),
                                           ("getgroups", "115\tgetgroups"), ("469", "469\tfile_setattr")])  # fmt: skip
def test_name_both_ways(arg: str, line: str) -> None:
    assert ok("name", arg) == line + "\n"


@pytest.mark.parametrize(
    "args", [("show", "NOPE"), ("bpf", "nope"), ("show", "INIT"), ("bpf", "NET_HTTP", "--mode", "abort")]
)
def test_unknown_policy_exits_2_listing_valid_ones(args: tuple[str, ...]) -> None:
    proc = cli(*args)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "unknown sandbox policy" in proc.stderr
    assert repr(args[1]) in proc.stderr
    for name in POLICY_NAMES:
        assert name in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(("arg", "hint"), [("470", "0-335 424-469"), ("336", "0-335 424-469"),
                                           ("getgroupz", "did you mean getgroups"), ("-1", "valid")])  # fmt: skip
def test_unknown_syscall_exits_2_saying_what_is_valid(arg: str, hint: str) -> None:
    proc = cli("name", arg)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "unknown syscall" in proc.stderr and hint in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "args", [(), ("frobnicate",), ("bpf", "NET", "--mode", "loud"), ("bpf", "NET", "--layout", "x")]
)
def test_bad_usage_exits_2_with_choices(args: tuple[str, ...]) -> None:
    proc = cli(*args)
    assert proc.returncode == 2
    assert "usage:" in proc.stderr
    if args[:1] == ("frobnicate",):
        for command in ("policies", "show", "bpf", "name"):
            assert command in proc.stderr
    if "--mode" in args:
        assert "abort" in proc.stderr and "log-and-abort" in proc.stderr
    if "--layout" in args:
        assert "tree" in proc.stderr and "linear" in proc.stderr


def test_syscalls_lists_the_table(syscalls_tsv: dict[int, str]) -> None:
    lines = ok("syscalls").splitlines()
    assert lines == [f"{nr}\t{name}" for nr, name in sorted(syscalls_tsv.items())]


def test_help_lists_the_commands() -> None:
    out = ok("--help")
    for command in ("policies", "show", "bpf", "name"):
        assert command in out


def _all_calls() -> list[tuple[str, ...]]:
    calls: list[tuple[str, ...]] = [("policies",), ("--help",), ("syscalls",), ("show", "INITIALIZATION_TOR_CONTROL")]
    for name, marks in (
        ("test_show_one_policy", lambda v: [("show", v)]),
        ("test_bpf_prints_the_compiled_filter", lambda v: [v[0]]),
        ("test_name_both_ways", lambda v: [("name", v[0])]),
        ("test_unknown_policy_exits_2_listing_valid_ones", lambda v: [v]),
        ("test_unknown_syscall_exits_2_saying_what_is_valid", lambda v: [("name", v[0])]),
        ("test_bad_usage_exits_2_with_choices", lambda v: [v]),
    ):
        for mark in globals()[name].pytestmark:
            for value in mark.args[1]:
                calls.extend(marks(value))
    return calls


@pytest.fixture(scope="module", autouse=True)
def _run_every_command_concurrently() -> None:
    """Start every CLI call of this module at once: the suite waits for one start-up, not thirty."""
    pending = [(args, _start(args)) for args in dict.fromkeys(_all_calls()) if args not in _RESULTS]
    for args, proc in pending:
        _RESULTS[args] = _finish(args, proc)
