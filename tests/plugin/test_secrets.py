"""Environment values are secrets: records of execve show their names, not their values, unless asked.

The secret is made here and reaches the test only through its environment, so
wherever it shows up, it came through a record of the exec.
"""

from __future__ import annotations

import ctypes
import json
import os
import secrets

import pytest

from pytest_syscall_sandbox.kernel.syscalls import NUMBERS
from pytest_syscall_sandbox.recorders._decode import REDACTED, ProcessMemory, decode_call

EXECS = """
import os, subprocess, pytest

@pytest.mark.sandbox("NET", allow=["vfork", "close_range"])
def test_runs_a_program():
    subprocess.run(["/bin/true", "--flag"], env={"API_TOKEN": os.environ["API_TOKEN"], "LANG": "C"})
"""


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> str:
    value = f"s3cr3t-{secrets.token_hex(8)}"
    monkeypatch.setenv("API_TOKEN", value)
    return value


def _run(pytester: pytest.Pytester, *args: str) -> tuple[str, str]:
    """The run's terminal output and its JSON report."""
    pytester.makepyfile(EXECS)
    result = pytester.runpytest_subprocess("-rA", "--sandbox-report=report.json", *args)
    report = (pytester.path / "report.json").read_text()
    return result.stdout.str() + result.stderr.str(), report


def _exec_records(report: str) -> list[dict[str, object]]:
    return [r for r in json.loads(report)["records"] if r["syscall"] == "execve"]


@pytest.mark.parametrize("mode", ["audit", "log-and-abort"])
def test_an_exec_shows_the_names_of_its_environment_not_the_values(
    pytester: pytest.Pytester, secret: str, recorder: str, mode: str
) -> None:
    output, report = _run(pytester, f"--sandbox-mode={mode}", f"--sandbox-recorder={recorder}")
    assert secret not in output
    assert secret not in report
    if recorder == "ptrace":  # the sigsys recorder cannot read the child's memory: it shows addresses
        [record] = _exec_records(report)
        assert f"'API_TOKEN={REDACTED}', 'LANG={REDACTED}'" in str(record["decoded_args"])
        assert "'/bin/true', '--flag'" in str(record["decoded_args"])  # arguments stay readable
        assert f"API_TOKEN={REDACTED}" in output


def test_show_env_shows_the_values(pytester: pytest.Pytester, secret: str) -> None:
    output, report = _run(pytester, "--sandbox-mode=log-and-abort", "--sandbox-show-env")
    [record] = _exec_records(report)
    assert f"'API_TOKEN={secret}', 'LANG=C'" in str(record["decoded_args"])
    assert f"API_TOKEN={secret}" in output


def test_show_env_from_the_ini_file(pytester: pytest.Pytester, secret: str) -> None:
    pytester.makeini("[pytest]\nsandbox_show_env = true\n")
    _output, report = _run(pytester, "--sandbox-mode=audit")
    [record] = _exec_records(report)
    assert f"'API_TOKEN={secret}'" in str(record["decoded_args"])


# -- the decoder on its own, reading this process's memory -------------------------------------


def _strings(*values: bytes) -> ctypes.Array[ctypes.c_char_p]:
    return (ctypes.c_char_p * (len(values) + 1))(*values, None)


def _address(array: ctypes.Array[ctypes.c_char_p]) -> int:
    return ctypes.addressof(array)


def test_execveat_hides_values_too_and_an_entry_without_a_name_whole() -> None:
    path = ctypes.create_string_buffer(b"")
    argv = _strings(b"prog", b"PASSWORD=visible-as-an-argument")
    envp = _strings(b"TOKEN=abc=def", b"no-equals-sign-secret", b"=leading", b"EMPTY=")
    args = (3, ctypes.addressof(path), _address(argv), _address(envp), 0x1000)
    memory = ProcessMemory(os.getpid())
    try:
        hidden = decode_call(NUMBERS["execveat"], args, memory)
        shown = decode_call(NUMBERS["execveat"], args, memory, show_env=True)
    finally:
        memory.close()
    assert f"<('TOKEN={REDACTED}', '{REDACTED}', '{REDACTED}', 'EMPTY={REDACTED}')>" in hidden
    for value in (b"abc=def", b"no-equals-sign-secret", b"leading"):
        assert value.decode() not in hidden
    assert "<('prog', 'PASSWORD=visible-as-an-argument')>" in hidden  # argv is not the environment
    assert "<('TOKEN=abc=def', 'no-equals-sign-secret', '=leading', 'EMPTY=')>" in shown


def test_a_long_environment_is_cut_after_eight_names() -> None:
    envp = _strings(*(f"VAR{i}={'x' * 300}".encode() for i in range(10)))
    argv = _strings(b"prog")
    path = ctypes.create_string_buffer(b"/bin/true")
    memory = ProcessMemory(os.getpid())
    try:
        hidden = decode_call(NUMBERS["execve"], (ctypes.addressof(path), _address(argv), _address(envp)), memory)
        shown = decode_call(
            NUMBERS["execve"], (ctypes.addressof(path), _address(argv), _address(envp)), memory, show_env=True
        )
    finally:
        memory.close()
    assert "'VAR7=<redacted>', (... more than 8 strings ...))>" in hidden and "VAR8" not in hidden
    assert "x" * 100 not in hidden
    assert f"'VAR0={'x' * 123}'..." in shown  # strings are cut at 128 characters


def test_without_memory_pointers_stay_addresses() -> None:
    envp = _strings(b"TOKEN=abc")
    text = decode_call(NUMBERS["execve"], (0x1000, 0x2000, _address(envp)))
    assert "abc" not in text and hex(_address(envp)) in text
