"""A project's roles without pytest: its ini file, found as pytest finds it, and its ``sandbox_roles``.

From a directory upwards, the first directory with one of pytest's configuration
files holding pytest's settings is the project's root, and that file its ini file:
``pytest.toml`` / ``.pytest.toml`` (``[pytest]``), ``pytest.ini`` / ``.pytest.ini``
(always, even without a ``[pytest]`` section), ``pyproject.toml``
(``[tool.pytest.ini_options]`` or ``[tool.pytest]``), ``tox.ini`` (``[pytest]``),
``setup.cfg`` (``[tool:pytest]``), in that order within a directory. A
``pyproject.toml`` without pytest's tables is the root only if nothing else is found.
The ``sandbox_roles`` text is parsed as the plugin parses it
(:func:`.registry.parse_role_lines`). Roles a ``pytest_sandbox_roles`` hook returns
need pytest to be known.
"""

from __future__ import annotations

import configparser
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SandboxError
from .registry import RoleRegistry, parse_role_lines

#: The ini option that defines the project's roles.
OPTION = "sandbox_roles"


class ProjectConfigError(SandboxError, ValueError):
    """A project configuration file that cannot be read, or roles in it that cannot be built."""


def _ini_section(path: Path, section: str) -> dict[str, str] | None:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(path.read_text(encoding="utf-8"), source=str(path))
    except (OSError, UnicodeDecodeError, configparser.Error) as exc:
        raise ProjectConfigError(f"{path}: cannot be read as an ini file: {exc}") from None
    return dict(parser[section]) if parser.has_section(section) else None


def _toml(path: Path) -> dict[str, object]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ProjectConfigError(f"{path}: cannot be read as TOML: {exc}") from None


def _table(document: dict[str, object], *keys: str) -> dict[str, object] | None:
    value: object = document
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value if isinstance(value, dict) else None


def _pytest_ini(path: Path) -> dict[str, object] | None:
    return dict(_ini_section(path, "pytest") or {})


def _tox_ini(path: Path) -> dict[str, object] | None:
    section = _ini_section(path, "pytest")
    return None if section is None else dict(section)


def _setup_cfg(path: Path) -> dict[str, object] | None:
    section = _ini_section(path, "tool:pytest")
    return None if section is None else dict(section)


def _pytest_toml(path: Path) -> dict[str, object] | None:
    return _table(_toml(path), "pytest") or {}


def _pyproject(path: Path) -> dict[str, object] | None:
    tool = _table(_toml(path), "tool", "pytest")
    if tool is None:
        return None
    ini = _table(tool, "ini_options")
    native = {k: v for k, v in tool.items() if k != "ini_options"}
    return native or ini


#: pytest's configuration files, in its order of precedence within a directory.
LOADERS: dict[str, Callable[[Path], dict[str, object] | None]] = {
    "pytest.toml": _pytest_toml,
    ".pytest.toml": _pytest_toml,
    "pytest.ini": _pytest_ini,
    ".pytest.ini": _pytest_ini,
    "pyproject.toml": _pyproject,
    "tox.ini": _tox_ini,
    "setup.cfg": _setup_cfg,
}


def locate(start: Path) -> tuple[Path, Path | None, dict[str, object]]:
    """(root directory, ini file or None, its pytest settings), searching from ``start`` upwards."""
    start = start.resolve()
    bare_pyproject: Path | None = None
    for base in (start, *start.parents):
        for name, loader in LOADERS.items():
            path = base / name
            if not path.is_file():
                continue
            settings = loader(path)
            if settings is not None:
                return base, path, settings
            if name == "pyproject.toml" and bare_pyproject is None:
                bare_pyproject = path
    if bare_pyproject is not None:
        return bare_pyproject.parent, bare_pyproject, {}
    return start, None, {}


def roles_text(value: object, path: Path) -> str:
    """The ``sandbox_roles`` value as lines (a TOML list of lines, or one string)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(line, str) for line in value):
        return "\n".join(value)
    raise ProjectConfigError(
        f"{path}: {OPTION} must be a string of 'NAME = definition' lines or a list of them, got {value!r}"
    )


@dataclass
class Project:
    """The project a command runs in: its root, its ini file and every role it knows."""

    rootdir: Path
    inifile: Path | None
    registry: RoleRegistry = field(default_factory=RoleRegistry)
    #: The project's own roles (from ``sandbox_roles``), in the order they are defined.
    own: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """Where the roles came from, for messages."""
        if self.inifile is None:
            return f"no pytest configuration file found from {self.rootdir}"
        if not self.own:
            return f"{self.inifile} defines no {OPTION}"
        return f"{self.inifile} defines {', '.join(self.own)}"


def load_project(start: Path) -> Project:
    """The project found from ``start`` (see the module's docstring) with its roles defined."""
    rootdir, inifile, settings = locate(start)
    project = Project(rootdir, inifile)
    if inifile is None or OPTION not in settings:
        return project
    try:
        definitions = parse_role_lines(roles_text(settings[OPTION], inifile))
        project.registry.define_all(definitions, source=f"{inifile.name} {OPTION}")
    except ProjectConfigError:
        raise
    except SandboxError as exc:
        raise ProjectConfigError(f"{inifile}: {OPTION}: {exc}") from None
    project.own = [project.registry.get(name).name for name in definitions]
    return project
