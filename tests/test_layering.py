"""The layering the README's "Layout" promises, read from the source and followed transitively.

The package's folders are its layers. What a module *loads* counts, through any chain
of imports, including imports inside functions (they load when called); imports under
``if TYPE_CHECKING:`` do not (names for the type checker, not code that runs). The
package's ``__init__`` imports nothing eagerly (its API is loaded on first use), so
loading any one module loads only what the closure below finds.
"""

from __future__ import annotations

import ast
import functools
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "pytest_syscall_sandbox"
NAME = PACKAGE.name
FOLDERS = ("kernel", "engine", "roles", "lint", "recorders", "reports", "plugin")
#: Layer -> the layers its modules may load (itself included), through any chain.
MAY_LOAD: dict[str, frozenset[str]] = {
    "errors": frozenset({"errors"}),
    "kernel": frozenset({"kernel", "errors"}),
    "engine": frozenset({"engine", "kernel", "errors"}),
    "roles": frozenset({"roles", "engine", "kernel", "errors"}),
    "lint": frozenset({"lint", "roles", "kernel", "errors"}),
    "recorders": frozenset({"recorders", "kernel", "errors"}),
    "reports": frozenset({"reports", "recorders", "roles", "kernel", "errors"}),
    "sandbox": frozenset({"sandbox", "engine", "roles", "kernel", "errors"}),
    # the engine only through the sandbox facade (its own test below)
    "plugin": frozenset((*FOLDERS, "sandbox", "errors", "__init__")),
    "cli": frozenset((*FOLDERS, "sandbox", "errors", "cli", "__init__")) - {"plugin"},
    "__main__": frozenset((*FOLDERS, "sandbox", "errors", "cli", "__main__", "__init__")) - {"plugin"},
    "__init__": frozenset({"__init__"}),
}
#: Every import of a submodule runs the package's ``__init__`` first; it loads nothing of the
#: package itself (checked below), so every layer may.
MAY_LOAD = {name: layers | {"__init__"} for name, layers in MAY_LOAD.items()}
PYTEST = frozenset({"pytest", "_pytest", "pluggy"})
#: The one way from the plugin to the engine: the prepared, opaque filters of :mod:`.sandbox`.
FACADE = f"{NAME}.sandbox"


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def layer(module: str) -> str:
    """``kernel`` for ``pkg.kernel.calls``; ``sandbox`` for ``pkg.sandbox``; ``__init__`` for ``pkg``."""
    parts = module.split(".")[1:]
    return parts[0] if parts else "__init__"


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def direct_loads(path: Path, module: str) -> set[str]:
    """Package modules and other top-level packages that ``module`` imports when it runs."""
    is_package = path.name == "__init__.py"
    here = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()

    def add(target: str) -> None:
        if target.split(".")[0] != NAME:
            found.add(target.split(".")[0])
            return
        parts = target.split(".")
        for end in range(1, len(parts) + 1):  # a module loads its parent packages first
            if ".".join(parts[:end]) in MODULES:
                found.add(".".join(parts[:end]))

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            add(target)
            for alias in node.names:  # from .x import y: y may itself be a module
                if f"{target}.{alias.name}" in MODULES:
                    add(f"{target}.{alias.name}")
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    found.discard(module)
    return found


@functools.cache
def _direct(module: str) -> frozenset[str]:
    return frozenset(direct_loads(MODULES[module], module))


def closure(module: str, *, stop_at: frozenset[str] = frozenset()) -> set[str]:
    """Everything loading ``module`` loads, through any chain; ``stop_at`` modules are not followed."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        current = todo.pop()
        for target in _direct(current):
            if target not in seen:
                seen.add(target)
                if target in MODULES and target not in stop_at:
                    todo.append(target)
    return seen


def test_every_module_sits_in_a_layer() -> None:
    top = {p.stem for p in PACKAGE.glob("*.py")}
    assert top == {"__init__", "__main__", "cli", "errors", "sandbox"}
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"} == set(FOLDERS)
    assert {layer(m) for m in MODULES} <= set(MAY_LOAD)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_each_module_loads_only_the_layers_below_it(module: str) -> None:
    loaded = {target for target in closure(module) if target.startswith(NAME)}
    outside = sorted(t for t in loaded if layer(t) not in MAY_LOAD[layer(module)])
    assert not outside, f"{module} ({layer(module)}) loads {outside}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if layer(m) != "plugin"))
def test_only_the_plugin_loads_pytest(module: str) -> None:
    assert not PYTEST & closure(module)


@pytest.mark.parametrize("module", sorted(m for m in MODULES if layer(m) == "plugin"))
def test_the_plugin_reaches_the_engine_only_through_the_sandbox_facade(module: str) -> None:
    engine = {t for t in closure(module, stop_at=frozenset({FACADE})) if layer(t) == "engine"}
    assert not engine, f"{module} loads {sorted(engine)} other than through {FACADE}"


def test_loading_a_recorder_or_the_plugin_entry_really_loads_no_bpf() -> None:
    """What Python does, not only what the reader says: import them in a fresh interpreter."""
    code = (
        "import sys\n"
        f"import {NAME}.recorders.ptrace, {NAME}.recorders.sigsys, {NAME}.plugin.hooks\n"
        f"print(' '.join(sorted(m for m in sys.modules if m.startswith('{NAME}.engine'))))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.split() == []


def test_the_package_init_loads_nothing_of_the_package() -> None:
    assert closure(NAME) <= {"__future__", "importlib", "typing"}


def test_the_reader_sees_what_it_must(tmp_path: Path) -> None:
    """The reader itself: relative and absolute, lazy and TYPE_CHECKING imports."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from typing import TYPE_CHECKING\n"
        f"import {NAME}.engine.bpf\n"
        f"from {NAME}.engine.compiler import compile_allow_list\n"
        f"from {NAME}.engine import emulator\n"
        "from ..engine.rules import Rule\n"
        "if TYPE_CHECKING:\n"
        "    from ..lint import drift\n"
        "def later():\n"
        "    from ..kernel import calls\n"
    )
    loads = direct_loads(sample, f"{NAME}.plugin.sample")
    engine = {f"{NAME}.engine.{m}" for m in ("bpf", "compiler", "emulator", "rules")}
    kernel = {f"{NAME}.kernel", f"{NAME}.kernel.calls"}
    assert loads == {"typing", NAME, f"{NAME}.engine"} | engine | kernel
    assert f"{NAME}.engine.compiler" in closure(f"{NAME}.sandbox")
    assert f"{NAME}.engine.compiler" not in closure(f"{NAME}.plugin.session", stop_at=frozenset({FACADE}))
