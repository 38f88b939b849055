"""Seccomp user notifications (seccomp_unotify(2)): flags, ioctl numbers, struct layouts.

A filter returning ``SECCOMP_RET_USER_NOTIF`` stops the calling thread until the
holder of the filter's listener (made by ``seccomp(SECCOMP_SET_MODE_FILTER,
SECCOMP_FILTER_FLAG_NEW_LISTENER)``) answers: ``SECCOMP_IOCTL_NOTIF_RECV`` fills a
``struct seccomp_notif`` (id, the caller's thread id, flags, ``struct seccomp_data``),
``SECCOMP_IOCTL_NOTIF_SEND`` takes a ``struct seccomp_notif_resp`` (id, value, error,
flags: ``SECCOMP_USER_NOTIF_FLAG_CONTINUE`` lets the call run), and
``SECCOMP_IOCTL_NOTIF_ID_VALID`` says whether the thread still waits in that call.
Once the listener is closed, a stopped call fails with ENOSYS, and so does every
later call the filter answers with USER_NOTIF.
"""

from __future__ import annotations

import struct

SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3
SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV = 1 << 5
SECCOMP_USER_NOTIF_FLAG_CONTINUE = 1
#: struct seccomp_notif: id, pid, flags, then struct seccomp_data (nr, arch, instruction_pointer, args[6]).
NOTIF = struct.Struct("=QIIiIQ6Q")
#: struct seccomp_notif_resp: id, val, error, flags.
RESPONSE = struct.Struct("=QqiI")
_IOC_READ_WRITE, _IOC_WRITE = 0xC0000000, 0x40000000
SECCOMP_IOCTL_NOTIF_RECV = _IOC_READ_WRITE | NOTIF.size << 16 | ord("!") << 8 | 0  # _IOWR('!', 0, ...)
SECCOMP_IOCTL_NOTIF_SEND = _IOC_READ_WRITE | RESPONSE.size << 16 | ord("!") << 8 | 1  # _IOWR('!', 1, ...)
SECCOMP_IOCTL_NOTIF_ID_VALID = _IOC_WRITE | 8 << 16 | ord("!") << 8 | 2  # _IOW('!', 2, __u64)
