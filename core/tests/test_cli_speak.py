"""``relaykit speak``: a text said aloud, written to an audio file."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from relaykit.cli import main
from relaykit.testing import FakePlugin, mock_speech, mock_speech_text

HELLO = "Hello there, general!"


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_audio_is_written_under_the_texts_name(
    backend: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    fake = FakePlugin()
    argv = ["--backend", backend, "speak", HELLO, "-m", "fake/tts-1"]
    assert main([*argv, "--voice", "nova", "--speed", "1.5"], plugins=[fake]) == 0
    assert capsys.readouterr().out == "hello-there-general.mp3\n"
    audio = (tmp_path / "hello-there-general.mp3").read_bytes()
    assert audio == mock_speech(HELLO, "mp3", speed=1.5)
    (sent,) = fake.speeches
    assert (sent.text, sent.voice, sent.format, sent.speed) == (HELLO, "nova", "mp3", 1.5)
    # a name made from the text never overwrites a file
    assert main(argv, plugins=[fake]) == 0
    assert capsys.readouterr().out == "hello-there-general-v2.mp3\n"
    assert fake.speeches[1].voice == "alloy"  # the CLI's default voice


@pytest.mark.usefixtures("cli_config")
def test_output_names_the_file_and_json_says_what_was_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "greeting"
    target.with_suffix(".wav").write_bytes(b"old")
    argv = ["speak", HELLO, "-m", "fake/tts-1", "--format", "wav", "-o", str(target), "--json"]
    assert main(argv, plugins=[FakePlugin()]) == 0
    out = json.loads(capsys.readouterr().out)
    written = tmp_path / "greeting.wav"
    assert out == {
        "provider": "fake",
        "model": "tts-1",
        "file": str(written),
        "format": "wav",
        "media_type": "audio/wav",
        "bytes": written.stat().st_size,
        "cost_usd": "0.000315",
    }
    assert mock_speech_text(written.read_bytes()) == HELLO  # -o writes over


@pytest.mark.usefixtures("cli_config")
def test_stdin_text_and_stdout_audio_when_piped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.stdin", io.StringIO("piped words"))
    assert main(["speak", "-", "-m", "fake/tts-1", "-o", "-"], plugins=[FakePlugin()]) == 0
    assert mock_speech_text(capsysbinary.readouterr().out) == "piped words"
    assert not list(tmp_path.glob("*.mp3"))


@pytest.mark.usefixtures("cli_config")
def test_mistakes_are_named_and_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["speak", HELLO], plugins=[FakePlugin()]) == 1
    err = capsys.readouterr().err
    assert "no speech model given" in err and "[defaults] speech_model" in err
    assert main(["speak", HELLO, "-m", "fake/tts-1", "--speed", "9"], plugins=[FakePlugin()]) == 1
    assert "--speed must be a number from 0.25" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.mp3"))


def test_the_default_model_and_the_logs_preview(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "relaykit.toml"
    config.write_text(
        f'[storage]\nbackend = "sqlite"\npath = "{tmp_path / "calls.db"}"\n'
        '[defaults]\nspeech_model = "fake/tts-1"\n'
    )
    monkeypatch.setenv("RELAYKIT_CONFIG", str(config))
    monkeypatch.chdir(tmp_path)
    fake = FakePlugin()
    assert main(["speak", "Hello there " * 100, "--format", "pcm"], plugins=[fake]) == 0
    capsys.readouterr()
    assert main(["logs", "-q", "hello"], plugins=[fake]) == 0  # the text is searchable
    out = capsys.readouterr().out
    assert "fake/tts-1" in out and "'Hello there Hello there" in out
    assert "…' → 3.8 MB pcm" in out  # 80 s of 16-bit samples at 24 kHz
    assert main(["logs", "--full"], plugins=[fake]) == 0
    full = capsys.readouterr().out
    assert '"audio_bytes": ' in full and "relaykit-mock-speech" not in full


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_stream_writes_the_audio_as_it_arrives(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsysbinary: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    long = HELLO * 100  # several of the fake's 1,024-byte chunks, as mp3
    argv = ["--backend", backend, "speak", "-m", "fake/tts-1", "--stream"]
    # raw PCM is its seconds' samples: a short text is tens of chunks already
    assert main([*argv, HELLO, "--format", "pcm", "-o", "-"], plugins=[FakePlugin()]) == 0
    assert capsysbinary.readouterr().out == mock_speech(HELLO, "pcm")
    assert len(mock_speech(HELLO, "pcm")) > 10 * 1024
    argv.append(long)
    assert main([*argv, "-o", "said", "--json"], plugins=[FakePlugin()]) == 0
    out = json.loads(capsysbinary.readouterr().out)
    written = tmp_path / "said.mp3"
    assert written.read_bytes() == mock_speech(long)
    assert (out["file"], out["bytes"]) == ("said.mp3", written.stat().st_size)


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize("text", ["", "   "])
def test_blank_text_says_the_fix_in_command_line_words(
    text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # It said the Python API's fix: speak(model, 'Hello there', voice='alloy').
    fake = FakePlugin()
    assert main(["speak", "-m", "fake/tts-1", text], plugins=[fake]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.splitlines()) == 1, err
    assert "relaykit speak -m fake/tts-1 'Hello there'" in err
    assert "speak(model" not in err and "voice='alloy'" not in err
    assert not fake.speeches


def test_the_python_api_keeps_its_own_fix() -> None:
    from relaykit import InvalidRequestError
    from relaykit.speech import build_speech_request

    with pytest.raises(InvalidRequestError) as caught:
        build_speech_request("fake/tts-1", "", {})
    assert caught.value.hint == "say what to speak: speak(model, 'Hello there', voice='alloy')"


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize("stream", [[], ["--stream"]])
def test_json_with_o_dash_is_refused_before_the_call(
    stream: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """--json was dropped without a word when the audio went to stdout."""
    fake = FakePlugin()
    argv = ["speak", HELLO, "-m", "fake/tts-1", "-o", "-", "--json", *stream]
    assert main(argv, plugins=[fake]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: -o - writes the audio to stdout: --json would print there too")
    assert fake.speeches == []
