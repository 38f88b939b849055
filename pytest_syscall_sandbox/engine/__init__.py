"""The seccomp-BPF engine: BPF programs, the allow-list compiler, argument rules,
the emulator and disassembler, and the installer.

Built on :mod:`..kernel` only. The plugin and the recorders never import it; they get
prepared, opaque filters through :mod:`..sandbox`.
"""
