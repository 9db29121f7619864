"""Every class of bad input the ``relaykit`` command can get: one ``error:`` line, no traceback.

Cross-package: the storage failures need relaykit-sqlite and relaykit-postgres,
the base-URL one relaykit-openai.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest

from relaykit.cli import main


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def openai_never_reached(monkeypatch: pytest.MonkeyPatch) -> None:
    """A key for OpenAI and a base URL nothing listens on: the errors come first."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789abcdef")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")


def assert_one_error_line(code: int, err: str, *needles: str) -> None:
    assert code != 0
    assert err.startswith("error: "), err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (["logs", "--since", "yesterday"], ["--since", "'yesterday'", "7d"]),
        (["logs", "--until", "2025-13-45"], ["--until", "2025-03-14"]),
        (["logs", "prune", "--older-than", "soon"], ["--older-than", "30d"]),
        (["logs", "prune"], ["--older-than", "relaykit logs prune --help"]),
        (["prompt", "-o", "bad", "hi"], ["KEY=VALUE", "relaykit prompt --help"]),
        (["logs", "-n", "-3"], ["--limit", "-3"]),
        (["logs", "--offset", "x"], ["--offset", "'x'"]),
        (["logs", "--meta", "alice"], ["--meta", "NAME=VALUE", "gateway_key=alice"]),
        (["frobnicate"], ["invalid choice: 'frobnicate'", "relaykit --help"]),
        (["prompt", "--max-steps", "-1", "hi"], ["--max-steps", "-1 is out of range", "1 or more"]),
        (["prompt", "--max-steps", "x", "hi"], ["--max-steps", "'x' is not a whole number"]),
        (["chat", "--max-steps", "0"], ["--max-steps", "0 is out of range", "1 or more"]),
        (
            ["prompt", "--max-tokens", "5", "hi"],
            ["relaykit prompt: unrecognized", "-o max_tokens=VALUE", "`relaykit prompt --help`"],
        ),
        (
            ["batch", "results", "--jsn", "b1"],
            ["relaykit batch results: unrecognized", "'--json'", "relaykit batch results --help"],
        ),
    ],
)
def test_usage_errors_are_one_error_line_naming_the_option_and_the_help(
    argv: list[str], needles: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(argv, capsys)
    assert code == 2  # the usage-error code argparse and most tools use
    assert_one_error_line(code, err, *needles)


def test_by_without_totals_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "relaykit.toml"
    config.write_text(f'[storage]\nbackend = "sqlite"\npath = "{tmp_path / "logs.db"}"\n')
    code, _, err = run(["-c", str(config), "logs", "--by", "gateway_key"], capsys)
    assert_one_error_line(code, err, "--by", "--totals")


def test_an_until_before_since_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "relaykit.toml"
    config.write_text(f'[storage]\nbackend = "sqlite"\npath = "{tmp_path / "logs.db"}"\n')
    argv = ["-c", str(config), "logs", "--since", "2025-03-08", "--until", "2025-03-01"]
    code, _, err = run(argv, capsys)
    assert_one_error_line(code, err, "--until", "--since")


def test_an_unreachable_sqlite_path_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    config = tmp_path / "relaykit.toml"
    config.write_text(f'[storage]\nbackend = "sqlite"\npath = "{blocker / "sub" / "logs.db"}"\n')
    code, _, err = run(["-c", str(config), "logs"], capsys)
    assert_one_error_line(code, err, str(blocker / "sub"), "[storage] path")


def test_a_refusing_postgres_is_one_error_line_without_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "relaykit.toml"
    dsn = "postgresql://nobody:hunter2secret@127.0.0.1:1/x"
    config.write_text(f'[storage]\nbackend = "postgres"\ndsn = "{dsn}"\n')
    code, _, err = run(["-c", str(config), "logs"], capsys)
    assert_one_error_line(code, err, "PostgreSQL", "refused", "dsn")
    assert "hunter2secret" not in err


@pytest.mark.parametrize("variable", ["RELAYKIT_PLUGINS", "RELAYKIT_DISABLE_PLUGINS"])
def test_a_plugin_filter_naming_no_installed_plugin_is_an_error(
    variable: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(variable, "openai,opneai")
    code, _, err = run(["plugins"], capsys)
    assert_one_error_line(code, err, variable, "'opneai'", "did you mean 'openai'?")


@pytest.mark.parametrize("base_url", ["notaurl", "ftp://host/v1", "127.0.0.1:8000/v1"])
def test_a_base_url_that_is_no_http_url_is_a_config_error(
    base_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789abcdef")
    monkeypatch.setenv("OPENAI_BASE_URL", base_url)
    code, _, err = run(["prompt", "-m", "openai/gpt-4o-mini", "hi"], capsys)
    assert_one_error_line(code, err, repr(base_url), "http://", "OPENAI_BASE_URL")


def _sqlite_config(tmp_path: Path) -> Path:
    config = tmp_path / "relaykit.toml"
    config.write_text(f'[storage]\nbackend = "sqlite"\npath = "{tmp_path / "logs.db"}"\n')
    return config


def test_logs_import_of_a_directory_refuses_and_leaves_it_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "spilled"
    folder.mkdir()
    code, _, err = run(["-c", str(_sqlite_config(tmp_path)), "logs", "import", str(folder)], capsys)
    assert_one_error_line(code, err, str(folder), "is a directory", "spill file")
    assert folder.is_dir()  # not moved aside as a taken spill file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["relaykit.toml", "spilled"]


def test_logs_import_of_a_missing_file_says_so_and_leaves_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "spilled.jsonl"
    code, _, err = run(
        ["-c", str(_sqlite_config(tmp_path)), "logs", "import", str(missing)], capsys
    )
    assert_one_error_line(code, err, str(missing), "no such file", "spill_path")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["relaykit.toml"]  # no lock file


def test_logs_import_of_a_file_not_utf8_names_it_and_gives_it_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spilled = tmp_path / "spilled.jsonl"
    spilled.write_bytes(b'{"record": \xff\xfe}\n')
    code, _, err = run(
        ["-c", str(_sqlite_config(tmp_path)), "logs", "import", str(spilled)], capsys
    )
    assert_one_error_line(code, err, f"{spilled}:1", "UTF-8")
    assert spilled.read_bytes() == b'{"record": \xff\xfe}\n'  # back where it was, as it was


def test_logs_import_of_a_line_that_is_no_record_names_what_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spilled = tmp_path / "spilled.jsonl"
    spilled.write_text('{"id": "abc"}\n')
    code, _, err = run(
        ["-c", str(_sqlite_config(tmp_path)), "logs", "import", str(spilled)], capsys
    )
    assert_one_error_line(code, err, f"{spilled}:1", "started_at", "relaykit logs --json")
    assert "sub-exceptions" not in err
    assert spilled.read_text() == '{"id": "abc"}\n'


NOT_UTF8 = b'{"x": "caf\xe9"}\n'  # Latin-1, as an old editor saves it


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (["-c", "{file}", "models"], ["config file", "UTF-8"]),
        (["batch", "submit", "-m", "openai/gpt-4o-mini", "{file}"], ["UTF-8", "iconv"]),
        (["prompt", "-m", "openai/gpt-4o-mini", "--schema", "{file}", "hi"], ["UTF-8", "iconv"]),
    ],
    ids=["config", "batch", "schema"],
)
def test_a_file_that_is_not_utf8_is_one_error_line_naming_it(
    argv: list[str], needles: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "input.json"
    path.write_bytes(NOT_UTF8)
    code, _, err = run([a.replace("{file}", str(path)) for a in argv], capsys)
    assert_one_error_line(code, err, str(path), *needles)


#: a command-line argument in Latin-1, as Python hands it over on POSIX: the byte
#: it cannot decode as a lone surrogate (surrogateescape)
LATIN1_ARG = b"caf\xe9".decode("utf-8", "surrogateescape")


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (["prompt", "-m", "openai/gpt-4o-mini", LATIN1_ARG], ["argument 4 ", "(byte 4)"]),
        (["prompt", "-m", "openai/gpt-4o-mini", "-s", LATIN1_ARG, "hi"], ["the value of -s"]),
        (["embed", "-m", "openai/text-embedding-3-small", LATIN1_ARG], ["argument 4 "]),
        (["logs", "--model", LATIN1_ARG], ["the value of --model"]),
        (["keys", "rm", LATIN1_ARG], ["argument 3 "]),
        (["prompt", "-o", "stop=" + LATIN1_ARG, "hi"], ["the value of -o", "(byte 9)"]),
    ],
    ids=["prompt", "system", "embed", "logs", "keys", "option"],
)
@pytest.mark.usefixtures("openai_never_reached")
def test_an_argument_that_is_not_utf8_is_one_error_line_naming_it_not_showing_it(
    argv: list[str], needles: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """An argument in another encoding slipped through as a lone surrogate and failed
    deep inside: a traceback of an ExceptionGroup (UnicodeEncodeError) when the
    request or the call log was encoded, or when a SQLite query bound it. The value
    is not shown: it may be a header with a token (--mcp-header)."""
    code, out, err = run(argv, capsys)
    assert_one_error_line(code, err, "is not UTF-8 text (byte ", "iconv", *needles)
    assert "caf" not in err and out == ""


def test_a_path_argument_that_is_not_utf8_but_names_a_file_is_taken(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file name in another encoding is a file name all the same: Python gives it
    back to the system as the same bytes."""
    name = os.fsencode(tmp_path) + b"/caf\xe9.toml"
    with open(name, "wb") as f:
        f.write(b'[storage]\nbackend = "none"\n')
    code, _, err = run(["-c", os.fsdecode(name), "plugins"], capsys)
    assert code == 0, err


@pytest.mark.parametrize(
    "argv",
    [
        ["prompt", "-m", "openai/gpt-4o-mini"],
        ["chat", "-m", "openai/gpt-4o-mini"],
        ["embed", "-m", "openai/text-embedding-3-small"],
        ["moderate", "-m", "openai/omni-moderation-latest"],
        ["rerank", "-m", "openai/x", "which?"],
        ["speak", "-m", "openai/gpt-4o-mini-tts", "-"],
        ["batch", "submit", "-m", "openai/gpt-4o-mini", "-"],
        ["keys", "set", "openai"],
    ],
    ids=lambda argv: argv[0],
)
@pytest.mark.parametrize("errors", ["surrogateescape", "strict"], ids=["C-locale", "utf8-locale"])
@pytest.mark.usefixtures("openai_never_reached")
def test_stdin_that_is_not_utf8_is_one_error_line_naming_the_byte(
    argv: list[str],
    errors: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Under the C locale Python decodes stdin with surrogateescape: the bad byte
    # used to get through and fail at send time, as a UnicodeEncodeError traceback.
    data = b'{"custom_id": "q1", "prompt": "caf\xe9"}\n'  # Latin-1, byte 35
    stdin = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors=errors)
    monkeypatch.setattr("sys.stdin", stdin)
    code, _, err = run(argv, capsys)
    assert_one_error_line(code, err, "stdin is not UTF-8 text (byte 35)", "iconv -f LATIN1")


@pytest.mark.parametrize(
    ("option", "needles"),
    [
        ("max_tokens=999999999999999999999", ["max_tokens", "1 to 2147483647"]),
        ("max_tokens=0", ["max_tokens=0", "1 to 2147483647"]),
        ("temperature=-1", ["temperature=-1", "0 to 2"]),
        ("top_p=1.5", ["top_p=1.5", "0 to 1"]),
        ("seed=99999999999999999999", ["seed", "to 9223372036854775807"]),
    ],
)
@pytest.mark.usefixtures("openai_never_reached")
def test_a_chat_number_out_of_range_is_refused_before_the_call(
    option: str,
    needles: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(["prompt", "-m", "openai/gpt-4o-mini", "-o", option, "hi"], capsys)
    assert_one_error_line(code, err, "out of range", *needles)


def test_a_config_path_that_is_a_directory_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["-c", str(tmp_path), "models"], capsys)
    assert_one_error_line(code, err, f"config file {tmp_path} is a directory", "relaykit.toml")


@pytest.mark.parametrize(
    "argv", [["logs"], ["logs", "--totals"], ["logs", "prune", "--older-than", "30d"]]
)
def test_a_logs_query_on_a_missing_database_says_so_and_creates_nothing(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mistyped [storage] path used to be created, directory and all, and answered
    "no logged calls match": the typo went unseen. Reads never create the file, as
    ``relaykit similar`` never creates an embeddings file."""
    database = tmp_path / "typo" / "logs.db"
    config = tmp_path / "relaykit.toml"
    config.write_text(f'[storage]\nbackend = "sqlite"\npath = "{database}"\n')
    code, out, err = run(["-c", str(config), *argv], capsys)
    assert_one_error_line(code, err, f"no call log at {database}", "[storage] path")
    assert out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["relaykit.toml"]


def test_keys_set_ended_with_ctrl_d_at_the_prompt_is_an_error_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """getpass raises EOFError on Ctrl-D at an empty prompt: it was a traceback."""

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    def getpass(prompt: str) -> str:
        raise EOFError  # as getpass.unix_getpass does on Ctrl-D

    monkeypatch.setattr("sys.stdin", Terminal())
    monkeypatch.setattr("getpass.getpass", getpass)
    code, out, err = run(["keys", "set", "openai"], capsys)
    # a newline first: getpass leaves the cursor after its prompt when Ctrl-D ends it
    assert err.startswith("\n")
    assert_one_error_line(code, err[1:], "no key given for 'openai'", "type or pipe the key")
    assert out == ""


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (
            ["transcribe", "-m", "openai/gpt-4o-mini-transcribe", "{missing}"],
            ["cannot read audio file", "there is no such file", "check the path"],
        ),
        (
            ["transcribe", "-m", "openai/gpt-4o-mini-transcribe", "{folder}"],
            ["cannot read audio file", "it is a directory", "name a file in it"],
        ),
        (
            ["image", "-m", "openai/gpt-image-1", "--edit", "{missing}", "a fox"],
            ["cannot read image file", "there is no such file", "check the path"],
        ),
        (
            ["batch", "submit", "-m", "openai/gpt-4o-mini", "{missing}"],
            ["cannot read", "there is no such file", "check the path", "JSON Lines"],
        ),
        (
            ["batch", "submit", "-m", "openai/gpt-4o-mini", "{folder}"],
            ["cannot read", "it is a directory", "name a file in it"],
        ),
        (
            ["prompt", "-m", "openai/gpt-4o-mini", "--functions", "{folder}", "hi"],
            ["--functions", "it is a directory", "Python file"],
        ),
        (
            ["prompt", "-m", "openai/gpt-4o-mini", "--schema", "{folder}", "hi"],
            ["--schema", "it is a directory", "JSON schema file"],
        ),
    ],
    ids=[
        "transcribe-missing",
        "transcribe-directory",
        "image-edit-missing",
        "batch-missing",
        "batch-directory",
        "functions-directory",
        "schema-directory",
    ],
)
@pytest.mark.usefixtures("openai_never_reached")
def test_a_file_argument_that_cannot_be_read_names_the_problem_and_the_fix(
    argv: list[str],
    needles: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = tmp_path / "inputs"
    folder.mkdir()
    paths = {"{missing}": str(tmp_path / "nosuch.wav"), "{folder}": str(folder)}
    code, out, err = run([paths.get(a, a) for a in argv], capsys)
    assert_one_error_line(code, err, *needles)
    assert out == ""


def test_backend_trio_without_trio_installed_is_one_error_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """anyio's LookupError ("Backend 'trio' is not available") was a traceback."""
    monkeypatch.setitem(sys.modules, "trio", None)  # import trio: ImportError
    code, _, err = run(["--backend", "trio", "models"], capsys)
    assert_one_error_line(code, err, "--backend trio", "trio is not installed", "pip install trio")


@pytest.mark.parametrize("value", ["not-json", "[1, 2]", "5"])
@pytest.mark.parametrize("key", ["extra", "metadata"])
@pytest.mark.usefixtures("openai_never_reached")
def test_a_mapping_option_that_is_no_json_object_says_how_to_write_one(
    key: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["prompt", "-m", "openai/gpt-4o-mini", "-o", f"{key}={value}", "hi"], capsys)
    assert_one_error_line(code, err, f"-o {key}", "JSON object", '{"')


def test_logs_import_of_what_is_no_regular_file_refuses_and_leaves_it_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``logs import /dev/zero`` (as root) renamed the device aside as a taken spill
    file, read it until memory ran out, and never put it back: /dev/zero was gone.
    A socket stands in for the device here: no regular file either, and harmless."""
    import socket

    monkeypatch.chdir(tmp_path)  # a socket's path must be short
    config = _sqlite_config(tmp_path)
    with socket.socket(socket.AF_UNIX) as server:
        server.bind("spill.jsonl")
        code, _, err = run(["-c", str(config), "logs", "import", "spill.jsonl"], capsys)
    assert_one_error_line(code, err, "spill.jsonl", "is not a regular file", "spill_path")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["relaykit.toml", "spill.jsonl"]
