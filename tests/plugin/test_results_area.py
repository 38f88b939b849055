"""The results area: what a child writes in shared memory is what the main process reads."""

from __future__ import annotations

import os

from pytest_syscall_sandbox.plugin.child_results import ResultsArea, write_report


def test_a_forked_child_writes_with_no_descriptor_and_the_parent_reads_it_in_order() -> None:
    area = ResultsArea()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os.closerange(0, 1 << 16)  # nothing of the channel is a descriptor
        write_report(area, {"when": "setup", "location": ("a.py", 1, "t")}, True)
        area.append({"sandbox_warning": {"message": "w", "category": "builtins:UserWarning"}})
        write_report(area, {"when": "call"}, False)
        os._exit(0)
    os.waitpid(pid, 0)
    results = area.take()
    assert results.reports == [({"when": "setup", "location": ("a.py", 1, "t")}, True), ({"when": "call"}, False)]
    assert results.warnings == [{"message": "w", "category": "builtins:UserWarning"}]
    assert results.lost is None


def test_what_does_not_fit_is_counted_and_said_never_half_written() -> None:
    area = ResultsArea(size=1 << 20)
    write_report(area, {"when": "setup"}, True)
    write_report(area, {"when": "call", "longrepr": "x" * (2 << 20)}, True)  # bigger than the area
    write_report(area, {"when": "teardown"}, True)
    results = area.take()
    assert [data["when"] for data, _own in results.reports] == ["setup", "teardown"]
    assert results.lost is not None
    assert "did not fit in its 1 MiB results area" in results.lost


def test_a_header_the_test_overwrote_reads_as_what_fits_never_past_the_area() -> None:
    area = ResultsArea(size=1 << 16)
    write_report(area, {"when": "setup"}, True)
    area._memory[0:8] = (2**64 - 1).to_bytes(8, "little")  # the test's own memory: it can write there
    results = area.take()
    assert [data["when"] for data, _own in results.reports] == ["setup"]
    assert results.lost == "sandbox: the test wrote over the memory its reports travel in; what they said is lost"
