"""Reports cross from the test's child to the main process as they were made (tuples and all)."""

from __future__ import annotations

import json
import math
import os

import pytest
from plain_vs_sandbox import assert_same, run

from pytest_syscall_sandbox.plugin import transport


class _Odd:
    def __str__(self) -> str:
        return "an odd object"


@pytest.mark.parametrize(
    "value",
    [
        ("path.py", 5, "Skipped: why"),  # a skip's longrepr
        [("Captured stdout call", "out\n"), ("Captured log call", "")],  # sections
        {"location": ("a.py", None, "test_a"), "user_properties": [("k", (1, [2, (3,)]))]},
        {1: "int key", ("t", 1): "tuple key", None: "none key", "t": "a key that looks like a tag"},
        {"d": [[1, 2]], "t": [3]},  # a dict shaped like an encoded one stays a dict
        [b"\x00\xffbytes", bytearray(b"ba"), {1, 2}, frozenset({"f"}), 1 + 2j, 2**80, -0.5, "\udcff"],
        [True, False, None, 0, 1.0, "", [], (), {}],
    ],
)
def test_values_come_back_with_their_types(value: object) -> None:
    back = transport.loads(transport.dumps(value))
    assert back == value
    assert _types(back) == _types(_normalised(value))


def _normalised(value: object) -> object:
    if isinstance(value, bytearray):
        return bytes(value)
    if isinstance(value, list):
        return [_normalised(v) for v in value]
    return value


def _types(value: object) -> object:
    """The value's shape: the type of every part, recursively."""
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [_types(v) for v in value])
    if isinstance(value, dict):
        return ("dict", sorted((repr(_types(k)), repr(_types(v))) for k, v in value.items()))
    return type(value).__name__


def test_floats_that_json_cannot_spell_and_odd_objects() -> None:
    inf, nan, odd = transport.loads(transport.dumps([math.inf, math.nan, _Odd()]))
    assert inf == math.inf and math.isnan(nan)
    assert odd == "an odd object"  # an object the main process must not rebuild: its text


def test_a_cycle_does_not_recurse_forever() -> None:
    cycle: list[object] = []
    cycle.append(cycle)
    back = transport.loads(transport.dumps(cycle))
    depth = 0
    while isinstance(back, list):
        back, depth = back[0], depth + 1
    assert depth == transport.MAX_DEPTH and back == "[[...]]"


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1}',  # an untagged dict
        '{"t": [1], "d": []}',  # two tags
        '{"x": [1]}',  # an unknown tag
        '{"d": [[[1], 2]]}',  # an unhashable key
        '{"d": [1]}',  # not a pair
        '{"c": ["a", 1]}',
        "not json",
        '{"t": [1]',
    ],
)
def test_what_this_module_did_not_write_is_refused(text: str) -> None:
    with pytest.raises(transport.DecodeError):
        transport.loads(text)


def test_nothing_the_child_writes_is_run_or_imported() -> None:
    # Class-like and pickle-like payloads come back as the inert data they are.
    payload = {"o": "os.system('touch pwned')"}
    assert transport.decode({"d": [["__reduce__", payload]]}) == {"__reduce__": "os.system('touch pwned')"}
    assert not os.path.exists("pwned")


SKIPS = """
import pytest

@pytest.mark.sandbox("NET", mode="audit")
def test_skips():
    pytest.skip("not here")

@pytest.mark.sandbox("NET")
@pytest.mark.skip(reason="marked")
def test_marked():
    pass

@pytest.mark.sandbox("NET")
def test_passes():
    pass
"""


@pytest.mark.parametrize("args", [["-rs"], ["-v"], ["-rA"], ["-n", "2", "-rs"]])
def test_a_skipped_sandboxed_test_is_reported_as_skipped(pytester: pytest.Pytester, args: list[str]) -> None:
    pytester.makepyfile(SKIPS)
    result = pytester.runpytest_subprocess("--junitxml=out.xml", *args)
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    result.assert_outcomes(passed=1, skipped=2)
    if "-v" not in args:
        for line in ("SKIPPED [[]1[]] test_a_skipped*.py:5: not here", "SKIPPED [[]1[]] *: marked"):
            result.stdout.fnmatch_lines([line])  # in any order (xdist)
    assert (pytester.path / "out.xml").read_text().count("<skipped ") == 2


