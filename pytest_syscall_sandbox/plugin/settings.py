"""Which role, mode and recorder a test runs under: options, ini values and markers.

Precedence, from low to high: ini file (``sandbox_*``), command line
(``--sandbox-*``), the closest ``@pytest.mark.sandbox`` marker.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from ..errors import SandboxError
from ..roles.registry import RoleRegistry
from ..roles.role import Role

MODES = ("log-and-abort", "abort", "audit", "profile")
RECORDERS = ("ptrace", "sigsys")
#: When the filter goes on: right before the test function (``call``), or right before
#: the test's fixtures are set up (``test``), so that their calls count too.
SCOPES = ("call", "test")
DEFAULT_SCOPE = "call"
DEFAULT_MODE = "log-and-abort"
DEFAULT_RECORDER = "ptrace"
DEFAULT_TIMEOUT = 300.0

POLICY_HELP = "Run every test without a sandbox marker under this role's filter (a policy or custom role)"
MODE_HELP = (
    "What a disallowed syscall does: log-and-abort (default), abort, audit (record and let it run), "
    "or profile (audit, and also record every syscall each role uses)"
)
RECORDER_HELP = "How trapped syscalls are recorded: ptrace (default, follows forks and execs) or sigsys"
TIMEOUT_HELP = f"Kill a sandboxed test's child after this many seconds (default {DEFAULT_TIMEOUT:g}; 0: never)"
SCOPE_HELP = (
    "When the filter goes on: call (default: right before the test function; setup runs unfiltered) "
    "or test (right before the test's fixtures are set up: their syscalls count against the role too)"
)
STRICT_HELP = "In audit mode, fail tests that made syscalls their role does not allow"
ROLES_HELP = "Custom roles, one per line: NAME = BASE +syscall -syscall @Group -@Group"
REPORT_HELP = "Write every record, the per-role summary and the environment to this JSON file"
EXPORT_HELP = "Write each role's current and minimal allow-list as OCI profile, systemd line and custom role"
HARDEN_HELP = "Add the argument-level hardening set to every role (clone namespaces, netlink and raw sockets, TIOCSTI)"
PREFORK_HELP = (
    "Do not fork the next sandboxed test's child while the current one runs (slower; its child then "
    "also sees what the main process's hooks did when the current test was logged)"
)
PREFORK_INI_HELP = "Fork the next sandboxed test's child while the current one runs (default true)"
LINT_HELP = "Lint the allow-lists of the roles in use (syscall families, library and kernel drift) before running"


@dataclass(frozen=True)
class Settings:
    """The run-wide defaults, from the command line and ini file."""

    policy: str | None
    mode: str
    recorder: str
    timeout: float
    strict: bool
    report: str | None = None
    export: str | None = None
    lint: bool = False
    harden: bool = False
    prefork: bool = True
    scope: str = DEFAULT_SCOPE


@dataclass(frozen=True)
class TestSandbox:
    """What one test runs under."""

    __test__ = False  # not a pytest test class

    role: Role
    mode: str
    recorder: str
    timeout: float
    strict: bool
    scope: str = DEFAULT_SCOPE


#: Where :meth:`SandboxSession.pytest_collection_modifyitems` stores what each test runs under.
SANDBOX_KEY = pytest.StashKey["TestSandbox | None"]()


def sandbox_of(item: pytest.Item) -> TestSandbox | None:
    """What ``item`` runs under (None: as without the plugin), once collection is complete."""
    return item.stash.get(SANDBOX_KEY, None)


def _choice(value: object, valid: tuple[str, ...], what: str, where: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where}: {what} must be one of {', '.join(valid)}, got {value!r}")
    lowered = value.strip().lower()
    if lowered not in valid:
        raise ValueError(f"{where}: unknown {what} {value!r}; valid {what}s: {', '.join(valid)}")
    return lowered


def _check_combination(mode: str, recorder: str, where: str) -> None:
    # Profile mode starts from an almost empty filter, so glibc's own calls made with
    # every signal blocked (thread start: rseq, set_robust_list, ...) would trap where
    # no SIGSYS handler can run: only the tracer can follow them.
    if mode == "profile" and recorder == "sigsys":
        raise ValueError(
            f"{where}: profile mode needs the ptrace recorder (sigsys cannot see calls made with signals blocked)"
        )


def _timeout(value: Any, where: str) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: timeout must be a number of seconds, got {value!r}") from None
    if seconds < 0:
        raise ValueError(f"{where}: timeout must be 0 (none) or positive, got {value!r}")
    return seconds


def _option(config: pytest.Config, name: str) -> tuple[Any, str]:
    value = config.getoption(f"sandbox_{name}")
    if value is not None:
        return value, f"--sandbox-{name.replace('_', '-')}"
    return config.getini(f"sandbox_{name}"), f"ini sandbox_{name}"


def read_settings(config: pytest.Config, registry: RoleRegistry) -> Settings:
    """Validate the command line and ini values; raise :class:`pytest.UsageError`."""
    try:
        policy, where = _option(config, "policy")
        policy = policy.strip() if policy else None
        if policy:
            registry.get(policy)
        mode, where = _option(config, "mode")
        mode = _choice(mode or DEFAULT_MODE, MODES, "mode", where)
        recorder, where = _option(config, "recorder")
        recorder = _choice(recorder or DEFAULT_RECORDER, RECORDERS, "recorder", where)
        timeout, where = _option(config, "timeout")
        timeout = _timeout(DEFAULT_TIMEOUT if timeout in (None, "") else timeout, where)
        scope, where = _option(config, "scope")
        scope = _choice(scope or DEFAULT_SCOPE, SCOPES, "scope", where)
        _check_combination(mode, recorder, "--sandbox-mode/--sandbox-recorder")
    except (ValueError, SandboxError) as exc:
        raise pytest.UsageError(f"sandbox: {exc}") from None
    strict = bool(config.getoption("sandbox_strict") or config.getini("sandbox_strict"))
    report = config.getoption("sandbox_report") or config.getini("sandbox_report") or None
    if report:  # fixed now: a test that changes directory must not move the report
        report = os.path.join(str(config.invocation_params.dir), os.path.expanduser(report))
        directory = os.path.dirname(report) or "."
        if not os.path.isdir(directory) or not os.access(directory, os.W_OK):
            raise pytest.UsageError(f"sandbox: --sandbox-report: cannot write in {directory!r} (no such directory?)")
    export = config.getoption("sandbox_export") or None
    harden = bool(config.getoption("sandbox_harden") or config.getini("sandbox_harden"))
    lint = bool(config.getoption("sandbox_lint"))
    prefork = not config.getoption("sandbox_no_prefork") and bool(config.getini("sandbox_prefork"))
    return Settings(policy or None, mode, recorder, timeout, strict, report, export, lint, harden, prefork, scope)


_MARKER_KEYS = ("policy", "allow", "deny", "mode", "recorder", "timeout", "strict", "harden", "scope")


def _names(value: Any, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple, set, frozenset)) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ValueError(f"{key}= takes a syscall name or a list of them, got {value!r}")


def marker_kwargs(mark: pytest.Mark) -> Mapping[str, Any]:
    """The marker's arguments as keywords; a positional argument is the policy."""
    if len(mark.args) > 1:
        raise ValueError(f"sandbox marker takes at most one positional argument (the policy), got {mark.args!r}")
    kwargs = dict(mark.kwargs)
    if mark.args:
        if "policy" in kwargs:
            raise ValueError("sandbox marker got the policy both as argument and as policy=")
        kwargs["policy"] = mark.args[0]
    unknown = sorted(set(kwargs) - set(_MARKER_KEYS))
    if unknown:
        raise ValueError(f"sandbox marker got unknown keywords {unknown}; valid: {', '.join(_MARKER_KEYS)}")
    return kwargs


