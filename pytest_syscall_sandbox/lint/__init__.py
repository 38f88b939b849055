"""Allow-list lint: predict a role's next crash before any test runs.

For each role (a name and the set of syscall names it allows) the lint reports:

* **family gaps**: every :mod:`syscall family <.drift>` the role allows only
  partly, with each missing member marked ``certain`` (this libc's usual way to do
  the family's job), ``likely`` (a secondary entry point this libc or this Python
  uses) or ``note`` (an old, unused or not-yet-used form);
* **library drift**: syscalls that newer glibc (or CPython) releases started to use
  for calls the role already makes, with the release that introduced each;
* **kernel drift**: allowed syscalls the running kernel does not implement.

Machine-wide, :class:`KernelDrift` lists what the running kernel implements that
the syscall table or every capability group lacks (systemd-analyze's "unlisted
system calls"), and table entries newer than the kernel.

Everything here is pytest-free and takes roles as data; the machine is a
:class:`LintEnvironment`, detected (:meth:`LintEnvironment.detect`) or made up for
tests (:meth:`LintEnvironment.assume`)::

    env = LintEnvironment.assume(libc_version="2.36")
    result = lint_role("msghand", frozenset({"clone", "stat", ...}), env)
    [f.syscall for f in result.findings if f.severity == CERTAIN]
"""
