"""``-a/--attach`` and ``--attach-type`` on ``relaykit prompt`` and ``relaykit chat``,
against a loopback OpenAI server: the body it receives holds each attachment in
Chat Completions' shape."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest

from relaykit.cli import attachments, main
from relaykit.testing import OpenAIMock
from relaykit.testing.image_samples import mock_image

from .conftest import WriteConfig

MODEL = "openai/gpt-4o-mini"
PNG = mock_image("a cat")
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def _data_url(media_type: str, data: bytes) -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"


def _piped_bytes(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_an_image_and_a_pdf_go_before_the_text_in_openais_shape(
    backend: str, openai_mock: OpenAIMock, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "cat.png").write_bytes(PNG)
    (tmp_path / "report.pdf").write_bytes(PDF)
    argv = ["--backend", backend, "prompt", "-m", MODEL, "What are these?"]

    assert (
        main([*argv, "-a", str(tmp_path / "cat.png"), "--attach", str(tmp_path / "report.pdf")])
        == 0
    )

    assert capsys.readouterr().out == "echo: What are these?\n"
    assert openai_mock.last_request.json()["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": _data_url("image/png", PNG)}},
                {
                    "type": "file",
                    "file": {
                        "filename": "report.pdf",
                        "file_data": _data_url("application/pdf", PDF),
                    },
                },
                {"type": "text", "text": "What are these?"},
            ],
        }
    ]


@pytest.mark.usefixtures("cli_config")
def test_a_text_file_is_sent_as_framed_text_under_its_name(
    openai_mock: OpenAIMock, tmp_path: Path
) -> None:
    # No suffix mimetypes knows: the bytes decode as UTF-8, so it is text.
    (tmp_path / "Makefile").write_text("test:\n\tpytest -q\n")

    assert main(["prompt", "-m", MODEL, "-a", str(tmp_path / "Makefile"), "Explain"]) == 0

    assert openai_mock.last_request.json()["messages"][0]["content"] == [
        {"type": "text", "text": '<document name="Makefile">\ntest:\n\tpytest -q\n\n</document>'},
        {"type": "text", "text": "Explain"},
    ]


@pytest.mark.usefixtures("cli_config")
def test_urls_are_sent_as_urls(openai_mock: OpenAIMock) -> None:
    argv = ["prompt", "-m", MODEL, "Compare", "-a", "https://example.com/img/cat.jpg?size=2"]
    # no suffix to go by: --attach-type (llm's --at) names the type
    argv += ["--at", "https://example.com/render", "image/png"]

    assert main(argv) == 0

    assert openai_mock.last_request.json()["messages"][0]["content"] == [
        {"type": "image_url", "image_url": {"url": "https://example.com/img/cat.jpg?size=2"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/render"}},
        {"type": "text", "text": "Compare"},
    ]


@pytest.mark.usefixtures("cli_config")
def test_a_data_url_is_attached_as_its_bytes(openai_mock: OpenAIMock) -> None:
    # It was read as a file path: "cannot attach 'data:image/png;base64,...': there is
    # no such file". Its bytes are attached as a file's, its type from the URL.
    pdf_url = "data:application/pdf;base64," + base64.b64encode(PDF).decode()
    argv = ["prompt", "-m", MODEL, "Compare", "-a", _data_url("image/png", PNG)]
    # a base64 URL with its line breaks (base64 without -w0); the type is the URL's
    argv += ["-a", pdf_url[:40] + "\n" + pdf_url[40:]]
    # without ;base64, the data is percent-encoded; with no type, it is text/plain
    argv += ["-a", "data:,caf%C3%A9%20menu"]

    assert main(argv) == 0

    assert openai_mock.last_request.json()["messages"][0]["content"] == [
        {"type": "image_url", "image_url": {"url": _data_url("image/png", PNG)}},
        {"type": "file", "file": {"filename": "document.pdf", "file_data": pdf_url}},
        {"type": "text", "text": '<document name="document.txt">\ncafé menu\n</document>'},
        {"type": "text", "text": "Compare"},
    ]


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_dash_reads_the_attachment_from_stdin(
    backend: str, openai_mock: OpenAIMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    _piped_bytes(monkeypatch, PNG)

    assert main(["--backend", backend, "prompt", "-m", MODEL, "-a", "-", "Describe it"]) == 0

    assert openai_mock.last_request.json()["messages"][0]["content"] == [
        {"type": "image_url", "image_url": {"url": _data_url("image/png", PNG)}},
        {"type": "text", "text": "Describe it"},
    ]


@pytest.mark.usefixtures("cli_config")
def test_attachments_alone_are_a_prompt(
    openai_mock: OpenAIMock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", _Terminal())
    (tmp_path / "cat.png").write_bytes(PNG)

    assert main(["prompt", "-m", MODEL, "-a", str(tmp_path / "cat.png")]) == 0

    assert openai_mock.last_request.json()["messages"][0]["content"] == [
        {"type": "image_url", "image_url": {"url": _data_url("image/png", PNG)}}
    ]


def _files(tmp_path: Path) -> None:
    (tmp_path / "blob").write_bytes(b"\x00\x01\x02\xff" * 8)
    (tmp_path / "report").write_bytes(b"PK\x03\x04\x00\x00" + bytes(range(32)))
    (tmp_path / "photo.bmp").write_bytes(b"BM" + bytes(60))
    (tmp_path / "song.mp3").write_bytes(b"ID3\x04\x00" + bytes(range(32)))
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (tmp_path / "long.txt").write_text("x" * 50)
    (tmp_path / "big.png").write_bytes(PNG + bytes(200))


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["-a", "missing.png", "Hi"], "cannot attach 'missing.png': there is no such file"),
        # a URL of another scheme was read as a missing file
        (
            ["-a", "ftp://host/file", "Hi"],
            "cannot attach 'ftp://host/file': relaykit takes http:// and https:// URLs, "
            "not ftp:// ones (download it and attach the file (-a PATH), or give an http(s)://",
        ),
        (["-a", "file:///tmp/x.png", "Hi"], "not file:// ones (download it"),
        # data: URLs: their bytes, checked as a file's (quoted by their header only)
        (
            ["-a", "data:image/png;base64,iVBORw0KGgo@@@", "Hi"],
            "cannot attach 'data:image/png;base64,…': its data is not valid base64 "
            "(encode the file with base64 -w0 FILE, or attach the file itself: -a PATH)",
        ),
        (
            ["-a", "data:image/png;base64", "Hi"],
            "cannot attach 'data:image/png;base64': a data: URL holds its data after a comma"
            " (data:MIME;base64,DATA, e.g. data:image/png;base64,iVBORw0KGgo...)",
        ),
        (["-a", "data:png;base64,AAAA", "Hi"], "its media type 'png' is no MIME type"),
        (["-a", "data:image/png;base64,", "Hi"], "'data:image/png;base64,…' is empty (0 bytes)"),
        (["-a", "data:audio/mpeg;base64,SUQz", "Hi"], "is audio/mpeg: prompts take images"),
        (
            ["-a", "data:text/plain," + "x" * 50, "Hi"],
            "the attachment 'data:text/plain,…' is 50 characters of text",
        ),
        (["-a", _data_url("image/png", PNG + bytes(200)), "Hi"], "attaches files of at most"),
        (["-a", ".", "Hi"], "cannot attach '.': it is a directory"),
        (["-a", "blob", "Hi"], "(name its type: --attach-type blob MIME"),
        (
            ["-a", "https://example.com/download", "Hi"],
            "--attach-type https://example.com/download",
        ),
        (["-a", "photo.bmp", "Hi"], "is image/bmp: models read PNG, JPEG, WebP or GIF images"),
        (["-a", "song.mp3", "Hi"], "(transcribe audio first: relaykit transcribe FILE)"),
        (["-a", "empty.txt", "Hi"], "the attachment 'empty.txt' is empty (0 bytes)"),
        (["--attach-type", "latin1.txt", "text/plain", "Hi"], "is text/plain, but not UTF-8"),
        (["-a", "long.txt", "Hi"], "50 characters of text, over the limit of 40 (attach a part"),
        (["-a", "big.png", "Hi"], "relaykit attaches files of at most"),
        (["-a", "-"], "with -a -, stdin is the attachment, so the prompt must be TEXT"),
        (["-a", "-", "-a", "-", "Hi"], "-a - is given more than once"),
        # what the provider cannot read, it refuses before sending:
        (
            ["--attach-type", "report", "application/msword", "Hi"],
            "document 'report' is application/msword: Chat Completions reads PDFs",
        ),
        (
            ["-a", "https://example.com/paper.pdf", "Hi"],
            "document 'paper.pdf' is given by URL, and Chat Completions takes no file URLs",
        ),
    ],
)
def test_an_attachment_that_cannot_be_sent_is_one_error_line(
    argv: list[str],
    error: str,
    openai_mock: OpenAIMock,
    write_config: WriteConfig,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("RELAYKIT_CONFIG", str(write_config(extra="[validation]\nmax_chars = 40")))
    monkeypatch.setattr(attachments, "MAX_ATTACHMENT_BYTES", len(PNG) + 100)
    monkeypatch.chdir(tmp_path)
    _files(tmp_path)
    if "-" in argv:
        _piped_bytes(monkeypatch, PNG)
    else:
        monkeypatch.setattr("sys.stdin", _Terminal())

    assert main(["prompt", "-m", MODEL, *argv]) == 1

    err = capsys.readouterr().err
    assert err.startswith("error: ") and error in err, err
    assert "Traceback" not in err and len(err.splitlines()) == 1
    assert openai_mock.requests == []


@pytest.mark.usefixtures("cli_config")
def test_a_binary_file_piped_as_the_prompt_says_to_attach_it(
    openai_mock: OpenAIMock, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _piped_bytes(monkeypatch, PNG)

    assert main(["prompt", "-m", MODEL, "Describe it"]) == 1

    err = capsys.readouterr().err
    assert err.startswith("error: stdin is not UTF-8 text (byte 1)")
    assert "attach it: cat photo.png | relaykit prompt -a - 'Describe it'" in err
    assert openai_mock.requests == []


@pytest.mark.usefixtures("cli_config")
def test_dash_with_stdin_a_terminal_says_to_pipe(
    openai_mock: OpenAIMock, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", _Terminal())

    assert main(["prompt", "-m", MODEL, "-a", "-", "Hi"]) == 1

    assert "stdin is a terminal (pipe the file in: cat photo.png |" in capsys.readouterr().err
    assert openai_mock.requests == []


def test_attach_type_needs_a_mime_type(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prompt", "--attach-type", "notes", "text", "Hi"]) == 2
    assert "'text' is no MIME type (e.g. image/png)" in capsys.readouterr().err


@pytest.mark.usefixtures("cli_config")
def test_chat_attaches_to_the_first_message_only(
    openai_mock: OpenAIMock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "cat.png").write_bytes(PNG)
    monkeypatch.setattr("sys.stdin", io.StringIO("What is it?\nAnd its colour?\n"))

    assert main(["chat", "-m", MODEL, "-a", str(tmp_path / "cat.png")]) == 0

    first, second = (r.json()["messages"] for r in openai_mock.requests)
    image = {"type": "image_url", "image_url": {"url": _data_url("image/png", PNG)}}
    assert first == [{"role": "user", "content": [image, {"type": "text", "text": "What is it?"}]}]
    assert second == [
        *first,
        {"role": "assistant", "content": "echo: What is it?"},
        {"role": "user", "content": "And its colour?"},
    ]


@pytest.mark.usefixtures("cli_config")
def test_chat_cannot_read_an_attachment_from_stdin(
    openai_mock: OpenAIMock, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("Hi\n"))

    assert main(["chat", "-m", MODEL, "-a", "-"]) == 1

    assert "relaykit chat reads its messages from stdin" in capsys.readouterr().err
    assert openai_mock.requests == []
