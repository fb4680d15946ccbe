"""`parcelwatch demo` keeps its worker up for the page only when a person is there."""

import io

from rich.console import Console

from parcelwatch.devtools.demo import hold


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_demo_never_waits_when_stdin_is_not_a_terminal():
    out = io.StringIO()
    stdin = io.StringIO("")  # would raise nothing, but is never read
    stdin.readline = None  # type: ignore[method-assign]  # reading it would fail the test
    hold(Console(file=out), "http://127.0.0.1:1/", "SF1", stdin)
    assert out.getvalue() == ""


def test_in_a_terminal_it_prints_the_page_and_waits_for_enter():
    out = io.StringIO()
    stdin = _Terminal("\n")
    hold(Console(file=out, width=200), "http://127.0.0.1:1/", "SF1", stdin)
    text = out.getvalue()
    assert "http://127.0.0.1:1/" in text and "SF1" in text and "Press Enter" in text
    assert stdin.tell() == 1  # the Enter was read
