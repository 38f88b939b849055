"""Which role, mode and recorder a test runs under: options, ini values and markers.

Precedence, from low to high: ini file (``sandbox_*``), command line
(``--sandbox-*``), the closest ``@pytest.mark.sandbox`` marker.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from ..errors import SandboxError
from ..roles.registry import RoleRegistry, parse_role_lines
from ..roles.role import Role

MODES = ("log-and-abort", "abort", "audit", "profile")
RECORDERS = ("ptrace", "sigsys", "notify")
#: When the filter goes on: right before the test function (``call``), or right before
#: the test's fixtures are set up (``test``), so that their calls count too.
SCOPES = ("call", "test")
DEFAULT_SCOPE = "call"
DEFAULT_MODE = "log-and-abort"
DEFAULT_RECORDER = "ptrace"
DEFAULT_TIMEOUT = 300.0
#: How errors in a marker start (a collection error names the test before it).
MARKER = "sandbox marker"

POLICY_HELP = "Run every test without a sandbox marker under this role's filter (a policy or custom role)"
MODE_HELP = (
    "What a disallowed syscall does: log-and-abort (default), abort, audit (record and let it run), "
    "or profile (audit, and also record every syscall each role uses)"
)
RECORDER_HELP = (
    "How trapped syscalls are recorded: ptrace (default, follows forks and execs), sigsys, "
    "or notify (a supervisor process answers seccomp user notifications; needs no ptrace permission)"
)
TIMEOUT_HELP = f"Kill a sandboxed test's child after this many seconds (default {DEFAULT_TIMEOUT:g}; 0: never)"
SCOPE_HELP = (
    "When the filter goes on: call (default: right before the test function; setup runs unfiltered) "
    "or test (right before the test's fixtures are set up: their syscalls count against the role too)"
)
STRICT_HELP = "In audit mode, fail tests that made syscalls their role does not allow"
ROLES_HELP = "Custom roles, one per line: NAME = BASE +syscall -syscall @Group -@Group"
REPORT_HELP = "Write every record, the per-role summary and the environment to this JSON file"
EXPORT_HELP = "Write each role's current and minimal allow-list as OCI profile, systemd line and custom role"
HTML_HELP = "Write the HTML report (summaries, gap tables with source, role x syscall matrix) to this file"
HARDEN_HELP = "Add the argument-level hardening set to every role (clone namespaces, netlink and raw sockets, TIOCSTI)"
PREFORK_HELP = (
    "Do not fork the next sandboxed test's child while the current one runs (slower; its child then "
    "also sees what the main process's hooks did when the current test was logged)"
)
PREFORK_INI_HELP = "Fork the next sandboxed test's child while the current one runs (default true)"
SHOW_ENV_HELP = (
    "Show environment values in records of execve/execveat (default: names only, values <redacted>, "
    "as they may hold secrets)"
)
FIX_HELP = (
    "After an audit or profile run, write each role's missing syscalls into the project's own role "
    "definitions (sandbox_roles in the ini file, pyproject.toml, tox.ini or setup.cfg), keeping each role's name"
)
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
    show_env: bool = False
    #: ``--sandbox-fix``: write the fixes into the file where ``sandbox_roles`` lives.
    fix: bool = False
    html: str | None = None


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
    #: Whether records show environment values (``--sandbox-show-env``), not only names.
    show_env: bool = False


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
    """Seconds, finite, 0 (never) or more. The marker takes a number; options and ini text."""
    valid = "0 (never) or a positive, finite number of seconds"
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{where}: timeout must be {valid}, got {value!r}")
    if isinstance(value, str) and where == MARKER:
        raise ValueError(f"{where}: timeout= takes a number ({valid}), got the string {value!r}")
    try:
        seconds = float(value)
    except (OverflowError, ValueError):
        raise ValueError(f"{where}: timeout must be {valid}, got {value!r}") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{where}: timeout must be {valid}, got {value!r}")
    return seconds


def _flag(value: object, key: str) -> bool:
    """A marker's ``strict=`` / ``harden=``: True or False, nothing that merely looks true."""
    if not isinstance(value, bool):
        raise ValueError(f"{MARKER}: {key}= takes True or False, got {value!r}")
    return value


#: What pytest reads as true and false in a ``bool`` ini value.
_TRUTH = "true, false, yes, no, on, off, 1, 0 (y, n, t, f)"


