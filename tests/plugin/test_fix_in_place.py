"""``--sandbox-fix``: audit -> fix in place -> a clean log-and-abort run, without touching a marker.

Each loop runs pytest three times in subprocesses under real filters: an audit that
finds the gaps and writes the fix into the project's own file, then a log-and-abort
run of the same, unchanged test files, which must pass with every role clean.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

#: No role allows getgroups; NET lacks getpriority.
TESTS = """
import os
import pytest

@pytest.mark.sandbox("NET")
def test_builtin_role():
    os.getgroups()

@pytest.mark.sandbox("INDEXER")
def test_ini_role():
    os.getgroups()
    os.getpriority(os.PRIO_PROCESS, 0)
"""

INI_ROLES = """\
    # the indexer thread
    INDEXER = NET -@Network  # no sockets
"""

PYPROJECT = '''\
[project]
name = "demo"   # kept as written
version = "0.1"

[tool.pytest.ini_options]
addopts = "-p no:cacheprovider"
sandbox_roles = """
    # the indexer thread
    INDEXER = NET -@Network  # no sockets
"""  # the roles
markers = [
    "slow: a slow test",  # a comment inside an array
]

[tool.other]
key = 'value'
'''


def _config(kind: str) -> tuple[str, str]:
    """The file name and text of a project whose ``sandbox_roles`` defines INDEXER."""
    if kind == "pyproject.toml":
        return kind, PYPROJECT
    section = "tool:pytest" if kind == "setup.cfg" else "pytest"
    other = (
        "[metadata]\nname = demo\n\n"
        if kind == "setup.cfg"
        else "[tox]\nenvlist = py3\n\n"
        if kind == "tox.ini"
        else ""
    )
    return kind, f"{other}[{section}]\naddopts = -p no:cacheprovider\nsandbox_roles =\n{INI_ROLES}markers =\n    slow\n"


def _value_span(text: str) -> tuple[str, str]:
    """What a pyproject.toml holds before and after the sandbox_roles string."""
    head, _, rest = text.partition('sandbox_roles = """')
    _, _, tail = rest.partition('"""')
    return head, tail


@pytest.mark.parametrize("kind", ["pytest.ini", "tox.ini", "setup.cfg", "pyproject.toml"])
def test_audit_fix_then_a_clean_run(pytester: pytest.Pytester, kind: str) -> None:
    name, text = _config(kind)
    config = pytester.path / name
    config.write_text(text)
    pytester.makepyfile(test_roles=TESTS)
    tests_before = (pytester.path / "test_roles.py").read_text()

    result = pytester.runpytest_subprocess("--sandbox-mode=audit", "--sandbox-fix")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines_random(
        [
            "NET: 1 missing: getgroups",
            "INDEXER: 2 missing: getgroups, getpriority",
            "fix (sandbox_roles):  NET = NET +getgroups",
            "fix (sandbox_roles):  INDEXER = INDEXER +getgroups +getpriority",
            f"sandbox fix: wrote {name}: NET +getgroups",
            f"sandbox fix: wrote {name}: INDEXER +getgroups +getpriority",
        ]
    )
    fixed = config.read_text()
    assert "INDEXER = NET -@Network +getgroups +getpriority  # no sockets" in fixed  # extended in place, comment kept
    assert "NET = NET +getgroups" in fixed  # the built-in role, as a project role of the same name
    assert "# the indexer thread" in fixed
    if kind == "pyproject.toml":
        assert _value_span(fixed) == _value_span(text)  # byte for byte outside the changed value
        assert (
            '"""\n    # the indexer thread\n    INDEXER = NET -@Network +getgroups +getpriority  # no sockets\n'
            in fixed
        )
        assert "    NET = NET +getgroups\n" in fixed
    else:
        before, after = text.split(INI_ROLES)
        assert fixed.startswith(before) and fixed.endswith(after)

    clean = pytester.runpytest_subprocess()  # log-and-abort, the same test file
    clean.assert_outcomes(passed=2)
    clean.stdout.fnmatch_lines_random(
        [
            "sandbox: NET: project role, upstream NET + 1 (getgroups)",
            "NET: no missing syscalls",
            "INDEXER: no missing syscalls",
        ]
    )
    assert (pytester.path / "test_roles.py").read_text() == tests_before  # no marker touched


