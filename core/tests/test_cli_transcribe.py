"""``relaykit transcribe``: the text said in an audio file."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from relaykit.cli import main
from relaykit.testing import FakePlugin, OpenAIMock, mock_audio

SPEECH = mock_audio("hello from the command line", seconds=12.3)


class _Stdin(io.TextIOWrapper):
    def isatty(self) -> bool:
        return False


@pytest.fixture
def memo(tmp_path: Path) -> Path:
    path = tmp_path / "memo.wav"
    path.write_bytes(SPEECH)
    return path


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_text_is_printed(backend: str, memo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakePlugin()
    argv = ["--backend", backend, "transcribe", str(memo), "-m", "fake/whisper-1"]
    assert main([*argv, "--language", "en", "--prompt", "Acme"], plugins=[fake]) == 0
    assert capsys.readouterr().out == "hello from the command line\n"
    (sent,) = fake.transcriptions
    assert (sent.language, sent.prompt, sent.audio.upload_name) == ("en", "Acme", "memo.wav")


@pytest.mark.usefixtures("cli_config")
def test_json_has_the_text_length_and_cost(memo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["transcribe", str(memo), "-m", "fake/whisper-1", "--json"]
    assert main(argv, plugins=[FakePlugin()]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "provider": "fake",
        "model": "whisper-1",
        "text": "hello from the command line",
        "language": "english",
        "duration": 12.3,
        "input_tokens": 0,
        "output_tokens": 0,
        "cost_usd": "0.00123",
    }


@pytest.mark.usefixtures("cli_config")
def test_audio_piped_on_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", _Stdin(io.BytesIO(SPEECH)))
    assert main(["transcribe", "-", "-m", "fake/whisper-1"], plugins=[FakePlugin()]) == 0
    assert capsys.readouterr().out == "hello from the command line\n"


@pytest.mark.usefixtures("cli_config")
def test_without_a_model_or_a_file_it_says_what_to_do(
    memo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["transcribe", str(memo)], plugins=[FakePlugin()]) == 1
    err = capsys.readouterr().err
    assert "no transcription model given" in err and "[defaults] transcription_model" in err
    missing = tmp_path / "nope.wav"
    assert main(["transcribe", str(missing), "-m", "fake/whisper-1"], plugins=[FakePlugin()]) == 1
    err = capsys.readouterr().err
    assert f"error: cannot read audio file '{missing}': there is no such file" in err
    assert "Traceback" not in err


def test_the_default_model_and_the_logs_preview(
    memo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "relaykit.toml"
    config.write_text(
        f'[storage]\nbackend = "sqlite"\npath = "{tmp_path / "calls.db"}"\n'
        '[defaults]\ntranscription_model = "fake/whisper-1"\n'
    )
    monkeypatch.setenv("RELAYKIT_CONFIG", str(config))
    fake = FakePlugin()
    assert main(["transcribe", str(memo)], plugins=[fake]) == 0
    capsys.readouterr()
    assert main(["logs", "-q", "command"], plugins=[fake]) == 0  # transcripts are searchable
    out = capsys.readouterr().out
    assert "fake/whisper-1" in out and "audio (12.3 s) → 'hello from the command" in out
    assert main(["logs", "--full"], plugins=[fake]) == 0
    full = capsys.readouterr().out
    assert '"audio_bytes": ' in full and '"media_type": "audio/wav"' in full
    assert "assistant: hello from the command line" in full


def test_a_misspelt_default_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "relaykit.toml"
    config.write_text('[defaults]\ntranscribe_model = "fake/whisper-1"\n')
    monkeypatch.setenv("RELAYKIT_CONFIG", str(config))
    assert main(["transcribe", "x.wav"], plugins=[FakePlugin()]) == 1
    assert "did you mean 'transcription_model'" in capsys.readouterr().err


def test_through_the_openai_plugin(
    openai_mock: OpenAIMock, cli_config: Path, memo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["transcribe", str(memo), "-m", "openai/whisper-1", "--language", "en", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["text"], out["duration"], out["cost_usd"]) == (
        "hello from the command line",
        12.3,
        "0.00123",
    )


@pytest.mark.usefixtures("cli_config")
def test_stream_prints_the_text_as_it_is_heard(
    memo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["transcribe", str(memo), "-m", "fake/gpt-4o-transcribe", "--stream"]
    assert main(argv, plugins=[FakePlugin()]) == 0
    assert capsys.readouterr().out == "hello from the command line\n"
    assert main([*argv, "--json"], plugins=[FakePlugin()]) == 1
    assert "--stream prints text as it comes" in capsys.readouterr().err


def test_stream_through_the_openai_plugin(
    openai_mock: OpenAIMock, cli_config: Path, memo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["transcribe", str(memo), "-m", "openai/gpt-4o-transcribe", "--stream"]) == 0
    assert capsys.readouterr().out == "hello from the command line\n"
    assert b'name="stream"\r\n\r\ntrue' in openai_mock.last_request.body


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("piped", [False, True])
def test_a_file_that_is_no_audio_gets_the_cli_s_fix(
    backend: str,
    piped: bool,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The hint ended with the Python API's fix (AudioFile(data, media_type=...)),
    # which a command line user has no way to follow.
    notes = tmp_path / "notes.dat"
    notes.write_bytes(b"these are meeting notes, not a recording\n")
    fake = FakePlugin()
    source = str(notes)
    if piped:
        monkeypatch.setattr("sys.stdin", _Stdin(io.BytesIO(notes.read_bytes())))
        source = "-"
    argv = ["--backend", backend, "transcribe", source, "-m", "fake/whisper-1"]
    assert main(argv, plugins=[fake]) == 1
    err = capsys.readouterr().err
    assert "the audio's format is unknown: its bytes are none that relaykit knows" in err
    assert err.count("says none") == (0 if piped else 1)  # "knows says none" piped
    assert "AudioFile" not in err and "media_type" not in err
    assert "ffmpeg" in err
    assert ("name the file for its format" in err) is not piped
    if piped:
        assert "relaykit transcribe memo.m4a" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert fake.transcriptions == []
