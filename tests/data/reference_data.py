"""The upstream facts the tests check the package against, kept in this repository as data.

* ``syscalls-x86_64.tsv``: the x86-64 syscall numbers (number, name, ``newer``);
* ``bitcoin-core-policies.json``: Bitcoin Core's capability groups, its fifteen policies
  and what it added to the groups after crash reports;
* ``sandbox-rs-0.2.1.json``: the syscall lists of sandbox-rs's six profile functions.

So a plain clone runs every test. Where CI also checks out ``shared`` beside the
clone, :func:`shared_file` finds its reference texts, and the tests that read this data
check it against them as well (:func:`reference_table`, :func:`seed_lists`).
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent
#: Where CI checks out ``shared`` beside the clone (``<parent>/main`` and ``<parent>/shared``).
SHARED = DATA.parents[1].parent / "shared"


def _table(path: Path) -> dict[int, tuple[str, bool]]:
    table: dict[int, tuple[str, bool]] = {}
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        table[int(fields[0])] = (fields[1], len(fields) > 2 and fields[2].strip() == "newer")
    return table


@cache
def syscall_table() -> dict[int, str]:
    """number -> name."""
    return {nr: name for nr, (name, _) in _table(DATA / "syscalls-x86_64.tsv").items()}


@cache
def newer_numbers() -> frozenset[int]:
    """The numbers marked ``newer`` (added after Linux 6.10)."""
    return frozenset(nr for nr, (_, newer) in _table(DATA / "syscalls-x86_64.tsv").items() if newer)


@cache
def bitcoin_core() -> dict[str, Any]:
    """The groups, policies and later additions of Bitcoin Core's sandbox."""
    data: dict[str, Any] = json.loads((DATA / "bitcoin-core-policies.json").read_text())
    return data


@cache
def sandbox_rs() -> dict[str, list[str]]:
    """sandbox-rs profile function -> the syscall names it lists, in order."""
    data: dict[str, list[str]] = json.loads((DATA / "sandbox-rs-0.2.1.json").read_text())["functions"]
    return data


def shared_file(relative: str) -> Path | None:
    """``../shared/RELATIVE`` where it is checked out, else None."""
    path = SHARED / relative
    return path if path.is_file() else None


def reference_table(path: Path) -> dict[int, tuple[str, bool]]:
    """number -> (name, newer) of the shared reference TSV (the same layout as ours)."""
    return _table(path)


def seed_lists(path: Path) -> dict[str, list[str]]:
    """The profile functions' lists as the shared sandbox-rs seed writes them."""
    text = path.read_text()
    lists = {}
    for function in sandbox_rs():
        body = text[text.index(f"fn {function}") :]
        lists[function] = re.findall(r'"([^"]+)"', body[body.index("vec![") : body.index("]")])
    return lists
