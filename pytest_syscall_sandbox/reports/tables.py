"""Tables that fit the terminal, and locations short enough to read in them (pure functions)."""

from __future__ import annotations

import os
import sysconfig
from collections.abc import Sequence

from tabulate import tabulate

#: The narrowest a wrapped column gets, however narrow the terminal.
MIN_COLUMN = 12
#: tabulate's "simple" format puts two spaces between columns.
_GAP = 2


def short_location(location: str) -> str:
    """A location outside the project without the interpreter's own directories.

    ``/usr/lib/python3.11/threading.py:975`` -> ``<stdlib>/threading.py:975``, a
    third-party module's -> ``<site-packages>/...``. Locations in the project are
    relative to its root already (the plugin makes them so).
    """
    if not location.startswith(os.sep):
        return location
    paths = sysconfig.get_paths()
    for key, label in (("purelib", "<site-packages>"), ("platlib", "<site-packages>"), ("stdlib", "<stdlib>")):
        prefix = paths.get(key, "").rstrip(os.sep) + os.sep
        if prefix != os.sep and location.startswith(prefix):
            return f"{label}/{location[len(prefix) :]}"
    marker = f"{os.sep}site-packages{os.sep}"
    if marker in location:
        return "<site-packages>/" + location.split(marker, 1)[1]
    return location


def _widths(rows: Sequence[Sequence[object]], headers: Sequence[str]) -> list[int]:
    return [max([len(str(h)), *(len(str(row[i])) for row in rows)]) for i, h in enumerate(headers)]


def fit_table(
    rows: Sequence[Sequence[object]],
    headers: Sequence[str],
    width: int | None = None,
    drop: Sequence[int] = (),
    wrap: Sequence[int] = (),
    short_headers: dict[int, str] | None = None,
) -> str:
    """``tabulate(rows, headers)``, made to fit ``width`` columns if it is wider.

    In turn: headers get their short forms and the ``wrap`` columns are wrapped (long
    words too), sharing what is left of the width (none narrower than
    :data:`MIN_COLUMN`); if that is still too wide, the columns ``drop`` names (the
    least useful) go too. Without ``width``, or if the table fits, it is as tabulate
    makes it.
    """
    table = tabulate(rows, headers=list(headers))
    if width is None or _width(table) <= width or not rows:
        return table
    short = [(short_headers or {}).get(i, header) for i, header in enumerate(headers)]
    table = _wrapped(rows, short, width, wrap)
    if _width(table) <= width or not drop:
        return table
    keep = [i for i in range(len(headers)) if i not in drop]
    return _wrapped(
        [[row[i] for i in keep] for row in rows],
        [short[i] for i in keep],
        width,
        [keep.index(i) for i in wrap if i in keep],
    )


def _width(table: str) -> int:
    return max((len(line) for line in table.splitlines()), default=0)


def _wrapped(rows: Sequence[Sequence[object]], headers: Sequence[str], width: int, wrap: Sequence[int]) -> str:
    """The table with the ``wrap`` columns wrapped to share what the others leave of ``width``."""
    if not wrap:
        return tabulate(rows, headers=list(headers))
    natural = _widths(rows, headers)
    fixed = sum(w for i, w in enumerate(natural) if i not in wrap) + _GAP * (len(headers) - 1)
    limits = _share(width - fixed, [natural[i] for i in wrap])
    while True:  # tabulate's wrapping can come out a column wider than asked: narrow and retry
        maxcolwidths: list[int | None] = [None] * len(headers)
        for i, limit in zip(wrap, limits, strict=True):
            maxcolwidths[i] = limit
        table = tabulate(rows, headers=list(headers), maxcolwidths=maxcolwidths)
        excess = _width(table) - width
        widest = max(range(len(limits)), key=limits.__getitem__)
        if excess <= 0 or limits[widest] <= MIN_COLUMN:
            return table
        limits[widest] = max(MIN_COLUMN, limits[widest] - excess)


def _share(budget: int, wanted: list[int]) -> list[int]:
    """Split ``budget`` among columns that want ``wanted`` widths: each gets at most what it wants.

    The narrow ones are served in full first; the rest share what is left equally.
    """
    limits = [0] * len(wanted)
    left = sorted(range(len(wanted)), key=wanted.__getitem__)
    while left:
        share = max(MIN_COLUMN, budget // len(left))
        index = left.pop(0)
        limits[index] = min(wanted[index], share)
        budget -= limits[index]
    return limits
