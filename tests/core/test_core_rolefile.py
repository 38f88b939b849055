"""Editing ``sandbox_roles`` in place: only the changed lines change, and pytest reads the result back."""

from __future__ import annotations

import pytest

from pytest_syscall_sandbox.roles.registry import RoleRegistry, parse_role_lines
from pytest_syscall_sandbox.roles.rolefile import RoleFileError, extend_roles, read_roles, role_file

CHANGES = {"INDEXER": ["+getgroups"], "NET": ["+vfork"]}


def _roles(text: str, name: str) -> RoleRegistry:
    registry = RoleRegistry()
    registry.define_all(parse_role_lines(read_roles(text, role_file(name, text)) or ""))
    return registry


def test_ini_lines_keep_their_comments_blank_lines_and_crlf() -> None:
    text = "[pytest]\r\nsandbox_roles = INDEXER = @Futex  # first line\r\n\r\n    ; a comment\r\n[other]\r\nx = 1\r\n"
    edited = extend_roles(text, role_file("tox.ini"), CHANGES)
    assert edited == (
        "[pytest]\r\nsandbox_roles = INDEXER = @Futex +getgroups  # first line\r\n    NET = NET +vfork\r\n"
        "\r\n    ; a comment\r\n[other]\r\nx = 1\r\n"
    )
    registry = _roles(edited, "tox.ini")
    assert "getgroups" in registry.get("INDEXER").allowed and "vfork" in registry.get("NET").allowed


def test_a_file_without_the_key_or_the_section_gets_them() -> None:
    edited = extend_roles("[tool:pytest]\naddopts = -q\n\n[flake8]\nx = 1", role_file("setup.cfg"), CHANGES)
    assert edited.startswith("[tool:pytest]\naddopts = -q\nsandbox_roles =\n    INDEXER = INDEXER +getgroups\n")
    assert edited.endswith("\n\n[flake8]\nx = 1")
    assert extend_roles("", role_file("pytest.ini"), {"NET": ["+vfork"]}) == (
        "[pytest]\nsandbox_roles =\n    NET = NET +vfork\n"
    )


@pytest.mark.parametrize(
    ("table", "name"),
    [("[tool.pytest.ini_options]", "pyproject.toml"), ("[tool.pytest]", "pyproject.toml"), ("[pytest]", "pytest.toml")],
)
def test_toml_strings_keep_their_quotes_and_the_rest_of_the_file(table: str, name: str) -> None:
    text = f"# top\n{table}\nsandbox_roles = 'INDEXER = NET'   # one line\nx = [1,  2]\n"
    edited = extend_roles(text, role_file(name, text), {"INDEXER": ["+getgroups"]})
    assert edited == f"# top\n{table}\nsandbox_roles = 'INDEXER = NET +getgroups'   # one line\nx = [1,  2]\n"
    grown = extend_roles(text, role_file(name, text), CHANGES)  # a new line: the string becomes multi-line
    assert grown == (
        f"# top\n{table}\nsandbox_roles = '''INDEXER = NET +getgroups\nNET = NET +vfork'''   # one line\nx = [1,  2]\n"
    )
    assert "vfork" in _roles(grown, name).get("NET").allowed


def test_toml_without_the_key_gets_a_multi_line_string_and_a_list_is_refused() -> None:
    text = '[project]\nname = "x"\n\n[tool.pytest.ini_options]\naddopts = "-q"\n\n[tool.other]\n'
    edited = extend_roles(text, role_file("pyproject.toml", text), {"NET": ["+vfork"]})
    assert edited == text.replace('"-q"\n', '"-q"\nsandbox_roles = """\nNET = NET +vfork\n"""\n')
    listed = '[tool.pytest.ini_options]\nsandbox_roles = ["NET = NET"]\n'
    with pytest.raises(RoleFileError, match="not a string"):
        extend_roles(listed, role_file("pyproject.toml", listed), {"NET": ["+vfork"]})
