"""``relaykit image`` and ``relaykit speak`` check where they will write before they call.

A generated image or speech is paid for: a ``-o`` into a directory that is not
there must be one error line before the call, not a traceback after it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from relaykit.cli import main
from relaykit.testing import FakePlugin


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize(
    ("command", "model"), [("image", "fake/gpt-image-1"), ("speak", "fake/tts-1")]
)
def test_an_output_in_a_missing_directory_fails_before_the_call(
    command: str, model: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakePlugin()
    target = tmp_path / "no-such-dir" / "out.bin"
    code = main([command, "hello", "-m", model, "-o", str(target)], plugins=[fake])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert str(target.parent) in err and "-o" in err and "create it first" in err
    assert not fake.images and not fake.speeches  # nothing was paid for


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize(
    ("command", "model"), [("image", "fake/gpt-image-1"), ("speak", "fake/tts-1")]
)
def test_an_output_that_is_a_directory_fails_before_the_call(
    command: str, model: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakePlugin()
    target = tmp_path / "a-dir.png"
    target.mkdir()
    code = main([command, "hello", "-m", model, "-o", str(target)], plugins=[fake])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert str(target) in err and "directory" in err
    assert not fake.images and not fake.speeches
