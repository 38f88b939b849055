#!/usr/bin/env python3
"""Run real projects' own test suites plainly and under the plugin, and compare outcomes.

Each project is a pinned sdist from PyPI, unpacked once into a cache directory
(``~/.cache/pytest-syscall-sandbox/corpus``) and installed, editable, into a venv of its
own with its pinned test dependencies and the plugin (``--plugin-src``, by default the
checkout this script belongs to). Its suite runs unchanged (only tests that need the
internet are deselected, each with its reason below) in these configurations:

* ``plain``: the plugin disabled (``-p no:syscall_sandbox``);
* ``audit-ptrace`` and ``audit-sigsys``: every test under the NET role in audit mode,
  with each recorder;
* ``net``: every test under NET in the default mode, log-and-abort;
* ``audit-xdist``: audit under NET with ``-n 2``;
* ``profile``: profile mode under NET;
* ``plain-xdist``: the plugin disabled, ``-n 2``: run whenever an xdist configuration is,
  as its baseline (xdist itself changes what a run reports).

Every run adds ``-ra`` and ``--junitxml`` (so that skips go through pytest's reporting;
``--no-reporting`` leaves them out) and a small plugin of this script's own (``-p``) that
appends every report the main pytest process logs (tests, subtests of pytest's
``subtests`` fixture and of ``unittest.TestCase.subTest``, collection errors and skips)
to a JSON-lines file. Outcomes are compared per test and per subtest with the plain run
(with ``plain-xdist`` for a run under xdist): audit and profile runs must equal it (exit
code included); every test that fails
under ``net`` but not plainly must carry the sandbox's violation message; no run may
show INTERNALERROR or end without pytest's summary line. Each run is bounded by
``--timeout``; every process it started is killed when it ends. Wall times are shown
with the load average at the start of the run: on a shared machine they are noisy.

Usage: ``python tools/real_suites.py [--projects a,b] [--configs c,d] [--plugin-src DIR]
[--timeout S] [--json OUT] [--logs DIR] [--no-reporting] [--list]``. Exit status 1 when
any check fails.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
import zipfile
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tabulate import tabulate

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path.home() / ".cache" / "pytest-syscall-sandbox" / "corpus"

#: The plugin's own dependencies, pinned, in every project's venv.
PLUGIN_PINS = ("pytest==9.2.0", "pytest-xdist==3.8.0", "execnet==2.1.2", "python-ptrace==0.9.9")

#: Upstream's log line (``sandbox.violation_message``) contains this.
VIOLATION_MARK = "is not allowed by the syscall sandbox"

#: The plugin's own per-test timeout in its runs, so that one hung test does not eat the run's.
SANDBOX_TIMEOUT = "--sandbox-timeout=120"


@dataclasses.dataclass(frozen=True)
class Project:
    """One real project: its pinned sdist, test dependencies and how its suite is run."""

    name: str
    version: str
    habits: str
    tests: tuple[str, ...]
    deps: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    deselect: Mapping[str, str] = dataclasses.field(default_factory=dict)
    default: bool = True  # run unless --projects names others

    @property
    def key(self) -> str:
        """Directory name of the unpacked sdist and of the venv."""
        return f"{self.name}-{self.version}"


PROJECTS: dict[str, Project] = {
    p.name: p
    for p in (
        Project(
            "ptyprocess",
            "0.7.0",
            "ptys, fork/exec of programs, waitpid, signals",
            ("tests",),
        ),
        Project(
            "waitress",
            "3.0.2",
            "HTTP servers on loopback in subprocesses, threads, asyncore loops, UNIX sockets",
            ("tests",),
            args=("-o", "addopts=-W always"),  # upstream's addopts add only --cov
        ),
        Project(
            "filelock",
            "3.20.0",
            "flock/fcntl locks, threads, asyncio, subprocesses and virtualenv creation",
            ("tests",),
            deps=(
                "pytest-asyncio==1.3.0",
                "pytest-mock==3.15.1",
                "pytest-timeout==2.4.0",
                "virtualenv==20.35.3",
                "distlib==0.4.0",
                "platformdirs==4.5.0",
            ),
        ),
        Project(
            "aiofiles",
            "25.1.0",
            "asyncio loops handing file I/O to thread pools",
            ("tests",),
            deps=("pytest-asyncio==1.3.0",),
        ),
        Project(
            "docutils",
            "0.23",
            "a large suite, most of it unittest subTest loops; file I/O; subprocesses of its CLI",
            ("test",),
        ),
        Project(
            "typing_extensions",
            "4.16.0",
            "a large unittest suite with subTest; subprocesses",
            ("src/test_typing_extensions.py",),
            default=False,  # its subTest findings are docutils'; it adds 4-5 minutes
        ),
        Project(
            "markupsafe",
            "3.0.4",
            "a C extension, parametrised pytest tests",
            ("tests",),
        ),
        Project(
            "simplejson",
            "4.3.0",
            "a C extension, unittest suite, subprocesses",
            ("simplejson/tests",),
        ),
        Project(
            "tabulate",
            "0.10.0",
            "pure Python, many skips (optional numpy, pandas, wcwidth absent), a CLI subprocess",
            ("test",),
        ),
    )
}

PLUGIN_ARGS = ("--sandbox-policy=NET", SANDBOX_TIMEOUT)
CONFIGS: dict[str, tuple[str, ...]] = {
    "plain": ("-p", "no:syscall_sandbox"),
    "audit-ptrace": (*PLUGIN_ARGS, "--sandbox-mode=audit", "--sandbox-recorder=ptrace"),
    "audit-sigsys": (*PLUGIN_ARGS, "--sandbox-mode=audit", "--sandbox-recorder=sigsys"),
    "net": PLUGIN_ARGS,
    "audit-xdist": (*PLUGIN_ARGS, "--sandbox-mode=audit", "-n", "2"),
    "profile": (*PLUGIN_ARGS, "--sandbox-mode=profile"),
}
#: Run whenever an xdist configuration is: the baseline of every run under xdist, which
#: itself differs from a run without it (it drops skipped collection reports, it shows a
#: subtest's values through a second repr).
EXTRA_CONFIGS: dict[str, tuple[str, ...]] = {"plain-xdist": ("-p", "no:syscall_sandbox", "-n", "2")}
#: Configurations whose outcomes must equal their baseline's (:func:`baseline_of`).
MUST_EQUAL = ("audit-ptrace", "audit-sigsys", "audit-xdist", "profile")


def _uses_xdist(config: str) -> bool:
    return "-n" in {**CONFIGS, **EXTRA_CONFIGS}[config]


def baseline_of(config: str) -> str:
    """The plain run a configuration is compared with and timed against: the same with or without xdist."""
    return "plain-xdist" if _uses_xdist(config) and config != "plain-xdist" else "plain"


RECORDER_PLUGIN = '''\
"""Append every report the main pytest process logs to $CORPUS_REPORTS (JSON lines)."""

import json
import os

_STATE = {}


def pytest_configure(config):
    if not hasattr(config, "workerinput"):  # an xdist worker: its controller logs the reports
        _STATE["pid"] = os.getpid()


def _write(entry):
    if _STATE.get("pid") != os.getpid():  # a forked child's own logging is not the run's
        return
    with open(os.environ["CORPUS_REPORTS"], "a", encoding="utf-8") as stream:
        stream.write(json.dumps(entry) + "\\n")


def _text(report, limit=4000):
    if report.passed:
        return ""
    parts = [report.longreprtext or ""]
    parts.extend(f"--- {name}\\n{content}" for name, content in report.sections if "sandbox" in name)
    text = "\\n".join(parts)
    return text if len(text) <= limit else text[: limit // 2] + "\\n[...]\\n" + text[-limit // 2 :]


def pytest_runtest_logreport(report):
    context = getattr(report, "context", None)
    entry = {
        "nodeid": report.nodeid,
        "when": report.when,
        "outcome": report.outcome,
        "type": type(report).__name__,
        "xfail": hasattr(report, "wasxfail"),
        "duration": getattr(report, "duration", 0.0),
        "text": _text(report),
    }
    if context is not None:
        kwargs = getattr(context, "kwargs", None) or {}
        entry["subtest"] = {
            "msg": getattr(context, "msg", None),
            "kwargs": {str(k): v if isinstance(v, str) else repr(v) for k, v in kwargs.items()},
        }
    _write(entry)


def pytest_collectreport(report):
    if not report.passed:
        _write({"nodeid": report.nodeid, "when": "collect", "outcome": report.outcome, "type": "CollectReport",
                "xfail": False, "duration": 0.0, "text": _text(report)})
'''


@dataclasses.dataclass
class RunResult:
    """One suite run in one configuration: what it printed and what it reported."""

    project: str
    config: str
    command: list[str]
    exit_code: int | None
    timed_out: bool
    wall: float
    summary: str
    internal_errors: list[str]
    crash: str
    outcomes: dict[str, str]
    subtest_keys: set[str]
    texts: dict[str, str]
    tests: int
    subtests: int
    log: str
    load: float


@dataclasses.dataclass
class Comparison:
    """One run against the project's plain run."""

    equal: int
    different: list[dict[str, str]]
    ok: bool
    problems: list[str]


