"""A sandboxed test's captured output lands in its own report sections, once, also from a child that died."""

from __future__ import annotations

import re

import pytest
from plain_vs_sandbox import assert_same, run

#: Prints in every phase, to both streams; fails in the call, in the teardown, or passes.
PRINTING_SUITE = """
import sys
import pytest

@pytest.fixture
def noisy():
    print("setup-out")
    sys.stderr.write("setup-err\\n")
    yield
    print("teardown-out")
    sys.stderr.write("teardown-err\\n")

@pytest.fixture
def broken_teardown():
    yield
    print("bad-teardown-out")
    raise RuntimeError("teardown fails")

def test_fails(noisy):
    print("call-out")
    sys.stderr.write("call-err\\n")
    assert 1 == 2

def test_passes(noisy):
    print("passing-out")

def test_teardown_error(noisy, broken_teardown):
    print("call-out-2")

def test_after():
    print("after-out")
    assert False
"""


@pytest.mark.parametrize("args", [("-rA",), ("-s",), ("-rA", "--capture=fd", "-p", "no:faulthandler")])
def test_sections_as_plain_pytest(pytester: pytest.Pytester, recorder: str, args: tuple[str, ...]) -> None:
    """A test that does not die shows the same captured sections (terminal and junit) as without the sandbox."""
    pytester.makepyfile(test_printing=PRINTING_SUITE)
    plain = run(pytester, *args, sandboxed=False)
    sandboxed = run(pytester, *args, f"--sandbox-recorder={recorder}", sandboxed=True)
    if "-s" in args:  # a test's result letter comes once its child is gone: after its teardown's output
        plain.lines, sandboxed.lines = _without_letters(plain.lines), _without_letters(sandboxed.lines)
    assert_same(plain, sandboxed)
    if "-s" not in args:
        assert "Captured stdout call" in sandboxed.stdout  # the comparison compared sections


def _without_letters(lines: list[str]) -> list[str]:
    """The progress part's lines without the result letters (``-s`` puts output between them)."""
    end = next((i for i, line in enumerate(lines) if line.startswith("=")), len(lines))
    progress = [re.sub(r"^[.FEsx]+|^test_\w+\.py |[.FEsx]+$", "", line) for line in lines[:end]]
    return [line for line in progress if line] + lines[end:]


#: Each test prints to both streams, then its child dies in the phase its name says.
DYING_SUITE = """
import ctypes, os, sys
import pytest

def _say(name):
    print(f"OUT-{name}")
    sys.stderr.write(f"ERR-{name}\\n")
    sys.stdout.flush()

@pytest.fixture
def dies_in_setup():
    _say("setup_exit")
    os._exit(3)

@pytest.fixture
def dies_in_teardown():
    yield
    _say("teardown_exit")
    os._exit(4)

@pytest.mark.sandbox("NET")
def test_call_exit():
    _say("call_exit")
    os._exit(3)

@pytest.mark.sandbox("NET")
def test_call_violation():
    _say("call_violation")
    os.getgroups()

@pytest.mark.sandbox("NET")
def test_call_segfault():
    _say("call_segfault")
    ctypes.string_at(0)

@pytest.mark.sandbox("NET")
def test_setup_exit(dies_in_setup):
    pass

@pytest.mark.sandbox("NET")
def test_teardown_exit(dies_in_teardown):
    pass

def test_in_process_after():
    assert False, "in-process"

@pytest.mark.sandbox("NET")
def test_sandboxed_after():
    assert False, "sandboxed"
"""

#: Dying test -> the phase its output belongs to.
DYING = {
    "call_exit": "call",
    "call_violation": "call",
    "call_segfault": "call",
    "setup_exit": "setup",
    "teardown_exit": "teardown",
}


def _sections(lines: list[str]) -> dict[tuple[str, str], str]:
    """(test name, section title) -> its text, from the terminal's FAILURES/ERRORS/PASSES parts."""
    found: dict[tuple[str, str], str] = {}
    test = section = ""
    for line in lines:
        header = re.fullmatch(r"_{3,} (?:ERROR at \w+ of )?(test_\w+) _{3,}", line)
        title = re.fullmatch(r"-{3,} (.+?) -{3,}", line)
        if header:
            test, section = header.group(1), ""
        elif title and test:
            section = title.group(1)
            found[(test, section)] = ""
        elif line.startswith("=") or not test:
            test = section = ""
        elif section:
            found[(test, section)] += line + "\n"
    return found


