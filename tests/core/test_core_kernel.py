"""Real seccomp filters on a real kernel, each in a forked child (see core_support.run_in_child).

No filter is ever installed in the pytest process: every function that calls
``setup_syscall_sandbox``/``set_syscall_sandbox_policy``/``install_filter`` runs in a
child, which reports back through its exit status, its stdout/stderr and a pickled
return value.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import signal
import socket
import sys
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from core_support import NR, POLICIES, POLICY_NAMES, ChildResult, run_in_child, sys_call

from pytest_syscall_sandbox import (
    SandboxAlreadySetUpError,
    SyscallSandboxAction,
    SyscallSandboxPolicy,
    is_supported,
    set_syscall_sandbox_policy,
    setup_syscall_sandbox,
    test_disallowed_sandbox_call,
    thread_get_internal_name,
    unsupported_reason,
)
from pytest_syscall_sandbox.engine.bpf import (
    BPF_A,
    BPF_ABS,
    BPF_ADD,
    BPF_ALU,
    BPF_AND,
    BPF_DIV,
    BPF_H,
    BPF_IMM,
    BPF_JA,
    BPF_JEQ,
    BPF_JMP,
    BPF_K,
    BPF_LD,
    BPF_LDX,
    BPF_LSH,
    BPF_MEM,
    BPF_MISC,
    BPF_MOD,
    BPF_MUL,
    BPF_NEG,
    BPF_OR,
    BPF_RET,
    BPF_RSH,
    BPF_ST,
    BPF_STX,
    BPF_SUB,
    BPF_TAX,
    BPF_W,
    BPF_X,
    BPF_XOR,
    Instruction,
    jump,
    ret,
    stmt,
    validate,
)
from pytest_syscall_sandbox.engine.emulator import SeccompData, emulate
from pytest_syscall_sandbox.engine.install import install_filter
from pytest_syscall_sandbox.errors import BpfError, InstallError
from pytest_syscall_sandbox.kernel.actions import ALLOW, ERRNO, KILL_PROCESS, LOG
from pytest_syscall_sandbox.roles.builder import build_policy_filter
from pytest_syscall_sandbox.sandbox import sandbox_action

pytestmark = [pytest.mark.kernel, pytest.mark.usefixtures("kernel_ok")]

MODES = {"log-and-abort": True, "abort": False}
SIGSYS = signal.SIGSYS
SIGABRT = signal.SIGABRT
_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_NAME = 15
PR_GET_SECCOMP = 21


def message(name: str, nr: int, thread: str) -> bytes:
    """Upstream's log line, written out here independently of the package."""
    return (
        f'ERROR: The syscall "{name}" (syscall number {nr}) is not allowed by the syscall sandbox'
        f' in thread "{thread}". Please report.\n'
    ).encode()


def thread_name(policy_name: str) -> str:
    return POLICIES[policy_name][0].replace(".N", ".0")


def status_fields(path: str = "/proc/thread-self/status") -> dict[str, str]:
    with open(path) as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def assert_stopped(result: ChildResult, log: bool, expected_message: bytes) -> None:
    """The child was stopped at the disallowed call the way the mode says."""
    if log:
        assert result.signal == SIGABRT, str(result)
        assert result.stderr == expected_message, str(result)
    else:
        assert result.signal == SIGSYS, str(result)
        assert result.stderr == b"", str(result)


# --------------------------------------------------------------------------- support


def test_sandbox_is_supported_here() -> None:
    assert unsupported_reason() is None
    assert is_supported() is True


def test_parent_has_no_filter_and_no_setup() -> None:
    """Guard: nothing in this suite touched the pytest process."""
    assert _libc.prctl(PR_GET_SECCOMP, 0, 0, 0, 0) == 0
    assert sandbox_action() is None


# --------------------------------------------------------------------------- every policy, both modes


