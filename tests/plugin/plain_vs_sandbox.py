"""Run one pytester suite plainly and sandboxed, and read back what a user sees of each run."""

from __future__ import annotations

import difflib
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

import pytest

#: The sandboxed run: every test under NET, nothing refused (audit mode keeps outcomes).
SANDBOXED = ("--sandbox-policy=NET", "--sandbox-mode=audit")
_TIME = re.compile(r" in [0-9.]+s( \([0-9:]+\))?")
_DURATION = re.compile(r"\b[0-9]+\.[0-9]+s\b")
_COLLECTED = re.compile(r"\bcollected [0-9]+ items?\b|^[0-9]+ workers \[")
_ADDRESS = re.compile(r" at 0x[0-9a-f]+>")


@dataclass
class Run:
    ret: int
    #: The terminal's lines from the first test result to the end, with timings and the
    #: sandbox's own section taken out.
    lines: list[str]
    #: Per test case of the junit XML: (classname, name, its children as (tag, attributes, text)).
    junit: list[tuple[Any, ...]]
    stdout: str


def run(pytester: pytest.Pytester, *args: str, sandboxed: bool, junit: bool = True) -> Run:
    """Run the suite in ``pytester.path``; ``sandboxed``: with :data:`SANDBOXED` added."""
    xml = pytester.path / "junit.xml"  # one name: the terminal says it
    extra = [f"--junitxml={xml}", "-o", "junit_logging=all"] if junit else []
    result = pytester.runpytest_subprocess(*extra, *args, *(SANDBOXED if sandboxed else ()))
    text = result.stdout.str()
    return Run(result.ret, _lines(result.stdout.lines), _junit(xml) if junit else [], text)


def _lines(lines: list[str]) -> list[str]:
    header = [i for i, line in enumerate(lines) if _COLLECTED.search(line)]
    kept: list[str] = []
    in_sandbox_section = False
    for line in lines[header[0] + 1 if header else 0 :]:
        if "syscall sandbox" in line and line.startswith("="):
            in_sandbox_section = True
            continue
        if in_sandbox_section:
            if line.startswith(("=", "- generated xml file")):
                in_sandbox_section = False
            else:
                continue
        kept.append(_ADDRESS.sub(" at 0x...>", _DURATION.sub("<t>", _TIME.sub("", line))))
    return kept


def _element(node: ET.Element) -> tuple[Any, ...]:
    """An XML element with its attributes (but times), text and children, for comparing."""
    attributes = tuple((k, v) for k, v in sorted(node.attrib.items()) if k not in {"time", "timestamp", "hostname"})
    text = _ADDRESS.sub(" at 0x...>", (node.text or "").strip())
    return (node.tag, attributes, text, tuple(_element(child) for child in node))


def _junit(path: Any) -> list[tuple[Any, ...]]:
    root = ET.parse(path).getroot()
    suites = [_element(suite)[:2] for suite in root.iter("testsuite")]  # its counts
    return [*(_element(case) for case in root.iter("testcase")), *suites]


def assert_same(plain: Run, sandboxed: Run, everything: bool = True) -> None:
    """Same exit code, terminal lines and junit XML (a diff of what differs, if not).

    ``everything=False``: only the outcome lines (the short summary and the counts) and
    each junit test case's results (not its captured output).
    """
    assert "INTERNALERROR" not in sandboxed.stdout, sandboxed.stdout
    lines = (plain.lines, sandboxed.lines) if everything else (_summary(plain.lines), _summary(sandboxed.lines))
    diff = "\n".join(difflib.unified_diff(*lines, "plain", "sandboxed", lineterm=""))
    assert lines[0] == lines[1], diff
    assert plain.ret == sandboxed.ret, sandboxed.stdout
    cases = (plain.junit, sandboxed.junit) if everything else (_results(plain.junit), _results(sandboxed.junit))
    junit = "\n".join(difflib.unified_diff([repr(c) for c in cases[0]], [repr(c) for c in cases[1]], lineterm=""))
    assert cases[0] == cases[1], junit


def _summary(lines: list[str]) -> list[str]:
    for i, line in enumerate(lines):
        if "short test summary info" in line:
            return lines[i:]
    return lines[-1:]


def _results(cases: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Test cases without their captured output."""
    output = {"system-out", "system-err"}
    return [(*case[:3], tuple(c for c in case[3] if c[0] not in output)) if len(case) == 4 else case for case in cases]
