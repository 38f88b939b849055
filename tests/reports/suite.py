"""A small sandboxed suite of the tests' own, for pytester: two files, several roles, shared gaps."""

from __future__ import annotations

import pytest

#: A file name a test opens under a role without openat: it reaches the report, the terminal and the HTML.
SCRIPT_NAME = "<script>document.title='pwned'</script>"

SUITE = {
    "test_a.py": f"""
        import os
        import pytest

        @pytest.mark.sandbox("MESSAGE_HANDLER")
        def test_a_asks_for_groups():
            os.getgroups()

        @pytest.mark.sandbox("MESSAGE_HANDLER")
        def test_a_does_nothing():
            pass

        @pytest.mark.sandbox("WALLET")
        def test_a_wallet_asks_for_groups():
            os.getgroups()

        @pytest.mark.sandbox("VALIDATION_SCRIPT_CHECK", allow=["getgroups"])
        def test_a_variant_opens_a_file_that_is_not_there():
            os.getgroups()
            with pytest.raises(FileNotFoundError):
                open({SCRIPT_NAME!r})
    """,
    "test_b.py": """
        import os
        import time
        import pytest

        @pytest.mark.sandbox("MESSAGE_HANDLER")
        def test_b_asks_for_groups_again():
            os.getgroups()
            os.getgroups()

        @pytest.mark.sandbox("SCHEDULER")
        def test_b_depends_on_the_machine():
            if os.environ.get("ON_MACHINE_B"):
                os.getgroups()
                time.sleep(0.001)

        @pytest.mark.sandbox("WALLET")
        def test_b_wallet_asks_for_groups_too():
            os.getgroups()

        def test_b_plain():
            pass
    """,
}
#: ``-k`` expressions that split the suite in two halves, in collection order.
HALVES = ("test_a", "not test_a")


def make_suite(pytester: pytest.Pytester) -> None:
    """Write the suite into the pytester directory."""
    for name, source in SUITE.items():
        pytester.makepyfile(**{name.removesuffix(".py"): source})
    # a project role whose definition takes away what its tests call: a fix conflict that counts tests
    pytester.makeini("[pytest]\nsandbox_roles =\n    WALLET = MESSAGE_HANDLER +getgroups -getgroups\n")