# -- fetching and installing ---------------------------------------------------------------


def _run(command: Sequence[str], *, cwd: Path | None = None, timeout: float = 900) -> str:
    """Run a set-up command; raise with its output if it fails."""
    result = subprocess.run(
        list(command), cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False, env=_clean_env()
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result.stdout


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "VIRTUAL_ENV"))}
    env.pop("PYTHONPATH", None)
    return env


def fetch(project: Project, cache: Path) -> Path:
    """Download the pinned sdist (once) and unpack it (once); return the source directory."""
    source = cache / "src" / project.key
    if (source / ".corpus-unpacked").exists():
        return source
    sdists = cache / "sdists"
    sdists.mkdir(parents=True, exist_ok=True)
    found = _find_sdist(sdists, project)
    if found is None:
        spec = f"{project.name}=={project.version}"
        _run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-d", str(sdists), spec])
        found = _find_sdist(sdists, project)
        if found is None:
            raise RuntimeError(f"pip downloaded no sdist for {spec} into {sdists}")
    if source.exists():
        shutil.rmtree(source)
    unpack = Path(tempfile.mkdtemp(dir=cache))
    if found.name.endswith(".zip"):
        with zipfile.ZipFile(found) as archive:
            archive.extractall(unpack)
    else:
        with tarfile.open(found) as archive:
            archive.extractall(unpack, filter="data")
    (top,) = list(unpack.iterdir())
    source.parent.mkdir(parents=True, exist_ok=True)
    top.rename(source)
    unpack.rmdir()
    (source / ".corpus-unpacked").write_text(found.name + "\n")
    return source


