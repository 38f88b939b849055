"""Cost of a trapped call under each recorder (audit mode): ``python tests/recorders/bench_recorders.py``.

In a forked child under VALIDATION_SCRIPT_CHECK's filter: 10000 getppid (allowed:
the filter's only cost) and 10000 getgroups (trapped: recorded, then run), made
with raw syscalls so each is exactly one call, side by side in one run with a bare
getppid. For the recorders that ask the trapping thread for its Python location with
a signal (ptrace, notify), a second line with that signal blocked shows what the
stop alone costs. Not a test: no timing assertions.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from recorders_support import NR_GETGROUPS, RECORDERS, Child, run_child

from pytest_syscall_sandbox.kernel.calls import raw_syscall
from pytest_syscall_sandbox.kernel.syscalls import syscall_number
from pytest_syscall_sandbox.recorders.notify import WHERE_SIGNAL

NR_GETPPID = syscall_number("getppid")
CALLS = 10_000


def measure(child: Child) -> None:
    """Time CALLS allowed and CALLS trapped calls; report seconds."""
    start = time.perf_counter()
    for _ in range(CALLS):
        raw_syscall(NR_GETPPID)
    allowed = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(CALLS):
        raw_syscall(NR_GETGROUPS, 0, 0)
    trapped = time.perf_counter() - start
    child.report(allowed=allowed, trapped=trapped)


def measure_unlocated(child: Child) -> None:
    """:func:`measure` with the where-signal blocked: the recorder records without asking."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {WHERE_SIGNAL})
    measure(child)


def main() -> None:
    """Print one line per recorder."""
    start = time.perf_counter()
    for _ in range(CALLS):
        raw_syscall(NR_GETPPID)
    bare = time.perf_counter() - start
    print(f"no filter:  {CALLS} getppid {bare * 1e3:7.1f} ms ({bare / CALLS * 1e6:5.2f} us/call)")
    for name in sys.argv[1:] or RECORDERS:
        bodies = [(name, measure)]
        if name in ("ptrace", "notify"):
            bodies.append((f"{name}, where-signal blocked (no location)", measure_unlocated))
        for label, body in bodies:
            run = run_child(name, "audit", body, timeout=300)
            allowed, trapped = run.results["allowed"], run.results["trapped"]
            recorded = len(run.records("getgroups"))
            print(
                f"{label}:   {CALLS} getppid {allowed * 1e3:7.1f} ms ({allowed / CALLS * 1e6:5.2f} us/call), "
                f"{CALLS} getgroups {trapped * 1e3:7.1f} ms ({trapped / CALLS * 1e6:6.1f} us/call), "
                f"{recorded} recorded, parent's wait {run.elapsed:.2f} s"
            )


if __name__ == "__main__":
    main()
