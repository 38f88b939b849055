"""The shapes of the lint's knowledge: versions, families, drift, jobs and handler hazards.

The data itself lives in :mod:`.families` (syscall families) and :mod:`.drift`
(library drift, jobs, hazards, Linux releases); this module holds only the types and
the questions they answer. A fact names the library it is about (:data:`GLIBC`,
:data:`MUSL`, :data:`CPYTHON`), the versions it holds for (``since`` inclusive,
``until`` exclusive) and how it was established (its ``source``):

* ``"source"``: read in the library's own source, as cited beside it;
* ``"believed"``: well known (release notes, long-running bug reports), not re-read;
* a sentence: ``"measured on ..."`` (strace of the job in the named environments) or
  the release notes or commit that made the change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Optional, Protocol

from ..kernel.syscalls import NUMBERS, check_names

GLIBC = "glibc"
MUSL = "musl"
CPYTHON = "CPython"

#: Conditions a fact may depend on (see ``LintEnvironment.condition_holds``).
NO_VDSO = "no-vdso"  #: only where the clock source cannot be read through the vDSO
RSEQ = "rseq"  #: only where GLIBC_TUNABLES does not turn rseq off

Version = tuple[int, ...]


def parse_version(text: str) -> Version:
    """``"2.36"`` -> ``(2, 36)``; trailing non-digits are ignored (``"6.18.44-fc"`` -> ``(6, 18, 44)``)."""
    parts: list[int] = []
    for piece in text.strip().split("."):
        digits = ""
        for char in piece:
            if not char.isdigit():
                break
            digits += char
        if not digits:
            break
        parts.append(int(digits))
        if len(digits) != len(piece):
            break
    return tuple(parts)


def format_version(version: Version) -> str:
    """``(2, 36)`` -> ``"2.36"``."""
    return ".".join(str(part) for part in version)


def _span_text(by: str, since: Optional[str], until: Optional[str]) -> str:
    if since and until:
        return f"{by} {since} to {until}"
    if since:
        return f"{by} {since}+"
    if until:
        return f"{by} before {until}"
    return by


def _in_span(version: Optional[Version], since: Optional[str], until: Optional[str]) -> bool:
    if version is None:  # unknown version: the newest
        return until is None
    if since is not None and version < parse_version(since):
        return False
    return not (until is not None and version >= parse_version(until))


class Machine(Protocol):
    """What the facts ask of a machine (``LintEnvironment`` is one)."""

    def version_of(self, by: str) -> tuple[bool, Optional[Version]]:
        """``(present, version)`` of library ``by``."""
        ...

    def condition_holds(self, condition: Optional[str]) -> bool:
        """Does a fact's condition hold here?"""
        ...


@dataclass(frozen=True)
class Use:
    """A library call that ends in ``syscall``, from version ``since`` up to (not incl.) ``until``.

    ``main`` marks the library's usual way to do the family's job: a role that does
    the job with another member then crashes for certain. Other uses are secondary
    entry points (``fstatvfs()``, ``faccessat()``, CPython's ``subprocess``): likely.
    """

    syscall: str
    by: str
    calls: str
    since: Optional[str] = None
    until: Optional[str] = None
    main: bool = False
    source: str = "believed"
    condition: Optional[str] = None

    def active(self, version: Optional[Version]) -> bool:
        """Does version ``version`` of :attr:`by` make this call? Unknown versions count as yes."""
        return _in_span(version, self.since, self.until)

    def describe(self) -> str:
        """``"glibc 2.33+ for stat(), fstat()"``."""
        return f"{_span_text(self.by, self.since, self.until)} for {self.calls}"


@dataclass(frozen=True)
class Family:
    """A set of syscalls used interchangeably for one job."""

    name: str
    job: str
    members: tuple[str, ...]
    uses: tuple[Use, ...] = ()
    remarks: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), compare=False, hash=False)

    def __post_init__(self) -> None:
        check_names(self.members)
        if list(self.members) != sorted(self.members, key=NUMBERS.__getitem__):
            raise ValueError(f"family {self.name}: members must be in table order")
        for use in self.uses:
            if use.syscall not in self.members:
                raise ValueError(f"family {self.name}: use of {use.syscall}, which is not a member")
        for name in self.remarks:
            if name not in self.members:
                raise ValueError(f"family {self.name}: remark on {name}, which is not a member")

    def uses_of(self, syscall: str) -> tuple[Use, ...]:
        """Every recorded use of one member."""
        return tuple(use for use in self.uses if use.syscall == syscall)

    def preferred(self, libc: str, version: Optional[Version] = None) -> tuple[str, ...]:
        """The members ``libc`` (at ``version``; None: the newest) reaches for first on x86-64."""
        return tuple(
            m for m in self.members if any(u.main and u.by == libc and u.active(version) for u in self.uses_of(m))
        )