def _find_sdist(directory: Path, project: Project) -> Path | None:
    wanted = {project.name.lower().replace("-", "_"), project.name.lower().replace("_", "-")}
    for path in sorted(directory.iterdir()):
        name = path.name.lower()
        for stem in wanted:
            if name.startswith(f"{stem}-{project.version}.") and name.endswith((".tar.gz", ".zip")):
                return path
    return None


def prepare_venv(project: Project, source: Path, cache: Path, plugin_src: Path) -> Path:
    """Make (once) the project's venv with its pinned deps; (re)install the plugin if its source changed."""
    venv = cache / "venvs" / project.key
    python = venv / "bin" / "python"
    spec = json.dumps([project.deps, PLUGIN_PINS], sort_keys=True)
    marker = venv / ".corpus-deps"
    if not marker.exists() or marker.read_text() != spec:
        if venv.exists():
            shutil.rmtree(venv)
        _run([sys.executable, "-m", "venv", str(venv)])
        pip = [str(python), "-m", "pip", "install", "-q"]
        _run([*pip, "-e", str(source), *project.deps, *PLUGIN_PINS], cwd=source)
        marker.write_text(spec)
    plugin_marker = venv / ".corpus-plugin"
    if not plugin_marker.exists() or plugin_marker.read_text() != str(plugin_src):
        _run([str(python), "-m", "pip", "install", "-q", "--no-deps", "-e", str(plugin_src)])
        _run([str(python), "-m", "pip", "install", "-q", "tabulate>=0.9", *PLUGIN_PINS])  # no-op where present
        plugin_marker.write_text(str(plugin_src))
    (venv / "freeze.txt").write_text(_run([str(python), "-m", "pip", "freeze"]))
    return python


# -- running -------------------------------------------------------------------------------


def _kill_tagged(token: str) -> None:
    """Kill every process still running with this run's token in its environment."""
    needle = f"CORPUS_RUN_TOKEN={token}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            try:
                os.kill(int(entry.name), signal.SIGKILL)
            except ProcessLookupError:
                pass


