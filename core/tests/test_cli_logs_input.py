"""``relaykit logs`` given numbers and times out of any range, against a real SQLite
call log: a usage error naming the option, never a traceback from the storage."""

from __future__ import annotations

from pathlib import Path

import pytest

from relaykit.cli import main


@pytest.fixture(autouse=True)
def sqlite_log(logged_config: Path) -> None:
    """A SQLite call log holding one call."""
    assert main(["prompt", "--no-stream", "-m", "openai/gpt-4o-mini", "Hi"]) == 0


HUGE = "9" * 23


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["logs", "-n", HUGE], f"argument -n/--limit: {HUGE!r} is too large"),
        (["logs", "--offset", HUGE], f"argument --offset: {HUGE!r} is too large"),
        (["logs", "--since", "99999999999d"], "argument --since: '99999999999d' reaches back"),
        (["logs", "--until", "999999999d"], "argument --until: '999999999d' reaches back"),
        (["logs", "--since", "0001-01-01"], "argument --since: '0001-01-01' is out of range"),
        (["logs", "prune", "--older-than", "999999999d"], "'999999999d' reaches back"),
        (
            ["logs", "--before", "sk-proj-Pasted"],  # never repeated back
            "argument --before: a 14-character text that is not a page cursor: give the"
            " --before that relaykit logs printed under the page before",
        ),
    ],
)
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_out_of_range_is_a_usage_error(
    argv: list[str], complaint: str, backend: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["--backend", backend, *argv]) == 2
    err = capsys.readouterr().err
    assert complaint in err, err
    assert len(err.splitlines()) == 1
    assert "sk-proj" not in err


def test_the_largest_limit_and_offset_are_taken(capsys: pytest.CaptureFixture[str]) -> None:
    largest = str(2**63 - 1)
    capsys.readouterr()
    assert main(["logs", "-n", largest, "--offset", largest]) == 0
    assert capsys.readouterr().err == "no logged calls match\n"


def test_a_long_but_possible_duration_is_taken(capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["logs", "--since", "10000w"]) == 0
    assert "Hi → echo: Hi" in capsys.readouterr().out
    assert main(["logs", "prune", "--older-than", "10000w"]) == 0
    assert capsys.readouterr().out.startswith("deleted 0 calls started before 18")


@pytest.mark.parametrize("query", ['"', "*", "-- ...", "- &", "😀"])
@pytest.mark.parametrize("totals", [[], ["--totals"]])
def test_a_search_with_no_word_in_it_is_a_usage_error(
    query: str, totals: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Punctuation alone searched for nothing and listed every call, as if no -q
    (the storage refuses such a search too: InvalidRequestError, for the API)."""
    capsys.readouterr()
    assert main(["logs", *totals, "-q", query]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert f"argument -q/--query/--search: {query!r} holds no word to search for" in err, err
    assert len(err.splitlines()) == 1


def test_an_unbalanced_quote_around_a_word_searches_for_that_word(
    capsys: pytest.CaptureFixture[str],
) -> None:
    capsys.readouterr()
    assert main(["logs", "-q", '"Hi']) == 0
    assert "Hi → echo: Hi" in capsys.readouterr().out


def test_a_blank_by_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """``--by "$NAME"`` with NAME unset gave the totals ungrouped, without a word."""
    capsys.readouterr()
    assert main(["logs", "--totals", "--by", ""]) == 2
    err = capsys.readouterr().err
    assert "argument --by: the value is blank" in err, err
    assert len(err.splitlines()) == 1