@dataclass(frozen=True)
class Drift:
    """A syscall that a library release started to use for a call the role already makes.

    A role "already makes the call" if it allows one of :attr:`before`, the syscalls
    the call used before :attr:`since`. With :attr:`only` (the case the drift is
    about, e.g. a failed exec) the role may never meet it: likely at most.
    """

    syscall: str
    by: str
    since: str
    calls: str
    before: frozenset[str]
    source: str = "believed"
    condition: Optional[str] = None
    only: Optional[str] = None

    def __post_init__(self) -> None:
        check_names((self.syscall, *sorted(self.before)))


@dataclass(frozen=True)
class Span:
    """A library and the versions of it a fact holds for (``since`` inclusive, ``until`` exclusive)."""

    by: str
    since: Optional[str] = None
    until: Optional[str] = None

    def state(self, machine: Machine) -> str:
        """``"holds"``, ``"pending"`` (the library is older than :attr:`since`) or ``"no"``."""
        present, version = machine.version_of(self.by)
        if not present:
            return "no"
        if _in_span(version, self.since, self.until):
            return "holds"
        if self.since is not None and version is not None and version < parse_version(self.since):
            return "pending"
        return "no"

    def describe(self) -> str:
        """``"glibc 2.39+"``, ``"CPython 3.10 to 3.13"``, ``"glibc"``."""
        return _span_text(self.by, self.since, self.until)


def spans(text: str) -> tuple[Span, ...]:
    """``"CPython 3.13+, glibc 2.34+"`` -> spans; also ``"glibc 2.33-2.39"``, ``"glibc <2.33"``, ``"glibc"``."""
    out: list[Span] = []
    for part in text.split(","):
        by, _, versions = part.strip().partition(" ")
        if versions.endswith("+"):
            out.append(Span(by, since=versions[:-1]))
        elif versions.startswith("<"):
            out.append(Span(by, until=versions[1:]))
        elif "-" in versions:
            since, until = versions.split("-")
            out.append(Span(by, since=since, until=until))
        elif versions:
            raise ValueError(f"bad version span {part!r}")
        else:
            out.append(Span(by))
    return tuple(out)


@dataclass(frozen=True)
class Step:
    """One syscall a job makes where every span holds; with ``forms``, only in those forms of the call."""

    syscall: str
    spans: tuple[Span, ...]
    what: str
    forms: frozenset[str] = frozenset()
    source: str = "believed"
    condition: Optional[str] = None
    #: Forms of the call in which the step is not made.
    unless: frozenset[str] = frozenset()

    def state(self, machine: Machine) -> str:
        """``"holds"`` (made here), ``"pending"`` (made once a library is new enough) or ``"no"``."""
        states = {span.state(machine) for span in self.spans}
        if "no" in states or not machine.condition_holds(self.condition):
            return "no"
        return "pending" if "pending" in states else "holds"

    def describe(self) -> str:
        """``"fstat() of the new descriptor (glibc 2.39+)"``."""
        return f"{self.what} ({', '.join(s.describe() for s in self.spans)})"


@dataclass(frozen=True)
class Job:
    """What the libraries make for one job a role is seen to do, per version.

    A role does the job if it allows one of :attr:`does` (a role that allows openat
    opens files). If :attr:`implied`, it then does it for certain, so a step made here
    without a form is a certain need; otherwise (clone: a thread or a fork) only likely.
    :attr:`forms` names the forms of the call some steps depend on (likely at most).
    """

    name: str
    call: str
    does: frozenset[str]
    steps: tuple[Step, ...]
    implied: bool = True
    forms: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), compare=False, hash=False)

    def __post_init__(self) -> None:
        check_names((*sorted(self.does), *(s.syscall for s in self.steps)))
        for step in self.steps:
            if not (step.forms | step.unless) <= set(self.forms):
                raise ValueError(f"job {self.name}: step {step.syscall} names an unknown form")

    def calls(self, machine: Machine, forms: frozenset[str] = frozenset()) -> frozenset[str]:
        """The syscalls this job makes on ``machine`` for a call of ``forms`` (names from :attr:`forms`)."""
        unknown = forms - set(self.forms)
        if unknown:
            raise ValueError(f"job {self.name}: no form {', '.join(sorted(unknown))}")
        return frozenset(
            s.syscall for s in self.steps if s.forms <= forms and not s.unless & forms and s.state(machine) == "holds"
        )


#: Why a call must not be answered by running Python in a signal handler.
BLOCKED = "every signal blocked"
LOCKED = "a lock held that the handler would take"


@dataclass(frozen=True)
class Hazard:
    """Calls a library makes where a signal handler cannot run Python (what a recorder must not ask)."""

    syscalls: tuple[str, ...]
    job: str
    cause: str
    spans: tuple[Span, ...]
    what: str
    source: str = "believed"
    #: The forms of the job's call (see :attr:`Job.forms`) the hazard needs.
    forms: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        check_names(self.syscalls)

    def holds(self, machine: Machine, forms: frozenset[str] = frozenset()) -> bool:
        """Does the hazard exist on ``machine``, for a call of ``forms``?"""
        return self.forms <= forms and all(span.state(machine) == "holds" for span in self.spans)
