#!/usr/bin/env python3
"""Benchmark the fifteen policies' filters: our search tree against upstream's linear layout.

For every policy it reports

* the filter's length, tree and linear (upstream Bitcoin Core's one-JEQ-per-syscall shape,
  built from the same allow-list with ``compile_allow_list(..., layout="linear")``);
* the instructions the filter executes per syscall, worst case and average over every
  number of the x86-64 table, counted by running the program in the emulator;
* the time to build one filter (median of many builds);
* the time to install one filter: the median over many forked children of the
  ``install_filter`` call alone, timed inside the child and sent back through a pipe
  (no filter ever lands on this process).

The cost of a bare fork + exit + wait is printed for comparison.

    python3 bench/bench_filters.py [--builds N] [--forks N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import struct
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tabulate import tabulate

from pytest_syscall_sandbox import SyscallSandboxPolicy, policy_syscalls
from pytest_syscall_sandbox.engine.bpf import Instruction
from pytest_syscall_sandbox.engine.compiler import compile_allow_list
from pytest_syscall_sandbox.engine.emulator import SeccompData, emulate
from pytest_syscall_sandbox.engine.install import install_filter
from pytest_syscall_sandbox.kernel.actions import TRAP
from pytest_syscall_sandbox.kernel.support import unsupported_reason
from pytest_syscall_sandbox.kernel.syscalls import NAMES, NUMBERS
from pytest_syscall_sandbox.roles.builder import build_policy_filter

_NS = struct.Struct("=q")


def executed(program: Sequence[Instruction], numbers: Sequence[int]) -> tuple[int, float]:
    """Worst and average count of instructions run for ``numbers``."""
    counts = [len(emulate(program, SeccompData(nr), check=False).executed) for nr in numbers]
    return max(counts), statistics.fmean(counts)


def build_time_us(policy: SyscallSandboxPolicy, builds: int) -> float:
    samples = []
    for _ in range(builds):
        start = time.perf_counter_ns()
        build_policy_filter(policy, TRAP)
        samples.append(time.perf_counter_ns() - start)
    return statistics.median(samples) / 1000


def _in_child(work: str, program: Sequence[Instruction]) -> int:
    """Fork; the child times ``install_filter`` (or nothing) and writes the nanoseconds to a pipe."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(read_end)
            start = time.perf_counter_ns()
            if work == "install":
                install_filter(program)
            elapsed = time.perf_counter_ns() - start
            os.write(write_end, _NS.pack(elapsed))
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    if status != 0 or len(data) != _NS.size:
        raise RuntimeError(f"benchmark child failed (status {status:#x})")
    return int(_NS.unpack(data)[0])


def install_time_us(program: Sequence[Instruction], forks: int) -> float:
    return statistics.median(_in_child("install", program) for _ in range(forks)) / 1000


def fork_time_us(forks: int) -> float:
    samples = []
    for _ in range(forks):
        start = time.perf_counter_ns()
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        samples.append(time.perf_counter_ns() - start)
    return statistics.median(samples) / 1000


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--builds", type=int, default=200, help="filter builds per policy (median)")
    parser.add_argument("--forks", type=int, default=50, help="forked children per measurement (median)")
    args = parser.parse_args(argv)

    reason = unsupported_reason()
    table_numbers = sorted(NAMES)
    rows = []
    for policy in SyscallSandboxPolicy:
        tree = build_policy_filter(policy, TRAP)
        allowed = [NUMBERS[name] for name in policy_syscalls(policy)]
        linear = compile_allow_list(allowed, TRAP, layout="linear")
        tree_worst, tree_avg = executed(tree.program, table_numbers)
        linear_worst, linear_avg = executed(linear.program, table_numbers)
        row = [
            policy.name,
            len(allowed),
            f"{len(tree)} / {len(linear)}",
            f"{tree_worst} / {linear_worst}",
            f"{tree_avg:.1f} / {linear_avg:.1f}",
            f"{linear_avg / tree_avg:.1f}x",
            f"{build_time_us(policy, args.builds):.0f}",
        ]
        if reason is None:
            row += [
                f"{install_time_us(tree.program, args.forks):.1f}",
                f"{install_time_us(linear.program, args.forks):.1f}",
            ]
        rows.append(row)

    headers = [
        "policy",
        "syscalls",
        "insns tree / linear",
        "executed worst tree / linear",
        "executed avg tree / linear",
        "avg speed-up",
        "build us",
    ]
    if reason is None:
        headers += ["install us tree", "install us linear"]
    print(tabulate(rows, headers=headers, disable_numparse=True, colalign=("left",) + ("right",) * (len(headers) - 1)))
    print()
    print(f"executed: instructions run per syscall, over the {len(table_numbers)} numbers of the x86-64 table")
    print(f"build: median of {args.builds} builds of the log-and-abort (TRAP) filter")
    if reason is None:
        print(f"install: median of {args.forks} forked children, install_filter() alone (no_new_privs + seccomp)")
        print(f"fork + exit + wait alone, for comparison: {fork_time_us(args.forks):.1f} us (median of {args.forks})")
    else:
        print(f"install: not measured, {reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
