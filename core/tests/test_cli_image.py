"""``relaykit image``: images drawn from a prompt, written to files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from relaykit.cli import main
from relaykit.testing import FakePlugin, OpenAIMock, mock_image, mock_image_prompt

FOX = "a red fox in snow"


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_image_is_written_under_the_prompts_name(
    backend: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    fake = FakePlugin()
    argv = ["--backend", backend, "image", FOX, "-m", "fake/gpt-image-1"]
    assert main([*argv, "--size", "1024x1024", "--quality", "low"], plugins=[fake]) == 0
    assert capsys.readouterr().out == "a-red-fox-in-snow.png\n"
    assert (tmp_path / "a-red-fox-in-snow.png").read_bytes() == mock_image(FOX)
    (sent,) = fake.images
    assert (sent.prompt, sent.n, sent.size, sent.quality) == (FOX, 1, "1024x1024", "low")
    # a name made from the prompt never overwrites a file
    assert main(argv, plugins=[fake]) == 0
    assert capsys.readouterr().out == "a-red-fox-in-snow-v2.png\n"


@pytest.mark.usefixtures("cli_config")
def test_several_images_go_to_numbered_files_and_no_bytes_reach_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "shots"
    out.mkdir()
    argv = ["image", "Two owls! At dusk?", "-m", "fake/gpt-image-1", "-n", "2", "--out-dir"]
    assert main([*argv, str(out)], plugins=[FakePlugin()]) == 0
    printed = capsys.readouterr().out
    assert printed.splitlines() == [
        str(out / "two-owls-at-dusk-1.png"),
        str(out / "two-owls-at-dusk-2.png"),
    ]
    assert "PNG" not in printed
    assert mock_image_prompt((out / "two-owls-at-dusk-2.png").read_bytes()) == "Two owls! At dusk?"


@pytest.mark.usefixtures("cli_config")
def test_output_names_the_file_and_json_says_what_was_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "fox"
    argv = ["image", FOX, "-m", "fake/dall-e-3", "-o", str(target), "--json", "--format", "png"]
    fake = FakePlugin()
    fake.script.reply("A red fox, in deep snow")
    assert main(argv, plugins=[fake]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "provider": "fake",
        "model": "dall-e-3",
        "images": [
            {
                "file": str(tmp_path / "fox.png"),
                "url": None,
                "media_type": "image/png",
                "size": "8x8",
                "bytes": len(mock_image(FOX)),
                "revised_prompt": "A red fox, in deep snow",
            }
        ],
        "input_tokens": 0,
        "output_tokens": 0,
        "cost_usd": "0.04",
    }
    assert (tmp_path / "fox.png").read_bytes() == mock_image(FOX)
    # -o writes over, as curl -o does
    assert main([*argv[:3], "fake/gpt-image-1", *argv[4:]], plugins=[FakePlugin()]) == 0
    assert json.loads(capsys.readouterr().out)["images"][0]["file"] == str(tmp_path / "fox.png")


@pytest.mark.usefixtures("cli_config")
def test_several_images_with_output_are_numbered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["image", FOX, "-m", "fake/gpt-image-1", "-n", "2", "-o", str(tmp_path / "fox.png")]
    assert main(argv, plugins=[FakePlugin()]) == 0
    assert capsys.readouterr().out.splitlines() == [
        str(tmp_path / "fox-1.png"),
        str(tmp_path / "fox-2.png"),
    ]


@pytest.mark.usefixtures("cli_config")
def test_without_a_model_or_with_bad_options_it_says_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["image", FOX], plugins=[FakePlugin()]) == 1
    err = capsys.readouterr().err
    assert "no image model given" in err and "[defaults] image_model" in err
    assert (
        main(["image", FOX, "-m", "fake/gpt-image-1", "--size", "huge"], plugins=[FakePlugin()])
        == 1
    )
    assert "--size must be 'WIDTHxHEIGHT'" in capsys.readouterr().err
    missing = tmp_path / "nowhere"
    argv = ["image", FOX, "-m", "fake/gpt-image-1", "--out-dir", str(missing)]
    assert main(argv, plugins=[FakePlugin()]) == 1
    assert "is not a directory" in capsys.readouterr().err
    assert not missing.exists()


def test_the_default_model_and_the_logs_preview(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "relaykit.toml"
    config.write_text(
        f'[storage]\nbackend = "sqlite"\npath = "{tmp_path / "calls.db"}"\n'
        '[defaults]\nimage_model = "fake/gpt-image-1"\n'
    )
    monkeypatch.setenv("RELAYKIT_CONFIG", str(config))
    monkeypatch.chdir(tmp_path)
    fake = FakePlugin()
    assert main(["image", FOX, "--size", "1024x1024"], plugins=[fake]) == 0
    assert main(["image", "three cats", "-n", "3"], plugins=[fake]) == 0
    capsys.readouterr()
    assert main(["logs", "-q", "fox"], plugins=[fake]) == 0  # prompts are searchable
    out = capsys.readouterr().out
    assert "fake/gpt-image-1" in out and "a red fox in snow → 1 image (8x8)" in out
    assert main(["logs"], plugins=[fake]) == 0
    assert "three cats → 3 images (8x8)" in capsys.readouterr().out
    assert main(["logs", "--full"], plugins=[fake]) == 0
    full = capsys.readouterr().out
    assert '"image_sizes": ' in full and '"media_types": ' in full
    # neither the bytes nor their base64 (a PNG's begins "iVBORw0KGgo"); "b64" alone
    # would also match the records' random hex ids now and then
    assert "PNG" not in full and "iVBORw0KGgo" not in full and "b64_json" not in full


def test_a_misspelt_default_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "relaykit.toml"
    config.write_text('[defaults]\nimage_modle = "fake/gpt-image-1"\n')
    monkeypatch.setenv("RELAYKIT_CONFIG", str(config))
    assert main(["image", FOX], plugins=[FakePlugin()]) == 1
    assert "did you mean 'image_model'" in capsys.readouterr().err


def test_through_the_openai_plugin(
    openai_mock: OpenAIMock,
    cli_config: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    argv = ["image", FOX, "-m", "openai/gpt-image-1", "--quality", "low", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["output_tokens"], out["cost_usd"]) == (272, "0.010905")
    (image,) = out["images"]
    assert mock_image_prompt(Path(image["file"]).read_bytes()) == FOX


# -- --edit ---------------------------------------------------------------------------


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_edit_sends_the_files_and_mask_and_writes_the_edit(
    backend: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "fox.png").write_bytes(mock_image("a fox", side=16))
    (tmp_path / "hat.png").write_bytes(mock_image("a hat", side=16))
    (tmp_path / "mask.png").write_bytes(mock_image("mask", side=16))
    fake = FakePlugin()
    argv = ["--backend", backend, "image", "put the hat on the fox", "-m", "fake/gpt-image-1"]
    argv += ["--edit", "fox.png", "--edit", "hat.png", "--mask", "mask.png", "-o", "out.png"]
    assert main(argv, plugins=[fake]) == 0
    assert capsys.readouterr().out == "out.png\n"
    assert (tmp_path / "out.png").read_bytes() == mock_image("put the hat on the fox")
    (sent,) = fake.image_edits
    assert [i.filename for i in sent.images] == ["fox.png", "hat.png"] and not fake.images
    assert sent.mask is not None and sent.mask.data == mock_image("mask", side=16)


@pytest.mark.usefixtures("cli_config")
def test_edit_errors_are_typed_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["image", "a hat", "-m", "fake/gpt-image-1"]
    assert main([*argv, "--edit", str(tmp_path / "missing.png")], plugins=[FakePlugin()]) == 1
    err = capsys.readouterr().err
    assert "cannot read image file" in err and "missing.png" in err and "Traceback" not in err
    assert main([*argv, "--mask", "mask.png"], plugins=[FakePlugin()]) == 1
    assert "it needs --edit FILE" in capsys.readouterr().err
    (tmp_path / "notes.txt").write_text("not an image")
    assert main([*argv, "--edit", str(tmp_path / "notes.txt")], plugins=[FakePlugin()]) == 1
    assert "is no image relaykit reads" in capsys.readouterr().err


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize(
    ("argv", "fix"),
    [
        (["image", "-m", "fake/img-1", ""], "relaykit image -m fake/img-1 'a red fox in snow'"),
        (
            ["image", "-m", "fake/img-1", "--edit", "fox.png", " "],
            "relaykit image -m fake/img-1 --edit fox.png 'add a hat'",
        ),
    ],
)
def test_a_blank_prompt_says_the_fix_in_command_line_words(
    argv: list[str], fix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # It said the Python API's fix: generate_image(model, 'a red fox in snow').
    fake = FakePlugin()
    assert main(argv, plugins=[fake]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.splitlines()) == 1, err
    assert fix in err
    assert "generate_image(" not in err and "edit_image(" not in err


def test_the_python_api_keeps_its_own_fix() -> None:
    from relaykit import InvalidRequestError
    from relaykit.image_generation import build_image_request

    with pytest.raises(InvalidRequestError) as caught:
        build_image_request("fake/img-1", "", {})
    assert caught.value.hint == "say what to draw: generate_image(model, 'a red fox in snow')"


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_o_dash_writes_the_image_to_stdout_when_piped_as_speak_does(
    backend: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    """``-o -`` is stdout (relaykit image ... -o - | display), not a file named ``-.png``."""
    monkeypatch.chdir(tmp_path)
    argv = ["--backend", backend, "image", FOX, "-m", "fake/gpt-image-1", "-o", "-"]
    assert main(argv, plugins=[FakePlugin()]) == 0
    assert capsysbinary.readouterr().out == mock_image(FOX)
    assert not list(tmp_path.glob("*.png"))


class _Terminal:
    def isatty(self) -> bool:
        return True


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize(
    ("more", "complaint"),
    [
        (["-n", "2"], "-o - writes one image: -n 2 asks for 2"),
        (["--json"], "-o - writes the image to stdout: --json would print there too"),
    ],
)
def test_o_dash_refuses_what_stdout_cannot_hold_before_the_call(
    more: list[str],
    complaint: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    fake = FakePlugin()
    assert main(["image", FOX, "-m", "fake/gpt-image-1", "-o", "-", *more], plugins=[fake]) == 1
    assert capsys.readouterr().err.startswith(f"error: {complaint}")
    assert fake.images == []
    assert not list(tmp_path.glob("*.png"))


@pytest.mark.usefixtures("cli_config")
def test_o_dash_refuses_a_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.stdout.isatty", _Terminal().isatty)
    fake = FakePlugin()
    assert main(["image", FOX, "-m", "fake/gpt-image-1", "-o", "-"], plugins=[fake]) == 1
    assert capsys.readouterr().err.startswith("error: -o - would write an image to a terminal")
    assert fake.images == []