FIDELITY_CONFTEST = """
import pytest

class CustomRepr:
    '''A plugin's own longrepr: it writes itself to the terminal.'''

    def toterminal(self, tw):
        tw.line("custom repr: the frobnicator broke")

    def __str__(self):
        return "custom repr: the frobnicator broke"

@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if "custom" in item.name and report.when == "call" and report.failed:
        report.longrepr = CustomRepr()
    if report.when == "call":
        report.user_properties.append(("from_hook", {"when": report.when, "nested": (1, 2.5, None)}))
    return report
"""

FIDELITY = """
import logging
import sys
import warnings
import pytest

@pytest.fixture
def noisy():
    print("setup out")
    yield
    print("teardown out")
    sys.stderr.write("teardown err\\n")

@pytest.fixture
def broken_setup():
    raise RuntimeError("setup broke")

@pytest.fixture
def broken_teardown():
    yield
    raise RuntimeError("teardown broke")

def test_passes(noisy, record_property):
    record_property("number", 7)
    record_property("pair", ("a", 1))
    print("call out")
    sys.stderr.write("call err\\n")
    logging.getLogger("suite").warning("a log line")

def test_skip_in_call():
    pytest.skip("skipped in the call")

@pytest.mark.skip(reason="skip mark")
def test_skip_mark():
    pass

@pytest.mark.skipif(True, reason="skipif mark")
def test_skipif():
    pass

@pytest.mark.xfail(reason="expected")
def test_xfail():
    assert 0

def test_xfail_imperative():
    pytest.xfail("imperative xfail")

@pytest.mark.xfail(reason="may pass")
def test_xpass():
    pass

@pytest.mark.xfail(reason="must fail", strict=True)
def test_xpass_strict():
    pass

def test_chained():
    try:
        {}["key"]
    except KeyError as exc:
        raise ValueError("while handling") from exc

def test_string_longrepr():
    pytest.fail("a plain message", pytrace=False)

def test_custom_longrepr():
    assert False

def test_error_in_setup(broken_setup):
    pass

def test_error_in_teardown(broken_teardown):
    print("before teardown")

def test_fails_and_teardown_errors(broken_teardown):
    assert 1 == 2

def test_warns():
    warnings.warn("careful", UserWarning)
"""


@pytest.mark.parametrize("recorder", ["ptrace", "sigsys"])
@pytest.mark.parametrize("ci", [False, True], ids=["terminal", "ci"])
def test_every_outcome_and_field_equals_plain_pytest(
    pytester: pytest.Pytester, recorder: str, ci: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On CI (CI or BUILD_NUMBER set) pytest shows a str longrepr in full in the short summary,
    # and nothing for a plugin's own longrepr object: the object must come back as one.
    if ci:
        monkeypatch.setenv("CI", "true")
    else:
        monkeypatch.delenv("CI", raising=False)
        monkeypatch.delenv("BUILD_NUMBER", raising=False)
    pytester.makeconftest(FIDELITY_CONFTEST)
    pytester.makepyfile(FIDELITY)
    args = ("-rA", "-v", "-p", "no:randomly", f"--sandbox-recorder={recorder}")
    plain = run(pytester, *args, sandboxed=False)
    sandboxed = run(pytester, *args, sandboxed=True)
    assert_same(plain, sandboxed)
    assert plain.ret == 1 and len(plain.junit) == 17  # 16 test cases and the suite
    assert "custom repr: the frobnicator broke" in plain.stdout


def test_the_plugins_own_attributes_on_a_childs_report_are_dropped(pytester: pytest.Pytester) -> None:
    """A test's child writes its reports: what the plugin puts on them comes from the main process only."""
    pytester.makeconftest(
        """
        import pytest

        FORGED = {"syscall": "reboot", "nr": 169, "role": "FORGED", "phase": "call", "outcome": "allowed"}

        @pytest.hookimpl(wrapper=True)
        def pytest_runtest_makereport(item, call):
            report = yield
            report.sandbox_role = "FORGED"
            report.sandbox_records = [FORGED]
            return report
        """
    )
    pytester.makepyfile(
        """
        import os
        import pytest

        @pytest.mark.sandbox("MESSAGE_HANDLER", mode="audit")
        def test_one():
            os.getgroups()
        """
    )
    result = pytester.runpytest_subprocess("--sandbox-report=r.json")
    result.assert_outcomes(passed=1)
    report = json.loads((pytester.path / "r.json").read_text())
    assert set(report["roles"]) == {"MESSAGE_HANDLER"} and report["roles"]["MESSAGE_HANDLER"]["tests"] == 1
    assert {r["syscall"] for r in report["records"] if r["phase"] != "harness"} == {"getgroups"}
