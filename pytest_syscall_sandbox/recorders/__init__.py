"""Recorders of trapped syscalls: :mod:`.ptrace` (the parent traces the child) and :mod:`.sigsys`.

Both implement :class:`.base.Recorder`; the plugin imports the one it needs, so
python-ptrace is loaded only when the ptrace recorder is used.
"""
