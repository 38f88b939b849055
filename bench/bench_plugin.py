#!/usr/bin/env python3
"""Benchmark the pytest plugin against plain pytest, pytest-forked and strace (issues #3, #4).

Two suites are generated at run time into a fresh directory on a tmpfs:

* ``trivial``: 300 tests ``def test_N(): pass`` (10 modules of 30);
* ``heavy``: 100 tests that each make a few thousand syscalls: ``os.stat`` in a loop,
  small file writes and reads in ``tmp_path``, a ``socketpair`` ping-pong and one
  thread started and joined.

Each suite runs from its tmpfs directory with ``--basetemp`` on the same tmpfs (on a
disk, plain pytest on such a suite varies several-fold), as a whole-suite subprocess
timed by wall clock, in these configurations, side by side and round-robin:

* ``plain``: pytest without the plugin;
* ``pytest-forked``: ``--forked`` (pip-installed here if missing; shown as unavailable,
  with the reason, if it cannot be installed or does not work on this pytest);
* the plugin in every mode (``log-and-abort``, ``abort``, ``audit``, ``profile``) with
  each recorder (``ptrace``, ``sigsys``, ``notify``), every test under ``--sandbox-policy=INITIALIZATION``
  (the policy that allows the most; an untimed audit run first checks which syscalls
  it lacks and, if any, the timed runs use ``INITIALIZATION +those``);
* two floors of the fork-per-test design, for reference (a small plugin written by
  this script, ``bench_fork_floor``): each test's runtest protocol runs in a forked
  child that sends its reports back as pytest's serializable form, with no filter,
  no recorder and no timeout. ``sequential`` forks, then waits for the child's exit;
  ``pipelined`` forks the next test's child while the current one runs and does not
  wait for a finished child's exit (it reaps it later). No plugin that forks per
  test can cost less than these;
* ``strace -f`` and ``strace -f -c`` of plain pytest (strace is apt-get installed here if
  missing); and, on the heavy suite, for information, ``strace -f`` with the whole process
  tree kept on one CPU: a ptrace stop costs far more when tracer and tracee run on two
  CPUs (a cross-CPU wake-up per stop, dear on a virtual machine), so ``strace -f`` alone
  varies several-fold with where the scheduler puts them.

The plugin package is copied at start and put first on the runs' ``PYTHONPATH``, so that
every run measures the same code even while the working tree changes.
Every other installed pytest plugin (entry points ``pytest11``) and the cache provider
are disabled in every run, pytest-forked included except for its own configuration.
Each run must exit 0 and pass exactly the expected tests (a small ``conftest.py`` in the
suite records, in the main pytest process, each test's outcomes and its wall time
from ``logstart`` to ``logfinish``). The untimed preflight runs (plain, the audit check)
must pass or the benchmark stops. A timed run that fails marks its configuration FAILED:
no figure is reported for it, it is not run again, pytest's first failure is printed at
the end and the script exits 1 (``--fail-fast``: stop at once instead). The plugin's runs
get ``--sandbox-timeout=10`` so that a hung test costs 10 s, not the default 300 s. A
mode and recorder combination that the plugin refuses (a usage error at ``--collect-only``)
is shown as unavailable, with the plugin's reason.

Printed: a table per suite (median and minimum time, spread, per-test overhead over
plain, ratios), the targets of issues #3 and #4 with PASS/MISS (judged on medians; the
same ratios from the minima are shown beside them, as the machine may be shared), and the
per-test wall time over each suite (first tests against last tests: profile mode should
get cheaper as the suite goes on).

    python3 bench/bench_plugin.py [--quick] [--runs N] [--keep] [--fail-fast]

``--quick``: one timed run per configuration (default 3, median taken). Needs root
only to install strace or to mount a tmpfs when none is mounted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field, replace
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path
from typing import Optional

from tabulate import tabulate

TRIVIAL_TESTS = 300
HEAVY_TESTS = 100
MODULES = 10
BASE_POLICY = "INITIALIZATION"
BENCH_ROLE = "BENCH_ROLE"
MODES = ("log-and-abort", "abort", "audit", "profile")
RECORDERS = ("ptrace", "sigsys", "notify")
FLOORS = ("sequential", "pipelined")
OUR_PLUGIN = "syscall_sandbox"
FORKED_PLUGIN = "pytest_forked"
RUN_TIMEOUT = 900.0
#: ``--sandbox-timeout`` of the plugin's runs: a normal test here takes milliseconds, so
#: a test that hangs in the child costs this much once, not the plugin's default 300 s.
PLUGIN_TIMEOUT = 10.0
#: Tests at each end of a suite compared in the "cost over the suite" tables.
ENDS = 10

TIMES_CONFTEST = '''\
"""Record, in the main pytest process only, each test's outcomes and wall time."""
import json
import os
import time

_OUT = os.environ.get("BENCH_TIMES")
_PID = os.getpid()
_TESTS = {}


def pytest_runtest_logstart(nodeid, location):
    _TESTS[nodeid] = {"start": time.perf_counter(), "finish": None, "outcomes": []}


