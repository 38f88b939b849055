"""The layering the README promises: the core imports no pytest; the plugin and the
recorders import no module that builds, checks or installs BPF (they reach filters only
through :mod:`pytest_syscall_sandbox.sandbox`'s prepared, opaque ones).

Read from the source: direct imports (``.x``, ``..x`` and ``pytest_syscall_sandbox.x``
alike); imports under ``if TYPE_CHECKING:`` do not count, they are names for the type
checker, not code that runs.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "pytest_syscall_sandbox"
PLUGIN = ("plugin", "hookspecs", "settings", "session", "child_results", "report", "export")
CORE = tuple(sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem not in PLUGIN))
RECORDERS = tuple(sorted(p.stem for p in (PACKAGE / "recorders").glob("*.py")))
#: What builds, checks, runs or installs BPF programs.
BPF = {"bpf", "compiler", "emulator", "builder", "rules", "_install"}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_imports(path: Path) -> set[str]:
    """Top-level names of other packages' imports, and ``.x`` for the package's module ``x``.

    Relative imports from ``recorders/`` name ``..x`` for a package module and ``.x``
    for a sibling; both come out as ``.x`` (the two name sets do not overlap).
    """
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(_absolute(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                name = _absolute(node.module)
                if name == PACKAGE.name:  # from pytest_syscall_sandbox import x
                    found.update("." + alias.name for alias in node.names)
                else:
                    found.add(name)
            elif node.module:
                found.add("." + node.module.split(".")[0])
            else:
                found.update("." + alias.name for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def _absolute(dotted: str) -> str:
    """``pytest_syscall_sandbox.x.y`` -> ``.x``; any other ``a.b`` -> ``a``."""
    parts = dotted.split(".")
    if parts[0] == PACKAGE.name and len(parts) > 1:
        return "." + parts[1]
    return parts[0]


def test_the_lists_cover_the_package() -> None:
    assert set(PLUGIN) <= {p.stem for p in PACKAGE.glob("*.py")}
    assert {"bpf", "compiler", "sandbox", "syscalls"} <= set(CORE)


@pytest.mark.parametrize("module", CORE)
def test_the_core_needs_no_pytest(module: str) -> None:
    imports = runtime_imports(PACKAGE / f"{module}.py")
    assert not {"pytest", "_pytest", "pluggy"} & imports
    assert not {"." + name for name in PLUGIN} & imports


@pytest.mark.parametrize("path", [f"{m}.py" for m in PLUGIN] + [f"recorders/{m}.py" for m in RECORDERS])
def test_the_plugin_and_the_recorders_never_see_bpf(path: str) -> None:
    imports = runtime_imports(PACKAGE / path)
    assert not {"." + name for name in BPF} & imports


def test_the_import_reader_sees_what_it_must(tmp_path: Path) -> None:
    """The reader itself: relative, absolute and TYPE_CHECKING imports."""
    imports = runtime_imports(PACKAGE / "session.py")
    assert {"pytest", ".sandbox", ".recorders", ".child_results"} <= imports
    assert ".compiler" not in imports  # imported only for the type checker
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import pytest_syscall_sandbox.bpf\n"
        "from pytest_syscall_sandbox.compiler import compile_allow_list\n"
        "from pytest_syscall_sandbox import emulator\n"
        "from ..rules import Rule\n"
        "def later():\n"
        "    from . import _install\n"
    )
    assert runtime_imports(sample) == {".bpf", ".compiler", ".emulator", ".rules", "._install"}
