"""The hardening set as data, its sentences, and the filters it makes (emulator only)."""

from __future__ import annotations

import pytest
from args_support import (
    AF_INET,
    AF_NETLINK,
    AF_UNIX,
    CLONE_FILES,
    CLONE_FS,
    CLONE_NEWNET,
    CLONE_NEWUSER,
    CLONE_SIGHAND,
    CLONE_THREAD,
    CLONE_VM,
    ENOSYS,
    EPERM,
    FIONREAD,
    NAMESPACE_FLAGS,
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
    reads_arguments,
    run,
)

from pytest_syscall_sandbox.kernel.actions import ALLOW, ERRNO, KILL_PROCESS, TRACE, TRAP
from pytest_syscall_sandbox.kernel.syscalls import NAMES
from pytest_syscall_sandbox.roles import hardening
from pytest_syscall_sandbox.roles.hardening import (
    HARDENED_SYSCALLS,
    HARDENING_RULES,
    explain,
    rules_for,
)
from pytest_syscall_sandbox.roles.profiles import PROFILES
from pytest_syscall_sandbox.sandbox import allow_list_filter

EVERYTHING = frozenset(NAMES.values())
THREAD_FLAGS = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | 0x80000 | 0x100000 | 0x200000

# (nr, args, verdict under the hardening set); written out by hand
CASES = [
    ("socket", (AF_NETLINK, SOCK_RAW, 0), ERRNO(EPERM)),
    ("socket", (AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, 0), ERRNO(EPERM)),
    ("socket", ((1 << 32) | AF_NETLINK, SOCK_DGRAM, 0), ERRNO(EPERM)),  # the kernel reads an int
    ("socket", (AF_INET, SOCK_RAW, 1), ERRNO(EPERM)),
    ("socket", (AF_INET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 1), ERRNO(EPERM)),
    ("socket", (AF_INET, (7 << 32) | SOCK_RAW, 1), ERRNO(EPERM)),
    ("socket", (AF_UNIX, SOCK_STREAM, 0), ALLOW),
    ("socket", (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), ALLOW),
    ("socket", (AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 6), ALLOW),
    ("socket", (17, SOCK_DGRAM, 0), ALLOW),  # AF_PACKET is not in the set (it needs CAP_NET_RAW anyway)
    ("socket", (AF_INET, 0x13, 0), ERRNO(EPERM)),  # 0x13: SOCK_RAW plus an unknown flag (the kernel: EINVAL)
    ("ioctl", (0, TIOCSTI, 0x7FFD0000), ERRNO(EPERM)),
    ("ioctl", (0, (1 << 32) | TIOCSTI, 0), ERRNO(EPERM)),  # the TIOCSTI bypass of CVE-2019-10063
    ("ioctl", (0, TIOCSETD, 0), ERRNO(EPERM)),
    ("ioctl", (0, TIOCLINUX, 0), ERRNO(EPERM)),
    ("ioctl", (0, FIONREAD, 0), ALLOW),
    ("ioctl", (0, 0x5401, 0), ALLOW),
    ("clone", (SIGCHLD, 0, 0, 0, 0), ALLOW),
    ("clone", (THREAD_FLAGS, 0x7F0000, 0, 0, 0), ALLOW),
    ("clone", (CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0), ERRNO(EPERM)),
    ("clone", (THREAD_FLAGS | CLONE_NEWNET, 0, 0, 0, 0), ERRNO(EPERM)),
    *(("clone", (flag | SIGCHLD,), ERRNO(EPERM)) for flag in NAMESPACE_FLAGS),
    ("clone3", (0x7FFD0000, 88), ERRNO(ENOSYS)),
    ("clone3", (0, 0), ERRNO(ENOSYS)),
    ("getppid", (), ALLOW),
]