def run_suite(
    project: Project,
    config: str,
    python: Path,
    source: Path,
    recorder_dir: Path,
    logs: Path,
    timeout: float,
    reporting: bool = True,
) -> RunResult:
    """Run the project's suite once in one configuration, bounded in time.

    With ``reporting``, ``-ra`` and ``--junitxml`` are added, as a user's CI would.
    """
    stem = f"{project.key}.{config}" + ("" if reporting else ".no-reporting")
    reports = logs / f"{stem}.reports.jsonl"
    log = logs / f"{stem}.log"
    reports.unlink(missing_ok=True)
    junit = logs / f"{stem}.junit.xml"
    options = {**CONFIGS, **EXTRA_CONFIGS}[config]
    command = [str(python), "-m", "pytest", *project.tests, *project.args, "-p", "corpus_reports"]
    command += ["-p", "no:cacheprovider", *(["-ra", f"--junitxml={junit}"] if reporting else []), *options]
    for nodeid in project.deselect:
        command += ["--deselect", nodeid]
    token = uuid.uuid4().hex
    env = _clean_env()
    env.update(
        PYTHONPATH=str(recorder_dir),
        CORPUS_REPORTS=str(reports),
        CORPUS_RUN_TOKEN=token,
        PYTHONHASHSEED="0",
        PYTHONDONTWRITEBYTECODE="1",
    )
    timed_out = False
    load = os.getloadavg()[0]
    start = time.monotonic()
    with log.open("w") as out:
        out.write(f"$ cd {source} && {' '.join(command)}\n")
        out.flush()
        process = subprocess.Popen(
            command, cwd=source, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            exit_code: int | None = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            exit_code = None
        wall = time.monotonic() - start
        _kill_tagged(token)
        if timed_out:
            process.wait(timeout=30)
    text = log.read_text(errors="replace")
    outcomes, subtest_keys, texts, tests = parse_reports(reports)
    return RunResult(
        project=project.name,
        config=config,
        command=command,
        exit_code=exit_code,
        timed_out=timed_out,
        wall=wall,
        summary=_summary_line(text),
        internal_errors=_internal_errors(text),
        crash=_crash(text),
        outcomes=outcomes,
        subtest_keys=subtest_keys,
        texts=texts,
        tests=tests,
        subtests=len(subtest_keys),
        log=str(log),
        load=load,
    )


def _summary_line(text: str) -> str:
    for line in reversed(text.splitlines()):
        match = re.fullmatch(r"(?:=+ )?((?:\d+ \w+|no tests ran).* in [0-9.]+s.*?)(?: =+)?", line.strip())
        if match:
            return match.group(1)
    return ""


def _internal_errors(text: str) -> list[str]:
    """Each INTERNALERROR traceback in the output, in full."""
    blocks: list[list[str]] = []
    previous = False
    for line in text.splitlines():
        at = line.find("INTERNALERROR>")  # progress dots may stand before it on the line
        if at >= 0 and not previous:
            blocks.append([])
        if at >= 0:
            blocks[-1].append(line[at:])
        previous = at >= 0
    return ["\n".join(block) for block in blocks]


def internal_error_cause(traceback: str) -> str:
    """The frame that raised first and its exception, in a (possibly nested) traceback: one per distinct cause."""
    frame = ""
    for raw in traceback.splitlines():
        line = re.sub(r"^(INTERNALERROR>)?\s*(E\s+)?", "", raw).rstrip()
        if line.startswith('File "'):
            frame = re.sub(r'File ".*/(site-packages|pytest_syscall_sandbox)/', r'File "\1/', line)
        elif frame and re.match(r"[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b", line):
            return f"{frame}: {line}"
    return traceback.strip().splitlines()[-1] if traceback.strip() else "?"


def _crash(text: str) -> str:
    """The traceback that ends an output with no final summary line (pytest died outside INTERNALERROR)."""
    if _summary_line(text) or "Traceback (most recent call last):" not in text:
        return ""
    return text[text.rindex("Traceback (most recent call last):") :]


def _subtest_key(nodeid: str, subtest: Mapping[str, Any]) -> str:
    """``nodeid [msg] (k=v, ...)`` as pytest shows it, with object addresses blanked out."""
    parts = [nodeid]
    if subtest.get("msg") is not None:
        parts.append(f"[{subtest['msg']}]")
    kwargs: Mapping[str, str] = subtest.get("kwargs") or {}
    if kwargs:
        parts.append("(" + ", ".join(f"{k}={v}" for k, v in kwargs.items()) + ")")
    key = " ".join(parts) if len(parts) > 1 else f"{nodeid} (<subtest>)"
    return re.sub(r"0x[0-9a-fA-F]{6,}", "0x...", key)


def parse_reports(path: Path) -> tuple[dict[str, str], set[str], dict[str, str], int]:
    """Outcome per test and per subtest, which keys are subtests, the failure texts, and the number of tests."""
    phases: dict[str, dict[str, tuple[str, bool]]] = {}
    outcomes: dict[str, str] = {}
    subtest_keys: set[str] = set()
    texts: dict[str, str] = {}
    seen: Counter[str] = Counter()
    lines = path.read_text(errors="replace").splitlines() if path.exists() else []
    for line in lines:
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        nodeid, outcome, xfail = entry["nodeid"], entry["outcome"], bool(entry["xfail"])
        if "subtest" in entry:
            base = _subtest_key(nodeid, entry["subtest"])
            seen[base] += 1
            key = base if seen[base] == 1 else f"{base} #{seen[base]}"
            outcomes[key] = ("x" + outcome) if xfail else outcome
            subtest_keys.add(key)
            if entry["text"]:
                texts[key] = entry["text"]
            continue
        if entry["when"] == "collect":
            key = f"{nodeid} (collection)"
            outcomes[key] = "error" if outcome == "failed" else outcome
            texts[key] = entry["text"]
            continue
        phases.setdefault(nodeid, {})[entry["when"]] = (outcome, xfail)
        if entry["text"] and outcome != "passed":
            texts[nodeid] = (texts.get(nodeid, "") + f"\n[{entry['when']}]\n" + entry["text"]).strip()
    for nodeid, seen_phases in phases.items():
        outcomes[nodeid] = _test_outcome(seen_phases)
    return outcomes, subtest_keys, texts, len(phases)


def _test_outcome(phases: Mapping[str, tuple[str, bool]]) -> str:
    setup = phases.get("setup", ("missing", False))
    call = phases.get("call")
    teardown = phases.get("teardown", ("missing", False))
    if setup[0] == "failed":
        result = "error"
    elif setup[0] == "skipped":
        result = "xfailed" if setup[1] else "skipped"
    elif call is None:
        result = "no call"
    elif call[1]:
        result = {"skipped": "xfailed", "passed": "xpassed"}.get(call[0], "failed")
    else:
        result = call[0]
    if teardown[0] == "failed":
        result += "+teardown error"
    elif teardown[0] == "missing":
        result += "+no teardown"
    return result


def run_problems(run: RunResult) -> list[str]:
    """What is wrong with a run whatever its outcomes: INTERNALERROR, a crash, a time-out."""
    problems: list[str] = []
    if run.internal_errors:
        problems.append("INTERNALERROR")
    if run.crash:
        problems.append("pytest crashed: " + internal_error_cause(run.crash))
    elif not run.summary and not run.timed_out:
        problems.append("no final summary line")
    if run.timed_out:
        problems.append("timed out")
    return problems


def compare(plain: RunResult, run: RunResult) -> Comparison:
    """Compare one run's outcomes with its baseline's (``plain``: :func:`baseline_of`) and judge it."""
    different: list[dict[str, str]] = []
    equal = 0
    xdist = _uses_xdist(run.config) and not _uses_xdist(plain.config)
    for key in list(plain.outcomes) + [k for k in run.outcomes if k not in plain.outcomes]:
        if xdist and key.endswith(" (collection)") and plain.outcomes.get(key) == "skipped":
            continue  # xdist's controller drops skipped collection reports, with or without the plugin
        expected = plain.outcomes.get(key, "absent")
        got = run.outcomes.get(key, "absent")
        if expected == got:
            equal += 1
            continue
        kind = "subtest" if key in plain.subtest_keys or key in run.subtest_keys else "test"
        item = {"id": key, "kind": kind, "plain": expected, "plugin": got, "text": run.texts.get(key, "")}
        if run.config == "net":
            item["violation"] = "yes" if VIOLATION_MARK in item["text"] else "no"
        different.append(item)
    problems = run_problems(run)
    if run.config in MUST_EQUAL:
        if different:
            problems.append(f"{len(different)} outcomes differ from plain")
        if run.exit_code != plain.exit_code:
            problems.append(f"exit code {run.exit_code} (plain {plain.exit_code})")
    elif run.config == "net":
        unexplained = [
            d for d in different if not (d["plugin"].startswith(("failed", "error")) and d["violation"] == "yes")
        ]
        if unexplained:
            problems.append(f"{len(unexplained)} differences without the violation message")
    return Comparison(equal=equal, different=different, ok=not problems, problems=problems)


# -- reporting -----------------------------------------------------------------------------


def table(results: Mapping[str, Mapping[str, RunResult]], comparisons: Mapping[tuple[str, str], Comparison]) -> str:
    """One row per project and configuration."""
    rows: list[list[object]] = []
    for name, runs in results.items():
        for config, run in runs.items():
            plain = runs.get(baseline_of(config))
            comparison = comparisons.get((name, config))
            plain_problems = run_problems(run) if config == "plain" else []
            ratio = f"{run.wall / plain.wall:.2f}" if plain and plain.wall > 0 else "-"
            per_test = "-"
            if plain and config != "plain" and plain.tests and run.tests == plain.tests:
                per_test = f"{(run.wall - plain.wall) / plain.tests * 1000:+.1f}"
            rows.append(
                [
                    name,
                    config,
                    run.tests,
                    run.subtests,
                    comparison.equal if comparison else "-",
                    len(comparison.different) if comparison else "-",
                    "yes" if run.internal_errors else "no",
                    "timeout" if run.timed_out else run.exit_code,
                    f"{run.wall:.1f}",
                    f"{run.load:.1f}",
                    ratio,
                    per_test,
                    ("ok" if comparison.ok else "; ".join(comparison.problems))
                    if comparison
                    else "; ".join(plain_problems),
                    _shorten(run.summary or ("(timed out)" if run.timed_out else "(no summary line)"), 70),
                ]
            )
    headers = [
        "project",
        "config",
        "tests",
        "subtests",
        "equal",
        "different",
        "INTERNALERROR",
        "exit",
        "wall s",
        "load",
        "ratio",
        "ms/test",
        "check",
        "summary",
    ]
    return tabulate(rows, headers=headers, disable_numparse=True)


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def details(comparisons: Mapping[tuple[str, str], Comparison], limit: int = 3) -> str:
    """Every run's differences, grouped by kind (plain outcome -> plugin outcome), with examples."""
    out: list[str] = []
    for (name, config), comparison in comparisons.items():
        if not comparison.different:
            continue
        out.append(f"\n{name} / {config}: {len(comparison.different)} differences from plain")
        groups: dict[tuple[str, str, str, str], list[str]] = {}
        for item in comparison.different:
            group = (item["kind"], item["plain"], item["plugin"], item.get("violation", ""))
            groups.setdefault(group, []).append(item["id"])
        for (kind, before, after, violation), ids in groups.items():
            mark = f", violation message: {violation}" if violation else ""
            out.append(f"  {len(ids)} {kind}s: plain {before} -> plugin {after}{mark}")
            out.extend(f"    {_shorten(i, 160)}" for i in ids[:limit])
            if len(ids) > limit:
                out.append(f"    ... and {len(ids) - limit} more")
    return "\n".join(out)


def internal_error_summary(results: Mapping[str, Mapping[str, RunResult]]) -> str:
    """Each distinct INTERNALERROR cause, with the runs it stopped."""
    causes: dict[str, list[str]] = {}
    for name, runs in results.items():
        for config, run in runs.items():
            for traceback in [*run.internal_errors, *([run.crash] if run.crash else [])]:
                causes.setdefault(internal_error_cause(traceback), []).append(f"{name}/{config}")
    out = [f"\nINTERNALERROR or crash: {cause}\n  in {', '.join(where)}" for cause, where in causes.items()]
    return "\n".join(out)


def _parse_list(value: str, known: Iterable[str], what: str) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)} (known: {', '.join(known)})")
    return names


