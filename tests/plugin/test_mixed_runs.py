"""Runs that mix things: sandboxed and in-process tests, profile mode with threads, late markers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


def test_sandboxed_and_in_process_tests_share_module_fixtures_correctly(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest

        EVENTS = []

        @pytest.fixture(scope="module")
        def resource(request):
            EVENTS.append(("up", request.module.__name__))
            yield
            EVENTS.append(("down", request.module.__name__))

        def pytest_sessionfinish():
            with open("events.txt", "w") as handle:
                handle.write(repr(EVENTS))
        """
    )
    pytester.makepyfile(
        test_a="""
        import pytest

        def test_1(resource):
            pass

        @pytest.mark.sandbox("NET")
        def test_2(resource):
            pass
        """,
        test_b="""
        import pytest

        def test_3(resource):
            pass

        @pytest.mark.sandbox("NET")
        def test_4(resource):
            pass
        """,
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=4)
    events = (pytester.path / "events.txt").read_text()
    # The main process's own fixture life cycle; the children's copies are theirs.
    assert events == "[('up', 'test_a'), ('down', 'test_a'), ('up', 'test_b'), ('down', 'test_b')]"


def test_tmp_paths_of_sandboxed_tests_share_one_base_and_all_survive(pytester: pytest.Pytester) -> None:
    """The base temporary directory is made once, in the main process, not by each child.

    A child making it would give every test its own base, or with ``--basetemp``
    (which pytester passes) wipe the previous tests' directories.
    """
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("n", range(3))
        @pytest.mark.sandbox("NET")
        def test_write(n, tmp_path):
            (tmp_path / "mark").write_text(str(n))
            with open("paths.txt", "a") as handle:
                handle.write(f"{tmp_path}\\n")

        def test_in_process(tmp_path):
            (tmp_path / "mark").write_text("in-process")
            with open("paths.txt", "a") as handle:
                handle.write(f"{tmp_path}\\n")
        """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=4)
    paths = [Path(line) for line in (pytester.path / "paths.txt").read_text().split()]
    assert len(set(paths)) == 4
    assert len({path.parent for path in paths}) == 1
    assert sorted(path.joinpath("mark").read_text() for path in paths) == ["0", "1", "2", "in-process"]


THREADS = """
import os
import threading
import pytest

@pytest.mark.parametrize("n", range(3))
@pytest.mark.sandbox("NET")
def test_threads(n):
    def work():
        blocks = [bytearray(200_000) for _ in range(20)]
        assert len(blocks) == 20
    workers = [threading.Thread(target=work) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
"""


def test_profile_mode_with_threads_finishes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(THREADS)
    result = pytester.runpytest_subprocess("--sandbox-mode=profile", "--sandbox-timeout=60")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["NET: no missing syscalls", "least privilege (profile mode):"])
    assert result.duration < 60


def _report(pytester: pytest.Pytester, *args: str) -> dict[str, Any]:
    path = pytester.path / "report.json"
    result = pytester.runpytest_subprocess(f"--sandbox-report={path}", *args)
    assert result.ret == 0, result.stdout.str()
    data: dict[str, Any] = json.loads(path.read_text())
    return data


@pytest.mark.parametrize("mode", ["audit", "profile"])
def test_profile_mode_finds_the_gaps_audit_finds(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(
        """
        import signal
        import socket
        import pytest

        @pytest.mark.sandbox("ESSENTIAL")
        def test_mask():
            signal.pthread_sigmask(signal.SIG_BLOCK, [])

        @pytest.mark.sandbox("NET", harden=True)
        def test_netlink():
            try:
                socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0).close()
            except OSError:
                pass
        """
    )
    roles = _report(pytester, f"--sandbox-mode={mode}")["roles"]
    missing = {name: {m["syscall"] for m in facts["missing"]} for name, facts in roles.items()}
    assert missing == {"ESSENTIAL": {"rt_sigprocmask"}, "NET@Hardening": {"socket"}}
    [netlink] = roles["NET@Hardening"]["missing"]
    assert netlink["reason"].endswith("domain AF_NETLINK refused by the hardening set")


def test_a_role_without_rt_sigreturn_can_still_be_recorded(pytester: pytest.Pytester, recorder: str) -> None:
    pytester.makeini("[pytest]\nsandbox_roles =\n    BARE = ESSENTIAL -rt_sigreturn\n")
    pytester.makepyfile(
        test_bare="""
        import os
        import pytest

        @pytest.mark.sandbox("BARE", mode="audit")
        def test_groups():
            os.getgroups()
        """
    )
    result = pytester.runpytest_subprocess(f"--sandbox-recorder={recorder}", "-rA")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["BARE: 1 missing: getgroups"])  # pytest's capture needs nothing between phases
    result.stdout.fnmatch_lines([f"*the {recorder} recorder allowed rt_sigreturn for its own signal handler*"])


def test_markers_added_by_a_hook_after_collection_count(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest

        def pytest_collection_modifyitems(items):
            for item in items:
                item.add_marker(pytest.mark.sandbox("NET", mode="audit"))
        """
    )
    pytester.makepyfile(
        """
        import os

        def test_groups():
            os.getgroups()
        """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["NET: 1 missing: getgroups"])


def test_the_violation_hook_runs_once_per_record_under_xdist(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import os

        def pytest_sandbox_violation(config, record):
            with open("violations.txt", "a") as handle:
                handle.write(f"{os.getpid()} {record.syscall}\\n")
        """
    )
    pytester.makepyfile(
        """
        import os
        import pytest

        @pytest.mark.parametrize("n", range(2))
        @pytest.mark.sandbox("NET", mode="audit")
        def test_groups(n):
            os.getgroups()
        """
    )
    result = pytester.runpytest_subprocess("-n", "2")
    result.assert_outcomes(passed=2)
    lines = (pytester.path / "violations.txt").read_text().splitlines()
    assert [line.split()[1] for line in lines] == ["getgroups", "getgroups"]
    assert len({line.split()[0] for line in lines}) == 1  # the controller only


def test_profile_mode_needs_the_ptrace_recorder(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(THREADS)
    result = pytester.runpytest_subprocess("--sandbox-mode=profile", "--sandbox-recorder=sigsys")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*profile mode needs the ptrace recorder*"])
