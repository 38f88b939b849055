"""The notify recorder end to end: real filters, a real supervisor, checked from outside the child.

Each run is a pytester subprocess under a custom role without ``mkdir``/``mkdirat``
(``NOMK``), so that ``os.mkdir``, a thread's, a forked child's and ``/bin/mkdir``'s
calls are all trapped; the directory exists afterwards exactly when the call ran.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from pytest_syscall_sandbox.kernel.landlock import abi_version
from pytest_syscall_sandbox.recorders.notify import NotifyRecorder

INI = """
[pytest]
sandbox_roles =
    NOMK = NET -mkdir -mkdirat
    NOMK_KILL = NET -mkdir -mkdirat +kill
"""

TESTS = """
import os
import signal
import subprocess
import threading
import time

import pytest

pytestmark = pytest.mark.sandbox("NOMK")
TARGET = {target!r}


def make(path):
    try:
        os.mkdir(path)
    except OSError as exc:
        print("mkdir failed:", exc.errno)


def test_main_thread():
    make(TARGET + "/main")


def test_thread():
    worker = threading.Thread(target=make, args=(TARGET + "/thread",), name="worker")
    worker.start()
    worker.join()


def test_fork():
    pid = os.fork()
    if pid == 0:
        try:
            make(TARGET + "/fork")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def test_exec():
    subprocess.run(["/bin/mkdir", TARGET + "/exec"])
"""

KILLS_ITS_SUPERVISOR = """
import os
import signal
import time

import pytest


@pytest.mark.sandbox("NOMK_KILL")
def test_kills_the_supervisor():
    me = os.getpid()
    with open(f"/proc/{{me}}/task/{{me}}/children") as handle:
        children = [int(pid) for pid in handle.read().split()]
    for pid in children:
        os.kill(pid, signal.{signal})
    time.sleep(0.3)
    try:
        os.mkdir({target!r})
    except OSError as exc:
        print("mkdir failed:", exc.errno)
"""


@pytest.fixture(autouse=True)
def _notify_available() -> None:
    reason = NotifyRecorder.unavailable_reason()
    if reason is not None:
        pytest.skip(reason)


def _run(pytester: pytest.Pytester, mode: str, *args: str, recorder: str = "notify") -> tuple[Any, dict[str, Any]]:
    report = pytester.path / f"report-{recorder}-{mode}.json"
    started = time.monotonic()
    result = pytester.runpytest_subprocess(
        f"--sandbox-recorder={recorder}", f"--sandbox-mode={mode}", f"--sandbox-report={report}", "-rA", *args
    )
    assert time.monotonic() - started < 120
    assert "INTERNALERROR" not in result.stdout.str()
    return result, json.loads(report.read_text())


def _write(pytester: pytest.Pytester, target: Path) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(test_notify_tree=TESTS.format(target=str(target)))
    target.mkdir()


def test_audit_records_every_process_and_lets_the_calls_run(pytester: pytest.Pytester) -> None:
    target = pytester.path / "made"
    _write(pytester, target)
    result, report = _run(pytester, "audit")
    result.assert_outcomes(passed=4)
    assert sorted(p.name for p in target.iterdir()) == ["exec", "fork", "main", "thread"]  # CONTINUE: each ran
    made = {r["nodeid"].rsplit("::", 1)[1]: r for r in report["records"] if r["syscall"] == "mkdir"}
    assert sorted(made) == ["test_exec", "test_fork", "test_main_thread", "test_thread"]
    assert all(r["recorder"] == "notify" and r["outcome"] == "allowed" for r in made.values())
    assert made["test_thread"]["thread"] == "worker"
    for name in ("test_main_thread", "test_thread", "test_fork"):  # the where-signal found the Python caller
        assert re.search(r"test_notify_tree.py:\d+$", made[name]["location"]), made[name]
        assert made[name]["function"] == "make"
        assert f"{target}/" in made[name]["decoded_args"]
    assert made["test_exec"]["location"] == ""  # an exec'd program has no Python location
    assert made["test_exec"]["pid"] != made["test_main_thread"]["pid"]
    result.stdout.fnmatch_lines(["NOMK: * missing: *mkdir*"])


@pytest.mark.parametrize("mode", ["log-and-abort", "abort"])
def test_abort_modes_refuse_the_call_in_every_process(pytester: pytest.Pytester, mode: str) -> None:
    target = pytester.path / "made"
    _write(pytester, target)
    result, report = _run(pytester, mode)
    result.assert_outcomes(failed=4)
    assert list(target.iterdir()) == []  # no call ran, in any process
    result.stdout.fnmatch_lines(
        [
            '*The syscall "mkdir" (syscall number 83) is not allowed by the syscall sandbox in thread "MainThread".'
            " Please report. [[]role NOMK, at *test_notify_tree.py:* in make]*"
        ]
    )
    outcomes = {r["outcome"] for r in report["records"] if r["phase"] != "harness"}
    assert outcomes == {"aborted" if mode == "log-and-abort" else "killed"}


@pytest.mark.parametrize("signal", ["SIGKILL", "SIGSTOP"])
def test_a_test_that_stops_its_supervisor_fails_and_never_hangs(pytester: pytest.Pytester, signal: str) -> None:
    """Killed: the listener closes, the kernel fails the stopped calls with ENOSYS, the parent sees
    no ``end``. Stopped: the test's trapped calls wait, and its timeout ends it."""
    target = pytester.path / "made"
    pytester.makeini(INI)
    pytester.makepyfile(KILLS_ITS_SUPERVISOR.format(target=str(target), signal=signal))
    result, report = _run(pytester, "audit", "--sandbox-timeout=5")
    result.assert_outcomes(failed=1)
    assert not target.exists()  # nobody let the call run
    if signal == "SIGKILL":
        result.stdout.fnmatch_lines(["*the record is not complete: the notify supervisor ended before*"])
        assert report["roles"]["NOMK_KILL"]["tests_incomplete"]
    else:
        result.stdout.fnmatch_lines(["*timed out after 5 s*"])