@pytest.mark.parametrize("mode", list(MODES))
def test_allowed_syscalls_work(policy_name: str, mode: str, tmp_path: Path) -> None:
    _thread, fs, net = POLICIES[policy_name]
    data_file = tmp_path / "data.txt"
    data_file.write_text("hello sandbox")

    def child() -> dict[str, Any]:
        pid = os.getpid()
        assert setup_syscall_sandbox(MODES[mode]) is True
        assert sandbox_action() is SyscallSandboxAction(mode)
        set_syscall_sandbox_policy(policy_name)
        out: dict[str, Any] = {"getpid": sys_call(NR["getpid"])[0] == pid}
        out["seccomp"] = _libc.prctl(PR_GET_SECCOMP, 0, 0, 0, 0)
        box: list[int] = []
        t = threading.Thread(target=lambda: box.append(os.getppid()))
        t.start()
        t.join()
        out["thread"] = box == [os.getppid()]
        if fs:
            with open(data_file) as f:
                out["file"] = f.read()
            out["status"] = status_fields()
        if net:
            a, b = socket.socketpair()
            a.sendall(b"ping")
            out["socket"] = b.recv(4)
            a.close()
            b.close()
        return out

    result = run_in_child(child)
    assert result.ok, str(result)
    assert result.value["getpid"] is True
    assert result.value["seccomp"] == 2  # SECCOMP_MODE_FILTER
    assert result.value["thread"] is True
    if fs:
        assert result.value["file"] == "hello sandbox"
        assert result.value["status"]["Seccomp"] == "2"
        assert result.value["status"]["NoNewPrivs"] == "1"
        if "Seccomp_filters" in result.value["status"]:
            assert result.value["status"]["Seccomp_filters"] == "1"
    if net:
        assert result.value["socket"] == b"ping"


@pytest.mark.parametrize("mode", list(MODES))
def test_disallowed_call_is_stopped_before_it_runs(policy_name: str, mode: str) -> None:
    thread = thread_name(policy_name)

    def child() -> bool:
        threading.current_thread().name = thread
        setup_syscall_sandbox(MODES[mode])
        set_syscall_sandbox_policy(policy_name)
        os.write(1, b"before\n")
        succeeded = test_disallowed_sandbox_call()
        os.write(1, b"after\n")
        return succeeded

    result = run_in_child(child)
    assert result.stdout == b"before\n", str(result)
    assert_stopped(result, MODES[mode], message("getgroups", 115, thread))


def test_violation_is_also_logged() -> None:
    """The handler also sends the line through logging (logger ``pytest_syscall_sandbox``)."""

    def child() -> None:
        import logging

        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        logging.getLogger("pytest_syscall_sandbox").addHandler(handler)
        threading.current_thread().name = "logged"
        setup_syscall_sandbox(True)
        set_syscall_sandbox_policy("TX_INDEX")
        test_disallowed_sandbox_call()

    result = run_in_child(child)
    line = message("getgroups", 115, "logged")
    assert result.stdout == b"pytest_syscall_sandbox ERROR " + line, str(result)
    assert_stopped(result, True, line)


LACKING = [(p, "socket") for p, (_t, _fs, net) in POLICIES.items() if not net] + [
    (p, "openat") for p, (_t, fs, _net) in POLICIES.items() if not fs
]


