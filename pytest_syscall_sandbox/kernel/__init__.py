"""What the kernel defines, with no BPF: the x86-64 syscall table, seccomp actions,
signals and siginfo, the trusted trampoline, and whether this machine has seccomp.

The bottom layer: it imports nothing else of the package but :mod:`..errors`.
"""
