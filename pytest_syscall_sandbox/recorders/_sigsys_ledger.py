"""The sigsys parent's books: the handler's records checked against what the kernel shows.

Two sources meet here. The record area (:mod:`._ring`) holds what the SIGSYS handler
wrote: the trap as the kernel described it to the handler (siginfo, registers) and
the Python side (thread name, phase, location, stack). It lies in the test's memory,
so none of it is trusted. The watch (:mod:`._watch`) shows calls as the kernel saw
them, which the test cannot forge: in audit mode every call made from the trusted
instruction, and in every mode exec, process creation and attempts on SIGSYS itself.

- audit: the record of a trap is the call the handler then re-issued, as the watch
  showed it (number, arguments, thread), with the handler's Python side when one of
  its entries matches. An entry no re-issued call matches is dropped (forged, or its
  process died first); a call through the trampoline that no entry matches is recorded
  anyway, from the kernel's view, and named as the tampering it is.
- log-and-abort, abort: the entries are the records (nothing runs after a trap);
  each must look like a real trap (RIP = si_call_addr, RAX = the number), and one
  claiming the child itself must match how the child ended.

Why the records may lack a call goes to ``incomplete``; what the recorder cannot
see, to ``notes`` (and, in audit mode, to ``incomplete`` too).
"""

from __future__ import annotations

import signal
import struct
from collections import defaultdict
from collections.abc import Callable

from ..kernel.calltext import decode_call
from ..kernel.syscalls import AUDIT_ARCH_X86_64, get_linux_syscall_name, syscall_number
from ._decode import decode_live
from ._ring import Entry
from ._watch import EXECS, NR_RT_SIGACTION, QUEUED_SIGNALS, SPAWNS, Notification, proc_status, read_memory, read_text
from .base import ChildContext
from .record import GUARD_REFUSED, HARNESS, Frame, TrapRecord, frames_from

_NR_VFORK, _NR_FORK = syscall_number("vfork"), syscall_number("fork")
_NR_CLONE, _NR_CLONE3 = syscall_number("clone"), syscall_number("clone3")
_NR_EXECVEAT = syscall_number("execveat")
_NR_PIDFD_SEND_SIGNAL = syscall_number("pidfd_send_signal")
_CLONE_VM, _CLONE_VFORK, _CLONE_THREAD = 0x100, 0x4000, 0x10000
_EPERM, _ENOSYS = 1, 38
#: SECCOMP_RET_DATA of the harness guard's TRAP (the ptrace recorder's TRACE data is the same).
GUARD_DATA = 0x6A7D
#: An entry's data when it is the result of the entry at index ``call_addr`` (no filter's data is negative).
RESULT_DATA = -1
_TEXT_FIELDS = ("thread", "phase")
#: Frames a record takes from the handler's entry.
_STACK_LIMIT = 30
#: Guarded calls that would blind the recorder (the rest of the guard protects the harness).
_OWN_FILTER = frozenset({"prctl", "seccomp"})

#: Why a record has no Python location.
NO_ENTRY = (
    "no entry of the SIGSYS handler matched it: the test's own call through the recorder's trampoline, "
    "or its entry was written over"
)
NO_FRAME = "no Python code was running on its thread when the SIGSYS handler ran"
UNSEEN = (
    "under the role's filter, processes ran without the recorder's SIGSYS handler (exec'd programs, children "
    "started by vfork or posix_spawn such as CPython's subprocess, processes that reset SIGSYS): a call the role "
    "traps kills them with SIGSYS, unrecorded (the ptrace recorder follows them)"
)