def resolve_item(item: pytest.Item, settings: Settings, registry: RoleRegistry) -> TestSandbox | None:
    """What ``item`` runs under, or None to run it as if the plugin were absent.

    Raises ValueError or SandboxError for a malformed marker.
    """
    mark = item.get_closest_marker("sandbox")
    given = marker_kwargs(mark) if mark is not None else {}
    if "policy" in given and given["policy"] is None:  # sandbox(None): this test runs in-process
        if given.get("allow") or given.get("deny"):
            raise ValueError("sandbox marker with policy None (no sandbox) takes no allow=/deny=")
        return None
    # Any other keyword given as None means "not given": the command line or ini value applies.
    kwargs = {k: v for k, v in given.items() if v is not None}
    policy = kwargs.get("policy", settings.policy)
    if policy is None:
        if mark is not None and (kwargs.get("allow") or kwargs.get("deny")):
            raise ValueError("sandbox marker with allow=/deny= needs a policy (or --sandbox-policy)")
        return None
    if not isinstance(policy, str):
        raise ValueError(f"sandbox policy must be a role name, got {policy!r}")
    role = registry.get(policy).with_changes(
        _names(kwargs.get("allow", ()), "allow"), _names(kwargs.get("deny", ()), "deny")
    )
    if kwargs.get("harden", settings.harden):
        role = role.hardened()
    where = "sandbox marker"
    mode = _choice(kwargs["mode"], MODES, "mode", where) if "mode" in kwargs else settings.mode
    recorder = _choice(kwargs["recorder"], RECORDERS, "recorder", where) if "recorder" in kwargs else settings.recorder
    timeout = _timeout(kwargs["timeout"], where) if "timeout" in kwargs else settings.timeout
    _check_combination(mode, recorder, where)
    strict = bool(kwargs.get("strict", settings.strict))
    scope = _choice(kwargs["scope"], SCOPES, "scope", where) if "scope" in kwargs else settings.scope
    return TestSandbox(role, mode, recorder, timeout, strict, scope)
