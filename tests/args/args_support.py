"""Helpers shared by the argument-rule tests (imported as ``args_support``).

Constants are written down here by hand, not taken from the package, so the tests
compare the package with an independent copy. :func:`run_in_child` is tests/core's
forked-child runner: every filter lands in a child, never in the pytest process.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import ModuleType

from pytest_syscall_sandbox.engine.bpf import Instruction
from pytest_syscall_sandbox.engine.emulator import SeccompData, emulate
from pytest_syscall_sandbox.kernel.actions import Action


def _core_support() -> ModuleType:
    if "core_support" in sys.modules:
        return sys.modules["core_support"]
    path = Path(__file__).resolve().parents[1] / "core" / "core_support.py"
    spec = importlib.util.spec_from_file_location("core_support", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["core_support"] = module
    spec.loader.exec_module(module)
    return module


_core = _core_support()
run_in_child = _core.run_in_child
sys_call = _core.sys_call
ChildResult = _core.ChildResult

#: x86-64 numbers, by hand.
NR = {"read": 0, "ioctl": 16, "socket": 41, "clone": 56, "getppid": 110, "getgroups": 115, "clone3": 435}
EPERM, ENOSYS, EINVAL, EFAULT, EHWPOISON = 1, 38, 22, 14, 133
AF_UNIX, AF_INET, AF_NETLINK = 1, 2, 16
SOCK_STREAM, SOCK_DGRAM, SOCK_RAW = 1, 2, 3
SOCK_NONBLOCK, SOCK_CLOEXEC = 0x800, 0x80000
IPPROTO_ICMP = 1
TIOCSTI, TIOCLINUX, TIOCSETD, FIONREAD = 0x5412, 0x541C, 0x5423, 0x541B
CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC = 0x20000, 0x2000000, 0x4000000, 0x8000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
NAMESPACE_FLAGS = (CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET)
CLONE_VM, CLONE_FS, CLONE_FILES, CLONE_SIGHAND, CLONE_THREAD = 0x100, 0x200, 0x400, 0x800, 0x10000
SIGCHLD = 17
U32 = 2**32 - 1
U64 = 2**64 - 1


def run(program: Sequence[Instruction], nr: int, args: Iterable[int] = ()) -> Action:
    """The verdict of ``program`` for one call, in the emulator."""
    padded = (tuple(args) + (0,) * 6)[:6]
    return emulate(tuple(program), SeccompData(nr, args=padded), check=False).action  # type: ignore[arg-type]


def reads_arguments(program: Sequence[Instruction], nr: int, args: Iterable[int] = ()) -> bool:
    """Does the path taken for this call load any ``args[i]`` half?"""
    padded = (tuple(args) + (0,) * 6)[:6]
    executed = emulate(tuple(program), SeccompData(nr, args=padded), check=False).executed  # type: ignore[arg-type]
    return any(program[pc].code == 0x20 and program[pc].k >= 16 for pc in executed)