def pytest_runtest_logreport(report):
    entry = _TESTS.setdefault(report.nodeid, {"start": None, "finish": None, "outcomes": []})
    entry["outcomes"].append([report.when, report.outcome])


def pytest_runtest_logfinish(nodeid, location):
    _TESTS[nodeid]["finish"] = time.perf_counter()


def pytest_sessionfinish(session, exitstatus):
    if _OUT and os.getpid() == _PID:
        with open(_OUT, "w") as handle:
            json.dump(_TESTS, handle)
'''

FLOOR_PLUGIN = '''\
"""The least a plugin that runs each test's protocol in a forked child does (bench only).

No filter, no recorder, no timeout, no crash handling: see bench_plugin.py.
"""
import json
import os

import pytest
from _pytest.runner import runtestprotocol


def pytest_addoption(parser):
    parser.addoption("--fork-floor", choices=("sequential", "pipelined"), required=True)


def pytest_configure(config):
    config.pluginmanager.register(Floor(config, config.getoption("fork_floor") == "pipelined"))


class Floor:
    def __init__(self, config, pipelined):
        self.config = config
        self.pipelined = pipelined
        self.ready = {}
        self.zombies = []

    def fork(self, item):
        gate_r, gate_w = os.pipe()
        out_r, out_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.close(gate_w)
                os.close(out_r)
                if os.read(gate_r, 1) == b"g":
                    hook = self.config.hook
                    reports = runtestprotocol(item, log=False, nextitem=None)
                    data = [hook.pytest_report_to_serializable(config=self.config, report=r) for r in reports]
                    view = memoryview(json.dumps(data).encode())
                    while view:
                        view = view[os.write(out_w, view):]
                    os.close(out_w)  # end of file now, not after the exit's memory teardown
                    code = 0
            finally:
                os._exit(code)
        os.close(gate_r)
        os.close(out_w)
        return pid, gate_w, out_r

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item, nextitem):
        pid, gate_w, out_r = self.ready.pop(item.nodeid, None) or self.fork(item)
        item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
        os.write(gate_w, b"g")
        os.close(gate_w)
        if self.pipelined and nextitem is not None:
            self.ready[nextitem.nodeid] = self.fork(nextitem)
        chunks = []
        while True:
            chunk = os.read(out_r, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
        os.close(out_r)
        if self.pipelined:
            self.zombies.append(pid)
            self.zombies = [z for z in self.zombies if os.waitpid(z, os.WNOHANG)[0] == 0]
        else:
            os.waitpid(pid, 0)
        for data in json.loads(b"".join(chunks) or b"[]"):
            report = self.config.hook.pytest_report_from_serializable(config=self.config, data=data)
            item.ihook.pytest_runtest_logreport(report=report)
        item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
        return True

    def pytest_sessionfinish(self):
        for pid, gate_w, out_r in self.ready.values():
            os.close(gate_w)
            os.close(out_r)
            self.zombies.append(pid)
        for pid in self.zombies:
            os.waitpid(pid, 0)
'''
FLOOR_MODULE = "bench_fork_floor"

HEAVY_HEADER = '''\
import os
import socket
import threading

STATS = 1000
FILE_ROUNDS = 150
PINGS = 100
PAYLOAD = b"x" * 64


def work(tmp_path):
    """A few thousand syscalls: stats, small file writes and reads, a socketpair, a thread."""
    for _ in range(STATS):
        os.stat(tmp_path)
    path = tmp_path / "data.bin"
    for _ in range(FILE_ROUNDS):
        with open(path, "wb") as handle:
            handle.write(PAYLOAD)
        with open(path, "rb") as handle:
            assert handle.read() == PAYLOAD
    left, right = socket.socketpair()
    with left, right:
        for _ in range(PINGS):
            left.sendall(b"ping")
            assert right.recv(16) == b"ping"
    box = []
    thread = threading.Thread(target=box.append, args=(1,))
    thread.start()
    thread.join()
    assert box == [1]
'''


class BenchError(Exception):
    """The benchmark cannot go on; the message says why."""


@dataclass
class Suite:
    name: str
    directory: Path
    tests: int
    description: str


@dataclass
class Config:
    key: str
    label: str
    #: pytest plugins (entry-point names) left enabled.
    plugins: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    prefix: tuple[str, ...] = ()
    mode: Optional[str] = None
    recorder: Optional[str] = None
    unavailable: Optional[str] = None
    #: Run on one CPU only (the process tree's affinity), as ``taskset -c N`` would.
    pin: bool = False
    #: Run on this suite only.
    only: Optional[str] = None


@dataclass
class Run:
    """One run of a suite."""

    elapsed: float
    #: Wall seconds of each test (logstart to logfinish), in the order the tests ran.
    per_test: list[float]
    #: Why the run does not count (exit code, tests that did not pass), or "".
    problem: str
    output: str
    command: list[str]

    def failure_text(self, lines: int = 40) -> str:
        text = (self.output or "").splitlines()
        if "FAILURES" in self.output:  # pytest's first failure and the summary
            start = next(i for i, line in enumerate(text) if "FAILURES" in line)
            text = text[start : start + lines]
        else:
            text = text[-lines:]
        return f"command: {' '.join(self.command)}\n" + "\n".join(text)


@dataclass
class Result:
    times: list[float] = field(default_factory=list)
    #: Per run: wall seconds of each test, in the order the tests ran.
    per_test: list[list[float]] = field(default_factory=list)
    #: The first run that failed the sanity checks: the configuration then stops being timed.
    failed: Optional[Run] = None

    @property
    def median(self) -> float:
        return statistics.median(self.times)


# -- environment -----------------------------------------------------------------------


def find_tmpfs() -> tuple[Path, Optional[Path]]:
    """A writable directory on a tmpfs, and the mount point if this script mounted it."""
    mounts = {}
    with open("/proc/mounts", encoding="utf-8") as handle:
        for line in handle:
            parts = line.split()
            if len(parts) >= 3:
                mounts[parts[1]] = parts[2]
    for candidate in ("/dev/shm", "/run/shm", "/tmp", "/run"):
        if mounts.get(candidate) != "tmpfs" or not os.access(candidate, os.W_OK):
            continue
        stat = os.statvfs(candidate)
        if stat.f_bavail * stat.f_frsize >= 256 * 2**20:
            return Path(candidate), None
    point = Path(tempfile.mkdtemp(prefix="bench-plugin-tmpfs-"))
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1g", "tmpfs", str(point)], capture_output=True, text=True
    )
    if done.returncode != 0:
        point.rmdir()
        raise BenchError(f"no tmpfs mounted and mounting one failed: {done.stderr.strip()}")
    return point, point


def find_strace() -> tuple[Optional[str], str]:
    """The strace binary (apt-get installed if missing), or None and why."""
    path = shutil.which("strace") or ("/usr/bin/strace" if os.path.exists("/usr/bin/strace") else None)
    if path:
        return path, ""
    print("strace missing: apt-get install -y strace ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = subprocess.run(["apt-get", "install", "-y", "-q", "strace"], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env)
        done = subprocess.run(["apt-get", "install", "-y", "-q", "strace"], capture_output=True, text=True, env=env)
    path = shutil.which("strace")
    return (path, "(installed with apt-get)") if path else (None, f"apt-get failed: {done.stderr.strip()[-200:]}")


def ensure_pytest_forked() -> tuple[bool, bool, str]:
    """(available, installed by this script, note)."""
    if find_spec("pytest_forked") is not None:
        return True, False, f"pytest-forked {metadata.version('pytest-forked')} (already installed)"
    print("pytest-forked missing: pip install pytest-forked ...", flush=True)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "pytest-forked"], capture_output=True, text=True
    )
    if done.returncode != 0:
        return False, False, f"pip install pytest-forked failed: {done.stderr.strip()[-300:]}"
    return True, True, f"pytest-forked {metadata.version('pytest-forked')} (pip-installed for this run)"


def plugin_entry_points() -> list[str]:
    names = []
    for entry in metadata.entry_points(group="pytest11"):
        if entry.name not in names:
            names.append(entry.name)
    if FORKED_PLUGIN not in names:
        names.append(FORKED_PLUGIN)
    return names


def snapshot_plugin(work: Path) -> tuple[Path, str]:
    """Copy the plugin package that pytest would import: every run then uses the same code.

    The runs get the copy's directory first on ``PYTHONPATH``. Returns (that directory,
    a description: where from, git commit and uncommitted changes).
    """
    spec = find_spec("pytest_syscall_sandbox")
    if spec is None or not spec.submodule_search_locations:
        raise BenchError("pytest_syscall_sandbox is not importable: pip install -e . first")
    source = Path(next(iter(spec.submodule_search_locations)))
    target = work / "plugin-snapshot"
    shutil.copytree(source, target / source.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (target / f"{FLOOR_MODULE}.py").write_text(FLOOR_PLUGIN, encoding="utf-8")
    where = str(source)
    git = ["git", "-C", str(source.parent)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0:
        dirty = subprocess.run([*git, "status", "--porcelain", "--", source.name], capture_output=True, text=True)
        changed = len(dirty.stdout.splitlines())
        where += f" at {head.stdout.strip()}" + (f" + {changed} uncommitted file(s)" if changed else "")
    return target, where


def fork_floor_ms(env: dict[str, str], samples: int = 200) -> float:
    """Median fork + _exit + waitpid of a process that has pytest and the plugin imported."""
    code = textwrap.dedent(
        f"""
        import os, statistics, time
        import pytest, pytest_syscall_sandbox.plugin.session
        out = []
        for _ in range({samples}):
            t = time.perf_counter()
            pid = os.fork()
            if pid == 0:
                os._exit(0)
            os.waitpid(pid, 0)
            out.append(time.perf_counter() - t)
        print(statistics.median(out) * 1000)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    return float(done.stdout.strip())


# -- suites ----------------------------------------------------------------------------


def write_ini(directory: Path, roles: str = "") -> None:
    lines = ["[pytest]", "addopts ="]
    if roles:
        lines += ["sandbox_roles =", f"    {roles}"]
    (directory / "pytest.ini").write_text("\n".join(lines) + "\n", encoding="utf-8")


def generate(root: Path) -> list[Suite]:
    trivial = root / "trivial"
    heavy = root / "heavy"
    per_trivial, per_heavy = TRIVIAL_TESTS // MODULES, HEAVY_TESTS // MODULES
    for directory in (trivial, heavy):
        directory.mkdir()
        write_ini(directory)
        (directory / "conftest.py").write_text(TIMES_CONFTEST, encoding="utf-8")
    for m in range(MODULES):
        body = "".join(f"\n\ndef test_{m * per_trivial + i}():\n    pass\n" for i in range(per_trivial))
        (trivial / f"test_trivial_{m:02d}.py").write_text(body.lstrip(), encoding="utf-8")
        body = "".join(f"\n\ndef test_{m * per_heavy + i}(tmp_path):\n    work(tmp_path)\n" for i in range(per_heavy))
        (heavy / f"test_heavy_{m:02d}.py").write_text(HEAVY_HEADER + body, encoding="utf-8")
    return [
        Suite("trivial", trivial, TRIVIAL_TESTS, f"{TRIVIAL_TESTS} x `def test_N(): pass`"),
        Suite(
            "heavy",
            heavy,
            HEAVY_TESTS,
            f"{HEAVY_TESTS} tests x (1000 stat, 150 small file write+read, 100 socketpair ping-pongs, 1 thread)",
        ),
    ]


# -- running -----------------------------------------------------------------------------


class Runner:
    def __init__(self, work: Path, entry_points: list[str], strace: Optional[str], snapshot: Path) -> None:
        self.work = work
        self.entry_points = entry_points
        self.strace = strace
        self.counter = 0
        # Warm runs: bytecode caches are written (the preflight fills them) and read.
        dropped = ("PYTHONDEVMODE", "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_") and k not in dropped}
        self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(snapshot), os.environ.get("PYTHONPATH")]))

    def command(self, config: Config, suite: Suite, basetemp: Path, extra: tuple[str, ...] = ()) -> list[str]:
        disabled = [arg for name in self.entry_points if name not in config.plugins for arg in ("-p", f"no:{name}")]
        prefix = [self.strace, *config.prefix] if config.prefix and self.strace else []
        return [
            *prefix,
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            *disabled,
            f"--rootdir={suite.directory}",
            f"--basetemp={basetemp}",
            *config.args,
            *extra,
            str(suite.directory),
        ]

    def run(self, config: Config, suite: Suite, extra: tuple[str, ...] = ()) -> Run:
        """Run the suite once, timed by wall clock, and check it ran and passed every test."""
        self.counter += 1
        basetemp = self.work / f"basetemp-{self.counter}"
        times_path = self.work / f"times-{self.counter}.json"
        command = self.command(config, suite, basetemp, extra)
        env = {**self.env, "BENCH_TIMES": str(times_path)}
        start = time.perf_counter()
        try:
            done = subprocess.run(
                command,
                cwd=suite.directory,
                env=env,
                capture_output=True,
                text=True,
                timeout=RUN_TIMEOUT,
                preexec_fn=_pin_to_one_cpu if config.pin else None,
            )
        except subprocess.TimeoutExpired:
            raise BenchError(
                f"{config.label} on the {suite.name} suite ran past {RUN_TIMEOUT:g} s\ncommand: {' '.join(command)}"
            ) from None
        elapsed = time.perf_counter() - start
        shutil.rmtree(basetemp, ignore_errors=True)
        problem = self._problem(done, times_path, suite)
        per_test: list[float] = []
        if times_path.exists():
            tests = json.loads(times_path.read_text(encoding="utf-8"))
            ordered = sorted((t for t in tests.values() if t["start"] is not None), key=lambda t: t["start"])
            per_test = [t["finish"] - t["start"] for t in ordered if t["finish"] is not None]
            times_path.unlink()
        return Run(elapsed, per_test, problem, done.stdout + done.stderr, command)

    def run_checked(self, config: Config, suite: Suite, extra: tuple[str, ...] = ()) -> Run:
        """:meth:`run`, raising :class:`BenchError` if the run failed."""
        run = self.run(config, suite, extra)
        if run.problem:
            raise BenchError(f"{config.label} on the {suite.name} suite: {run.problem}\n{run.failure_text()}")
        return run

    @staticmethod
    def _problem(done: subprocess.CompletedProcess[str], times_path: Path, suite: Suite) -> str:
        if done.returncode != 0:
            return f"exit code {done.returncode} (expected 0)"
        if not times_path.exists():
            return "the suite's conftest wrote no results (not loaded, or pytest died)"
        tests = json.loads(times_path.read_text(encoding="utf-8"))
        if len(tests) != suite.tests:
            return f"{len(tests)} tests ran, expected {suite.tests}"
        bad = [
            nodeid
            for nodeid, t in tests.items()
            if ["call", "passed"] not in t["outcomes"] or any(o != "passed" for _w, o in t["outcomes"])
        ]
        if bad:
            outcomes = ", ".join(f"{w} {o}" for w, o in tests[bad[0]]["outcomes"])
            return f"{len(bad)} of {suite.tests} tests did not pass (first: {bad[0]}: {outcomes})"
        return ""


def _pin_to_one_cpu() -> None:
    """In the forked child before exec: keep the whole process tree on one CPU."""
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def make_configs(policy: str, forked_reason: Optional[str], strace: Optional[str], strace_reason: str) -> list[Config]:
    configs = [
        Config("plain", "plain pytest"),
        Config(
            "forked", "pytest-forked --forked", plugins=(FORKED_PLUGIN,), args=("--forked",), unavailable=forked_reason
        ),
    ]
    for how in FLOORS:
        configs.append(Config(f"floor-{how}", f"fork floor, {how}", args=("-p", FLOOR_MODULE, f"--fork-floor={how}")))
    for mode in MODES:
        for recorder in RECORDERS:
            configs.append(
                Config(
                    f"{mode}/{recorder}",
                    f"sandbox {mode} / {recorder}",
                    plugins=(OUR_PLUGIN,),
                    args=(
                        f"--sandbox-policy={policy}",
                        f"--sandbox-mode={mode}",
                        f"--sandbox-recorder={recorder}",
                        f"--sandbox-timeout={PLUGIN_TIMEOUT:g}",
                    ),
                    mode=mode,
                    recorder=recorder,
                )
            )
    missing = None if strace else f"strace unavailable: {strace_reason}"
    configs.append(Config("strace", "strace -f (plain pytest)", prefix=("-f", "-o", "/dev/null"), unavailable=missing))
    configs.append(Config("strace-c", "strace -f -c (plain pytest)", prefix=("-f", "-c", "-o"), unavailable=missing))
    # Not a target: ptrace stops cost far more when tracer and tracee sit on two CPUs
    # (a cross-CPU wake-up per stop, dear on a virtual machine), so strace -f varies with
    # where the scheduler puts them; pinned to one CPU it shows its least cost.
    configs.append(
        Config(
            "strace-1cpu",
            "strace -f, all on one CPU",
            prefix=("-f", "-o", "/dev/null"),
            unavailable=missing,
            pin=True,
            only="heavy",
        )
    )
    return configs


# -- preflight -----------------------------------------------------------------------------


def audit_gaps(runner: Runner, suite: Suite, policy: str, recorder: str) -> tuple[list[str], int, list[str]]:
    """Untimed audit run with a report: (missing syscalls, harness records, notes)."""
    config = Config(
        "check",
        f"audit check ({policy}, {recorder})",
        plugins=(OUR_PLUGIN,),
        args=(f"--sandbox-policy={policy}", "--sandbox-mode=audit", f"--sandbox-recorder={recorder}"),
    )
    report = runner.work / f"audit-{suite.name}-{recorder}.json"
    runner.run_checked(config, suite, extra=(f"--sandbox-report={report}",))
    document = json.loads(report.read_text(encoding="utf-8"))
    missing = sorted({gap["syscall"] for facts in document["roles"].values() for gap in facts["missing"]})
    harness = [r for r in document["records"] if r.get("phase") == "harness"]
    notes = sorted({f"{r['syscall']} in {r.get('function') or '?'}" for r in harness})
    return missing, len(harness), notes


def refused(runner: Runner, config: Config, suite: Suite) -> Optional[str]:
    """The plugin's usage error for this configuration (pytest exit code 4), if it refuses it."""
    command = runner.command(config, suite, runner.work / "basetemp-collect", ("--collect-only",))
    done = subprocess.run(command, cwd=suite.directory, env=runner.env, capture_output=True, text=True)
    if done.returncode != 4:  # pytest.ExitCode.USAGE_ERROR
        return None
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("ERROR:")]
    return "refused by the plugin: " + (lines[0][len("ERROR:") :].strip() if lines else "usage error")


def check_forked(runner: Runner, suites: list[Suite]) -> Optional[str]:
    """None if pytest-forked works here, else why not."""
    config = Config("forked", "pytest-forked", plugins=(FORKED_PLUGIN,), args=("--forked",))
    for suite in suites:
        run = runner.run(config, suite)
        if run.problem:
            tail = " | ".join(run.output.strip().splitlines()[-3:])
            return f"fails on pytest {metadata.version('pytest')}: {run.problem}: {tail[-300:]}"
    return None


# -- reporting ---------------------------------------------------------------------------


def fmt(value: Optional[float], digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


#: A configuration whose runs spread more than this fraction of their median is marked noisy.
NOISY = 0.25


def median(results: dict[str, Result], key: str, how: str = "median") -> Optional[float]:
    """The configuration's median (or min) time; None if it did not run or a run failed."""
    result = results.get(key)
    if result is None or result.failed or not result.times:
        return None
    return result.median if how == "median" else min(result.times)


def overhead_ms(results: dict[str, Result], key: str, suite: Suite, how: str = "median") -> Optional[float]:
    time_s, plain = median(results, key, how), median(results, "plain", how)
    if time_s is None or plain is None:
        return None
    return (time_s - plain) / suite.tests * 1000


def suite_table(suite: Suite, configs: list[Config], results: dict[str, Result]) -> str:
    forked = overhead_ms(results, "forked", suite)
    plain = median(results, "plain")
    rows = []
    for config in configs:
        if config.only and config.only != suite.name:
            continue
        result = results.get(config.key)
        if config.unavailable or result is None:
            rows.append((config.label, "unavailable", "", "", "", "", "", (config.unavailable or "")[:110]))
            continue
        if result.failed:
            note = f"{result.failed.problem[:90]} (that run: {result.failed.elapsed:.2f} s)"
            rows.append((config.label, "FAILED", "", "", "", "", "", note))
            continue
        ours = overhead_ms(results, config.key, suite)
        vs_forked = None
        if config.key not in ("plain", "forked") and forked and forked > 0 and ours is not None:
            vs_forked = ours / forked
        spread = max(result.times) - min(result.times)
        rows.append(
            (
                config.label,
                fmt(result.median),
                fmt(min(result.times)),
                fmt(spread) if len(result.times) > 1 else "-",
                fmt(ours),
                fmt(result.median / plain) if plain else "n/a",
                fmt(vs_forked),
                f"noisy: spread {spread / result.median:.0%} of median" if spread > NOISY * result.median else "",
            )
        )
    headers = [
        "configuration",
        "time s (median)",
        "min s",
        "spread s",
        "overhead ms/test",
        "x plain",
        "ovh / forked ovh",
        "",
    ]
    return tabulate(rows, headers=headers, disable_numparse=True)


def verdict(value: Optional[float], target: float, at_most: bool) -> str:
    if value is None:
        return "n/a"
    ok = value <= target if at_most else value >= target
    return "PASS" if ok else "MISS"


def failed(results: dict[str, Result], key: str) -> bool:
    result = results.get(key)
    return result is not None and result.failed is not None


def target_table(suites: list[Suite], configs: list[Config], results: dict[str, dict[str, Result]]) -> str:
    rows = []
    ours = [c for c in configs if c.mode]
    for suite in suites:
        res = results[suite.name]
        forked = overhead_ms(res, "forked", suite)
        for config in ours:
            name = f"#3 {suite.name}: overhead {config.key} / overhead pytest-forked"
            mine = overhead_ms(res, config.key, suite)
            if failed(res, config.key):
                rows.append((name, "run failed", "", "<= 0.5", "MISS", ""))
            elif forked is None or forked <= 0 or mine is None:
                why = "pytest-forked unavailable or failed" if forked is None else "pytest-forked overhead <= 0"
                if mine is None:
                    why = "unavailable"
                rows.append((name, f"n/a ({why})", "", "<= 0.5", "n/a", ""))
            else:
                value = mine / forked
                mins = overhead_ms(res, config.key, suite, "min"), overhead_ms(res, "forked", suite, "min")
                by_min = mins[0] / mins[1] if mins[0] is not None and mins[1] else None
                rows.append(
                    (
                        name,
                        fmt(value),
                        fmt(by_min),
                        "<= 0.5",
                        verdict(value, 0.5, at_most=True),
                        verdict(by_min, 0.5, at_most=True),
                    )
                )
        for how in FLOORS:  # information, no target: what any fork-per-test design costs at least
            mine, key = overhead_ms(res, f"floor-{how}", suite), f"floor-{how}"
            if forked and forked > 0 and mine is not None:
                mins = overhead_ms(res, key, suite, "min"), overhead_ms(res, "forked", suite, "min")
                by_min = mins[0] / mins[1] if mins[0] is not None and mins[1] else None
                name = f"(info) {suite.name}: overhead fork floor {how} / overhead pytest-forked"
                rows.append((name, fmt(mine / forked), fmt(by_min), "-", "info", ""))
    heavy = next(s for s in suites if s.name == "heavy")
    res = results[heavy.name]
    for baseline, mode, target, issue in (("strace", "audit", 10.0, "#3"), ("strace-c", "profile", 5.0, "#4")):
        for recorder in RECORDERS:
            key = f"{mode}/{recorder}"
            tool = "strace -f" if baseline == "strace" else "strace -f -c"
            name = f"{issue} heavy: time {tool} / time {key}"
            base, mine = median(res, baseline), median(res, key)
            if failed(res, key):
                rows.append((name, "run failed", "", f">= {target:g}", "MISS", ""))
            elif base is None or mine is None:
                why = f"{key} unavailable" if mine is None else f"{tool} unavailable or failed"
                rows.append((name, f"n/a ({why})", "", f">= {target:g}", "n/a", ""))
            else:
                value = base / mine
                by_min = median(res, baseline, "min") / median(res, key, "min")  # type: ignore[operator]
                rows.append(
                    (
                        name,
                        fmt(value),
                        fmt(by_min),
                        f">= {target:g}",
                        verdict(value, target, at_most=False),
                        verdict(by_min, target, at_most=False),
                    )
                )
    for recorder in RECORDERS:  # information, no target: strace at its least cost (one CPU)
        key = f"audit/{recorder}"
        base, mine = median(res, "strace-1cpu"), median(res, key)
        if base is not None and mine is not None:
            by_min = median(res, "strace-1cpu", "min") / median(res, key, "min")  # type: ignore[operator]
            name = f"(info) heavy: time strace -f on one CPU / time {key}"
            rows.append((name, fmt(base / mine), fmt(by_min), "-", "info", ""))
    headers = ["target", "value (medians)", "value (minima)", "target", "verdict (medians)", "(minima)"]
    return tabulate(rows, headers=headers, disable_numparse=True)


def position_medians(runs: list[list[float]]) -> list[float]:
    runs = [r for r in runs if r]
    if not runs:
        return []
    length = min(len(r) for r in runs)
    return [statistics.median(r[i] for r in runs) for i in range(length)]


def course_table(suite: Suite, configs: list[Config], results: dict[str, Result]) -> str:
    rows = []
    for config in configs:
        result = results.get(config.key)
        if config.unavailable or result is None:
            continue
        if config.key not in ("plain", "forked", "strace", "strace-1cpu") and config.mode not in ("audit", "profile"):
            continue
        label = config.label
        runs = result.per_test
        if result.failed:  # still telling: which tests were slow, and by how much
            label += " (FAILED run)"
            runs = [result.failed.per_test]
        times = position_medians(runs)
        if len(times) < 2 * ENDS:
            continue
        first, last = times[:ENDS], times[-ENDS:]
        rows.append(
            (
                label,
                fmt(times[0] * 1000, 1),
                fmt(statistics.fmean(first) * 1000, 1),
                fmt(statistics.fmean(last) * 1000, 1),
                fmt(statistics.median(times) * 1000, 1),
                fmt(statistics.fmean(first) / statistics.fmean(last)),
            )
        )
    headers = [
        "configuration",
        "test 1 ms",
        f"tests 1-{ENDS} ms (mean)",
        f"tests {suite.tests - ENDS + 1}-{suite.tests} ms (mean)",
        "median ms",
        "first / last",
    ]
    return tabulate(rows, headers=headers, disable_numparse=True)


def strace_counts(path: Path) -> Optional[int]:
    """Total calls from an ``strace -c`` summary."""
    if not path.exists():
        return None
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[-1] == "total":  # % time, seconds, usecs/call, calls, [errors,] total
            return int(parts[3])
    return None


# -- main ---------------------------------------------------------------------------------


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one timed run per configuration (default: 3)")
    parser.add_argument("--runs", type=int, default=None, help="timed runs per configuration (median taken)")
    parser.add_argument("--keep", action="store_true", help="keep the generated suites and print where")
    parser.add_argument(
        "--fail-fast",
        action="store_true",
        help="stop at the first run that fails (default: mark that configuration FAILED, time the others)",
    )
    options = parser.parse_args(argv)
    runs = options.runs or (1 if options.quick else 3)
    if sys.platform != "linux" or platform.machine() != "x86_64":
        print(f"bench_plugin: needs Linux x86-64, this is {sys.platform} {platform.machine()}", file=sys.stderr)
        return 2

    started = time.perf_counter()
    tmpfs, mounted = find_tmpfs()
    work = Path(tempfile.mkdtemp(prefix="bench-plugin-", dir=tmpfs))
    forked_installed = False
    try:
        strace, strace_note = find_strace()
        forked_ok, forked_installed, forked_note = ensure_pytest_forked()
        entry_points = plugin_entry_points()
        suites = generate(work)
        snapshot, plugin_source = snapshot_plugin(work)
        runner = Runner(work, entry_points, strace, snapshot)
        imported = subprocess.run(
            [sys.executable, "-c", "import pytest_syscall_sandbox as m; print(m.__file__)"],
            capture_output=True,
            text=True,
            env=runner.env,
            cwd=work,
        )
        if not imported.stdout.startswith(str(snapshot)):
            raise BenchError(f"the runs would not import the plugin snapshot: {imported.stdout}{imported.stderr}")

        print(
            f"python {platform.python_version()} ({sys.executable}), pytest {metadata.version('pytest')}, "
            f"{os.cpu_count()} cpus, kernel {platform.release()}"
        )
        print(f"suites and --basetemp on tmpfs: {work} (tmpfs {'mounted here' if mounted else 'at ' + str(tmpfs)})")
        print(f"strace: {strace or 'unavailable'} {strace_note}".rstrip())
        print(f"pytest-forked: {forked_note}")
        print(f"plugin: a copy, taken at start, of {plugin_source}")
        print(f"disabled in every run: cacheprovider, {', '.join(entry_points)} (except the configuration's own)")
        for suite in suites:
            print(f"suite {suite.name}: {suite.description}")
        print(f"timed runs per configuration: {runs} (median), round-robin")
        print("load average at start: {:.2f} {:.2f} {:.2f}\n".format(*os.getloadavg()), flush=True)

        # Preflight (untimed, also warms the bytecode caches): plain passes, pytest-forked
        # works, and which syscalls the heavy and trivial tests make that the policy lacks.
        plain = Config("plain", "plain pytest")
        for suite in suites:
            runner.run_checked(plain, suite)
        forked_reason = None if forked_ok else forked_note
        if forked_ok:
            forked_reason = check_forked(runner, suites)
            if forked_reason:
                forked_reason = f"pytest-forked {forked_reason}"
                print(f"pytest-forked does not work here: {forked_reason}")

        policy = BASE_POLICY
        print(f"violations under {BASE_POLICY} (untimed audit runs with --sandbox-report):")
        missing_all: set[str] = set()
        check_rows = []
        for suite in suites:
            for recorder in RECORDERS:
                missing, harness, notes = audit_gaps(runner, suite, policy, recorder)
                missing_all.update(missing)
                check_rows.append(
                    (suite.name, recorder, ", ".join(missing) or "none", harness, "; ".join(notes[:4]) or "-")
                )
        print(tabulate(check_rows, headers=["suite", "recorder", "missing syscalls", "harness records", "harness"]))
        if missing_all:
            definition = f"{BASE_POLICY} " + " ".join(f"+{name}" for name in sorted(missing_all))
            print(f"-> timed runs use the custom role {BENCH_ROLE} = {definition}")
            for suite in suites:
                write_ini(suite.directory, f"{BENCH_ROLE} = {definition}")
            policy = BENCH_ROLE
            for suite in suites:
                for recorder in RECORDERS:
                    missing, _harness, _notes = audit_gaps(runner, suite, policy, recorder)
                    if missing:
                        raise BenchError(f"{BENCH_ROLE} still lacks {missing} on {suite.name} ({recorder})")
        else:
            print(f"-> none: the timed runs use --sandbox-policy={BASE_POLICY}")
        print(flush=True)

        configs = make_configs(policy, forked_reason, strace, strace_note)
        for config in configs:  # combinations the plugin rejects are unavailable, not failed
            if config.mode and not config.unavailable:
                config.unavailable = refused(runner, config, suites[0])
                if config.unavailable:
                    print(f"{config.label}: {config.unavailable}")
        active = [c for c in configs if not c.unavailable]
        results: dict[str, dict[str, Result]] = {
            s.name: {c.key: Result() for c in active if c.only in (None, s.name)} for s in suites
        }
        strace_summary = {s.name: work / f"strace-c-{s.name}.txt" for s in suites}
        count = 0
        for rep in range(runs):
            for suite in suites:
                for config in active:
                    result = results[suite.name].get(config.key)
                    if result is None or result.failed:
                        continue
                    timed = config
                    if config.key == "strace-c":  # the summary goes to a file: one write at exit
                        timed = replace(config, prefix=(*config.prefix, str(strace_summary[suite.name])))
                    run = runner.run(timed, suite)
                    count += 1
                    status = f"FAILED: {run.problem}" if run.problem else ""
                    print(
                        f"  [{count}] run {rep + 1}/{runs} {suite.name:7} {config.label:30} {run.elapsed:7.2f} s",
                        status,
                        file=sys.stderr,
                        flush=True,
                    )
                    if run.problem:
                        result.failed = run
                        if options.fail_fast:
                            raise BenchError(
                                f"{config.label} on the {suite.name} suite: {run.problem}\n{run.failure_text()}"
                            )
                        continue
                    result.times.append(run.elapsed)
                    result.per_test.append(run.per_test)

        print()
        floor = fork_floor_ms(runner.env)
        calls = {name: strace_counts(path) for name, path in strace_summary.items()}
        for suite in suites:
            print(f"== {suite.name} suite: {suite.description} ==")
            print(suite_table(suite, configs, results[suite.name]))
            if calls.get(suite.name):
                print(
                    f"   syscalls per test incl. pytest's own (strace -f -c total / tests): "
                    f"{calls[suite.name] / suite.tests:.0f}"
                )
            print()
        print(f"reference: fork + _exit + waitpid of a process with pytest imported: {floor:.2f} ms (median of 200)")
        print(
            "overhead ms/test = (median time - median plain time) / tests;"
            " ovh / forked ovh = that overhead / pytest-forked's\n"
            "verdicts use the medians; the minima (least disturbed runs) and their verdicts are shown beside them\n"
        )
        print("== targets ==")
        print(target_table(suites, configs, results))
        print()
        for suite in suites:
            print(
                f"== {suite.name} suite: wall time per test over the run (logstart to logfinish, median over runs) =="
            )
            print(course_table(suite, configs, results[suite.name]))
            print()
        failures = [
            (suite, config, results[suite.name][config.key].failed)
            for suite in suites
            for config in active
            if config.key in results[suite.name] and results[suite.name][config.key].failed
        ]
        if failures:
            print("\n== FAILED configurations (not timed further; no figures reported for them) ==")
            for suite, config, run in failures:
                assert run is not None
                print(f"-- {config.label} on the {suite.name} suite: {run.problem}")
                print(textwrap.indent(run.failure_text(lines=14), "   "))
        print("\nload average at the end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
        print(f"total benchmark time: {time.perf_counter() - started:.0f} s")
        if options.keep:
            print(f"suites kept in {work}")
        return 1 if failures else 0
    except BenchError as exc:
        print(f"\nbench_plugin: ABORTED: {exc}", file=sys.stderr)
        return 1
    finally:
        if not options.keep:
            shutil.rmtree(work, ignore_errors=True)
        if mounted:
            subprocess.run(["umount", str(mounted)], capture_output=True)
            shutil.rmtree(mounted, ignore_errors=True)
        if forked_installed:
            subprocess.run([sys.executable, "-m", "pip", "uninstall", "-q", "-y", "pytest-forked"], capture_output=True)


if __name__ == "__main__":
    sys.exit(main())