def _ini_flag(config: pytest.Config, name: str) -> bool:
    try:
        return bool(config.getini(name))
    except (ValueError, pytest.UsageError) as exc:  # pytest's own message names the value
        raise pytest.UsageError(f"sandbox: ini {name}: {exc}; valid: {_TRUTH}") from None


def _option(config: pytest.Config, name: str) -> tuple[Any, str]:
    value = config.getoption(f"sandbox_{name}")
    if value is not None:
        return value, f"--sandbox-{name.replace('_', '-')}"
    return config.getini(f"sandbox_{name}"), f"ini sandbox_{name}"


def load_roles(config: pytest.Config) -> RoleRegistry:
    """The built-in roles, then ``sandbox_roles`` from the ini file, then each ``pytest_sandbox_roles``.

    Each hook implementation is called on its own (in the order pluggy calls them), so
    that a bad result, anything but ``{str: str}`` or None, is a usage error naming the
    plugin or conftest that returned it.
    """
    registry = RoleRegistry()
    source = "ini sandbox_roles"
    try:
        registry.define_all(parse_role_lines(config.getini("sandbox_roles")), source)
        manager = config.pluginmanager
        implementations = manager.hook.pytest_sandbox_roles.get_hookimpls()
        for implementation in reversed(implementations):
            source = f"the pytest_sandbox_roles hook of {implementation.plugin_name}"
            others = [i.plugin for i in implementations if i.plugin is not implementation.plugin]
            for definitions in manager.subset_hook_caller("pytest_sandbox_roles", others)(config=config):
                registry.define_all(definitions, source)
    except SandboxError as exc:
        raise pytest.UsageError(f"sandbox: {source}: {exc}") from None
    return registry


def read_settings(config: pytest.Config, registry: RoleRegistry) -> Settings:
    """Validate the command line and ini values; raise :class:`pytest.UsageError`."""
    try:
        policy, where = _option(config, "policy")
        policy = policy.strip() if policy else None
        if policy:
            try:
                registry.get(policy)
            except SandboxError as exc:
                raise ValueError(f"{where}: {exc}") from None
        mode, where = _option(config, "mode")
        mode = _choice(mode or DEFAULT_MODE, MODES, "mode", where)
        recorder, where = _option(config, "recorder")
        recorder = _choice(recorder or DEFAULT_RECORDER, RECORDERS, "recorder", where)
        timeout, where = _option(config, "timeout")
        timeout = _timeout(DEFAULT_TIMEOUT if timeout in (None, "") else timeout, where)
        scope, where = _option(config, "scope")
        scope = _choice(scope or DEFAULT_SCOPE, SCOPES, "scope", where)
        _check_combination(mode, recorder, "--sandbox-mode/--sandbox-recorder")
        report, where = _option(config, "report")
        report = _report_path(config, report, where) if report else None
        export = config.getoption("sandbox_export") or None
        if export:
            export = _export_directory(config, export)
        fix = bool(config.getoption("sandbox_fix", None))
        if fix and mode not in ("audit", "profile"):
            raise ValueError(
                f"--sandbox-fix needs --sandbox-mode=audit or profile (got {mode}: "
                "an abort mode stops each test at its first missing syscall)"
            )
        html = config.getoption("sandbox_html") or None
        html = _report_path(config, html, "--sandbox-html") if html else None
    except (ValueError, SandboxError) as exc:
        raise pytest.UsageError(f"sandbox: {exc}") from None
    strict = bool(config.getoption("sandbox_strict")) or _ini_flag(config, "sandbox_strict")
    harden = bool(config.getoption("sandbox_harden")) or _ini_flag(config, "sandbox_harden")
    lint = bool(config.getoption("sandbox_lint"))
    prefork = not config.getoption("sandbox_no_prefork") and _ini_flag(config, "sandbox_prefork")
    show_env = bool(config.getoption("sandbox_show_env")) or _ini_flag(config, "sandbox_show_env")
    return Settings(
        policy or None,
        mode,
        recorder,
        timeout,
        strict,
        report,
        export,
        lint,
        harden,
        prefork,
        scope,
        show_env,
        fix,
        html,
    )


def _absolute(config: pytest.Config, path: str) -> str:
    # Fixed now: a test that changes directory must not move the output.
    return os.path.join(str(config.invocation_params.dir), os.path.expanduser(path))