@pytest.mark.parametrize(("name", "args", "verdict"), CASES, ids=[f"{c[0]}{c[1]}" for c in CASES])
def test_verdicts_under_the_hardening_set(name: str, args: tuple[int, ...], verdict: object) -> None:
    hardened = allow_list_filter(EVERYTHING, KILL_PROCESS, harden=True)
    plain = allow_list_filter(EVERYTHING, KILL_PROCESS)
    assert run(hardened.program, NR[name], args) == verdict
    assert run(plain.program, NR[name], args) == ALLOW
    assert reads_arguments(hardened.program, NR[name], args) is (name in ("socket", "ioctl", "clone"))


def test_the_set_covers_the_four_syscalls_in_a_fixed_order() -> None:
    assert HARDENED_SYSCALLS == {"clone", "clone3", "socket", "ioctl"}
    assert [r.syscall for r in HARDENING_RULES] == ["clone", "clone3", "socket", "socket", "ioctl", "ioctl", "ioctl"]
    assert all(r.reason.endswith("by the hardening set") or "hardening set" in r.reason for r in HARDENING_RULES)
    assert all(m.width == 32 for r in HARDENING_RULES for m in r.matchers)  # the kernel reads ints
    assert hardening.NAMESPACE_FLAGS == sum(NAMESPACE_FLAGS)


def test_rules_for_keeps_only_allowed_syscalls_and_swaps_the_refusal() -> None:
    assert rules_for() == HARDENING_RULES
    assert [r.syscall for r in rules_for({"socket", "read"})] == ["socket", "socket"]
    assert rules_for({"read"}) == ()
    swapped = rules_for(refusal=TRACE(9))
    assert [r.action for r in swapped] == [TRACE(9), ERRNO(ENOSYS), TRACE(9), TRACE(9), TRACE(9), TRACE(9), TRACE(9)]
    assert [r.matchers for r in swapped] == [r.matchers for r in HARDENING_RULES]


def test_hardening_only_narrows_a_role() -> None:
    """A syscall the role refuses keeps the role's verdict; the set never allows anything."""
    names = PROFILES["MINIMAL"].allowed  # no socket
    hardened = allow_list_filter(names, TRAP, harden=True)
    assert set(hardened.checked) == {"clone", "ioctl"}
    assert run(hardened.program, NR["socket"], (AF_UNIX, SOCK_STREAM)) == TRAP
    assert run(hardened.program, NR["socket"], (AF_NETLINK, SOCK_RAW)) == TRAP
    assert run(hardened.program, NR["clone3"], (0, 88)) == ERRNO(ENOSYS)
    plain = allow_list_filter(names, TRAP)
    for nr in range(500):
        if run(plain.program, nr) != ALLOW:
            assert run(hardened.program, nr, (AF_NETLINK, SOCK_RAW)) == run(plain.program, nr), nr


def test_harden_action_makes_refusals_trap_for_recording() -> None:
    f = allow_list_filter(EVERYTHING, TRAP, harden=True, harden_action=TRAP)
    assert run(f.program, NR["socket"], (AF_NETLINK, SOCK_RAW)) == TRAP
    assert run(f.program, NR["ioctl"], (0, TIOCSTI)) == TRAP
    assert run(f.program, NR["clone3"], (0, 88)) == ERRNO(ENOSYS)  # a fallback, not a refusal
    assert run(f.program, NR["socket"], (AF_UNIX, SOCK_STREAM)) == ALLOW


def test_trusted_ip_still_passes_everything() -> None:
    from pytest_syscall_sandbox.engine.emulator import SeccompData, emulate

    ip = 0x7F12_3456_7000
    f = allow_list_filter(EVERYTHING, TRAP, trusted_ip=ip, harden=True, harden_action=TRAP)
    call = SeccompData(NR["socket"], instruction_pointer=ip, args=(AF_NETLINK, SOCK_RAW, 0, 0, 0, 0))
    assert emulate(f.program, call).action == ALLOW


