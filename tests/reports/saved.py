"""Helpers of the saved-report tests: run pytest and the command line, compare reports."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

#: Above this an argument is a user-space address here: ASLR makes it differ between any two runs.
_ADDRESSES = 1 << 32


def run_pytest(
    args: list[str], cwd: Path = ROOT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m pytest ARGS`` in a fresh process."""
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300, check=False, env=env)


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """``pytest-syscall-sandbox ARGS``."""
    command = [sys.executable, "-m", "pytest_syscall_sandbox", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def section(stdout: str) -> str:
    """The run's "syscall sandbox" terminal section, without its last line (the report's path)."""
    after = stdout.split(" syscall sandbox ", 1)[1].split("\n", 1)[1]
    return after.split("\nsandbox report: ", 1)[0]


def _address_free(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and value >= _ADDRESSES:
        return "ADDRESS"
    if isinstance(value, str):
        return re.sub(r"0x[0-9a-f]+", lambda m: "ADDRESS" if int(m[0], 16) >= _ADDRESSES else m[0], value)
    return value


#: Frames of the harness: which ones a record's stack has depends on whether its child was forked ahead.
_HARNESS_FRAMES = re.compile(r"/(_pytest|pluggy|pytest_syscall_sandbox)/")


def _tested_code(stack: list[str]) -> list[str]:
    """The stack's frames below the harness's last one (the tested code's)."""
    last = max((i for i, frame in enumerate(stack) if _HARNESS_FRAMES.search(frame)), default=-1)
    return stack[last + 1 :]


#: Syscalls whose result is a pid or tid.
RETURN_PIDS = frozenset({"clone", "clone3", "fork", "vfork", "set_tid_address", "getpid", "gettid", "getppid"})


def _pid_free(text: str) -> str:
    """A blank's words without the pid they name ("in a vfork child of process 7806")."""
    return re.sub(r"process \d+", "process <pid>", text)


def comparable(report: dict[str, Any]) -> dict[str, Any]:
    """``report`` less what differs between any two runs of the same tests: pids, tids (also
    as the result of a process or thread creation), addresses (ASLR), the harness's own stack
    frames (a child forked ahead has other ones), and the order of tests and records (shards
    end in their own order)."""
    document = copy.deepcopy(report)
    for facts in document["roles"].values():
        for value in facts.values():
            for gap in value if isinstance(value, list) else ():
                if not isinstance(gap, dict):
                    continue
                if gap.get("syscall") in RETURN_PIDS:
                    gap.pop("first_result", None)
                if isinstance(gap.get("first_blank"), str):
                    gap["first_blank"] = _pid_free(gap["first_blank"])
    records = []
    for record in document["records"]:
        record.pop("pid")
        record.pop("tid")
        if record["syscall"] in RETURN_PIDS:
            record.pop("result", None)
            record.pop("returned", None)
        if isinstance(record.get("blank"), str):
            record["blank"] = _pid_free(record["blank"])
        record["args"] = [_address_free(v) for v in record["args"]]
        record["decoded_args"] = _address_free(record["decoded_args"])
        record["stack"] = _tested_code(record["stack"])
        records.append(record)
    document["records"] = sorted(records, key=lambda r: json.dumps(r, sort_keys=True))
    document["tests"] = sorted(document["tests"], key=lambda t: json.dumps(t, sort_keys=True))
    return document


def _first_uses(document: dict[str, Any]) -> set[tuple[str, str]]:
    """Take out profile mode's ``used`` records: ``(role, syscall)`` of each."""
    used = [r for r in document["records"] if r["outcome"] == "used"]
    document["records"] = [r for r in document["records"] if r["outcome"] != "used"]
    return {(r["role"], r["syscall"]) for r in used}


def assert_same_report(merged: dict[str, Any], full: dict[str, Any]) -> None:
    """Field by field, so that a failure names the field.

    Profile mode records a syscall the role allows at its first use in a run: each
    shard has its own first uses, so those records are compared as ``(role, syscall)``.
    """
    merged, full = comparable(merged), comparable(full)
    assert _first_uses(merged) == _first_uses(full)
    assert set(merged) == set(full)
    for key in full:
        if key == "roles":
            assert set(merged["roles"]) == set(full["roles"])
            for role, facts in full["roles"].items():
                assert set(merged["roles"][role]) == set(facts), role
                for field, value in facts.items():
                    assert merged["roles"][role][field] == value, (role, field)
        else:
            assert merged[key] == full[key], key