class SigsysLedger:
    """What the parent knows about one child; fed entries and notifications, read at the end."""

    def __init__(
        self, context: ChildContext, trusted_ip: int | None, base_filters: int, read: Callable[[], list[Entry]]
    ) -> None:
        self.context = context
        self.trusted_ip = trusted_ip
        self.audit = context.mode == "audit"
        self._base_filters = base_filters  # the parent's own filters + the watch
        self._read = read
        self.records: list[TrapRecord] = []
        self.notes: list[str] = []
        self.incomplete: list[str] = []
        self._pending: dict[int, list[Entry]] = defaultdict(list)  # audit: tid -> entries not re-issued yet
        self._unseen: list[str] = []  # processes without the handler under the role's filter
        self._by_index: dict[int, TrapRecord] = {}  # audit: entry index -> record, until its result comes
        self._results_taken: set[int] = set()  # syscalls whose (first) result is taken
        #: Is the thread still stopped in that call (so what was read of its memory was its own)?
        self.still_waiting: Callable[[Notification], bool] = lambda call: True

    # -- the handler's side -----------------------------------------------------------

    def catch_up(self, entries: list[Entry] | None = None) -> None:
        """Take the entries written since the last time: kept for matching (audit) or recorded."""
        for entry in self._read() if entries is None else entries:
            if entry.data == RESULT_DATA:
                self._result(entry)
                continue
            problem = _implausible(entry)
            if problem:
                self._tampered(f"a trap record that no trap wrote was dropped ({problem})")
            elif entry.data == GUARD_DATA:
                self._guarded(entry)
            elif self.audit:
                self._pending[entry.tid].append(entry)
            else:
                record = self._record(entry.nr, entry.args, entry.pid, entry.tid, entry, self._stopped(entry))
                if record.outcome == "refused":  # pytest's own call: refused, and it went on
                    record.result = -_ENOSYS
                self.records.append(record)

    def _result(self, entry: Entry) -> None:
        """What a re-issued call returned, as its handler saw it: onto the record of that trap."""
        record = self._by_index.pop(entry.call_addr, None)
        if record is not None and record.tid == entry.tid and record.result is None:
            record.result = entry.rax - (1 << 64) if entry.rax >> 63 else entry.rax

    def _stopped(self, entry: Entry) -> str:
        """The outcome of an unconfirmed trap: pytest's own calls are refused, the rest stop the child."""
        if self.context.mode == "audit":  # no watch to confirm it: as the handler says
            return "allowed"
        if entry.payload.get("phase") == HARNESS:
            return "refused"
        return "aborted" if self.context.mode == "log-and-abort" else "killed"

    def _guarded(self, entry: Entry) -> None:
        """A call the harness guard refused: never run, in any mode (the plugin says why and fails the test)."""
        outcome = "refused" if self.audit else self._stopped(entry)
        record = self._record(entry.nr, entry.args, entry.pid, entry.tid, entry, outcome)
        record.reason = GUARD_REFUSED
        if outcome == "refused":
            record.result = -_EPERM
        self.records.append(record)
        if record.syscall in _OWN_FILTER:
            self._tampered(
                "the test tried to install a seccomp filter of its own, which would hide its calls from the recorder"
            )

    def unwatched(self, why: str) -> None:
        """No watch for this child (an old kernel): the handler's entries are all there is."""
        if self.audit:
            self.audit = False  # nothing can confirm a re-issued call: take the entries as they are
            for entries in self._pending.values():
                self.catch_up(entries)
            self._pending.clear()
        self._note(
            f"the sigsys recorder's watch is missing ({why}): exec, spawns and calls through its trampoline "
            "went unseen, and its records rest on the handler alone"
        )

    # -- the kernel's side ------------------------------------------------------------

    def on_call(self, call: Notification) -> int:
        """A call the watch stopped: the errno to fail it with, or 0 to let it run.

        Decided from the kernel's view and the entries written before it: a call from
        the trusted instruction runs only as the re-issue of a trap its handler recorded.
        """
        refusal = self._refusal(call)
        if self.trusted_ip is not None and call.ip == self.trusted_ip:
            return self._reissued(call, refusal)
        if refusal:
            self._tampered(f"{refusal} (process {call.tid}): refused")
            return _EPERM
        if self._under_role(call.tid):
            self._check_sight(call)
        return 0

    def _reissued(self, call: Notification, refusal: str) -> int:
        self.catch_up()  # the handler wrote its entry before it re-issued the call
        entries = self._pending.get(call.tid, [])
        entry = next((e for e in entries if _reissue_nr(e.nr) == call.nr and e.args == call.args), None)
        if entry is None and not self._under_role(call.tid):
            return _EPERM if refusal else 0  # before the role's filter went on (setup): nothing is trapped
        if entry is not None:
            entries.remove(entry)
            nr, pid = entry.nr, entry.pid
        else:
            nr, pid = call.nr, _tgid(call.tid)
        error = _EPERM if refusal or entry is None else _ENOSYS if _creates_thread(call) else 0
        outcome = "refused" if error == _EPERM else "not-run" if error else "allowed"
        record = self._record(nr, call.args, pid, call.tid, entry, outcome, self._decode(call, nr))
        self.records.append(record)
        if error:
            record.result = -error  # the parent's answer is what the program gets
        elif entry is not None and nr not in self._results_taken:  # as the ptrace tracer: the first of each syscall
            self._results_taken.add(nr)
            self._by_index[entry.index] = record
        if entry is None:
            self._tampered(
                f"{get_linux_syscall_name(nr)} (process {call.tid}) came through the recorder's trampoline with no "
                "trap record from its handler (the test's own call, or the record was written over): refused"
            )
        if refusal:
            self._tampered(f"{refusal} (process {call.tid}): refused")
        elif error == _ENOSYS:
            self._note("calls that create threads cannot be re-issued from a SIGSYS handler: they failed with ENOSYS")
        elif not error:
            self._check_sight(call)
        return error

    def _refusal(self, call: Notification) -> str:
        """Why the watch refuses ``call`` ('' if it does not): an attempt on the recorder's SIGSYS."""
        if call.nr == NR_RT_SIGACTION and call.args[0] & 0xFFFFFFFF == signal.SIGSYS and call.args[1]:
            handler = read_memory(call.tid, call.args[1], 8)
            if handler != bytes(8) or not self.still_waiting(call):
                return "the test tried to replace the recorder's SIGSYS handler"
            if self._under_role(call.tid):
                self._unseen.append(f"process {call.tid} reset SIGSYS")
        index = QUEUED_SIGNALS.get(call.nr)
        if index is not None and call.args[index] & 0xFFFFFFFF == signal.SIGSYS:
            if call.nr != _NR_PIDFD_SEND_SIGNAL or call.args[2]:  # pidfd_send_signal without siginfo is a kill
                return "the test queued a SIGSYS with a siginfo of its own (a forged trap)"
        return ""

    def _check_sight(self, call: Notification) -> None:
        """Exec and spawns under the role's filter: processes that run without the handler."""
        if call.nr in EXECS:
            path = read_text(call.tid, call.args[1] if call.nr == _NR_EXECVEAT else call.args[0])
            self._unseen.append(f"process {call.tid} exec'd {path or 'a program'}")
        elif call.nr in SPAWNS and _spawn_flags(call) & _CLONE_VFORK:
            self._unseen.append(f"process {call.tid} started a child by vfork or posix_spawn")

    def _under_role(self, tid: int) -> bool:
        """Has ``tid`` more filters than the parent's own and the watch (the role's is on)?"""
        return proc_status(tid).get("Seccomp_filters", self._base_filters + 1) > self._base_filters

    # -- the end ----------------------------------------------------------------------

    def finish(self, pid: int, exit_code: int | None, killed_by: int | None, timed_out: bool) -> None:
        """After the last read: entries never re-issued, and how the child ended."""
        dropped = [e for entries in self._pending.values() for e in entries]
        self._pending.clear()
        if dropped:
            names = ", ".join(sorted({get_linux_syscall_name(e.nr) for e in dropped}))
            self._tampered(
                f"{len(dropped)} trap records ({names}) were dropped: no call was re-issued for them "
                "(forged, made by a process that died first, or the filter did not trust the trampoline)"
            )
        own = [r for r in self.records if r.pid == pid and r.outcome != "refused"]
        expected = {"log-and-abort": signal.SIGABRT, "abort": signal.SIGSYS}.get(self.context.mode)
        if own and expected is not None and killed_by != expected:
            dropped_ids = {id(r) for r in own}
            self.records = [r for r in self.records if id(r) not in dropped_ids]
            names = ", ".join(sorted({r.syscall for r in own}))
            self._tampered(
                f"records of {names} from the child itself were dropped: it did not die as a trap makes it die"
            )
        if timed_out:
            self.incomplete.append("the child was killed at its timeout: a call its handler was recording then is lost")
        elif killed_by is not None and not (own and killed_by == expected):
            self.incomplete.append(_death_cause(killed_by))
        if self._unseen:
            examples = list(dict.fromkeys(self._unseen))
            more = f" and {len(examples) - 4} more" if len(examples) > 4 else ""
            text = f"{UNSEEN}: {', '.join(examples[:4])}{more}"
            self._note(text)
            if self.audit:
                self.incomplete.append(text)

    # -- helpers ----------------------------------------------------------------------

    def _decode(self, call: Notification, nr: int) -> str:
        """The call's arguments, pointers followed in the stopped thread's memory (as the ptrace tracer does)."""
        text = decode_live(call.tid, nr, call.args, show_env=self.context.show_env)
        return text if self.still_waiting(call) else decode_call(nr, call.args)

    def _record(
        self,
        nr: int,
        args: tuple[int, ...],
        pid: int,
        tid: int,
        entry: Entry | None,
        outcome: str,
        decoded: str | None = None,
    ) -> TrapRecord:
        """The record of one trap, built once: the kernel's view, decoded, with the handler's Python side."""
        python = entry.payload if entry is not None else {}
        text = {key: value for key in _TEXT_FIELDS if isinstance(value := python.get(key, ""), str)}
        record = TrapRecord(
            syscall=get_linux_syscall_name(nr),
            nr=nr,
            args=tuple(args),
            decoded_args=decode_call(nr, args) if decoded is None else decoded,
            pid=pid,
            tid=tid,
            thread=text.get("thread", ""),
            role=self.context.role,
            mode=self.context.mode,
            recorder="sigsys",
            nodeid=self.context.nodeid,
            phase=text.get("phase", ""),
            outcome=outcome,
        )
        record.place(
            frames_from(python.get("stack"), _STACK_LIMIT), Frame.from_list(python.get("innermost")), self.context.root
        )
        if record.at is None:
            record.blank = NO_ENTRY if entry is None else NO_FRAME
        return record

    def _tampered(self, text: str) -> None:
        if text not in self.incomplete:
            self.incomplete.append(text)

    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


