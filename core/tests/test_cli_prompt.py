"""``relaykit prompt`` against a loopback OpenAI server."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path
from typing import Any

import pytest

from relaykit.cli import main
from relaykit.cli.chat_options import parse_param
from relaykit.testing import OpenAIMock

MODEL = "openai/gpt-4o-mini"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.usefixtures("cli_config")
def test_prompt_streams_the_reply_to_stdout(
    openai_mock: OpenAIMock, capsys: pytest.CaptureFixture[str]
) -> None:
    openai_mock.script.reply("Hello from the mock, in several chunks.")

    assert main(["prompt", "-m", MODEL, "Hi there"]) == 0

    assert capsys.readouterr().out == "Hello from the mock, in several chunks.\n"
    body = openai_mock.last_request.json()
    assert body["stream"] is True
    assert body["messages"] == [{"role": "user", "content": "Hi there"}]


@pytest.mark.usefixtures("cli_config")
def test_no_stream_sends_one_plain_request(
    openai_mock: OpenAIMock, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["prompt", "--no-stream", "-m", MODEL, "Hi"]) == 0

    assert capsys.readouterr().out == "echo: Hi\n"
    assert not openai_mock.last_request.json().get("stream")


@pytest.mark.usefixtures("cli_config")
def test_prompt_runs_on_trio(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--backend", "trio", "prompt", "-m", MODEL, "on trio"]) == 0
    assert capsys.readouterr().out == "echo: on trio\n"


@pytest.mark.usefixtures("cli_config")
def test_global_options_may_follow_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prompt", "--backend", "trio", "-m", MODEL, "late option"]) == 0
    assert capsys.readouterr().out == "echo: late option\n"


@pytest.mark.usefixtures("cli_config")
def test_prompt_reads_stdin_without_text(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("piped\nprompt\n"))

    assert main(["prompt", "-m", MODEL]) == 0

    assert capsys.readouterr().out == "echo: piped\nprompt\n"


class _Unreadable(_Terminal):
    def read(self, size: int | None = -1) -> str:
        raise AssertionError("a terminal must not be read: it would wait for typing")


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_stdin_comes_first_then_a_blank_line_then_text(
    backend: str, openai_mock: OpenAIMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("def f():\n    return 1\n\n"))

    assert main(["--backend", backend, "prompt", "-m", MODEL, "explain this"]) == 0

    assert openai_mock.last_request.json()["messages"] == [
        {"role": "user", "content": "def f():\n    return 1\n\nexplain this"}
    ]


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize("stdin", [_Unreadable(), io.StringIO(" \n")])
def test_text_alone_when_stdin_is_a_terminal_or_blank(
    stdin: io.StringIO, openai_mock: OpenAIMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", stdin)

    assert main(["prompt", "-m", MODEL, "just this"]) == 0

    assert openai_mock.last_request.json()["messages"] == [{"role": "user", "content": "just this"}]


@pytest.mark.usefixtures("cli_config")
def test_no_text_and_a_terminal_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", _Terminal())

    assert main(["prompt", "-m", MODEL]) == 1

    assert capsys.readouterr().err.startswith("error: no prompt given (pass it as an argument")


@pytest.mark.usefixtures("cli_config")
def test_system_prompt_comes_first(openai_mock: OpenAIMock) -> None:
    assert main(["prompt", "-m", MODEL, "--system", "Be brief.", "Hi"]) == 0

    messages = openai_mock.last_request.json()["messages"]
    assert messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]


@pytest.mark.usefixtures("cli_config")
def test_json_prints_the_whole_response(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prompt", "-m", MODEL, "--json", "Hi"]) == 0

    out = capsys.readouterr().out
    data = json.loads(out)
    assert data["text"] == "echo: Hi"
    assert data["provider"] == "openai"
    assert data["model"] == "gpt-4o-mini"
    assert data["usage"]["output_tokens"] == 2
    assert isinstance(data["cost"], str)  # a Decimal, kept exact


@pytest.mark.usefixtures("cli_config")
def test_json_without_streaming(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prompt", "-m", MODEL, "--json", "--no-stream", "Hi"]) == 0
    assert json.loads(capsys.readouterr().out)["text"] == "echo: Hi"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("max_tokens=200", ("max_tokens", 200)),
        ("temperature=0.2", ("temperature", 0.2)),
        ("stop=END", ("stop", "END")),
        ('stop=["a", "b"]', ("stop", ["a", "b"])),
        ('metadata={"user": "u1"}', ("metadata", {"user": "u1"})),
        ("seed=", ("seed", "")),
        ("extra=a=b", ("extra", "a=b")),
        (" top_p =1", ("top_p", 1)),
    ],
)
def test_option_values_are_json_when_they_parse(text: str, expected: tuple[str, Any]) -> None:
    assert parse_param(text) == expected


@pytest.mark.parametrize("text", ["max_tokens", "=5", ""])
def test_option_without_a_key_is_rejected(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="expected KEY=VALUE"):
        parse_param(text)


@pytest.mark.usefixtures("cli_config")
def test_options_reach_the_request(openai_mock: OpenAIMock) -> None:
    argv = ["prompt", "-m", MODEL, "-o", "max_tokens=5", "-o", "temperature=0.2", "-o", "stop=END"]

    assert main([*argv, "Hi"]) == 0

    body = openai_mock.last_request.json()
    assert body["temperature"] == 0.2
    assert body["stop"] == ["END"]
    assert 5 in (body.get("max_tokens"), body.get("max_completion_tokens"))


@pytest.mark.usefixtures("cli_config")
def test_malformed_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prompt", "-m", MODEL, "-o", "max_tokens", "Hi"]) == 2
    assert "expected KEY=VALUE" in capsys.readouterr().err


@pytest.mark.usefixtures("cli_config")
def test_unknown_option_names_the_nearest_parameter(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prompt", "-m", MODEL, "-o", "max_token=5", "Hi"]) == 1

    err = capsys.readouterr().err
    assert err == "error: unknown parameter 'max_token': did you mean 'max_tokens'?\n"


@pytest.mark.usefixtures("cli_config")
def test_model_defaults_to_the_config(
    write_config: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(extra='[defaults]\nmodel = "openai/gpt-4o"\n')
    monkeypatch.setenv("RELAYKIT_CONFIG", str(path))

    assert main(["prompt", "--json", "Hi"]) == 0

    assert json.loads(capsys.readouterr().out)["model"] == "gpt-4o"


@pytest.mark.usefixtures("cli_config")
def test_missing_model_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prompt", "Hi"]) == 1

    err = capsys.readouterr().err
    assert err.startswith("error: no model given (pass -m provider/model")
    assert "[defaults] model" in err


@pytest.mark.usefixtures("cli_config")
def test_config_option_wins_over_the_environment(
    write_config: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    other = write_config(extra='[defaults]\nmodel = "openai/o4-mini"\n', name="other.toml")

    assert main(["--config", str(other), "prompt", "--json", "Hi"]) == 0

    assert json.loads(capsys.readouterr().out)["model"] == "o4-mini"


@pytest.mark.usefixtures("cli_config")
def test_config_path_that_does_not_exist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-c", str(tmp_path / "missing.toml"), "prompt", "-m", MODEL, "Hi"]) == 1
    assert capsys.readouterr().err.startswith("error: config file ")


def test_count_tokens_prints_the_count_and_calls_no_model(
    openai_mock: OpenAIMock,
    write_config: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # OpenAI counts (its mock: a word a token); an OpenAI-compatible service cannot.
    local = f'[providers.local]\ntype = "vllm"\nbase_url = "{openai_mock.base_url}"\n'
    monkeypatch.setenv("RELAYKIT_CONFIG", str(write_config(extra=local)))
    assert main(["prompt", "--count-tokens", "-m", MODEL, "one two three"]) == 0
    assert capsys.readouterr().out == "3 input tokens\n"
    assert [r.path for r in openai_mock.requests] == ["/v1/responses/input_tokens"]
    prompt = "abcd" * 10
    assert main(["prompt", "--count-tokens", "-m", "local/llama", prompt]) == 0
    assert capsys.readouterr().out == "10 input tokens (estimated: the provider cannot count)\n"
    assert (
        main(["prompt", "--count-tokens", "--json", "-m", "local/llama", "-s", "ab", prompt]) == 0
    )
    assert json.loads(capsys.readouterr().out) == {"input_tokens": 10, "exact": False}
    assert len(openai_mock.requests) == 1, "counting sends nothing to a model"


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        (
            "name, age int, bio: one sentence",
            {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "age": {"type": "integer"},
                    "bio": {"type": "string", "description": "one sentence"},
                },
                "required": ["name", "age", "bio"],
                "additionalProperties": False,
            },
        ),
        ('{"type": "object", "properties": {"x": {"type": "number"}}}', None),
    ],
)
def test_schema_asks_for_json(
    schema: str,
    expected: dict[str, Any] | None,
    openai_mock: OpenAIMock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    openai_mock.script.reply('{"name": "Ada", "age": 36, "bio": "Wrote the first program."}')
    assert main(["prompt", "--no-stream", "-m", MODEL, "--schema", schema, "Who?"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "Ada"
    sent = openai_mock.last_request.json()["response_format"]
    assert sent["type"] == "json_schema"
    assert sent["json_schema"]["schema"] == (expected or json.loads(schema))


@pytest.mark.usefixtures("cli_config")
def test_schema_from_a_file_and_mistakes(
    tmp_path: Path, openai_mock: OpenAIMock, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "person.json"
    path.write_text('{"type": "object", "properties": {"n": {"type": "string"}}}')
    openai_mock.script.reply('{"n": "x"}')
    assert main(["prompt", "--no-stream", "-m", MODEL, "--schema", str(path), "Who?"]) == 0
    assert openai_mock.last_request.json()["response_format"]["json_schema"]["schema"]["properties"]
    capsys.readouterr()
    for bad, message in [
        ("name, age integer", "is not 'name', 'name TYPE'"),
        (str(tmp_path / "missing.json"), "cannot read --schema"),
        ("{not json", "is not valid JSON"),
    ]:
        sent = len(openai_mock.requests)
        assert main(["prompt", "-m", MODEL, "--schema", bad, "Who?"]) != 0
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
        assert len(openai_mock.requests) == sent  # refused before connecting


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize(("given", "effort"), [("high", "high"), ("3000", "medium")])
def test_reasoning_sets_how_much_the_model_thinks(
    openai_mock: OpenAIMock, capsys: pytest.CaptureFixture[str], given: str, effort: str
) -> None:
    assert main(["prompt", "-m", "openai/o4-mini", "--reasoning", given, "2+2?"]) == 0
    assert capsys.readouterr().out == "echo: 2+2?\n"
    assert openai_mock.last_request.json()["reasoning_effort"] == effort


@pytest.mark.usefixtures("cli_config")
def test_an_unknown_reasoning_effort_is_one_error_line(
    openai_mock: OpenAIMock, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["prompt", "-m", "openai/o4-mini", "-r", "hgih", "2+2?"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: reasoning effort 'hgih' is not one relaykit knows")
    assert "did you mean 'high'?" in err and "Traceback" not in err
    assert openai_mock.requests == []


# -- --functions: a file's functions as tools ----------------------------------------------

FUNCTIONS = '''
import dataclasses
from json import dumps  # imported: not a tool


@dataclasses.dataclass
class Reading:
    city: str
    degrees: int


def get_weather(city: str) -> Reading:
    """Current weather in a city."""
    return Reading(city, 21)


def _helper() -> None:
    pass
'''


@pytest.mark.usefixtures("cli_config")
def test_functions_become_tools_the_model_calls(
    openai_mock: OpenAIMock, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from relaykit.testing import Reply

    (tmp_path / "tools.py").write_text(FUNCTIONS)
    openai_mock.script.push(
        Reply(tool_calls=(("get_weather", {"city": "Paris"}),)), Reply(text="21 in Paris.")
    )

    argv = ["prompt", "-m", MODEL, "--functions", str(tmp_path / "tools.py"), "Paris?"]
    assert main(argv) == 0

    assert capsys.readouterr() == ("21 in Paris.\n", "tool get_weather: ok\n")
    first, second = (r.json() for r in openai_mock.requests)
    assert [t["function"]["name"] for t in first["tools"]] == ["get_weather"]
    assert second["messages"][-1]["content"] == '{"city": "Paris", "degrees": 21}'
    assert first["stream"] and second["stream"]


@pytest.mark.usefixtures("cli_config")
def test_functions_stream_each_steps_text_and_a_line_per_tool(
    openai_mock: OpenAIMock, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from relaykit.testing import Reply

    (tmp_path / "tools.py").write_text(
        FUNCTIONS + "\n\ndef fail() -> str:\n    raise OSError('down')\n"
    )
    script = (
        Reply(text="Checking.", tool_calls=(("get_weather", {"city": "Paris"}), ("fail", {}))),
        Reply(text="21 in Paris."),
    )
    openai_mock.script.push(*script)
    argv = ["prompt", "-m", MODEL, "--functions", str(tmp_path / "tools.py"), "Paris?"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert out == "Checking.\n21 in Paris.\n"
    assert sorted(err.splitlines()) == ["tool fail: error: OSError: down", "tool get_weather: ok"]

    openai_mock.script.push(*script)
    assert main([*argv, "--no-stream"]) == 0  # the answer alone, once it has come
    assert capsys.readouterr() == ("21 in Paris.\n", "")
    assert not openai_mock.last_request.json().get("stream")


@pytest.mark.usefixtures("cli_config")
def test_functions_are_counted_with_the_prompt(openai_mock: OpenAIMock, tmp_path: Path) -> None:
    (tmp_path / "tools.py").write_text(FUNCTIONS)
    argv = ["prompt", "-m", MODEL, "--count-tokens", "--functions", str(tmp_path / "tools.py")]
    assert main([*argv, "Paris?"]) == 0
    [tool] = openai_mock.last_request.json()["tools"]
    assert tool["name"] == "get_weather"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (None, "there is no such file"),
        ("x = 1\n", "the file defines no function"),
        ("raise ImportError('no module named weather')\n", "running it failed: ImportError"),
        # sys.exit() at import must not end relaykit, silently or with the file's code
        ("import sys\nsys.exit(0)\n", "running it failed: it called sys.exit(0)"),
        ("raise SystemExit(3)\n", "running it failed: it called sys.exit(3)"),
        ("import sys\nsys.exit('usage: tools.py')\n", "it called sys.exit('usage: tools.py')"),
        ("def f(city):\n    pass\n", "tool f: parameter 'city' has no type annotation"),
    ],
)
@pytest.mark.usefixtures("cli_config")
def test_a_functions_file_that_cannot_be_used_is_a_clear_error(
    openai_mock: OpenAIMock,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    source: str | None,
    message: str,
) -> None:
    path = tmp_path / "tools.py"
    if source is not None:
        path.write_text(source)
    assert main(["prompt", "-m", MODEL, "--functions", str(path), "Hi"]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert openai_mock.requests == []


@pytest.mark.parametrize(
    ("name", "source", "message", "fix"),
    [
        ("tools.txt", "def f(x: int) -> int:\n    return x\n", "not a Python file", "tools.py"),
        ("tools.py", "raise ImportError('x')\n", "running it failed", "python "),
    ],
)
@pytest.mark.usefixtures("cli_config")
def test_a_functions_file_error_says_the_fix(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    name: str,
    source: str,
    message: str,
    fix: str,
) -> None:
    path = tmp_path / name
    path.write_text(source)
    assert main(["prompt", "-m", MODEL, "--functions", str(path), "Hi"]) == 1
    err = capsys.readouterr().err
    assert message in err, err
    assert fix in err.partition(message)[2], err  # the fix follows the problem