@pytest.mark.parametrize(
    ("name", "args", "sentence"),
    [
        ("socket", (16, 3, 0), "socket(AF_NETLINK, SOCK_RAW, 0): domain AF_NETLINK refused by the hardening set"),
        (
            "socket",
            (2, 3 | SOCK_CLOEXEC | SOCK_NONBLOCK, 1),
            "socket(AF_INET, SOCK_RAW|SOCK_NONBLOCK|SOCK_CLOEXEC, 1): type SOCK_RAW refused by the hardening set",
        ),
        (
            "socket",
            ((1 << 32) | 16, 2, 0),
            "socket(AF_NETLINK (0x100000010), SOCK_DGRAM, 0): domain AF_NETLINK refused by the hardening set",
        ),
        (
            "ioctl",
            (5, TIOCSTI, 0x7FFD1000),
            "ioctl(5, TIOCSTI, 0x7ffd1000): request TIOCSTI refused by the hardening set",
        ),
        ("ioctl", (5, TIOCLINUX, 0), "ioctl(5, TIOCLINUX, 0x0): request TIOCLINUX refused by the hardening set"),
        (
            "clone",
            (CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0),
            "clone(CLONE_NEWUSER|SIGCHLD, 0x0, 0x0, 0x0, 0x0): "
            "namespace flag CLONE_NEWUSER refused by the hardening set",
        ),
        (
            "clone",
            (CLONE_NEWUSER | CLONE_NEWNET | CLONE_VM, 0),
            "clone(CLONE_VM|CLONE_NEWUSER|CLONE_NEWNET, 0x0, 0x0, 0x0, 0x0): namespace flags "
            "CLONE_NEWUSER|CLONE_NEWNET refused by the hardening set",
        ),
        ("clone3", (0x7FFD0000, 88), "clone3(0x7ffd0000, 88): answered ENOSYS by the hardening set"),
    ],
)
def test_explain(name: str, args: tuple[int, ...], sentence: str) -> None:
    text = explain(NR[name], args)
    assert text is not None and text.startswith(sentence), text


@pytest.mark.parametrize(
    ("name", "args"),
    [("socket", (1, 1, 0)), ("socket", (2, 1, 6)), ("ioctl", (0, FIONREAD, 0)), ("clone", (SIGCHLD,)), ("read", ())],
)
def test_explain_is_none_for_calls_the_set_lets_through(name: str, args: tuple[int, ...]) -> None:
    assert explain(NR[name], args) is None


def test_explain_is_none_when_the_role_refuses_the_syscall_anyway() -> None:
    assert explain(NR["socket"], (16, 3, 0), allowed={"read"}) is None
    assert explain(NR["socket"], (16, 3, 0), allowed={"socket"}) is not None


def test_explain_agrees_with_the_compiled_filter() -> None:
    """explain() says "refused" exactly when the hardened filter does not allow the call."""
    f = allow_list_filter(EVERYTHING, KILL_PROCESS, harden=True)
    values = sorted({v for r in HARDENING_RULES for m in r.matchers for v in m.boundary_values()} | {1, 2, 3, 16})
    for name in ("socket", "ioctl", "clone"):
        for a in values[::3]:
            for b in values[::5]:
                refused = run(f.program, NR[name], (a, b)) != ALLOW
                assert (explain(NR[name], (a, b)) is not None) is refused, (name, hex(a), hex(b))


def test_describe_lists_every_rule() -> None:
    text = hardening.describe()
    assert len(text.splitlines()) == len(HARDENING_RULES)
    assert "socket: (u32)args[0] == AF_NETLINK -> ERRNO(1)" in text
    assert "clone3: always -> ERRNO(38)" in text


def test_decoding_tables_fix_python_ptraces_gaps() -> None:
    assert hardening.SOCKET_FAMILIES[1] == "AF_UNIX"
    assert hardening.CLONE_FLAG_NAMES[0x02000000] == "CLONE_NEWCGROUP"
    assert "CLONE_STOPPED" not in hardening.CLONE_FLAG_NAMES.values()
    assert hardening.format_clone_flags(0) == "0"
    assert hardening.format_clone_flags(CLONE_VM | 0x1000000 | 99) == "CLONE_VM|CLONE_CHILD_SETTID|99"
    assert hardening.format_socket_type(0x13) == "SOCK_RAW|0x10"
    assert hardening.format_call(NR["read"], (3, 0x1000, 5)) == "read(3, 0x1000, 5)"  # the one printer: python-ptrace