@pytest.mark.parametrize(("policy", "syscall"), LACKING)
def test_groups_a_policy_lacks_are_stopped(policy: str, syscall: str, tmp_path: Path) -> None:
    path = str(tmp_path / "x")
    Path(path).write_text("x")

    def child() -> None:
        threading.current_thread().name = "lacking"
        setup_syscall_sandbox(True)
        set_syscall_sandbox_policy(policy)
        if syscall == "socket":
            socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        else:
            os.open(path, os.O_RDONLY)

    assert_stopped(run_in_child(child), True, message(syscall, NR[syscall], "lacking"))


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize(("policy", "syscall"), [("NET", "symlink"), ("VALIDATION_SCRIPT_CHECK", "mkdir")])
def test_a_stopped_syscall_has_no_effect(policy: str, syscall: str, mode: str, tmp_path: Path) -> None:
    target = tmp_path / "made-by-the-child"
    path = ctypes.create_string_buffer(str(target).encode())
    other = ctypes.create_string_buffer(b"/")

    def child() -> None:
        threading.current_thread().name = "effects"
        setup_syscall_sandbox(MODES[mode])
        set_syscall_sandbox_policy(policy)
        if syscall == "symlink":
            sys_call(NR["symlink"], ctypes.addressof(other), ctypes.addressof(path))
        else:
            sys_call(NR["mkdir"], ctypes.addressof(path), 0o755)

    # first without the sandbox: the call does make the file
    def unfiltered() -> None:
        child_syscall = NR[syscall]
        if syscall == "symlink":
            assert sys_call(child_syscall, ctypes.addressof(other), ctypes.addressof(path)) == (0, 0)
        else:
            assert sys_call(child_syscall, ctypes.addressof(path), 0o755) == (0, 0)

    assert run_in_child(unfiltered).ok
    assert os.path.lexists(target)
    if target.is_symlink():
        target.unlink()
    else:
        target.rmdir()

    result = run_in_child(child)
    assert_stopped(result, MODES[mode], message(syscall, NR[syscall], "effects"))
    assert not os.path.lexists(target)


# --------------------------------------------------------------------------- the upstream API


@pytest.mark.parametrize(("first", "second"), [(True, False), (False, True), (True, True), (False, False)])
def test_setup_twice_raises(first: bool, second: bool) -> None:
    def child() -> tuple[bool, str, str, str]:
        ok = setup_syscall_sandbox(first)
        try:
            setup_syscall_sandbox(second)
        except SandboxAlreadySetUpError as exc:
            raised = f"{type(exc).__name__}: {exc}"
        else:
            raised = "nothing"
        return ok, raised, sandbox_action().value, str(_libc.prctl(PR_GET_SECCOMP, 0, 0, 0, 0))  # type: ignore[union-attr]

    result = run_in_child(child)
    assert result.ok, str(result)
    ok, raised, action, seccomp_mode = result.value
    assert ok is True
    assert raised.startswith("SandboxAlreadySetUpError")
    assert action == ("log-and-abort" if first else "abort")  # the first choice stands
    assert seccomp_mode == "0"  # setting up installs no filter yet


def test_policy_without_setup_is_a_no_op() -> None:
    def child() -> tuple[bool, list[int], int, int]:
        set_syscall_sandbox_policy(SyscallSandboxPolicy.VALIDATION_SCRIPT_CHECK)
        set_syscall_sandbox_policy("net")
        return (
            test_disallowed_sandbox_call(),
            os.getgroups(),
            sys_call(NR["getgroups"], 0, 0)[0],
            _libc.prctl(PR_GET_SECCOMP, 0, 0, 0, 0),
        )

    result = run_in_child(child)
    assert result.ok, str(result)
    called, groups, count, seccomp_mode = result.value
    assert called is True
    assert count == len(groups) >= 0
    assert seccomp_mode == 0


def test_unknown_policy_installs_nothing() -> None:
    def child() -> tuple[str, bool]:
        setup_syscall_sandbox(False)
        try:
            set_syscall_sandbox_policy("NO_SUCH_ROLE")
        except ValueError as exc:
            return str(exc), test_disallowed_sandbox_call()
        return "no error", False

    result = run_in_child(child)
    assert result.ok, str(result)
    assert "NO_SUCH_ROLE" in result.value[0] and result.value[1] is True


# --------------------------------------------------------------------------- stacking


@pytest.mark.parametrize("mode", list(MODES))
def test_a_later_policy_cannot_regain_socket(mode: str) -> None:
    def child() -> None:
        threading.current_thread().name = "stacked"
        setup_syscall_sandbox(MODES[mode])
        set_syscall_sandbox_policy("MESSAGE_HANDLER")  # no Network group
        set_syscall_sandbox_policy("INITIALIZATION")  # allows socket, but filters stack
        assert status_fields().get("Seccomp_filters", "2") == "2"
        os.write(1, b"stacked\n")
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)

    result = run_in_child(child)
    assert result.stdout == b"stacked\n", str(result)
    assert_stopped(result, MODES[mode], message("socket", 41, "stacked"))


