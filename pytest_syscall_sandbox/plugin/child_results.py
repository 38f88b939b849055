"""What a sandboxed test's child hands back to the main process: reports and warnings.

The child appends one document per line (:mod:`.transport`'s JSON, which keeps
tuples) to a temporary file the main process reads once the child is gone (no
reader thread; no pipe a large report could fill): every report the child would
have logged, in pytest's own serializable form, in the order it was made, and each
warning the test shows, written as it is shown (:func:`sending_warnings`), so a
child that dies keeps what it reported and warned before. pytest records warnings
in the main process around each test; :func:`replay_warnings` shows a sandboxed
test's warnings again there, where pytest's recording picks them up for its
warnings summary.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from . import transport

#: The key of a line that carries one warning.
WARNING = "sandbox_warning"
#: The key of a line that carries one report (pytest's serializable form).
REPORT = "sandbox_report"
#: Set (True) on the line of a report the child's protocol made for its setup, call or teardown.
OWN = "own"
#: Warning classes the main process has not imported, by ``module:qualname``.
_STAND_INS: dict[str, type[Warning]] = {}


def write_line(fd: int, document: dict[str, Any]) -> None:
    """Append one document (all of it, even if ``write`` is short)."""
    view = memoryview(transport.dumps(document).encode() + b"\n")
    while view:
        view = view[os.write(fd, view) :]


def write_report(fd: int, data: dict[str, Any], own: bool) -> None:
    """Append one report's serializable form; ``own``: the protocol's setup, call or teardown report."""
    write_line(fd, {REPORT: data, OWN: own})


@contextmanager
def sending_warnings(fd: int) -> Iterator[None]:
    """While inside: every warning shown (after the filters in force) goes to ``fd`` at once.

    ``warnings.showwarning`` is the documented hook for this; ``pytest.warns`` and
    ``recwarn`` install their own inside and still see their warnings.
    """

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        document = {
            "message": str(message),
            "category": f"{category.__module__}:{category.__qualname__}",
            "filename": str(filename),
            "lineno": int(lineno),
            "line": line,
        }
        try:
            write_line(fd, {WARNING: document})
        except OSError:
            pass  # the test closed the descriptor: the warning is not worth failing it

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def read_results(results_file: Any) -> tuple[list[tuple[dict[str, Any], bool]], list[dict[str, Any]]]:
    """([(serialized report, own), ...] in the child's order, warnings) from its file, closed here."""
    with results_file:
        results_file.seek(0)
        data = results_file.read()
    reports: list[tuple[dict[str, Any], bool]] = []
    emitted: list[dict[str, Any]] = []
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            document = transport.loads(line)
        except transport.DecodeError:
            break  # a child killed mid-write: keep what came whole
        if not isinstance(document, dict):
            continue
        if isinstance(document.get(WARNING), dict):
            emitted.append(document[WARNING])
        elif isinstance(document.get(REPORT), dict):
            reports.append((document[REPORT], document.get(OWN) is True))
    return reports, emitted


def replay_warnings(emitted: list[dict[str, Any]]) -> None:
    """Show the child's warnings here, bypassing the filters (the child applied them)."""
    for w in emitted:
        try:
            category = _category(str(w["category"]))
            text, filename, lineno = str(w["message"]), str(w["filename"]), int(w["lineno"])
        except (KeyError, TypeError, ValueError):
            continue
        line = w.get("line")
        warnings.showwarning(_instance(category, text), category, filename, lineno, line=line)


def _category(name: str) -> type[Warning]:
    """The warning class ``module:qualname`` names if the main process has it, else a stand-in.

    Nothing is imported here: the name comes from the test's child, and importing a
    module in the main process would run its code there, unsandboxed.
    """
    module_name, _, qualname = name.partition(":")
    found: Any = sys.modules.get(module_name)
    for part in qualname.split("."):
        found = getattr(found, part, None)
    if isinstance(found, type) and issubclass(found, Warning):
        return found
    if name not in _STAND_INS:
        short = qualname.rpartition(".")[2] or "Warning"
        _STAND_INS[name] = type(short, (Warning,), {"__module__": module_name, "__qualname__": qualname})
    return _STAND_INS[name]


def _instance(category: type[Warning], text: str) -> Warning | str:
    """``category(text)``, as Python shows warnings; the text if the class will not take it."""
    try:
        return category(text)
    except Exception:
        return text
