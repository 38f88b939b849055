"""A syscall instruction at a known address, for re-issuing trapped syscalls.

A SIGSYS handler that wants a trapped call to run after all (audit mode) cannot
just repeat it: the filter would trap it again. Filters compiled with
``trusted_ip=TRUSTED_IP`` allow whatever is called from this one instruction.
The page holds, in x86-64 machine code::

    long trampoline(long nr, long a0, long a1, long a2, long a3, long a4, long a5)
        mov rax, rdi; mov rdi, rsi; mov rsi, rdx; mov rdx, rcx
        mov r10, r8;  mov r8, r9;   mov r9, [rsp+8]
        syscall       ; seccomp sees instruction_pointer = the address after this
        ret           ; raw kernel result: -errno on failure
"""

from __future__ import annotations

import ctypes
import mmap

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

_page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
_page.write(_CODE)
_ADDRESS = ctypes.addressof(ctypes.c_char.from_buffer(_page))

#: The instruction pointer seccomp reports for calls made through :func:`trusted_syscall`.
TRUSTED_IP: int = _ADDRESS + _AFTER_SYSCALL

_call = ctypes.CFUNCTYPE(ctypes.c_long, *[ctypes.c_long] * 7)(_ADDRESS)


def trusted_syscall(nr: int, *args: int) -> int:
    """Make syscall ``nr`` from :data:`TRUSTED_IP`; returns the raw result (``-errno`` on failure)."""
    padded = [a - (1 << 64) if a >= 1 << 63 else a for a in args] + [0] * (6 - len(args))
    return int(_call(nr, *padded))
