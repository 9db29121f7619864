"""Every number option of every command takes ASCII digits only, alike.

Python's ``int()`` and ``float()`` read other scripts' digits (``٣``, ``３``): some
options took them and others refused. Each now refuses them as a usage error
naming the option, before any config is read. Cross-package: the gateway's and
relaykit-sqlite's commands have number options too.
"""

from __future__ import annotations

import pytest

from relaykit.cli import main

#: (command line before the number, the option as the error names it, after it)
NUMBER_OPTIONS = [
    (["image", "-m", "x/y", "-n"], "-n", ["a fox"]),
    (["speak", "-m", "x/y", "--speed"], "--speed", ["hi"]),
    (["rerank", "-m", "x/y", "--top-n"], "-n/--top-n", ["q", "a"]),
    (["embed", "-m", "x/y", "--dimensions"], "--dimensions", ["hi"]),
    (["batch", "list", "openai", "--limit"], "-n/--limit", []),
    (["prompt", "-m", "x/y", "--max-steps"], "--max-steps", ["hi"]),
    (["logs", "--limit"], "-n/--limit", []),
    (["logs", "--offset"], "--offset", []),
    (["gateway", "--port"], "--port", []),
    (["gateway", "--workers"], "--workers", []),
    (["gateway", "--graceful-timeout"], "--graceful-timeout", []),
    (["embed-multi", "c", "-m", "x/y", "--batch-size"], "--batch-size", []),
    (["similar", "c", "-n"], "-n", ["hi"]),
]


@pytest.mark.parametrize("digit", ["\u0663", "\uff13"])  # Arabic-Indic 3, fullwidth 3
@pytest.mark.parametrize(("before", "option", "after"), NUMBER_OPTIONS)
def test_a_number_in_other_digits_is_refused_naming_the_option(
    before: list[str],
    option: str,
    after: list[str],
    digit: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main([*before, digit, *after]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert f"argument {option}: " in err, err
    assert repr(digit) in err, err
    assert "digits 0-9" in err, err


@pytest.mark.parametrize(
    "argv",
    [
        ["logs", "--since", "\u0663d"],
        ["logs", "prune", "--older-than", "\uff13d"],
        ["prompt", "-m", "x/y", "--reasoning", "\u0663", "hi"],
    ],
)
def test_durations_and_budgets_in_other_digits_are_refused(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "digits 0-9" in err, err
