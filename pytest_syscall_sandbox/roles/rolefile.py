"""The project's own role definitions: ``sandbox_roles`` in the file pytest reads, edited in place.

:func:`extend_roles` appends terms to roles' lines (``INDEXER = @Futex +fsync`` becomes
``INDEXER = @Futex +fsync +getgroups``) and adds a line for a role the file does not
define yet (``NET = NET +vfork``: a project role built on the built-in one). Everything
else in the file stays as it was, byte for byte: comments, blank lines, the other keys,
a TOML file's quoting and layout (read and written with tomlkit). Pure: text in, text
out; :func:`read_roles` reads the value back the way pytest does, to check an edit.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import SandboxError
from .policies import policy_key

ROLES_KEY = "sandbox_roles"
_INDENT = "    "


class RoleFileError(SandboxError, ValueError):
    """The file's ``sandbox_roles`` cannot be edited (the message says why)."""


@dataclass(frozen=True)
class RoleFile:
    """Where ``sandbox_roles`` lives: a file, its syntax (``ini`` or ``toml``) and its table."""

    path: str
    kind: str
    #: The ini section (``("pytest",)``, ``("tool:pytest",)``) or the TOML table's keys.
    table: tuple[str, ...]


def role_file(path: str, text: str | None = None) -> RoleFile:
    """The :class:`RoleFile` of the configuration file pytest read (``config.inipath``)."""
    name = os.path.basename(path)
    if name == "setup.cfg":
        return RoleFile(path, "ini", ("tool:pytest",))
    if name.endswith(".ini") or name.endswith(".cfg"):
        return RoleFile(path, "ini", ("pytest",))
    if not name.endswith(".toml"):
        raise RoleFileError(f"{path}: not a file pytest reads sandbox_roles from (.ini, .cfg, .toml)")
    if name in ("pytest.toml", ".pytest.toml"):
        return RoleFile(path, "toml", ("pytest",))
    document = tomllib.loads(text) if text is not None else {}
    tool_pytest = document.get("tool", {}).get("pytest", {})
    native = any(key != "ini_options" for key in tool_pytest)
    return RoleFile(path, "toml", ("tool", "pytest") if native else ("tool", "pytest", "ini_options"))


def read_roles(text: str, file: RoleFile) -> str | None:
    """The ``sandbox_roles`` value as pytest reads it from ``text``, or None when absent."""
    if file.kind == "toml":
        table: Any = tomllib.loads(text)
        for key in file.table:
            table = table.get(key, {}) if isinstance(table, dict) else {}
        value = table.get(ROLES_KEY) if isinstance(table, dict) else None
        return value if isinstance(value, str) else None
    from iniconfig import IniConfig

    ini = IniConfig(file.path, data=text)
    section = file.table[0]
    return ini[section].get(ROLES_KEY) if section in ini else None


def extend_roles(text: str, file: RoleFile, changes: Mapping[str, Sequence[str]]) -> str:
    """``text`` with each role's ``changes`` (terms such as ``+vfork``) appended to its line.

    A role without a line gets one that builds on the role of that name
    (``NET = NET +vfork``). A file without ``sandbox_roles`` gets the key.
    """
    wanted = {name: list(terms) for name, terms in changes.items() if terms}
    if not wanted:
        return text
    if file.kind == "toml":
        return _extend_toml(text, file, wanted)
    return _extend_ini(text, file.table[0], wanted)


# --------------------------------------------------------------------------- the value's lines


def _edit_lines(lines: list[str], starts: list[int], changes: Mapping[str, list[str]]) -> list[str]:
    """Append terms to role lines; return the lines for roles that have none (without indent).

    ``lines[i][starts[i]:]`` is the part of line ``i`` that holds role text (a key line's
    value starts after ``=``). Lines keep their own ending and comment.
    """
    last: dict[str, int] = {}
    for index, (line, start) in enumerate(zip(lines, starts, strict=True)):
        code = line[start:].split("#", 1)[0]
        if code.strip()[:1] in (";", "") or "=" not in code:
            continue
        last[policy_key(code.partition("=")[0])] = index
    missing: list[str] = []
    for name, terms in changes.items():
        found = last.get(policy_key(name))
        if found is None:
            missing.append(f"{policy_key(name)} = {policy_key(name)} {' '.join(terms)}")
            continue
        index = found
        line, start = lines[index], starts[index]
        code_end = start + len(line[start:].split("#", 1)[0].rstrip())
        lines[index] = line[:code_end] + " " + " ".join(terms) + line[code_end:]
    return missing


