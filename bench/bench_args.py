#!/usr/bin/env python3
"""Benchmark argument rules: ns per syscall without a filter, with a role's filter, and with the hardening set.

A small C program (compiled with the system's ``cc`` into a temporary directory)
makes each call ``--calls`` times in a row, ``--rounds`` times, timing each round
with ``clock_gettime`` (vDSO, no syscall), and prints the median nanoseconds per
call. For each configuration a forked child installs the filter and then execs the
program (filters survive ``execve``; no filter lands on this process). The role is
sandbox-rs's NETWORK profile with ``ERRNO(EPERM)`` for everything else, so refused
calls come back instead of killing the program. The calls:

* ``getppid()``: allowed, argument-free (the kernel's action cache skips the filter);
* ``ioctl(pipe, FIONREAD)``: allowed; argument-checked under the hardening set;
* ``getgroups(0, NULL)``: refused by the role (ERRNO, argument-free path);
* ``ioctl(pipe, TIOCSTI)``: refused by the hardening set; without it the kernel runs
  it and answers ENOTTY.

A last configuration adds a ``trusted_ip`` prologue (it reads the instruction
pointer first), which keeps the kernel from caching any verdict: the difference
with the hardened column is what the action cache saves on argument-free calls.

The configurations run one after the other, ``--repeat`` times over, and each
figure is the median over all rounds.

    python3 bench/bench_args.py [--calls N] [--rounds N] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tabulate import tabulate

from pytest_syscall_sandbox.engine.bpf import Instruction
from pytest_syscall_sandbox.engine.install import install_filter
from pytest_syscall_sandbox.kernel.actions import ERRNO
from pytest_syscall_sandbox.kernel.support import unsupported_reason
from pytest_syscall_sandbox.roles.profiles import PROFILES
from pytest_syscall_sandbox.sandbox import allow_list_filter

ROLE = "NETWORK"
CASES = {
    "getppid": "getppid() allowed, argument-free",
    "fionread": "ioctl(FIONREAD) allowed, checked if hardened",
    "getgroups": "getgroups() refused by the role",
    "tiocsti": "ioctl(TIOCSTI) refused if hardened",
}

C_SOURCE = r"""
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

static long calls, rounds;
static int fds[2];

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void bench(const char *name, int which) {
    double *per_call = calloc(rounds, sizeof(double));
    int n = 0;
    char c = 'x';
    for (long r = 0; r < rounds; r++) {
        long long start = now_ns();
        for (long i = 0; i < calls; i++) {
            switch (which) {
            case 0: syscall(SYS_getppid); break;
            case 1: syscall(SYS_ioctl, fds[0], FIONREAD, &n); break;
            case 2: syscall(SYS_getgroups, 0, NULL); break;
            case 3: syscall(SYS_ioctl, fds[0], TIOCSTI, &c); break;
            }
        }
        per_call[r] = (double)(now_ns() - start) / calls;
    }
    qsort(per_call, rounds, sizeof(double), cmp);
    printf("\"%s\": [", name);
    for (long r = 0; r < rounds; r++) printf("%s%.2f", r ? ", " : "", per_call[r]);
    printf("]%s\n", which == 3 ? "" : ",");
    free(per_call);
}

int main(int argc, char **argv) {
    calls = atol(argv[1]);
    rounds = atol(argv[2]);
    if (pipe(fds) != 0) { perror("pipe"); return 1; }
    printf("{\n");
    bench("getppid", 0);
    bench("fionread", 1);
    bench("getgroups", 2);
    bench("tiocsti", 3);
    printf("}\n");
    return 0;
}
"""


def compile_program(directory: Path) -> Path:
    """Compile the C loop; exit with a message if there is no C compiler."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        sys.exit("bench_args.py needs a C compiler (cc or gcc) to build its syscall loop")
    source = directory / "syscall_loop.c"
    source.write_text(C_SOURCE)
    binary = directory / "syscall_loop"
    subprocess.run([compiler, "-O2", "-o", str(binary), str(source)], check=True)
    return binary


def run_config(binary: Path, program: Sequence[Instruction] | None, calls: int, rounds: int) -> dict[str, list[float]]:
    """Fork; the child installs ``program`` (if any) and execs the loop; returns its per-round figures."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            os.dup2(write_end, 1)
            if program is not None:
                install_filter(program)
            os.execv(str(binary), [str(binary), str(calls), str(rounds)])
        finally:
            os._exit(127)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        output = pipe.read()
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"the benchmark child failed ({status:#x}): {output!r}")
    figures: dict[str, list[float]] = json.loads(output)
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=100_000, help="Calls per round")
    parser.add_argument("--rounds", type=int, default=15, help="Timed rounds per call and configuration")
    parser.add_argument("--repeat", type=int, default=3, help="How many times to run the configurations in turn")
    args = parser.parse_args(argv)
    reason = unsupported_reason()
    if reason is not None:
        sys.exit(f"cannot install filters here: {reason}")

    names = PROFILES[ROLE].allowed
    plain = allow_list_filter(names, ERRNO(1))
    hardened = allow_list_filter(names, ERRNO(1), harden=True)
    # A trusted-ip prologue reads instruction_pointer first, so the kernel cannot cache any verdict:
    # the filter runs on every call, which shows what the action cache saves.
    uncached = allow_list_filter(names, ERRNO(1), harden=True, trusted_ip=0x1000)
    configs: dict[str, Sequence[Instruction] | None] = {
        "no filter": None,
        "role": plain.program,
        "role+harden": hardened.program,
        "role+harden uncached": uncached.program,
    }
    legend = (
        f"role = sandbox-rs {ROLE} ({len(plain)} instructions), ERRNO(EPERM) otherwise; role+harden = plus the"
        f" hardening set ({len(hardened)}); uncached = plus a trusted-ip prologue ({len(uncached)})"
    )
    samples: dict[str, dict[str, list[float]]] = {config: {case: [] for case in CASES} for config in configs}
    with tempfile.TemporaryDirectory(prefix="bench-args-") as tmp:
        binary = compile_program(Path(tmp))
        for _ in range(args.repeat):
            for config, program in configs.items():
                for case, figures in run_config(binary, program, args.calls, args.rounds).items():
                    samples[config][case] += figures
    rows = [
        [text, *(f"{statistics.median(samples[config][case]):.1f}" for config in configs)]
        for case, text in CASES.items()
    ]
    runs = f"{args.repeat} x {args.rounds} rounds of {args.calls} calls"
    print(f"ns per syscall, median of {runs} (kernel {os.uname().release})")
    print(tabulate(rows, headers=["call", *configs], stralign="left", numalign="right"))
    print(legend)
    print(f"argument-checked under the hardening set: {', '.join(hardened.checked)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