def main(argv: Sequence[str] | None = None) -> int:
    """Fetch, install and run the corpus; print the table; exit 1 when a check fails."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    default_projects = ",".join(p.name for p in PROJECTS.values() if p.default)
    parser.add_argument("--projects", default=default_projects, help=f"comma-separated (default: {default_projects})")
    parser.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated; plain is always run")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per suite run (default 300)")
    parser.add_argument("--plugin-src", type=Path, default=ROOT, help="checkout of the plugin to install")
    parser.add_argument("--cache", type=Path, default=CACHE, help=f"sdists, sources and venvs (default {CACHE})")
    parser.add_argument("--logs", type=Path, default=None, help="raw logs and reports (default CACHE/logs)")
    parser.add_argument("--json", type=Path, default=None, help="write every result here")
    parser.add_argument(
        "--no-reporting", action="store_true", help="run without -ra and --junitxml (pytest's default reporting)"
    )
    parser.add_argument("--list", action="store_true", help="list the projects and configurations, then exit")
    options = parser.parse_args(argv)
    if options.list:
        for project in PROJECTS.values():
            print(f"{project.key}: {project.habits}" + ("" if project.default else " (not run by default)"))
            for nodeid, reason in project.deselect.items():
                print(f"    deselected {nodeid}: {reason}")
        print("configs:", ", ".join([*CONFIGS, *EXTRA_CONFIGS]))
        return 0
    projects = [PROJECTS[n] for n in _parse_list(options.projects, PROJECTS, "project")]
    configs = _parse_list(options.configs, [*CONFIGS, *EXTRA_CONFIGS], "configuration")
    baselines = ["plain", *(["plain-xdist"] if any(_uses_xdist(c) for c in configs) else [])]
    configs = [*baselines, *[c for c in configs if c not in baselines]]
    cache: Path = options.cache.expanduser().resolve()
    plugin_src: Path = options.plugin_src.resolve()
    logs: Path = (options.logs or cache / "logs").resolve()
    logs.mkdir(parents=True, exist_ok=True)
    recorder_dir = Path(tempfile.mkdtemp(prefix="corpus-reports-"))
    (recorder_dir / "corpus_reports.py").write_text(RECORDER_PLUGIN)
    plugin_commit = subprocess.run(
        ["git", "-C", str(plugin_src), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    print(f"plugin: {plugin_src} ({plugin_commit or 'not a git checkout'}); logs: {logs}", flush=True)

    results: dict[str, dict[str, RunResult]] = {}
    comparisons: dict[tuple[str, str], Comparison] = {}
    setup_errors: dict[str, str] = {}
    for project in projects:
        try:
            source = fetch(project, cache)
            python = prepare_venv(project, source, cache, plugin_src)
        except (RuntimeError, subprocess.TimeoutExpired, OSError) as error:
            setup_errors[project.name] = str(error)
            print(f"{project.key}: set-up failed: {error}", flush=True)
            continue
        runs = results.setdefault(project.name, {})
        for config in configs:
            run = run_suite(
                project, config, python, source, recorder_dir, logs, options.timeout, not options.no_reporting
            )
            runs[config] = run
            if config != "plain":
                comparisons[(project.name, config)] = compare(runs[baseline_of(config)], run)
            state = comparisons[(project.name, config)].problems if config != "plain" else run_problems(run)
            print(
                f"{project.key} {config}: {run.summary or '(no summary line)'} [exit {run.exit_code}, {run.wall:.1f} s]"
                + (f" -- {'; '.join(state)}" if state else ""),
                flush=True,
            )
    shutil.rmtree(recorder_dir, ignore_errors=True)

    print()
    print(table(results, comparisons))
    print(details(comparisons))
    print(internal_error_summary(results))
    for name, message in setup_errors.items():
        print(f"\n{name}: set-up failed:\n{message}")
    if options.json:
        options.json.write_text(
            json.dumps(
                {
                    "plugin_src": str(plugin_src),
                    "plugin_commit": plugin_commit,
                    "reporting": not options.no_reporting,
                    "projects": {p.name: dataclasses.asdict(p) | {"key": p.key} for p in projects},
                    "configs": {c: list({**CONFIGS, **EXTRA_CONFIGS}[c]) for c in configs},
                    "setup_errors": setup_errors,
                    "runs": [dataclasses.asdict(r) for runs in results.values() for r in runs.values()],
                    "comparisons": [
                        {"project": n, "config": c, **dataclasses.asdict(v)} for (n, c), v in comparisons.items()
                    ],
                },
                indent=1,
                default=str,
            )
        )
    failed = bool(setup_errors) or any(not c.ok for c in comparisons.values())
    failed = failed or any(run_problems(runs["plain"]) for runs in results.values() if "plain" in runs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
