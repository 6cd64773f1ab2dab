"""What the container tests measured (times, compile counts, hashes, the
messages seen), printed after the run: the figures the docs quote."""

import pytest

MEASURED = []


@pytest.fixture(scope="session")
def measured():
    """A list: each line appended is printed in the summary."""
    return MEASURED


def pytest_terminal_summary(terminalreporter):
    if MEASURED:
        terminalreporter.section("measured")
        for line in MEASURED:
            terminalreporter.write_line(line)
