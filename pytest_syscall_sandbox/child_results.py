"""What a sandboxed test's child hands back to the main process: reports and warnings.

The child appends one JSON document per line to a temporary file the main process
reads once the child is gone (no reader thread; no pipe a large report could fill):
each phase's report in pytest's own serializable form, then the warnings the test
emitted. pytest records warnings in the main process around each test
(``pytest_runtest_protocol``); those of a sandboxed test are emitted in its child, so
:func:`replay_warnings` shows them again there, where pytest's recording picks them up
for its warnings summary.
"""

from __future__ import annotations

import importlib
import json
import os
import warnings
from typing import Any

#: The key of the line that carries the warnings.
WARNINGS = "sandbox_warnings"


def write_line(fd: int, document: dict[str, Any]) -> None:
    """Append one document (all of it, even if ``write`` is short)."""
    view = memoryview(json.dumps(document).encode() + b"\n")
    while view:
        view = view[os.write(fd, view) :]


def warnings_document(log: list[warnings.WarningMessage]) -> dict[str, Any]:
    """The warnings a ``catch_warnings(record=True)`` log holds, as one document."""
    return {
        WARNINGS: [
            {
                "message": str(w.message),
                "category": f"{w.category.__module__}:{w.category.__qualname__}",
                "filename": str(w.filename),
                "lineno": int(w.lineno),
                "line": w.line,
            }
            for w in log
        ]
    }


def read_results(results_file: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(serialized reports, warnings) from the child's file, which is closed here."""
    with results_file:
        results_file.seek(0)
        data = results_file.read()
    reports: list[dict[str, Any]] = []
    emitted: list[dict[str, Any]] = []
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            document = json.loads(line)
        except ValueError:
            break  # a child killed mid-write: keep what came whole
        if isinstance(document, dict) and WARNINGS in document:
            emitted.extend(w for w in document[WARNINGS] if isinstance(w, dict))
        elif isinstance(document, dict):
            reports.append(document)
    return reports, emitted


def replay_warnings(emitted: list[dict[str, Any]]) -> None:
    """Show the child's warnings here, bypassing the filters (the child applied them)."""
    for w in emitted:
        try:
            warnings.showwarning(
                str(w["message"]), _category(str(w["category"])), str(w["filename"]), int(w["lineno"]), line=w["line"]
            )
        except (KeyError, TypeError, ValueError):
            continue


def _category(name: str) -> type[Warning]:
    """The warning class ``module:qualname`` names, or UserWarning if it cannot be found here."""
    module_name, _, qualname = name.partition(":")
    try:
        found: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError, ValueError):
        return UserWarning
    return found if isinstance(found, type) and issubclass(found, Warning) else UserWarning