def _gap_section(output: str) -> str:
    """The terminal's gap section, without what names the recorder or differs per run."""
    section = re.split(r"=+ syscall sandbox =+\n", output, maxsplit=1)[1]
    section = section.split("sandbox report:", 1)[0]
    return re.sub(r"\d+(\.\d+)? ?s\b", "<time>", section)


def test_the_bundled_fixtures_give_the_same_gap_table_as_ptrace(pytester: pytest.Pytester) -> None:
    """The same gaps, calls, tests and fix lines; wide, so that each row is one line."""
    fixtures = Path(__file__).resolve().parents[2] / "fixtures"
    for path in fixtures.iterdir():
        if path.is_file() and path.suffix in (".py", ".ini", ".cfg", ".toml"):
            (pytester.path / path.name).write_text(path.read_text())
    tables = {}
    for recorder in ("ptrace", "notify"):
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("COLUMNS", "1000")
            result, report = _run(pytester, "audit", "-p", "no:randomly", recorder=recorder)
        # The first-location column left out: notify does not yet say in words why a record
        # has no Python location (an exec'd program, a vfork child), where ptrace does.
        rows = [re.split(r"\s{2,}", line)[:5] for line in _gap_section(result.stdout.str()).splitlines()]
        missing = {
            role: [(g["syscall"], g["nr"], g["calls"], g["tests"]) for g in facts["missing"]]
            for role, facts in report["roles"].items()
        }
        tables[recorder] = (rows, missing)
        assert report["records"], recorder
    assert tables["notify"] == tables["ptrace"]


def test_it_records_beside_a_debugger_where_ptrace_cannot_attach(pytester: pytest.Pytester) -> None:
    """Under ``strace -f`` every process is traced already: ptrace cannot attach, notify needs no ptrace."""
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed")
    target = pytester.path / "made"
    pytester.makeini(INI)
    pytester.makepyfile(
        test_beside_strace=f"import os, pytest\n\n@pytest.mark.sandbox('NOMK')\ndef test_make():\n"
        f"    os.mkdir({str(target)!r})\n"
    )
    command = [strace, "-f", "-o", os.devnull, sys.executable, "-m", "pytest", "-p", "no:cacheprovider"]
    traced = pytester.run(*command, "--sandbox-recorder=ptrace", "--sandbox-mode=audit", timeout=120)
    assert traced.ret != 0 and not target.exists()  # the tracer could not attach: the test never ran
    result = pytester.run(*command, "--sandbox-recorder=notify", "--sandbox-mode=audit", timeout=120)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["NOMK: 1 missing: mkdir"])
    assert target.is_dir()


REACHES_ITS_SUPERVISOR = """
import os
import pytest


@pytest.mark.sandbox("NET")
def test_reaches_the_supervisor():
    me = os.getpid()
    with open(f"/proc/{me}/task/{me}/children") as handle:
        supervisor = int(handle.read().split()[0])
    with open(f"/proc/{supervisor}/mem", "r+b"):
        pass
"""


def test_the_test_cannot_open_its_supervisors_memory(pytester: pytest.Pytester) -> None:
    """The test's Landlock domain (entered after the supervisor was forked) keeps even root out of it."""
    if abi_version() < 1:
        pytest.skip("the kernel has no Landlock")
    pytester.makepyfile(REACHES_ITS_SUPERVISOR)
    result, _report = _run(pytester, "audit")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*PermissionError*"])