@pytest.mark.parametrize("mode", list(MODES))
def test_net_then_initialization_still_stops_getgroups(mode: str) -> None:
    def child() -> None:
        threading.current_thread().name = "net"
        setup_syscall_sandbox(MODES[mode])
        set_syscall_sandbox_policy("NET")
        set_syscall_sandbox_policy("INITIALIZATION")
        os.write(1, b"stacked\n")
        test_disallowed_sandbox_call()

    result = run_in_child(child)
    assert result.stdout == b"stacked\n", str(result)
    assert_stopped(result, MODES[mode], message("getgroups", 115, "net"))


@pytest.mark.parametrize("mode", list(MODES))
def test_validation_after_net_cannot_open_a_file(mode: str, tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("data")

    def child() -> None:
        threading.current_thread().name = "scriptch.0"
        setup_syscall_sandbox(MODES[mode])
        set_syscall_sandbox_policy("NET")
        fd = os.open(path, os.O_RDONLY)  # NET may open files
        os.close(fd)
        set_syscall_sandbox_policy("VALIDATION_SCRIPT_CHECK")
        os.write(1, b"opened once\n")
        os.open(path, os.O_RDONLY)

    result = run_in_child(child)
    assert result.stdout == b"opened once\n", str(result)
    assert_stopped(result, MODES[mode], message("openat", 257, "scriptch.0"))


# --------------------------------------------------------------------------- thread scope


def test_a_filtered_thread_does_not_filter_its_sibling() -> None:
    def child() -> dict[str, Any]:
        setup_syscall_sandbox(False)
        filtered, done = threading.Event(), threading.Event()
        seen: dict[str, Any] = {}

        def worker() -> None:
            set_syscall_sandbox_policy("NET")
            seen["worker"] = status_fields()["Seccomp"]
            filtered.set()
            done.wait(10)

        t = threading.Thread(target=worker, name="net")
        t.start()
        assert filtered.wait(10)
        seen["sibling"] = status_fields()["Seccomp"]
        seen["call"] = test_disallowed_sandbox_call()
        seen["getgroups"] = (sys_call(NR["getgroups"], 0, 0)[0], len(os.getgroups()))
        done.set()
        t.join()
        return seen

    result = run_in_child(child)
    assert result.ok, str(result)
    assert result.value["worker"] == "2"
    assert result.value["sibling"] == "0"
    assert result.value["call"] is True
    count, groups = result.value["getgroups"]
    assert count == groups >= 0


@pytest.mark.parametrize("mode", list(MODES))
def test_a_thread_started_afterwards_inherits(mode: str) -> None:
    def child() -> None:
        setup_syscall_sandbox(MODES[mode])

        def filtered() -> None:
            set_syscall_sandbox_policy("MESSAGE_HANDLER")
            late = threading.Thread(target=test_disallowed_sandbox_call, name="started-later")
            late.start()
            late.join()

        t = threading.Thread(target=filtered, name="msghand")
        t.start()
        t.join()
        os.write(1, b"survived\n")

    result = run_in_child(child)
    assert b"survived" not in result.stdout
    assert_stopped(result, MODES[mode], message("getgroups", 115, "started-later"))


@pytest.mark.parametrize("mode", list(MODES))
def test_a_process_forked_by_a_filtered_thread_inherits(mode: str) -> None:
    def child() -> tuple[int, bool]:
        setup_syscall_sandbox(MODES[mode])
        box: list[int] = []

        def filtered() -> None:
            set_syscall_sandbox_policy("NET")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
                pid = os.fork()
            if pid == 0:
                try:
                    test_disallowed_sandbox_call()
                    os.write(1, b"grandchild survived\n")
                finally:
                    os._exit(0)
            box.append(os.waitpid(pid, 0)[1])

        t = threading.Thread(target=filtered, name="opencon")
        t.start()
        t.join()
        return box[0], test_disallowed_sandbox_call()  # the parent's main thread is not filtered

    result = run_in_child(child)
    assert result.ok, str(result)
    status, main_call = result.value
    assert os.WIFSIGNALED(status)
    assert os.WTERMSIG(status) == (SIGABRT if MODES[mode] else SIGSYS)
    assert main_call is True
    assert b"survived" not in result.stdout
    # the grandchild's only thread is the copy of "opencon"
    assert result.stderr == (message("getgroups", 115, "opencon") if MODES[mode] else b"")


@pytest.mark.parametrize("tsync", [True, False], ids=["tsync", "no-tsync"])
def test_install_filter_tsync_reaches_a_sibling(tsync: bool) -> None:
    program = build_policy_filter(SyscallSandboxPolicy.NET, KILL_PROCESS).program

    def child() -> str:
        installed, done = threading.Event(), threading.Event()
        seen: list[str] = []

        def sibling() -> None:
            assert installed.wait(10)
            seen.append(status_fields()["Seccomp"])
            os.write(1, f"sibling seccomp {seen[0]}\n".encode())
            seen.append(str(test_disallowed_sandbox_call()))
            done.set()

        t = threading.Thread(target=sibling, name="sibling")
        t.start()
        install_filter(program, tsync=tsync)
        installed.set()
        t.join()
        return " ".join(seen)

    result = run_in_child(child)
    if tsync:
        assert result.signal == SIGSYS, str(result)
        assert result.stdout == b"sibling seccomp 2\n"
    else:
        assert result.ok, str(result)
        assert result.value == "0 True"


# --------------------------------------------------------------------------- other actions on the kernel


def test_errno_and_log_actions_on_the_kernel() -> None:
    errno_program = build_policy_filter(SyscallSandboxPolicy.NET, ERRNO(13)).program
    log_program = build_policy_filter(SyscallSandboxPolicy.NET, LOG).program

    def child(program: tuple[Instruction, ...]) -> tuple[int, int]:
        install_filter(program)
        return sys_call(NR["getgroups"], 0, 0)

    result = run_in_child(child, errno_program)
    assert result.ok, str(result)
    assert result.value == (-1, 13)
    result = run_in_child(child, log_program)
    assert result.ok, str(result)
    assert result.value[0] >= 0 and result.value[1] == 0


def test_emulator_computes_what_the_kernel_computes() -> None:
    """A filter doing arithmetic on args[0] returns ERRNO(A) for getppid; the errno the
    kernel hands back must be the value the emulator computes."""
    program = [
        stmt(BPF_LD | BPF_W | BPF_ABS, 0),
        jump(BPF_JMP | BPF_JEQ | BPF_K, NR["getppid"], 1, 0),
        ret(ALLOW),
        stmt(BPF_LD | BPF_W | BPF_ABS, 16),  # args[0]
        stmt(BPF_MISC | BPF_TAX, 0),
        stmt(BPF_ALU | BPF_MUL | BPF_K, 2654435761),
        stmt(BPF_ALU | BPF_ADD | BPF_X, 0),
        stmt(BPF_ST, 4),
        stmt(BPF_ALU | BPF_RSH | BPF_K, 7),
        stmt(BPF_ALU | BPF_XOR | BPF_K, 0x5A5A5A5A),
        stmt(BPF_ALU | BPF_SUB | BPF_X, 0),
        stmt(BPF_ALU | BPF_LSH | BPF_K, 3),
        stmt(BPF_ALU | BPF_NEG, 0),
        stmt(BPF_LDX | BPF_MEM, 4),
        stmt(BPF_ALU | BPF_OR | BPF_X, 0),
        stmt(BPF_ALU | BPF_DIV | BPF_K, 3),
        stmt(BPF_ALU | BPF_AND | BPF_K, 0x7FF),
        stmt(BPF_ALU | BPF_OR | BPF_K, 0x00050001),  # SECCOMP_RET_ERRNO | errno (never 0)
        stmt(BPF_RET | BPF_A, 0),
    ]
    validate(program)
    args = [0, 1, 7, 12345, 0xFFFFFFFF, 0xDEADBEEF, 2**31]
    expected = [emulate(program, SeccompData(NR["getppid"], args=(a, 0, 0, 0, 0, 0))).ret & 0xFFFF for a in args]

    def child() -> list[int]:
        install_filter(program)
        return [sys_call(NR["getppid"], a)[1] for a in args]

    result = run_in_child(child)
    assert result.ok, str(result)
    assert result.value == expected
    assert len(set(expected)) > 3


# --------------------------------------------------------------------------- validate against the kernel

LD_NR = stmt(BPF_LD | BPF_W | BPF_ABS, 0)
RET_ALLOW = ret(ALLOW)
KERNEL_CASES: dict[str, list[Instruction]] = {
    "minimal": [RET_ALLOW],
    "load-nr": [LD_NR, RET_ALLOW],
    "4096-instructions": [RET_ALLOW] * 4096,
    "4097-instructions": [RET_ALLOW] * 4097,
    "last-not-return": [LD_NR, RET_ALLOW, LD_NR],
    "jump-out": [LD_NR, jump(BPF_JMP | BPF_JEQ | BPF_K, 1, 1, 0), RET_ALLOW],
    "ja-out": [stmt(BPF_JMP | BPF_JA, 1), RET_ALLOW],
    "ja-to-last": [stmt(BPF_JMP | BPF_JA, 1), LD_NR, RET_ALLOW],
    "unaligned-load": [stmt(BPF_LD | BPF_W | BPF_ABS, 2), RET_ALLOW],
    "load-past-data": [stmt(BPF_LD | BPF_W | BPF_ABS, 64), RET_ALLOW],
    "load-last-word": [stmt(BPF_LD | BPF_W | BPF_ABS, 60), RET_ALLOW],
    "half-word-load": [stmt(BPF_LD | BPF_H | BPF_ABS, 0), RET_ALLOW],
    "mem-16": [LD_NR, stmt(BPF_ST, 16), RET_ALLOW],
    "mem-15": [LD_NR, stmt(BPF_ST, 15), stmt(BPF_LD | BPF_MEM, 15), RET_ALLOW],
    "div-by-0": [LD_NR, stmt(BPF_ALU | BPF_DIV | BPF_K, 0), RET_ALLOW],
    "div-by-x": [stmt(BPF_LDX | BPF_IMM, 3), LD_NR, stmt(BPF_ALU | BPF_DIV | BPF_X, 0), RET_ALLOW],
    "mod-by-3": [LD_NR, stmt(BPF_ALU | BPF_MOD | BPF_K, 3), RET_ALLOW],
    "lsh-31": [LD_NR, stmt(BPF_ALU | BPF_LSH | BPF_K, 31), RET_ALLOW],
    "lsh-32": [LD_NR, stmt(BPF_ALU | BPF_LSH | BPF_K, 32), RET_ALLOW],
    "rsh-40": [LD_NR, stmt(BPF_ALU | BPF_RSH | BPF_K, 40), RET_ALLOW],
    "mem-read-before-store": [LD_NR, stmt(BPF_LD | BPF_MEM, 3), RET_ALLOW],
    "mem-read-before-store-on-one-path": [
        LD_NR,
        jump(BPF_JMP | BPF_JEQ | BPF_K, 39, 0, 1),
        stmt(BPF_ST, 3),
        stmt(BPF_LDX | BPF_MEM, 3),
        RET_ALLOW,
    ],
}


def _install_and_report(program: list[Instruction]) -> str:
    try:
        install_filter(program)
    except InstallError as exc:
        return f"rejected: {exc}"
    return "accepted"


@pytest.fixture(scope="module")
def kernel_verdicts() -> dict[str, str]:
    """Which KERNEL_CASES the kernel's seccomp() accepts, each tried in its own child."""
    verdicts: dict[str, str] = {}
    for name, program in KERNEL_CASES.items():
        result = run_in_child(_install_and_report, program)
        assert result.ok, f"{name}: {result}"  # every accepted case allows everything
        verdicts[name] = result.value
    return verdicts


def test_validate_knows_the_kernels_opcode_list() -> None:
    """Every opcode (bar returns) in a program the rest of which is fine: our validator
    must accept exactly what seccomp(2) accepts. Tried in one child; each accepted
    program falls through to ``return ALLOW``, so the stacked filters allow everything."""
    codes = [code for code in range(256) if code & 0x07 != BPF_RET]

    def program(code: int) -> list[Instruction]:
        k = 0 if code == BPF_JMP | BPF_JA else 4  # aligned, a valid M[] index, a valid divisor/shift
        setup = [stmt(BPF_LDX | BPF_IMM, 1), stmt(BPF_ST, 4), stmt(BPF_STX, 4), LD_NR]
        return [*setup, Instruction(code, 0, 0, k), RET_ALLOW]

    def child() -> dict[int, bool]:
        return {code: _install_and_report(program(code)) == "accepted" for code in codes}

    result = run_in_child(child)
    assert result.ok, str(result)
    kernel = result.value
    assert kernel[BPF_LD | BPF_W | BPF_ABS] and kernel[BPF_JMP | BPF_JEQ | BPF_K]
    assert not kernel[BPF_LD | BPF_H | BPF_ABS]
    ours: dict[int, bool] = {}
    for code in codes:
        try:
            validate(program(code))
            ours[code] = True
        except BpfError:
            ours[code] = False
    differ = {
        f"{code:#04x}": f"kernel {'accepts' if kernel[code] else 'rejects'}"
        for code in codes
        if kernel[code] != ours[code]
    }
    assert differ == {}


@pytest.mark.parametrize("case", list(KERNEL_CASES))
def test_validate_agrees_with_the_kernel(case: str, kernel_verdicts: dict[str, str]) -> None:
    try:
        validate(KERNEL_CASES[case])
    except BpfError as exc:
        ours = f"rejected: {exc}"
    else:
        ours = "accepted"
    assert ours.split(":")[0] == kernel_verdicts[case].split(":")[0], f"ours {ours!r}, kernel {kernel_verdicts[case]!r}"


# --------------------------------------------------------------------------- architectures

_CODE = {
    # mov eax, 20 (i386 getpid); int 0x80; ret
    "int80-getpid": bytes.fromhex("b814000000cd80c3"),
    # mov eax, 0x40000027 (x32 getpid); syscall; ret
    "x32-getpid": bytes.fromhex("b8270000400f05c3"),
}


def _machine_code(name: str) -> tuple[mmap.mmap, Callable[[], int]]:
    page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    page.write(_CODE[name])
    address = ctypes.addressof(ctypes.c_char.from_buffer(page))
    return page, ctypes.CFUNCTYPE(ctypes.c_long)(address)


def _call_code(name: str, mode: str | None) -> tuple[int, int]:
    _page, function = _machine_code(name)
    threading.current_thread().name = "arch"
    if mode is not None:
        setup_syscall_sandbox(MODES[mode])
        set_syscall_sandbox_policy("INITIALIZATION")  # the most permissive policy
        os.write(1, b"filtered\n")
    value = function()
    del function
    return value, os.getpid()


@pytest.fixture(scope="module")
def int80_works() -> None:
    result = run_in_child(_call_code, "int80-getpid", None)
    if not result.ok:
        pytest.skip(f"no IA32 emulation: an unfiltered int 0x80 getpid ended with {result}")
    value, pid = result.value
    if value != pid:
        pytest.skip(f"no IA32 emulation: an unfiltered int 0x80 getpid returned {value}")


@pytest.mark.parametrize("mode", list(MODES))
def test_int80_call_from_a_64_bit_process_is_killed(mode: str, int80_works: None) -> None:
    """seccomp_data.arch is AUDIT_ARCH_I386: the arch check kills, in either mode, with no message."""
    result = run_in_child(_call_code, "int80-getpid", mode)
    assert result.stdout == b"filtered\n", str(result)
    assert result.signal == SIGSYS, str(result)
    assert result.stderr == b""


@pytest.mark.parametrize("mode", list(MODES))
def test_x32_call_is_stopped(mode: str) -> None:
    unfiltered = run_in_child(_call_code, "x32-getpid", None)
    assert unfiltered.ok, str(unfiltered)
    value, pid = unfiltered.value
    assert value in (pid, -38), "x32 getpid is either implemented or ENOSYS"
    result = run_in_child(_call_code, "x32-getpid", mode)
    assert result.stdout == b"filtered\n", str(result)
    # seccomp sees nr = 0x40000027 whether or not the kernel has x32; the filter gives it the
    # mode's action, and the handler cannot name it
    assert_stopped(result, MODES[mode], message("*unknown*", 0x40000027, "arch"))


# --------------------------------------------------------------------------- thread names


def test_thread_get_internal_name_is_the_python_name() -> None:
    assert thread_get_internal_name() == threading.current_thread().name
    box: list[str] = []
    t = threading.Thread(target=lambda: box.append(thread_get_internal_name()), name="worker-7")
    t.start()
    t.join()
    assert box == ["worker-7"]


_THREAD_START = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p)


