"""The HTML report, looked at in a real browser: headless Chromium renders the page a run wrote."""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from saved import cli, load, run_pytest
from suite import SCRIPT_NAME, make_suite

#: Set to a path to keep the screenshot (the README's docs/html-report.png is made so).
SCREENSHOT_TO = "SANDBOX_HTML_SCREENSHOT"
TITLE = "syscall sandbox report"


class Page(HTMLParser):
    """What the test reads from the dumped DOM: title, elements by tag, the matrix cells, the text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.title = ""
        self.cells: dict[tuple[str, str], tuple[str, str]] = {}
        self.text: list[str] = []
        self._cell: tuple[str, str, str] | None = None
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        values = dict(attrs)
        self._in_title = tag == "title"
        if tag == "td" and "data-role" in values:
            self._cell = (values["data-role"] or "", values["data-syscall"] or "", values.get("class") or "")
            self.cells[self._cell[:2]] = (self._cell[2], "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._cell = None
        self._in_title = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in_title:
            self.title += data
        if self._cell is not None:
            self.cells[self._cell[:2]] = (self._cell[2], self.cells[self._cell[:2]][1] + data.strip())


def chromium() -> str:
    """Debian's Chromium; where it is missing, a skip (on CI, .ci/run installs it: a failure there)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    message = "no chromium on PATH (Debian: apt-get install -y chromium; .ci/run installs it)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def browse(page: Path, tmp_path: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    command = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--window-size=1100,900",
        *flags,
        page.as_uri(),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_the_page_renders_the_matrix_and_shows_markup_as_text(pytester: pytest.Pytester, tmp_path: Path) -> None:
    make_suite(pytester)
    report, page = tmp_path / "report.json", tmp_path / "report.html"
    result = run_pytest(["--sandbox-mode=audit", f"--sandbox-report={report}", f"--sandbox-html={page}"], pytester.path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"sandbox HTML report: {page}" in result.stdout
    # the command line makes the same page from the saved report
    assert cli("report", report, "--html", tmp_path / "again.html").returncode == 0
    assert (tmp_path / "again.html").read_text() == page.read_text()
    source = page.read_text()
    assert "<script" not in source and "http://" not in source and "https://" not in source  # self-contained

    dumped = browse(page, tmp_path, "--dump-dom")
    assert dumped.returncode == 0, dumped.stderr
    dom = Page()
    dom.feed(dumped.stdout)
    assert dom.title == TITLE  # the test's "<script>" would have set it to 'pwned'
    assert "script" not in dom.tags and "table" in dom.tags
    text = "".join(dom.text)
    assert SCRIPT_NAME in text  # shown as text: in the call's arguments and the source line around it
    assert f"open({SCRIPT_NAME!r})" in text

    saved = load(report)
    roles = saved["roles"]
    columns = {gap["syscall"] for facts in roles.values() for gap in facts["missing"]}
    assert {"getgroups", "openat"} <= columns
    assert {role for role, _ in dom.cells} == set(roles)  # a row per role, a cell per role and syscall
    assert {syscall for _, syscall in dom.cells} == columns
    assert len(dom.cells) == len(roles) * len(columns)
    for role, facts in roles.items():
        for gap in facts["missing"]:
            assert dom.cells[role, gap["syscall"]] == ("gap", str(gap["calls"]))
    variant = "VALIDATION_SCRIPT_CHECK+getgroups"
    assert dom.cells["MESSAGE_HANDLER", "getgroups"] == ("gap", "3")
    assert dom.cells[variant, "getgroups"] == ("allowed", "")
    assert dom.cells["SCHEDULER", "getgroups"] == ("denied", "")
    assert dom.cells[variant, "openat"][0] == "gap"

    shot = tmp_path / "report.png"
    taken = browse(page, tmp_path, f"--screenshot={shot}")
    assert taken.returncode == 0, taken.stderr
    assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") and shot.stat().st_size > 10_000
    if os.environ.get(SCREENSHOT_TO):
        shutil.copyfile(shot, os.environ[SCREENSHOT_TO])


def test_a_page_that_cannot_be_written_stops_the_run_before_any_test(pytester: pytest.Pytester) -> None:
    make_suite(pytester)
    result = pytester.runpytest_subprocess(f"--sandbox-html={pytester.path}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--sandbox-html: * is a directory; give the path of a file to write*"])