def _probe(directory: str, what: str) -> None:
    """Create and remove a file in ``directory``: the only sure test that files can be written there."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".sandbox-probe-", dir=directory)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ValueError(f"{what}: cannot write in {directory!r}: {exc.strerror or exc}") from None


def _report_path(config: pytest.Config, value: str, where: str) -> str:
    """The report's absolute path; a ValueError unless a file can be written there."""
    path = _absolute(config, value)
    if os.path.isdir(path):
        raise ValueError(f"{where}: {value!r} is a directory; give the path of a file to write")
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        raise ValueError(f"{where}: {value!r}: no such directory {directory!r}; give a file in an existing directory")
    _probe(directory, where)
    return path


def _export_directory(config: pytest.Config, value: str) -> str:
    """The export directory's absolute path; a ValueError unless it is, or can be made, a writable directory."""
    where = "--sandbox-export"
    path = _absolute(config, value)
    existing = path
    while not os.path.lexists(existing):  # the directories to make go under the first one that exists
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        what = "names an existing file" if existing == path else f"would go under the file {existing!r}"
        raise ValueError(f"{where}: {value!r} {what}; give a directory (existing or to be made)")
    _probe(existing, where)
    return path


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
        raise ValueError(f"{MARKER} takes at most one positional argument (the policy), got {mark.args!r}")
    kwargs = dict(mark.kwargs)
    if mark.args:
        if "policy" in kwargs:
            raise ValueError(f"{MARKER} got the policy both as argument and as policy=")
        kwargs["policy"] = mark.args[0]
    unknown = sorted(set(kwargs) - set(_MARKER_KEYS))
    if unknown:
        raise ValueError(f"{MARKER} got unknown keywords {unknown}; valid: {', '.join(_MARKER_KEYS)}")
    return kwargs


def _checked(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The marker's keywords other than the policy, each checked for its type and value."""
    where = MARKER
    checks: dict[str, Callable[[Any], Any]] = {
        "allow": lambda v: _names(v, "allow"),
        "deny": lambda v: _names(v, "deny"),
        "mode": lambda v: _choice(v, MODES, "mode", where),
        "recorder": lambda v: _choice(v, RECORDERS, "recorder", where),
        "scope": lambda v: _choice(v, SCOPES, "scope", where),
        "timeout": lambda v: _timeout(v, where),
        "strict": lambda v: _flag(v, "strict"),
        "harden": lambda v: _flag(v, "harden"),
    }
    return {key: checks[key](value) for key, value in kwargs.items() if key in checks}


def resolve_item(item: pytest.Item, settings: Settings, registry: RoleRegistry) -> TestSandbox | None:
    """What ``item`` runs under, or None to run it as if the plugin were absent.

    Raises ValueError or SandboxError for a malformed marker: every keyword is
    checked, also where the test then runs without a sandbox.
    """
    mark = item.get_closest_marker("sandbox")
    given = marker_kwargs(mark) if mark is not None else {}
    # A keyword given as None means "not given": the command line or ini value applies.
    kwargs = _checked({k: v for k, v in given.items() if v is not None})
    if "policy" in given and given["policy"] is None:  # sandbox(None): this test runs in-process
        if kwargs.get("allow") or kwargs.get("deny"):
            raise ValueError(f"{MARKER} with policy None (no sandbox) takes no allow=/deny=")
        return None
    policy = settings.policy if given.get("policy") is None else given["policy"]
    if policy is None:
        if kwargs.get("allow") or kwargs.get("deny"):
            raise ValueError(f"{MARKER} with allow=/deny= needs a policy (or --sandbox-policy)")
        return None
    if not isinstance(policy, str):
        raise ValueError(f"sandbox policy must be a role name, got {policy!r}")
    role = registry.get(policy).with_changes(kwargs.get("allow", ()), kwargs.get("deny", ()))
    if kwargs.get("harden", settings.harden):
        role = role.hardened()
    mode = kwargs.get("mode", settings.mode)
    recorder = kwargs.get("recorder", settings.recorder)
    _check_combination(mode, recorder, MARKER)
    return TestSandbox(
        role,
        mode,
        recorder,
        kwargs.get("timeout", settings.timeout),
        kwargs.get("strict", settings.strict),
        kwargs.get("scope", settings.scope),
        settings.show_env,
    )