def test_a_second_fix_extends_the_project_role_it_made(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nsandbox_roles =\n    NET = NET +getgroups\n")
    pytester.makepyfile(
        """
        import os
        import pytest

        @pytest.mark.sandbox("NET")
        def test_net():
            os.getgroups()
            os.getpriority(os.PRIO_PROCESS, 0)
        """
    )
    result = pytester.runpytest_subprocess("--sandbox-mode=audit", "--sandbox-fix")
    result.stdout.fnmatch_lines(["NET: 1 missing: getpriority", "fix (sandbox_roles):  NET = NET +getpriority"])
    text = "[pytest]\nsandbox_roles =\n    NET = NET +getgroups +getpriority"
    assert (pytester.path / "tox.ini").read_text() == text
    pytester.runpytest_subprocess().assert_outcomes(passed=1)


HOOK_TESTS = """
import os
import pytest

@pytest.mark.sandbox("MINER")
def test_hook_role():
    os.getgroups()
"""


def test_a_hook_role_is_not_rewritten_and_its_line_is_printed(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    conftest = 'def pytest_sandbox_roles(config):\n    return {{"MINER": "{definition}"}}\n'
    pytester.makeconftest(conftest.format(definition="VALIDATION_SCRIPT_CHECK"))
    pytester.makepyfile(HOOK_TESTS)
    result = pytester.runpytest_subprocess("--sandbox-mode=audit", "--sandbox-fix")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "fix: MINER is defined by the pytest_sandbox_roles hook of *conftest.py, which --sandbox-fix cannot*",
            "     make it return:  MINER = VALIDATION_SCRIPT_CHECK +getgroups",
            "sandbox fix: MINER is defined by the pytest_sandbox_roles hook of *conftest.py: not rewritten; "
            "make it return:  MINER = VALIDATION_SCRIPT_CHECK +getgroups",
        ]
    )
    assert (pytester.path / "tox.ini").read_text() == "[pytest]"
    line = result.stdout.str().rsplit("make it return:  ", 1)[1].splitlines()[0]
    name, _, definition = line.partition(" = ")
    assert name == "MINER"
    pytester.makeconftest(conftest.format(definition=definition))  # what the user does with the printed line
    clean = pytester.runpytest_subprocess()
    clean.assert_outcomes(passed=1)
    clean.stdout.fnmatch_lines(["MINER: no missing syscalls"])


def test_a_fix_never_undoes_a_deny_or_the_hardening_set(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nsandbox_roles =\n    QUIET = NET -getuid -@Network\n")
    pytester.makepyfile(
        """
        import os
        import socket
        import pytest

        @pytest.mark.sandbox("NET", deny=["getgroups"])
        def test_denied_by_marker():
            os.getgroups()

        @pytest.mark.sandbox("QUIET")
        def test_denied_by_definition():
            os.getuid()
            socket.socketpair()

        @pytest.mark.sandbox("NET", harden=True)
        def test_hardened():
            try:
                socket.socket(socket.AF_NETLINK, socket.SOCK_RAW).close()
            except OSError:
                pass
        """
    )
    result = pytester.runpytest_subprocess("--sandbox-mode=audit", "--sandbox-fix", "-q")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines_random(
        [
            "sandbox fix: NET-getgroups: not fixed: getgroups: the marker's deny= of NET-getgroups takes it away*",
            "sandbox fix: QUIET: not fixed: getuid: QUIET's definition takes it away ('-getuid')*",
            "sandbox fix: QUIET: not fixed: socketpair: QUIET's definition takes it away ('-@Network')*",
            "sandbox fix: NET@Hardening: not fixed: socket: calls the hardening set refused*never drops @Hardening*",
            "sandbox fix: nothing to write",
        ]
    )
    out = result.stdout.str()
    assert "+getgroups" not in out and "+getuid" not in out and "+socketpair" not in out and "-@Hardening" not in out
    assert (pytester.path / "tox.ini").read_text() == "[pytest]\nsandbox_roles =\n    QUIET = NET -getuid -@Network"


def test_fix_needs_a_mode_that_finds_every_gap(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = pytester.runpytest_subprocess("--sandbox-fix")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--sandbox-fix needs --sandbox-mode=audit or profile (got log-and-abort*"])


def test_roles_given_with_o_are_not_written_into_the_file(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(
        textwrap.dedent(
            """
            import os
            import pytest

            @pytest.mark.sandbox("INDEXER")
            def test_one():
                os.getgroups()
            """
        )
    )
    result = pytester.runpytest_subprocess("-o", "sandbox_roles=INDEXER = NET", "--sandbox-mode=audit", "--sandbox-fix")
    result.stdout.fnmatch_lines(["sandbox fix: could not fix tox.ini: sandbox_roles of this run did not come from*"])
    assert Path(pytester.path / "tox.ini").read_text() == "[pytest]"
