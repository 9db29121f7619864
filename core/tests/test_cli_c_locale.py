"""The CLI under the C locale with UTF-8 mode off (``LC_ALL=C PYTHONUTF8=0``), as a
real process: Python then decodes arguments as ASCII (each byte of ``é`` an
escaped surrogate) and encodes stdout and stderr as ASCII. UTF-8 text typed or
answered was a ``UnicodeEncodeError`` traceback (``--save`` wrote the template
file half, empty); it is now taken and printed as UTF-8, as under a UTF-8 locale.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from relaykit.testing import OpenAIMock

MODEL = "openai/gpt-4o-mini"


@pytest.fixture
def c_locale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The C locale for the processes run, templates in ``tmp_path / "user"``."""
    monkeypatch.setenv("LC_ALL", "C")
    monkeypatch.setenv("PYTHONUTF8", "0")
    monkeypatch.delenv("PYTHONIOENCODING", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "user"))
    return tmp_path / "user" / "relaykit" / "templates"


def _relaykit(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    # arguments as bytes: what a UTF-8 terminal hands a process, whatever its locale
    return subprocess.run(
        [os.fsencode(sys.executable), b"-m", b"relaykit.cli", *(a.encode() for a in args)],
        input=stdin,
        capture_output=True,
        timeout=60,
        check=False,
    )


def _ok(done: subprocess.CompletedProcess[bytes]) -> str:
    err = done.stderr.decode("utf-8", "replace")
    assert done.returncode == 0, err
    assert "Traceback" not in err, err
    return done.stdout.decode("utf-8")


@pytest.mark.usefixtures("cli_config")
def test_save_takes_utf8_text_and_show_prints_it(c_locale: Path) -> None:
    out = _ok(_relaykit("prompt", "-m", MODEL, "-s", "Sé brève", "--save", "fr", "Résume: $input"))
    assert out.startswith("saved template fr: ")
    saved = tomllib.loads((c_locale / "fr.toml").read_text(encoding="utf-8"))
    assert (saved["system"], saved["prompt"]) == ("Sé brève", "Résume: $input")

    assert "Résume: $input" in _ok(_relaykit("templates", "show", "fr"))
    assert "Résume" in _ok(_relaykit("templates", "list"))


@pytest.mark.usefixtures("cli_config", "c_locale")
@pytest.mark.parametrize("stream", [True, False])
def test_a_prompt_and_its_answer_in_utf8(stream: bool, openai_mock: OpenAIMock) -> None:
    argv = ["prompt", "-m", MODEL, "Grüße, ☃"]
    out = _ok(_relaykit(*argv, *([] if stream else ["--no-stream"])))
    assert out == "echo: Grüße, ☃\n"
    assert openai_mock.last_request.json()["messages"][-1]["content"] == "Grüße, ☃"


@pytest.mark.usefixtures("cli_config", "c_locale")
def test_a_chat_piped_in_utf8(openai_mock: OpenAIMock) -> None:
    out = _ok(_relaykit("chat", "-m", MODEL, stdin="Grüße\nexit\n".encode()))
    assert out == "echo: Grüße\n"


@pytest.mark.usefixtures("cli_config", "c_locale")
def test_an_error_naming_utf8_text_is_one_line() -> None:
    done = _relaykit("templates", "show", "Grüße")
    err = done.stderr.decode("utf-8")
    assert done.returncode == 1, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert "'Grüße' cannot name a template" in err, err


def test_a_template_that_cannot_be_written_leaves_the_old_file_whole(tmp_path: Path) -> None:
    """Text that is no UTF-8 (a lone surrogate) was found halfway through writing,
    leaving the file empty: it is refused before the file is touched."""
    from relaykit.cli.template_files import write_template_file
    from relaykit.errors import InvalidRequestError

    path = tmp_path / "t.toml"
    path.write_text('prompt = "old"\n', encoding="utf-8")
    with pytest.raises(InvalidRequestError, match=r"cannot write template 't'.*not UTF-8"):
        write_template_file("t", path, 'prompt = "caf\udce9"\n')
    assert path.read_text(encoding="utf-8") == 'prompt = "old"\n'
    assert [p.name for p in tmp_path.iterdir()] == ["t.toml"]


@pytest.mark.usefixtures("cli_config", "c_locale")
def test_an_output_file_named_in_utf8_is_written_under_that_name(
    tmp_path: Path, openai_mock: OpenAIMock
) -> None:
    """A file name is no text to send: it stays the bytes typed (a new file's name,
    read as UTF-8 text, could not be encoded back in the C locale's ASCII)."""
    target = tmp_path / "grüße.mp3"
    out = _ok(_relaykit("speak", "-m", "openai/tts-1", "-o", str(target), "Grüße"))
    assert target.exists(), out
    assert openai_mock.last_request.json()["input"] == "Grüße"
