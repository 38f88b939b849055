"""pytest entry point: options, ini values, the ``sandbox`` marker and hooks.

Kept thin: the work is done by :class:`~.session.SandboxSession` and the objects it
holds, registered in
``pytest_configure`` and imported only when pytest starts a session.
"""

from __future__ import annotations

import pytest

from . import hookspecs
from .settings import (
    EXPORT_HELP,
    FIX_HELP,
    HARDEN_HELP,
    HTML_HELP,
    LINT_HELP,
    MODE_HELP,
    POLICY_HELP,
    PREFORK_HELP,
    PREFORK_INI_HELP,
    RECORDER_HELP,
    REPORT_HELP,
    ROLES_HELP,
    SCOPE_HELP,
    SHOW_ENV_HELP,
    STRICT_HELP,
    TIMEOUT_HELP,
)

MARKER_HELP = (
    "sandbox(policy, *, allow=(), deny=(), mode=None, recorder=None, timeout=None, strict=None, harden=None, "
    "scope=None): "
    "run the test in a forked child under the seccomp filter of this role "
    "(a Bitcoin Core policy such as NET, or a custom role); the closest marker wins"
)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sandbox", "syscall sandbox (seccomp) auditing")
    group.addoption("--sandbox-policy", dest="sandbox_policy", metavar="NAME", default=None, help=POLICY_HELP)
    group.addoption("--sandbox-mode", dest="sandbox_mode", metavar="MODE", default=None, help=MODE_HELP)
    group.addoption("--sandbox-recorder", dest="sandbox_recorder", metavar="NAME", default=None, help=RECORDER_HELP)
    group.addoption("--sandbox-timeout", dest="sandbox_timeout", metavar="SECONDS", default=None, help=TIMEOUT_HELP)
    group.addoption("--sandbox-scope", dest="sandbox_scope", metavar="SCOPE", default=None, help=SCOPE_HELP)
    group.addoption("--sandbox-strict", dest="sandbox_strict", action="store_true", default=None, help=STRICT_HELP)
    group.addoption("--sandbox-report", dest="sandbox_report", metavar="PATH", default=None, help=REPORT_HELP)
    group.addoption("--sandbox-export", dest="sandbox_export", metavar="DIR", default=None, help=EXPORT_HELP)
    group.addoption("--sandbox-fix", dest="sandbox_fix", action="store_true", default=None, help=FIX_HELP)
    group.addoption("--sandbox-html", dest="sandbox_html", metavar="FILE", default=None, help=HTML_HELP)
    group.addoption("--sandbox-harden", dest="sandbox_harden", action="store_true", default=None, help=HARDEN_HELP)
    group.addoption("--sandbox-lint", dest="sandbox_lint", action="store_true", default=None, help=LINT_HELP)
    group.addoption(
        "--sandbox-no-prefork", dest="sandbox_no_prefork", action="store_true", default=None, help=PREFORK_HELP
    )
    group.addoption(
        "--sandbox-show-env", dest="sandbox_show_env", action="store_true", default=None, help=SHOW_ENV_HELP
    )
    parser.addini("sandbox_policy", POLICY_HELP, default="")
    parser.addini("sandbox_mode", MODE_HELP, default="")
    parser.addini("sandbox_recorder", RECORDER_HELP, default="")
    parser.addini("sandbox_timeout", TIMEOUT_HELP, default="")
    parser.addini("sandbox_scope", SCOPE_HELP, default="")
    parser.addini("sandbox_strict", STRICT_HELP, type="bool", default=False)
    parser.addini("sandbox_roles", ROLES_HELP, default="")
    parser.addini("sandbox_report", REPORT_HELP, default="")
    parser.addini("sandbox_harden", HARDEN_HELP, type="bool", default=False)
    parser.addini("sandbox_prefork", PREFORK_INI_HELP, type="bool", default=True)
    parser.addini("sandbox_show_env", SHOW_ENV_HELP, type="bool", default=False)


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    from .session import SandboxSession

    SandboxSession(config).register()