def test_dying_child_output_in_its_own_sections(pytester: pytest.Pytester, recorder: str) -> None:
    """os._exit, a violation and a segfault in each phase: the output is the dying test's, once, nowhere else."""
    pytester.makepyfile(test_dying=DYING_SUITE)
    result = pytester.runpytest_subprocess("-rA", f"--sandbox-recorder={recorder}", "-p", "no:randomly")
    lines = result.stdout.lines
    text = _before_short_summary(result.stdout.str())
    result.assert_outcomes(passed=1, failed=5, errors=2)  # a teardown death: a pass and an error, as pytest counts
    sections = _sections(lines)
    for name, phase in DYING.items():
        test = f"test_{name}"
        assert f"OUT-{name}" in sections.get((test, f"Captured stdout {phase}"), ""), (test, text)
        assert f"ERR-{name}" in sections.get((test, f"Captured stderr {phase}"), ""), (test, text)
        assert text.count(f"OUT-{name}") == 1, text
        assert text.count(f"ERR-{name}") == 1, text
    segfault = sections[("test_call_segfault", "Captured stderr call")]
    assert "Fatal Python error: Segmentation fault" in segfault, text  # pytest's faulthandler dump
    assert text.count("Fatal Python error") == 1, text
    for later in ("test_in_process_after", "test_sandboxed_after"):
        assert not [key for key in sections if key[0] == later and key[1].startswith("Captured")], text
    assert re.fullmatch(r"=+ .*\d+ (passed|failed).* =+", lines[-1]), text  # nothing raw after the summary
    # Each violation is shown once: in the failure text, not again in a section.
    assert text.count('"getgroups" (syscall number 115) is not allowed') == 1, text
    assert "sandbox violations" not in text, text


def test_dying_child_output_with_s(pytester: pytest.Pytester, recorder: str) -> None:
    """Under ``-s`` the output goes straight to the terminal, before the test's result letter, as plain pytest."""
    pytester.makepyfile(test_dying=DYING_SUITE)
    result = pytester.runpytest_subprocess("-s", f"--sandbox-recorder={recorder}", "-p", "no:randomly")
    text = result.stdout.str()
    assert "Captured std" not in text, text
    for name in DYING:
        assert text.count(f"OUT-{name}") == 1, text
        assert f"ERR-{name}" in result.stderr.str() + text, text
    progress = text[: text.index("FAILURES")]
    assert progress.index("OUT-call_exit") < progress.index("OUT-call_violation") < progress.index("OUT-setup_exit")


def test_notes_and_violations_once(pytester: pytest.Pytester) -> None:
    """A failing strict audit run: violations in the failure text, each note in one section, neither repeated."""
    pytester.makepyfile(
        """
        import subprocess
        import pytest

        @pytest.mark.sandbox("NET")
        def test_exec():
            subprocess.run(["/bin/true"], check=True)
        """
    )
    result = pytester.runpytest_subprocess("--sandbox-mode=audit", "--sandbox-strict")
    text = _before_short_summary(result.stdout.str())
    result.assert_outcomes(failed=1)
    notes = _sections_list(result.stdout.lines, "sandbox notes")
    assert notes, text
    for note in notes:
        assert text.count(note) == 1, (note, text)
    assert text.count('"execve" (syscall number 59) is not allowed') == 1, text
    assert "sandbox violations" not in text


def _sections_list(lines: list[str], title: str) -> list[str]:
    """The first line of every section called ``title``."""
    return [lines[i + 1] for i, line in enumerate(lines[:-1]) if re.fullmatch(rf"-{{3,}} {title} -{{3,}}", line)]


def _before_short_summary(text: str) -> str:
    """The output before pytest's short test summary, which on CI repeats each failure's whole message."""
    return re.split(r"=+ short test summary info =+", text, maxsplit=1)[0]