def _reissue_nr(nr: int) -> int:
    """The number the handler re-issues a trapped ``nr`` as (vfork runs as fork)."""
    return _NR_FORK if nr == _NR_VFORK else nr


def _implausible(entry: Entry) -> str:
    """What makes ``entry`` unlike a record of a seccomp trap ('' if nothing)."""
    if entry.arch != AUDIT_ARCH_X86_64:
        return f"architecture {entry.arch:#x}"
    if entry.rip != entry.call_addr or entry.rax & 0xFFFFFFFF != entry.nr & 0xFFFFFFFF:
        return f"{get_linux_syscall_name(entry.nr)}: registers and siginfo disagree"
    if entry.pid <= 0 or entry.tid <= 0:
        return f"{get_linux_syscall_name(entry.nr)}: no process"
    return ""


def _creates_thread(call: Notification) -> bool:
    """clone3, and clone sharing memory: they would return on a new stack, not through the handler."""
    return call.nr == _NR_CLONE3 or (call.nr == _NR_CLONE and bool(call.args[0] & _CLONE_VM))


def _spawn_flags(call: Notification) -> int:
    """The clone flags of a process-creating call (clone3's from the caller's memory)."""
    if call.nr == _NR_VFORK:
        return _CLONE_VM | _CLONE_VFORK
    if call.nr == _NR_CLONE:
        return call.args[0]
    if call.nr == _NR_CLONE3:
        data = read_memory(call.tid, call.args[0], 8)
        return struct.unpack("=Q", data)[0] if data else 0
    return 0


def _tgid(tid: int) -> int:
    return proc_status(tid).get("Tgid", tid)


def _death_cause(signum: int) -> str:
    name = signal.Signals(signum).name if signum in signal.valid_signals() else f"signal {signum}"
    if signum == signal.SIGSYS:
        return (
            "the child was killed by SIGSYS with no record: a trapped call made while SIGSYS was blocked "
            "(glibc blocks every signal while it creates a thread and, from 2.41, while it forks; CPython's "
            "subprocess while it spawns) or after SIGSYS was reset kills the process before any handler runs"
        )
    return f"the child was killed by {name}: a call its handler was recording then is lost"
