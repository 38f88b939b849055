"""What a sandboxed test's child hands back to the main process: reports and warnings.

The child appends one document per line (:mod:`.transport`'s JSON, which keeps
tuples) to a :class:`ResultsArea`: memory the main process maps, shared, before it
forks, and reads once the child is gone. Writing there is a copy into memory: no
syscall (a role without ``write`` still reports), no descriptor a test could close,
``dup2`` over or reuse (``os.closerange``, daemonizing code), no reader thread, no
pipe a large report could fill. It holds every report the child would have logged,
in pytest's own serializable form, in the order it was made, and each warning the
test shows, written as it is shown (:func:`sending_warnings`), so a child that dies
keeps what it reported and warned before. pytest records warnings in the main
process around each test; :func:`replay_warnings` shows a sandboxed test's warnings
again there, where pytest's recording picks them up for its warnings summary.
"""

from __future__ import annotations

import mmap
import struct
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
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


#: Bytes of the results area (only the pages a child writes take memory).
AREA_SIZE = 64 << 20
_MAP_NORESERVE = 0x4000  # Linux; not in the mmap module
#: The area's header: bytes of whole documents written, bytes of documents that did not fit.
_HEADER = struct.Struct("=QQ")


class ResultsArea:
    """Shared memory a child appends documents to and the main process reads once it is gone.

    Made in the main process before the fork (``MAP_SHARED``): the child writes into
    its copy of the mapping, the main process sees it. The length in the header moves
    only after a whole document is in place, so a child killed while writing leaves
    what came before intact. A document that does not fit is counted, not written.
    """

    def __init__(self, size: int = AREA_SIZE) -> None:
        self._memory = mmap.mmap(-1, size, flags=mmap.MAP_SHARED | _MAP_NORESERVE)

    def append(self, document: dict[str, Any]) -> None:
        """Append one document, or count its bytes as lost if it does not fit."""
        data = transport.dumps(document).encode() + b"\n"
        used, lost = _HEADER.unpack_from(self._memory)
        start = _HEADER.size + used
        if start + len(data) > len(self._memory):
            _HEADER.pack_into(self._memory, 0, used, lost + len(data))
            return
        self._memory[start : start + len(data)] = data
        _HEADER.pack_into(self._memory, 0, used + len(data), lost)

    def take(self) -> ChildResults:
        """What the child wrote, decoded; the area is unmapped."""
        size = len(self._memory)
        try:
            used, lost = _HEADER.unpack_from(self._memory)
            data = self._memory[_HEADER.size : _HEADER.size + min(used, size)]
        finally:
            self.close()
        results = _decode(data)
        if used > size - _HEADER.size or lost > 1 << 40:  # the child's memory: never trusted
            results.lost = "sandbox: the test wrote over the memory its reports travel in; what they said is lost"
        elif lost:
            results.lost = (
                f"sandbox: {lost} bytes of the test's reports did not fit in its {size >> 20} MiB results area"
            )
        return results

    def close(self) -> None:
        """Unmap (also in a child forked meanwhile, which must not hold another test's area)."""
        self._memory.close()


def write_report(area: ResultsArea, data: dict[str, Any], own: bool) -> None:
    """Append one report's serializable form; ``own``: the protocol's setup, call or teardown report."""
    area.append({REPORT: data, OWN: own})


@contextmanager
def sending_warnings(area: ResultsArea) -> Iterator[None]:
    """While inside: every warning shown (after the filters in force) goes to ``area`` at once.

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
        area.append({WARNING: document})

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


@dataclass
class ChildResults:
    """What a child handed back: its reports in order (each with ``own``), its warnings."""

    reports: list[tuple[dict[str, Any], bool]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    #: Why some of what the child wrote is missing, if it is.
    lost: str | None = None


def _decode(data: bytes) -> ChildResults:
    results = ChildResults()
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            document = transport.loads(line)
        except transport.DecodeError:
            break  # written over by the test: keep what came before
        if not isinstance(document, dict):
            continue
        if isinstance(document.get(WARNING), dict):
            results.warnings.append(document[WARNING])
        elif isinstance(document.get(REPORT), dict):
            results.reports.append((document[REPORT], document.get(OWN) is True))
    return results


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
