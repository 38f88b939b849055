"""The gap report reads well: it fits the terminal, shows short locations, and colours as pytest's ``--color`` says."""

from __future__ import annotations

import os
import re
import sysconfig

import pytest
from tabulate import tabulate

from pytest_syscall_sandbox.reports.tables import fit_table, short_location

#: A long test name; one call made from the standard library only (a thread whose target is a C function).
SUITE = """
import functools, os, socket, threading
import pytest

@pytest.mark.sandbox("TX_INDEX")
def test_a_thread_started_straight_on_a_c_function_then_a_socket_with_a_rather_long_name():
    thread = threading.Thread(target=functools.partial(os.getgroups))
    thread.start()
    thread.join()
    socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()

@pytest.mark.sandbox("NET")
def test_clean():
    pass
"""
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _cells(section: list[str]) -> list[dict[str, str]]:
    """The gap table's rows (header -> cell, wrapped pieces joined, spaces dropped), by the underline's columns."""
    rule = next(i for i, line in enumerate(section) if line.startswith("---------"))
    spans = [m.span() for m in re.finditer(r"-+", section[rule])]

    def split(line: str) -> list[str]:
        return [line[start:end] for start, end in spans[:-1]] + [line[spans[-1][0] :]]

    headers = [cell.strip() for cell in split(section[rule - 1])]
    rows: list[list[str]] = []
    for line in section[rule + 1 :]:
        if not line.strip():
            break
        if line[0] != " ":
            rows.append(["" for _ in spans])
        rows[-1] = [cell + piece.replace(" ", "") for cell, piece in zip(rows[-1], split(line), strict=True)]
    return [dict(zip(headers, row, strict=True)) for row in rows]


def _section(lines: list[str]) -> list[str]:
    start = next(i for i, line in enumerate(lines) if "syscall sandbox" in line and line.startswith("="))
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("="))
    return lines[start + 1 : end]


@pytest.mark.parametrize("columns", [80, 200])
def test_gap_table_fits_the_terminal(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, columns: int) -> None:
    """At 80 and 200 columns (``COLUMNS``) every line of the section fits, and nothing of the table is lost."""
    pytester.makepyfile(test_wide=SUITE)
    monkeypatch.setenv("COLUMNS", str(columns))
    result = pytester.runpytest_subprocess("--sandbox-mode=audit")
    result.assert_outcomes(passed=2)
    section = _section(result.stdout.lines)
    assert section[0] == "TX_INDEX: 2 missing: getgroups, socket", section
    table = section[section.index("TX_INDEX:") + 1 : section.index("", section.index("TX_INDEX:"))]
    assert max(len(line) for line in table) <= columns, "\n".join(section)
    assert len([line for line in section if line.startswith("fix (sandbox_roles):")]) == 1  # to paste: one line
    cells = _cells(section)
    assert [row["syscall"] for row in cells] == ["getgroups", "socket"]
    name = "test_wide.py::test_a_thread_started_straight_on_a_c_function_then_a_socket_with_a_rather_long_name"
    assert all(row["first test"] == name for row in cells)  # wrapped, never cut
    assert re.fullmatch(r"<stdlib>/threading\.py:\d+inrun", cells[0]["first location"]), cells
    assert cells[1]["first location"] == f"test_wide.py:9in{name.split('::')[1]}"
    assert cells[0].get("nr", "115") == "115" and cells[0]["group"] == "nogroup:allowitbyname"
    stdlib = sysconfig.get_paths()["stdlib"]
    assert stdlib not in result.stdout.str()  # the interpreter's own paths are short
    rows = [line for line in section if line.startswith(("getgroups ", "socket "))]
    assert len(rows) == 2
    if columns == 200:
        assert "<stdlib>/threading.py:" in rows[0]  # a location that fits is not wrapped


