"""Hooks that a ``conftest.py`` or plugin can implement to extend the sandbox plugin."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ..recorders.base import Recorder
    from ..recorders.record import TrapRecord

hookspec = pytest.hookspec


@hookspec
def pytest_sandbox_roles(config: pytest.Config) -> dict[str, str] | None:
    """Return custom roles, ``{"NAME": "BASE +syscall -syscall @Group ..."}``.

    Every implementation is called; later definitions may build on earlier ones
    and on the ``sandbox_roles`` ini option, which is read first. A result other
    than None or ``{str: str}``, or a name defined already (in any case), is a usage
    error naming the implementation's plugin.
    """


@hookspec(firstresult=True)
def pytest_sandbox_make_recorder(config: pytest.Config, name: str) -> Recorder | None:
    """Return the recorder called ``name`` (``ptrace``, ``sigsys`` or ``notify``); first result wins."""


@hookspec
def pytest_sandbox_violation(config: pytest.Config, record: TrapRecord) -> None:
    """Called in the main process for every trapped syscall, once its test is done."""
