"""A value the client refuses is named in the CLI's error as the user typed it
(``--top-n``, ``-o max_tokens``), not by the client's parameter name (``top_n``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

import relaykit
from relaykit.cli import main
from relaykit.testing import FakePlugin


@pytest.fixture(autouse=True)
def _no_call_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "relaykit.toml"
    config.write_text('[storage]\nbackend = "none"\n')
    monkeypatch.setenv("RELAYKIT_CONFIG", str(config))
    monkeypatch.chdir(tmp_path)  # speak writes its file here


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["image", "-m", "fake/img-1", "-n", "0", "a cat"], "error: -n must be a positive"),
        (["rerank", "-m", "fake/rr-1", "-n", "0", "q", "a"], "error: -n must be a positive"),
        (["rerank", "-m", "fake/rr-1", "--top-n", "0", "q", "a"], "error: --top-n must be"),
        (["rerank", "-m", "fake/rr-1", "--top-n=0", "q", "a"], "error: --top-n must be"),
        (["speak", "-m", "fake/tts-1", "--speed", "9", "hi"], "error: --speed must be a number"),
        (["embed", "-m", "fake/emb-1", "--dimensions", "0", "hi"], "error: --dimensions must be"),
        (["prompt", "-m", "fake/m", "-o", "max_tokens=x", "hi"], "error: -o max_tokens must be"),
        (["prompt", "-m", "fake/m", "--option", "seed=1.5", "hi"], "error: --option seed must"),
        (["prompt", "-m", "fake/m", "-o", 'top_p="a"', "hi"], "error: -o top_p must be a finite"),
        (["prompt", "-m", "fake/m", "-o", "timeout=-1", "hi"], "error: -o timeout must be a pos"),
        # a vendor's own field: the fix is an -o option too, not Python's extra={...}
        (
            ["prompt", "-m", "fake/m", "-o", "store=true", "hi"],
            """error: unknown parameter 'store': a vendor's own field: pass provider-specific"""
            """ fields in -o extra='{"store": ...}'""",
        ),
        (
            ["prompt", "-m", "fake/m", "--option", "logit_bias={}", "hi"],
            "error: unknown parameter 'logit_bias': pass provider-specific fields in"
            " --option extra=",
        ),
    ],
)
def test_the_error_names_the_option_typed(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakePlugin()
    assert main(argv, plugins=[fake]) == 1
    err = capsys.readouterr().err
    assert err.startswith(expected), err
    assert "`" not in err.partition("(")[0]  # the parameter's name is gone from the message
    assert len(err.splitlines()) == 1
    sent = (fake.calls, fake.embeddings, fake.reranks, fake.images, fake.speeches)
    assert sent == ([], [], [], [], [])


class _CountPlugin:
    """A plugin command whose option reaches the client under another name."""

    __name__ = "count-plugin"

    @relaykit.hookimpl
    def relaykit_commands(self, cli: argparse._SubParsersAction[Any]) -> None:
        count = cli.add_parser("count")
        count.add_argument("-k", "--count", type=int)
        count.set_defaults(func=self.count)

    def count(self, args: argparse.Namespace) -> int:
        raise relaykit.InvalidRequestError(
            f"`count` must be 1 or more, not {args.count}", param="count", hint="try `count` 1"
        )


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["count", "-k", "0"], "error: -k must be 1 or more, not 0 (try -k 1)\n"),
        (["count", "-k0"], "error: -k must be 1 or more, not 0 (try -k 1)\n"),
        (["count"], "error: `count` must be 1 or more, not None (try `count` 1)\n"),  # not typed
    ],
)
def test_plugin_commands_options_are_named_as_typed_too(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv, plugins=[_CountPlugin()]) == 1
    assert capsys.readouterr().err == expected
