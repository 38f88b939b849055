"""A syscall instruction at a known address, for re-issuing trapped syscalls, in read+execute memory.

A SIGSYS handler that wants a trapped call to run after all (audit mode) cannot
just repeat it: the filter would trap it again. Filters compiled with
``trusted_ip=TRUSTED_IP`` allow whatever is called from this one instruction, so
only a mode that lets trapped calls run may trust it (the sigsys recorder does so in
audit mode only, and watches every call made from it: :mod:`..recorders._watch`).
The page is written once, then made read+execute (never writable and executable at
once). It holds, in x86-64 machine code::

    long trampoline(long nr, long a0, long a1, long a2, long a3, long a4, long a5)
        mov rax, rdi; mov rdi, rsi; mov rsi, rdx; mov rdx, rcx
        mov r10, r8;  mov r8, r9;   mov r9, [rsp+8]
        syscall       ; seccomp sees instruction_pointer = the address after this
        ret           ; raw kernel result: -errno on failure

    long fetch_add(long *counter, long n)     ; at FETCH_ADD_OFFSET
        mov rax, rsi; lock xadd [rdi], rax; ret   ; atomic across threads and processes

    long wait_until_set(long *word, long spins)   ; at WAIT_OFFSET: no syscall, GIL released
        loop: mov rax, [rdi]; test rax, rax; jnz done; pause; dec rsi; jnz loop
        done: ret                                 ; the word, or 0 after ``spins`` turns
"""

from __future__ import annotations

import ctypes
import mmap
from typing import Any

_CODE = bytes.fromhex(
    "4889f8"  # mov rax, rdi
    "4889f7"  # mov rdi, rsi
    "4889d6"  # mov rsi, rdx
    "4889ca"  # mov rdx, rcx
    "4d89c2"  # mov r10, r8
    "4d89c8"  # mov r8, r9
    "4c8b4c2408"  # mov r9, [rsp+8]
    "0f05"  # syscall
    "c3"  # ret
)
_AFTER_SYSCALL = len(_CODE) - 1
_FETCH_ADD = bytes.fromhex("4889f0f0480fc107c3")  # mov rax, rsi; lock xadd [rdi], rax; ret
FETCH_ADD_OFFSET = 64
_WAIT = bytes.fromhex("488b074885c07507f39048ffce75f1c3")
WAIT_OFFSET = 128
_PROT_RX = mmap.PROT_READ | mmap.PROT_EXEC


def _map_code() -> int:
    """A private page holding the code, read+execute; 0 where libc cannot map one."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        mmap_: Any = libc.mmap
        mprotect: Any = libc.mprotect
    except (OSError, AttributeError):  # pragma: no cover - no dynamic libc: the sandbox is unsupported
        return 0
    mmap_.restype = ctypes.c_void_p
    mmap_.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    rw = mmap.PROT_READ | mmap.PROT_WRITE
    address = mmap_(None, mmap.PAGESIZE, rw, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
    if address in (None, ctypes.c_void_p(-1).value):  # pragma: no cover - out of memory at import
        return 0
    ctypes.memmove(address, _CODE, len(_CODE))
    ctypes.memmove(address + FETCH_ADD_OFFSET, _FETCH_ADD, len(_FETCH_ADD))
    ctypes.memmove(address + WAIT_OFFSET, _WAIT, len(_WAIT))
    if mprotect(address, mmap.PAGESIZE, _PROT_RX) != 0:  # pragma: no cover - a kernel refusing R+X
        return 0
    return int(address)


_ADDRESS = _map_code()

#: The instruction pointer seccomp reports for calls made through :func:`trusted_syscall`.
TRUSTED_IP: int = _ADDRESS + _AFTER_SYSCALL if _ADDRESS else 0
#: The page, for tests that check its protection.
PAGE: int = _ADDRESS

_call = ctypes.CFUNCTYPE(ctypes.c_long, *[ctypes.c_long] * 7)(_ADDRESS) if _ADDRESS else None
_fetch_add = (
    ctypes.CFUNCTYPE(ctypes.c_long, ctypes.c_void_p, ctypes.c_long)(_ADDRESS + FETCH_ADD_OFFSET) if _ADDRESS else None
)

_wait = ctypes.CFUNCTYPE(ctypes.c_long, ctypes.c_void_p, ctypes.c_long)(_ADDRESS + WAIT_OFFSET) if _ADDRESS else None


def trusted_syscall(nr: int, *args: int) -> int:
    """Make syscall ``nr`` from :data:`TRUSTED_IP`; returns the raw result (``-errno`` on failure)."""
    if _call is None:  # pragma: no cover - see _map_code
        return -38  # ENOSYS
    padded = [a - (1 << 64) if a >= 1 << 63 else a for a in args] + [0] * (6 - len(args))
    return int(_call(nr, *padded))


def fetch_add(address: int, n: int) -> int:
    """Atomically add ``n`` to the 64-bit counter at ``address``; the value it had before.

    Atomic also between processes sharing the memory (``lock xadd``).
    """
    if _fetch_add is None:  # pragma: no cover - see _map_code
        raise OSError(38, "no code page for fetch_add")
    return int(_fetch_add(address, n))


def wait_until_set(address: int, spins: int) -> int:
    """Spin until the 64-bit word at ``address`` is not 0, at most ``spins`` turns; the word (0: gave up).

    Makes no syscall, and releases the GIL while it spins (a ctypes call), so another
    thread can set the word: the notify recorder's filtered thread waits so for the
    thread that carries its listener away.
    """
    if _wait is None:  # pragma: no cover - see _map_code
        raise OSError(38, "no code page for wait_until_set")
    return int(_wait(address, spins))