def _in_pthread(body: Callable[[], None]) -> None:
    """Run ``body`` on a thread made by pthread_create, which Python's threading never saw."""
    callback = _THREAD_START(lambda _arg: body())
    tid = ctypes.c_ulong()
    assert _libc.pthread_create(ctypes.byref(tid), None, callback, None) == 0
    assert _libc.pthread_join(tid, None) == 0


def test_thread_without_a_python_name_uses_the_kernel_name() -> None:
    def child() -> list[str]:
        names: list[str] = []

        def body() -> None:
            _libc.prctl(PR_SET_NAME, b"kcomm", 0, 0, 0)
            names.append(thread_get_internal_name())
            _libc.prctl(PR_SET_NAME, b"", 0, 0, 0)
            names.append(thread_get_internal_name())

        _in_pthread(body)
        return names

    result = run_in_child(child)
    assert result.ok, str(result)
    assert result.value == ["kcomm", "*unnamed*"]


def test_violation_in_a_pthread_names_its_kernel_name() -> None:
    def child() -> None:
        setup_syscall_sandbox(True)
        set_syscall_sandbox_policy("SCHEDULER")

        def body() -> None:
            _libc.prctl(PR_SET_NAME, b"foreign", 0, 0, 0)
            test_disallowed_sandbox_call()

        _in_pthread(body)

    assert_stopped(run_in_child(child), True, message("getgroups", 115, "foreign"))


