"""The layering the README promises: the core imports no pytest, the plugin no BPF.

Read from the source (imports under ``if TYPE_CHECKING:`` do not count: they are
names for the type checker, not code that runs). The recorders sit between the two.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "pytest_syscall_sandbox"
PLUGIN = ("plugin", "hookspecs", "settings", "session", "child_results", "report", "export")
CORE = tuple(sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem not in PLUGIN))
#: What builds, checks, runs or installs BPF programs.
BPF = {"bpf", "compiler", "emulator", "builder", "rules", "_install"}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_imports(path: Path) -> set[str]:
    """Top-level names of absolute imports, and package modules (``.x``) of relative ones."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
            elif node.module:
                found.add("." + node.module.split(".")[0])
            else:
                found.update("." + alias.name for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def test_the_lists_cover_the_package() -> None:
    assert set(PLUGIN) <= {p.stem for p in PACKAGE.glob("*.py")}
    assert {"bpf", "compiler", "sandbox", "syscalls"} <= set(CORE)


@pytest.mark.parametrize("module", CORE)
def test_the_core_needs_no_pytest(module: str) -> None:
    imports = runtime_imports(PACKAGE / f"{module}.py")
    assert not {"pytest", "_pytest", "pluggy"} & imports
    assert not {"." + name for name in PLUGIN} & imports


@pytest.mark.parametrize("module", PLUGIN)
def test_the_plugin_never_sees_bpf(module: str) -> None:
    imports = runtime_imports(PACKAGE / f"{module}.py")
    assert not {"." + name for name in BPF} & imports


def test_the_import_reader_sees_what_it_must() -> None:
    """The reader itself: relative, absolute and TYPE_CHECKING imports of session.py."""
    imports = runtime_imports(PACKAGE / "session.py")
    assert {"pytest", ".sandbox", ".recorders", ".child_results"} <= imports
    assert ".compiler" not in imports  # imported only for the type checker
