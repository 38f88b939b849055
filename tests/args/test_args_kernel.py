"""Argument rules and the hardening set against the real kernel, each in a forked child.

No filter ever lands on the pytest process: every test goes through ``run_in_child``.
Where a refusal could also come from the kernel itself (no CAP_NET_RAW, no user
namespaces), the filter answers with an errno nothing else returns here (EHWPOISON),
through ``harden_action``, so the test knows the filter decided.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import signal
import socket
import threading
from typing import Any

import pytest
from args_support import (
    AF_INET,
    AF_NETLINK,
    AF_UNIX,
    CLONE_NEWUSER,
    EFAULT,
    EHWPOISON,
    EINVAL,
    ENOSYS,
    EPERM,
    FIONREAD,
    IPPROTO_ICMP,
    NR,
    SIGCHLD,
    SOCK_CLOEXEC,
    SOCK_DGRAM,
    SOCK_NONBLOCK,
    SOCK_RAW,
    SOCK_STREAM,
    TIOCLINUX,
    TIOCSETD,
    TIOCSTI,
    run,
    run_in_child,
    sys_call,
)

from pytest_syscall_sandbox.engine.bpf import Instruction
from pytest_syscall_sandbox.engine.compiler import compile_allow_list
from pytest_syscall_sandbox.engine.install import install_filter
from pytest_syscall_sandbox.engine.rules import (
    ArgAnySet,
    ArgEq,
    ArgGe,
    ArgGt,
    ArgLe,
    ArgLt,
    ArgMaskedEq,
    ArgMatcher,
    ArgNe,
    Rule,
)
from pytest_syscall_sandbox.kernel.actions import ALLOW, ERRNO, KILL_PROCESS, TRACE, TRAP
from pytest_syscall_sandbox.kernel.syscalls import NAMES
from pytest_syscall_sandbox.roles.profiles import PROFILES
from pytest_syscall_sandbox.sandbox import install_allow_list

pytestmark = [pytest.mark.kernel, pytest.mark.usefixtures("kernel_ok")]

EVERYTHING = frozenset(NAMES.values())
POISON = ERRNO(EHWPOISON)
SOCKETS = {
    "netlink": (AF_NETLINK, SOCK_RAW, 0),
    "netlink-dgram-cloexec": (AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, 0),
    "netlink-junk-high-half": ((1 << 32) | AF_NETLINK, SOCK_DGRAM, 0),
    "raw": (AF_INET, SOCK_RAW, IPPROTO_ICMP),
    "raw-cloexec-nonblock": (AF_INET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_ICMP),
    "unix-stream": (AF_UNIX, SOCK_STREAM, 0),
    "unix-dgram-cloexec": (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0),
    "inet-stream": (AF_INET, SOCK_STREAM, 0),
}
REFUSED_SOCKETS = {"netlink", "netlink-dgram-cloexec", "netlink-junk-high-half", "raw", "raw-cloexec-nonblock"}


def _open_sockets(mode: str) -> dict[str, int]:
    """In the child: install (or not), then try every socket; name -> 0 or errno."""
    if mode != "none":
        install_allow_list(EVERYTHING, KILL_PROCESS, harden=True, harden_action=POISON if mode == "poison" else None)
    results = {}
    for label, (domain, kind, protocol) in SOCKETS.items():
        fd, err = sys_call(NR["socket"], domain, kind, protocol)
        if fd >= 0:
            os.close(fd)
        results[label] = err
    return results


def _check(result: Any) -> Any:
    assert result.ok, str(result)
    return result.value


def test_netlink_and_raw_sockets_are_refused_unix_and_inet_work() -> None:
    got = _check(run_in_child(_open_sockets, "harden"))
    assert got == {label: (EPERM if label in REFUSED_SOCKETS else 0) for label in SOCKETS}


def test_the_refusals_come_from_the_filter() -> None:
    poisoned = _check(run_in_child(_open_sockets, "poison"))
    assert poisoned == {label: (EHWPOISON if label in REFUSED_SOCKETS else 0) for label in SOCKETS}
    without = _check(run_in_child(_open_sockets, "none"))
    assert all(err != EHWPOISON for err in without.values())
    assert without["netlink"] == 0 and without["netlink-junk-high-half"] == 0  # the kernel reads an int domain
    assert without["unix-stream"] == 0


def _unix_round_trip() -> bytes:
    install_allow_list(EVERYTHING, KILL_PROCESS, harden=True)
    name = f"\0pytest-syscall-sandbox-{os.getpid()}"
    with (
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server,
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as client,
    ):
        server.bind(name)
        client.sendto(b"through the filter", name)
        return server.recv(64)


def test_a_unix_socket_works_under_the_hardening_set() -> None:
    assert _check(run_in_child(_unix_round_trip)) == b"through the filter"


def _threads(harden: bool) -> tuple[list[str], int]:
    install_allow_list(PROFILES["NETWORK"].allowed, KILL_PROCESS, harden=harden)
    ran: list[str] = []
    workers = [threading.Thread(target=lambda n=n: ran.append(f"worker {n}")) for n in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    _, clone3_errno = sys_call(NR["clone3"], 0, 0)
    return sorted(ran), clone3_errno


def test_threads_start_when_clone3_is_refused() -> None:
    ran, clone3_errno = _check(run_in_child(_threads, True))
    assert ran == ["worker 0", "worker 1", "worker 2"]
    assert clone3_errno == ENOSYS  # glibc fell back to clone
    _, plain_errno = _check(run_in_child(_threads, False))
    assert plain_errno == EINVAL  # without the set, clone3(NULL, 0) reaches the kernel


def _clone(flags: int, harden: bool) -> tuple[int, int]:
    """Raw clone(flags, 0, ...) like fork; returns (errno, the clone child's exit status)."""
    if harden:
        install_allow_list(EVERYTHING, KILL_PROCESS, harden=True)
    pid, err = sys_call(NR["clone"], flags, 0, 0, 0, 0)
    if pid == 0:  # the clone child: leave at once
        os._exit(7)
    status = os.waitpid(pid, 0)[1] if pid > 0 else -1
    return err, os.waitstatus_to_exitcode(status) if pid > 0 else -1


def test_clone_with_clone_newuser_is_refused() -> None:
    assert _check(run_in_child(_clone, CLONE_NEWUSER | SIGCHLD, True)) == (EPERM, -1)
    assert _check(run_in_child(_clone, SIGCHLD, True)) == (0, 7)  # a plain fork-like clone still works


def test_clone_with_clone_newuser_works_without_the_set() -> None:
    err, status = _check(run_in_child(_clone, CLONE_NEWUSER | SIGCHLD, False))
    if err:
        pytest.skip(f"this kernel refuses user namespaces itself ({errno.errorcode.get(err, err)})")
    assert status == 7


def _terminal_ioctls(mode: str) -> dict[str, int]:
    master, slave = os.openpty()
    if mode != "none":
        install_allow_list(EVERYTHING, KILL_PROCESS, harden=True, harden_action=POISON if mode == "poison" else None)
    char = ctypes.c_char(b"x")
    count = ctypes.c_int(-1)
    read_end, write_end = os.pipe()
    os.write(write_end, b"12345")
    results = {
        "TIOCSTI": sys_call(NR["ioctl"], slave, TIOCSTI, ctypes.addressof(char))[1],
        "TIOCSTI-junk-high-half": sys_call(NR["ioctl"], slave, (1 << 32) | TIOCSTI, ctypes.addressof(char))[1],
        "TIOCSETD-bad-pointer": sys_call(NR["ioctl"], slave, TIOCSETD, 0)[1],
        "TIOCLINUX-bad-pointer": sys_call(NR["ioctl"], slave, TIOCLINUX, 0)[1],
        "FIONREAD": sys_call(NR["ioctl"], read_end, FIONREAD, ctypes.addressof(count))[1],
    }
    results["FIONREAD-count"] = count.value
    for fd in (master, slave, read_end, write_end):
        os.close(fd)
    return results


def test_tiocsti_and_friends_are_refused() -> None:
    got = _check(run_in_child(_terminal_ioctls, "harden"))
    assert got == {
        "TIOCSTI": EPERM,
        "TIOCSTI-junk-high-half": EPERM,
        "TIOCSETD-bad-pointer": EPERM,
        "TIOCLINUX-bad-pointer": EPERM,
        "FIONREAD": 0,
        "FIONREAD-count": 5,
    }


def test_tiocsti_refusals_come_from_the_filter() -> None:
    poisoned = _check(run_in_child(_terminal_ioctls, "poison"))
    assert {k: v for k, v in poisoned.items() if k.startswith("TIO")} == dict.fromkeys(
        ["TIOCSTI", "TIOCSTI-junk-high-half", "TIOCSETD-bad-pointer", "TIOCLINUX-bad-pointer"], EHWPOISON
    )
    without = _check(run_in_child(_terminal_ioctls, "none"))
    assert EHWPOISON not in without.values()
    assert without["TIOCSETD-bad-pointer"] == EFAULT  # the kernel ran it and tripped on the pointer
    if without["TIOCSTI"] == 0:  # root, or legacy_tiocsti: the kernel truncates the junk request too
        assert without["TIOCSTI-junk-high-half"] == 0


# ---------------------------------------------------------------------------- every comparison, for real

KERNEL_MATCHERS = [
    ArgEq(2, (5 << 32) | 7),
    ArgNe(2, 1 << 40),
    ArgLt(2, (3 << 32) | 5),
    ArgLe(2, 1 << 63),
    ArgGt(2, (1 << 32) - 1),
    ArgGe(2, (7 << 32) | 0x8000_0000),
    ArgMaskedEq(2, 0xF0_0000_000F, 0x30_0000_0003),
    ArgAnySet(2, (1 << 45) | 0x10),
    ArgEq(1, 0x1234, width=32),
]


def _grid_args(index: int, value: int) -> list[int]:
    args = [2**64 - 1, 0x5401, 0]  # fd -1: an allowed ioctl fails with EBADF and does nothing
    args[index] = value
    return args


def _grid_filter(matcher: ArgMatcher) -> tuple[Instruction, ...]:
    return compile_allow_list(list(NAMES), KILL_PROCESS, arg_rules=[Rule("ioctl", (matcher,), POISON)]).program


def _ioctl_grid() -> None:
    """One grandchild per matcher (filters stack and stay): print the errno of each boundary value."""
    for matcher in KERNEL_MATCHERS:
        program = _grid_filter(matcher)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                install_filter(program)
                outcomes = [sys_call(NR["ioctl"], *_grid_args(matcher.index, v))[1] for v in matcher.boundary_values()]
                os.write(1, (json.dumps(outcomes) + "\n").encode())
                code = 0
            finally:
                os._exit(code)
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0


def test_the_kernel_and_the_emulator_agree_on_every_comparison() -> None:
    result = run_in_child(_ioctl_grid)
    assert result.ok, str(result)
    lines = result.stdout.decode().splitlines()
    assert len(lines) == len(KERNEL_MATCHERS)
    for matcher, line in zip(KERNEL_MATCHERS, lines, strict=True):
        kernel = json.loads(line)
        program = _grid_filter(matcher)
        for value, err in zip(matcher.boundary_values(), kernel, strict=True):
            predicted = run(program, NR["ioctl"], _grid_args(matcher.index, value))
            assert err == (EHWPOISON if predicted == POISON else errno.EBADF), (str(matcher), hex(value))
        assert set(kernel) == {EHWPOISON, errno.EBADF}, str(matcher)  # both outcomes were exercised


def _each_action() -> None:
    sigsys: list[int] = []
    signal.signal(signal.SIGSYS, lambda signum, frame: sigsys.append(signum))
    rules = [
        Rule("socket", (ArgEq(0, AF_NETLINK),), POISON),
        Rule("socket", (ArgEq(0, 10),), TRAP),  # AF_INET6
        Rule("socket", (ArgEq(0, 17),), TRACE(5)),  # AF_PACKET: no tracer, so ENOSYS
        Rule("socket", (ArgEq(0, AF_UNIX),), ALLOW),
        Rule("socket", (ArgEq(0, 40),), KILL_PROCESS),  # AF_VSOCK
    ]
    allowed = [nr for nr, name in NAMES.items() if name != "socket"]
    install_filter(compile_allow_list(allowed, ERRNO(errno.EACCES), arg_rules=rules).program)
    seen = {}
    for label, domain in (("netlink", AF_NETLINK), ("inet", AF_INET), ("unix", AF_UNIX), ("packet", 17)):
        fd, err = sys_call(NR["socket"], domain, SOCK_DGRAM, 0)
        if fd >= 0:
            os.close(fd)
        seen[label] = err
    sys_call(NR["socket"], 10, SOCK_DGRAM, 0)
    seen["inet6-sigsys"] = len(sigsys)
    print(json.dumps(seen), flush=True)
    sys_call(NR["socket"], 40, SOCK_DGRAM, 0)
    print("still alive", flush=True)


def test_each_rule_has_its_own_action() -> None:
    result = run_in_child(_each_action)
    out = result.stdout.decode()
    assert result.signal == signal.SIGSYS, str(result)  # KILL_PROCESS for AF_VSOCK
    assert "still alive" not in out
    assert json.loads(out.splitlines()[0]) == {
        "netlink": EHWPOISON,  # ERRNO(n) of its rule
        "inet": errno.EACCES,  # no rule matched: the filter's default
        "unix": 0,  # ALLOW rule on a syscall the allow-list lacks
        "packet": ENOSYS,  # TRACE without a tracer
        "inet6-sigsys": 1,  # TRAP
    }
