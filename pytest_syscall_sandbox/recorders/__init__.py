"""Recorders of trapped syscalls: :mod:`.ptrace` (the parent traces the child), :mod:`.sigsys`
(a SIGSYS handler in the child) and :mod:`.notify` (a supervisor process answers seccomp user
notifications).

Each implements :class:`.base.Recorder`; the plugin imports the one it needs.
"""
