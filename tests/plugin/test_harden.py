"""The hardening set through the plugin: option, marker, custom role, and what the records say."""

from __future__ import annotations

import pytest

NETLINK = """
import socket
import threading
import pytest

{marker}
def test_netlink():
    try:
        socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0).close()
    except OSError:
        pass
    socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close()
    worker = threading.Thread(target=lambda: None)
    worker.start()
    worker.join()
"""
REASON = "socket(AF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, 0): domain AF_NETLINK refused by the hardening set"


@pytest.mark.parametrize(
    ("marker", "args", "ini"),
    [
        ('@pytest.mark.sandbox("NET", harden=True)', [], ""),
        ('@pytest.mark.sandbox("NET")', ["--sandbox-harden"], ""),
        ('@pytest.mark.sandbox("NET")', [], "sandbox_harden = true\n"),
        ('@pytest.mark.sandbox("HARDNET")', [], "sandbox_roles =\n    HARDNET = NET @Hardening\n"),
    ],
    ids=["marker", "option", "ini", "custom-role"],
)
def test_audit_records_the_argument_that_decided(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, recorder: str, marker: str, args: list[str], ini: str
) -> None:
    monkeypatch.setenv("COLUMNS", "300")  # the gap table's row on one line (it fits the terminal)
    pytester.makeini("[pytest]\n" + ini)
    pytester.makepyfile(NETLINK.format(marker=marker))
    result = pytester.runpytest_subprocess(f"--sandbox-recorder={recorder}", "--sandbox-mode=audit", *args)
    result.assert_outcomes(passed=1)
    role, asked = (
        ("HARDNET", "its definition's @Hardening")
        if "HARDNET" in marker
        else ("NET@Hardening", "--sandbox-harden or the marker's harden=True")
    )
    result.stdout.fnmatch_lines(
        [
            f"{role}: 1 missing: socket",
            f"socket *41*.py:8 in test_netlink*argument rule: {REASON}",
            f"not fixed: socket: calls the hardening set refused ({asked}); a fix never drops @Hardening*",
        ]
    )
    assert "-@Hardening" not in result.stdout.str().replace("drops @Hardening", "")  # no fix undoes it
    assert "fix (sandbox_roles)" not in result.stdout.str()  # and no line that would change nothing


def test_without_hardening_netlink_is_allowed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(NETLINK.format(marker='@pytest.mark.sandbox("NET")'))
    result = pytester.runpytest_subprocess("--sandbox-mode=audit")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["NET: no missing syscalls"])


def test_log_and_abort_says_why_the_arguments_were_refused(pytester: pytest.Pytester, recorder: str) -> None:
    pytester.makepyfile(NETLINK.format(marker='@pytest.mark.sandbox("NET", harden=True)'))
    result = pytester.runpytest_subprocess(f"--sandbox-recorder={recorder}")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f'ERROR: The syscall "socket" (syscall number 41)*.py:8 in test_netlink*-- {REASON}'])
