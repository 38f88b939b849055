"""Names for the machines a report's tests ran on (``environment`` blocks of the JSON report)."""

from __future__ import annotations

from collections.abc import Mapping


def environment_label(environment: Mapping[str, object]) -> str:
    """``"glibc 2.41, Linux 6.12.0 x86_64, cpython 3.13.5, plugin 0.1.0"``: what tells machines apart."""
    parts = [
        str(environment.get("libc", "") or "unknown libc"),
        f"Linux {environment.get('kernel', '?')} {environment.get('machine', '')}".rstrip(),
        f"{environment.get('python_implementation', 'python')} {environment.get('python', '?')}",
        f"plugin {environment.get('plugin', '?')}",
    ]
    known = {"libc", "kernel", "machine", "python_implementation", "python", "plugin"}
    parts += [f"{key} {environment[key]}" for key in sorted(environment) if key not in known]
    return ", ".join(parts)