def test_every_policy_name_in_the_table_is_a_member() -> None:
    assert [p.name for p in SyscallSandboxPolicy] == list(POLICY_NAMES)


# --------------------------------------------------------------------------- trusted trampoline


@pytest.mark.parametrize("mode", list(MODES))
def test_trusted_trampoline_bypasses_the_filter(mode: str) -> None:
    from pytest_syscall_sandbox.kernel import trampoline as _trampoline
    from pytest_syscall_sandbox.kernel.actions import TRAP
    from pytest_syscall_sandbox.roles.policies import policy_syscalls
    from pytest_syscall_sandbox.sandbox import install_allow_list

    names = policy_syscalls(SyscallSandboxPolicy.NET)
    action = TRAP if MODES[mode] else KILL_PROCESS

    def child() -> None:
        threading.current_thread().name = "trampoline"
        groups = len(os.getgroups())
        setup_syscall_sandbox(MODES[mode])  # installs the SIGSYS handler in log-and-abort mode
        install_allow_list(names, action, trusted_ip=_trampoline.TRUSTED_IP)
        through = _trampoline.trusted_syscall(NR["getgroups"], 0, 0)
        failing = _trampoline.trusted_syscall(NR["getgroups"], -1, 0)  # bad size: -EINVAL, raw
        os.write(1, f"{through == groups} {failing}\n".encode())
        test_disallowed_sandbox_call()

    result = run_in_child(child)
    assert result.stdout == b"True -22\n", str(result)
    assert_stopped(result, MODES[mode], message("getgroups", 115, "trampoline"))