def test_table_as_before_where_it_fits(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """A table narrower than the terminal keeps every column and its full headers."""
    pytester.makepyfile(
        test_g="""
        import os, pytest

        @pytest.mark.sandbox("NET")
        def test_g():
            os.getgroups()
        """
    )
    monkeypatch.setenv("COLUMNS", "200")
    result = pytester.runpytest_subprocess("--sandbox-mode=audit")
    result.stdout.re_match_lines([r"syscall\s+nr\s+calls\s+tests\s+first test\s+first location\s+group that allows it"])
    result.stdout.re_match_lines([r"getgroups\s+115\s+1\s+1\s+test_g\.py::test_g\s+test_g\.py:5 in test_g\s+no group"])


@pytest.mark.parametrize(("option", "coloured"), [("--color=yes", True), ("--color=no", False), (None, False)])
def test_colour_follows_pytest(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, option: str | None, coloured: bool
) -> None:
    """``--color=yes`` colours the verdicts (gaps red, clean green); ``no``, or auto off a terminal, never."""
    pytester.makepyfile(test_wide=SUITE)
    monkeypatch.delenv("PY_COLORS", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    result = pytester.runpytest_subprocess("--sandbox-mode=audit", *([option] if option else []))
    text = result.stdout.str()
    section = "\n".join(_section([ANSI.sub("", line) for line in result.stdout.lines]))
    assert "TX_INDEX: 2 missing: getgroups, socket" in section and "NET: no missing syscalls" in section
    if coloured:
        assert "\x1b[31mTX_INDEX: 2 missing: getgroups, socket\x1b[0m" in text, text
        assert "\x1b[32mNET: no missing syscalls\x1b[0m" in text, text
    else:
        assert "\x1b[" not in text, text


def test_locations_relative_to_the_rootdir(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from a folder below the rootdir, a location is the path from the rootdir (as pytest's node ids)."""
    pytester.makeini("[pytest]\n")
    tests = pytester.mkpydir("pkg") / "tests"
    tests.mkdir()
    (tests / "test_deep.py").write_text(
        "import os, pytest\n\n@pytest.mark.sandbox('NET')\ndef test_g():\n    os.getgroups()\n"
    )
    os.chdir(tests)
    monkeypatch.setenv("COLUMNS", "200")
    result = pytester.runpytest_subprocess("--sandbox-mode=audit", "test_deep.py")
    result.stdout.re_match_lines(
        [r"getgroups\s+115\s+1\s+1\s+pkg/tests/test_deep\.py::test_g\s+pkg/tests/test_deep\.py:5 in"]
    )
    assert str(pytester.path) not in "\n".join(_section(result.stdout.lines))


def test_fit_table_and_short_location() -> None:
    """The table helper: unchanged where it fits, never wider than asked where wrapping can do it."""
    rows = [("getgroups", 115, "x" * 90, "no group: allow it by name"), ("socket", 41, "y" * 10, "Network")]
    headers = ["syscall", "nr", "first location", "group that allows it"]
    assert fit_table(rows, headers, 200) == tabulate(rows, headers=headers)
    narrow = fit_table(rows, headers, 60, drop=(1,), wrap=(2, 3), short_headers={3: "group"})
    assert max(len(line) for line in narrow.splitlines()) <= 60
    assert " nr " in narrow  # wrapping was enough
    narrow = fit_table(rows, headers, 40, drop=(1,), wrap=(2, 3), short_headers={3: "group"})
    assert max(len(line) for line in narrow.splitlines()) <= 40
    assert narrow.count("x") == 90  # wrapped, never cut
    assert " nr " not in narrow and "group that allows it" not in narrow
    stdlib = sysconfig.get_paths()["stdlib"]
    assert short_location(f"{stdlib}/threading.py:975") == "<stdlib>/threading.py:975"
    assert short_location("pkg/test_x.py:3") == "pkg/test_x.py:3"
    assert short_location("/opt/app/site-packages/requests/api.py:5") == "<site-packages>/requests/api.py:5"