def _indent_of(lines: Sequence[str]) -> str:
    """The indent of the last role line, or four spaces."""
    for line in reversed(lines):
        if line.strip() and not line.strip().startswith(("#", ";")):
            return line[: len(line) - len(line.lstrip())]
    return _INDENT


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


# --------------------------------------------------------------------------- ini files


def _separator(line: str) -> int:
    """Where an ini key line's value starts, as iniconfig splits it (``=``, else ``:``)."""
    equals, colon = line.find("="), line.find(":")
    return colon if equals == -1 or -1 < colon < equals else equals


def _extend_ini(text: str, section: str, changes: Mapping[str, list[str]]) -> str:
    lines = text.splitlines(keepends=True)
    nl = _newline(text)
    current, section_end, key_line = None, None, None
    for index, line in enumerate(lines):
        stripped = line.strip()
        if line.startswith("["):
            current = stripped.split("]", 1)[0][1:]
            continue
        if current != section or not stripped or stripped[0] in "#;":
            continue
        section_end = index
        if not line[0].isspace() and line[: max(_separator(line), 0)].strip() == ROLES_KEY:
            key_line = index
    if key_line is None:
        block = [f"{ROLES_KEY} =", *(_INDENT + f"{n} = {n} {' '.join(t)}" for n, t in changes.items())]
        if section_end is None:  # no section: add it at the end
            head = "" if not text or text.endswith(("\n", "\r")) else nl
            return text + head + nl.join([f"[{section}]", *block]) + nl
        if not lines[section_end].endswith(("\n", "\r")):
            lines[section_end] += nl
        lines[section_end + 1 : section_end + 1] = [line + nl for line in block]
        return "".join(lines)
    value = [key_line]  # the key line and its continuation lines (blank and comment lines inside are skipped)
    for index in range(key_line + 1, len(lines)):
        line = lines[index]
        if not line.strip() or line.strip()[0] in "#;":
            continue
        if not line[0].isspace():
            break
        value.append(index)
    separator = _separator(lines[key_line])
    edited = [lines[i] for i in value]
    missing = _edit_lines(edited, [separator + 1, *([0] * (len(value) - 1))], changes)
    for index, line in zip(value, edited, strict=True):
        lines[index] = line
    if missing:
        indent = _indent_of(edited[1:])
        end = value[-1]
        if not lines[end].endswith(("\n", "\r")):
            lines[end] += nl
        lines[end + 1 : end + 1] = [indent + line + nl for line in missing]
    return "".join(lines)


# --------------------------------------------------------------------------- TOML files


def _extend_toml(text: str, file: RoleFile, changes: Mapping[str, list[str]]) -> str:
    """Edit the string's source text (between its quotes), so that its layout and escapes stay."""
    import tomlkit
    from tomlkit.items import String, StringType, Trivia

    document = tomlkit.parse(text)
    table: Any = document
    for key in file.table:
        if key not in table:
            table[key] = tomlkit.table(is_super_table=key != file.table[-1])
        table = table[key]
    old = table.get(ROLES_KEY)
    if old is not None and not isinstance(old, String):
        raise RoleFileError(f"{file.path}: {ROLES_KEY} is not a string; write the roles as one string, a line each")
    kind = old.type if old is not None else StringType.MLB
    raw = old.as_string()[len(kind.value) : -len(kind.value)] if old is not None else "\n"
    lines = raw.split("\n")
    missing = _edit_lines(lines, [0] * len(lines), changes)
    if missing:
        content = [i for i, line in enumerate(lines) if line.strip() and not line.strip().startswith("#")]
        indent = _indent_of([lines[content[-1]]]) if content else ""
        at = content[-1] + 1 if content else (1 if len(lines) > 1 else len(lines))
        lines[at:at] = [indent + line for line in missing]
        kind = {StringType.SLB: StringType.MLB, StringType.SLL: StringType.MLL}.get(kind, kind)
    raw = "\n".join(lines)
    value = tomllib.loads(f"x = {kind.value}{raw}{kind.value}")["x"]
    table[ROLES_KEY] = String(kind, value, raw, old.trivia if old is not None else Trivia())
    return document.as_string()
