"""What profile mode cannot measure on this machine, and why.

Profile mode finds what a role uses by letting the filter stop every allowed syscall
not yet seen. Two kinds of call never stop there, so whether the role's code makes
them is not measured:

* calls the harness always lets through (:data:`PROFILE_ALWAYS`): what the
  recorders need to deliver a record, memory and process creation (glibc makes
  them holding locks or with every signal blocked, where a recorder's handler must
  not run), and what pytest's own code made between the test's phases;
* calls the vDSO answers in the process without entering the kernel
  (:func:`vdso_answered`): ``clock_gettime`` and ``gettimeofday`` where the clock
  source has a vDSO mode (they are real syscalls on machines whose clock source
  has none, some VMs: the lint's ``no-vdso`` drift), ``time`` and ``getcpu`` always
  on x86-64 (real syscalls only when made directly).

A minimal allow-list holds only what was measured; these are listed apart, each
with its reason, for the user to add (the ``minimal+unmeasured`` exports have them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..kernel.syscalls import NUMBERS
from ..lint.drift import FAMILIES, NO_VDSO
from ..lint.environment import VDSO_CLOCKSOURCES, LintEnvironment

#: The recorders need these to deliver a record.
RECORDER_CALLS = frozenset({"rt_sigreturn", "rt_sigprocmask", "write", "getpid", "gettid", "futex", "tgkill"})
#: glibc manages memory holding its locks, where a recorder's handler must not run.
MEMORY_CALLS = frozenset({"brk", "mmap", "munmap", "mprotect", "madvise", "mremap"})
#: glibc creates threads and processes with every signal blocked.
PROCESS_CALLS = frozenset({"clone", "clone3", "fork", "vfork"})
#: What profile mode always lets through when the role allows it (never counted used or unused).
PROFILE_ALWAYS = RECORDER_CALLS | MEMORY_CALLS | PROCESS_CALLS

_ALWAYS_WHY = (
    (RECORDER_CALLS, "always let through: the recorders need it to deliver a record"),
    (MEMORY_CALLS, "always let through: glibc manages memory holding locks, where no recorder may stop it"),
    (PROCESS_CALLS, "always let through: glibc creates threads and processes with every signal blocked"),
)
HARNESS_WHY = "let through once pytest's own code made it between a test's phases"
#: Calls the x86-64 vDSO answers whatever the clock source.
ALWAYS_VDSO = frozenset({"time", "getcpu"})


def vdso_answered(env: LintEnvironment | None = None) -> dict[str, str]:
    """Syscalls the vDSO answers here without entering the kernel, with why each is not measured."""
    env = env if env is not None else LintEnvironment.detect(probe=False)
    found = {
        name: "the x86-64 vDSO answers it without a syscall; a real one only when made directly (syscall(2))"
        for name in ALWAYS_VDSO
    }
    if not env.condition_holds(NO_VDSO):  # the clock source is read in the process
        for use in FAMILIES["time"].uses:
            if use.condition == NO_VDSO:
                found[use.syscall] = (
                    f"the vDSO answers it here (clock source {env.clocksource}) without a syscall; a real one where"
                    f" the clock source has no vDSO mode ({', '.join(sorted(VDSO_CLOCKSOURCES))} have one)"
                )
    return found


def unmeasured(
    allowed: Iterable[str], observed: Iterable[str], harness_seen: Iterable[str], vdso: Mapping[str, str]
) -> dict[str, str]:
    """The calls ``allowed`` that a profile run could not measure and did not see, with why, in table order.

    Only calls the role allows: one it lacks stops the filter every time it is made,
    so it is measured (as a gap), vDSO calls aside, which the lint reports.
    """
    allowed = frozenset(allowed)
    seen = frozenset(observed)
    why: dict[str, str] = {}
    for names, reason in _ALWAYS_WHY:
        why.update(dict.fromkeys(names, reason))
    for name in harness_seen:
        why.setdefault(name, HARNESS_WHY)
    why.update(vdso)
    found = {name: reason for name, reason in why.items() if name in allowed and name not in seen}
    return {name: found[name] for name in sorted(found, key=lambda n: NUMBERS.get(n, 1 << 20))}
