"""Prompt templates: ``prompt/chat -t NAME -p K V``, ``prompt --save NAME`` and
``relaykit templates``, against a loopback OpenAI server with a user config dir of
the test's own."""

from __future__ import annotations

import io
import json
import sys
import tomllib
from pathlib import Path

import pytest

from relaykit.cli import main
from relaykit.testing import OpenAIMock

from .conftest import WriteConfig

MODEL = "openai/gpt-4o-mini"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def templates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The templates folder of a user config dir of this test's own; stdin a terminal."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "user"))
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setattr("sys.stdin", _Terminal())
    folder = tmp_path / "user" / "relaykit" / "templates"
    folder.mkdir(parents=True)
    return folder


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(text)
    return path


SUMMARIZE = """
model = "openai/gpt-4o-mini"
system = "You summarize in the voice of $voice."
prompt = "Summarize this:"
defaults = { voice = "a pirate" }
options = { temperature = 0.2, max_tokens = 50 }
"""


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_template_gives_model_system_options_and_appends_the_input(
    backend: str, templates: Path, openai_mock: OpenAIMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(templates, "summarize", SUMMARIZE)
    monkeypatch.setattr("sys.stdin", io.StringIO("The ship sank.\n"))

    assert main(["--backend", backend, "prompt", "-t", "summarize"]) == 0

    body = openai_mock.last_request.json()
    assert body["model"] == "gpt-4o-mini"
    assert body["temperature"] == 0.2
    assert body["max_completion_tokens"] == 50
    # no $input: the input follows the template's prompt on a new line, as simonw/llm does
    assert body["messages"] == [
        {"role": "system", "content": "You summarize in the voice of a pirate."},
        {"role": "user", "content": "Summarize this:\nThe ship sank.\n"},
    ]


@pytest.mark.usefixtures("cli_config")
def test_explicit_flags_win_over_the_template(templates: Path, openai_mock: OpenAIMock) -> None:
    _write(templates, "summarize", SUMMARIZE)

    argv = ["prompt", "-t", "summarize", "-m", "openai/gpt-4.1", "-s", "Plain.", "-o"]
    assert main([*argv, "temperature=0.9", "text"]) == 0

    body = openai_mock.last_request.json()
    assert body["model"] == "gpt-4.1"
    assert body["temperature"] == 0.9
    assert body["max_completion_tokens"] == 50  # the template's, not overridden
    assert body["messages"][0] == {"role": "system", "content": "Plain."}


@pytest.mark.usefixtures("cli_config")
def test_params_and_input_fill_placeholders(templates: Path, openai_mock: OpenAIMock) -> None:
    _write(
        templates,
        "translate",
        'prompt = """\nTranslate into $lang (costs $$0):\n$input\n---"""\n',
    )

    assert main(["prompt", "-m", MODEL, "-t", "translate", "-p", "lang", "French", "Hi"]) == 0

    [message] = openai_mock.last_request.json()["messages"]
    assert message == {"role": "user", "content": "Translate into French (costs $0):\nHi\n---"}


@pytest.mark.usefixtures("cli_config")
def test_a_template_prompt_needs_no_input(templates: Path, openai_mock: OpenAIMock) -> None:
    _write(templates, "haiku", 'model = "openai/gpt-4o-mini"\nprompt = "A haiku about $topic"\n')

    assert main(["prompt", "-t", "haiku", "-p", "topic", "rain"]) == 0

    [message] = openai_mock.last_request.json()["messages"]
    assert message == {"role": "user", "content": "A haiku about rain"}


@pytest.mark.usefixtures("cli_config")
def test_template_schema_and_reasoning_reach_the_wire(
    templates: Path, openai_mock: OpenAIMock
) -> None:
    _write(templates, "person", 'schema = "name, age int"\nreasoning = "low"\n')

    argv = ["prompt", "-m", "openai/o4-mini", "-t", "person", "--no-stream", "Invent one"]
    assert main(argv) == 0

    body = openai_mock.last_request.json()
    assert body["reasoning_effort"] == "low"
    schema = body["response_format"]["json_schema"]["schema"]
    assert schema["properties"] == {"name": {"type": "string"}, "age": {"type": "integer"}}


@pytest.mark.usefixtures("cli_config")
def test_functions_paths_are_read_from_the_template_folder(
    templates: Path, openai_mock: OpenAIMock
) -> None:
    (templates / "clock.py").write_text('def now() -> str:\n    """The time."""\n    return "9"\n')
    _write(templates, "timed", 'functions = ["clock.py"]\n')

    assert main(["prompt", "-m", MODEL, "-t", "timed", "What time is it?"]) == 0

    [tool] = openai_mock.requests[0].json()["tools"]
    assert tool["function"]["name"] == "now"


@pytest.mark.usefixtures("cli_config")
def test_save_round_trip(
    templates: Path, openai_mock: OpenAIMock, capsys: pytest.CaptureFixture[str]
) -> None:
    # 1: the run below overrides the model with o4-mini, which takes no other temperature
    argv = ["prompt", "-m", MODEL, "-s", 'Answer "as" $who.', "-o", "temperature=1"]
    argv += ["-p", "who", "a cat", "--schema", "answer", "-r", "low"]
    assert main([*argv, "Question:\n$input", "--save", "ask"]) == 0

    assert openai_mock.requests == []  # saving calls no model
    path = templates / "ask.toml"
    assert capsys.readouterr().out == f"saved template ask: {path}\n"
    saved = tomllib.loads(path.read_text())
    assert saved["model"] == MODEL
    assert saved["system"] == 'Answer "as" $who.'
    assert saved["prompt"] == "Question:\n$input"
    assert saved["defaults"] == {"who": "a cat"}
    assert saved["options"] == {"temperature": 1}
    assert saved["reasoning"] == "low"
    assert json.loads(saved["schema"])["required"] == ["answer"]

    assert main(["prompt", "-t", "ask", "-m", "openai/o4-mini", "--no-stream", "why?"]) == 0
    body = openai_mock.last_request.json()
    assert body["messages"] == [
        {"role": "system", "content": 'Answer "as" a cat.'},
        {"role": "user", "content": "Question:\nwhy?"},
    ]
    assert body["temperature"] == 1
    assert body["reasoning_effort"] == "low"
    assert body["response_format"]["json_schema"]["schema"]["required"] == ["answer"]


@pytest.mark.usefixtures("cli_config")
def test_save_keeps_web_search_and_functions_as_absolute_paths(
    templates: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "tools.py").write_text("def f() -> str:\n    return 'x'\n")
    monkeypatch.chdir(tmp_path)

    assert main(["prompt", "--web-search", "--functions", "tools.py", "--save", "w"]) == 0

    saved = tomllib.loads((templates / "w.toml").read_text())
    assert saved == {"web_search": True, "functions": [str(tmp_path / "tools.py")]}


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["-t", "x"], "error: --save cannot be used with -t"),
        (["-a", "photo.png"], "error: --save cannot be used with -a"),
        (["-s", "x", "--continue", "c1"], "error: --save cannot be used with --continue"),
        # --continue without ID too: a template does not keep it either
        (["-s", "x", "--continue"], "error: --save cannot be used with --continue"),
        # what only a call uses: --save calls no model, so each would be ignored
        (["-s", "x", "--json"], "error: --save cannot be used with --json"),
        (["-s", "x", "--no-stream"], "error: --save cannot be used with --no-stream"),
        (["-s", "x", "--count-tokens"], "error: --save cannot be used with --count-tokens"),
        (["-s", "x", "--max-steps", "3"], "error: --save cannot be used with --max-steps"),
        ([], "error: --save has nothing to save"),
        (["-s", "x", "--save", "a/b"], "error: 'a/b' cannot name a template"),
        # a name longer than a file name may be raised OSError (ENAMETOOLONG)
        (["-s", "x", "--save", "t" * 300], f"error: '{'t' * 300}' cannot name a template"),
    ],
)
def test_save_errors(
    argv: list[str], expected: str, templates: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if "--save" not in argv:
        argv = [*argv, "--save", "new"]
    assert main(["prompt", *argv]) == 1
    assert capsys.readouterr().err.startswith(expected)
    assert list(templates.iterdir()) == []


@pytest.mark.usefixtures("cli_config")
def test_save_refuses_to_overwrite_without_force(
    templates: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(templates, "mine", 'system = "first"\n')

    assert main(["prompt", "-s", "second", "--save", "mine"]) == 1
    assert "error: template 'mine' already exists" in capsys.readouterr().err
    assert tomllib.loads(path.read_text()) == {"system": "first"}

    assert main(["prompt", "-s", "second", "--save", "mine", "--force"]) == 0
    assert tomllib.loads(path.read_text()) == {"system": "second"}


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize(
    "argv",
    [
        ["-o", "api_key=sk-abcdefabcdefabcdefabcdef"],
        ["-o", "api_key=short"],
        ["-s", "Use the key sk-proj-abcdefabcdefabcdef1234 for it"],
    ],
)
def test_save_never_writes_a_secret(
    argv: list[str], templates: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["prompt", *argv, "--save", "leaky"]) == 1

    err = capsys.readouterr().err
    assert err.startswith("error: --save will not write")
    assert "abcdef" not in err
    assert not (templates / "leaky.toml").exists()


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_chat_with_a_template(
    backend: str, templates: Path, openai_mock: OpenAIMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(
        templates,
        "french",
        'model = "openai/gpt-4o-mini"\nsystem = "Be $tone."\nprompt = "In French: $input"\n'
        "options = { temperature = 0.1 }\n",
    )
    monkeypatch.setattr("sys.stdin", io.StringIO("hello\ngood night\nexit\n"))

    assert main(["--backend", backend, "chat", "-t", "french", "-p", "tone", "brief"]) == 0

    body = openai_mock.last_request.json()
    assert body["temperature"] == 0.1
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "In French: hello"},
        {"role": "assistant", "content": "echo: In French: hello"},
        {"role": "user", "content": "In French: good night"},
    ]


@pytest.mark.usefixtures("cli_config")
def test_a_config_table_is_a_template_and_a_file_wins(
    templates: Path,
    write_config: WriteConfig,
    openai_mock: OpenAIMock,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    extra = '[templates.terse]\nsystem = "From the config."\n[templates.team]\nsystem = "Team."\n'
    monkeypatch.setenv("RELAYKIT_CONFIG", str(write_config(extra=extra)))
    _write(templates, "terse", 'system = "From the file."\n')

    assert main(["prompt", "-m", MODEL, "-t", "terse", "x"]) == 0
    assert openai_mock.last_request.json()["messages"][0]["content"] == "From the file."
    assert main(["prompt", "-m", MODEL, "-t", "team", "x"]) == 0
    assert openai_mock.last_request.json()["messages"][0]["content"] == "Team."

    capsys.readouterr()
    assert main(["templates", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["name", "source", "starts"]
    assert out[1].split()[0] == "team" and "[templates.team]" in out[1]
    assert out[2].split()[0] == "terse" and "over the config's" in out[2]

    assert main(["templates", "delete", "team"]) == 1
    assert "is " in capsys.readouterr().err


# -- errors: one `error:` line, exit 1 ----------------------------------------------


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize(
    ("files", "argv", "expected"),
    [
        (
            {"summarize": SUMMARIZE},
            ["-t", "sumarize", "x"],
            "error: there is no template 'sumarize' (known: summarize) (did you mean 'summarize'?)",
        ),
        (
            {"bad": 'system = "unclosed\n'},
            ["-t", "bad", "x"],
            "error: template file {folder}/bad.toml, line 1, column 19 is not valid TOML",
        ),
        (
            {"typo": 'sytem = "x"\n'},
            ["-t", "typo", "x"],
            "error: template 'typo' ({folder}/typo.toml) has an unknown key 'sytem' "
            "(did you mean 'system'? (a template has model, system, prompt, defaults, "
            "options, schema, web_search, reasoning, functions))",
        ),
        (
            {"two": 'prompt = "$a and $b"\n'},
            ["-m", MODEL, "-t", "two", "-p", "a", "1"],
            "error: template 'two' needs $b: give -p b VALUE (its parameters: "
            "-p a VALUE -p b VALUE)",
        ),
        (
            {"two": 'prompt = "$a and $b"\n'},
            ["-t", "two", "-p", "c", "1"],
            "error: template 'two' has no $c (it uses $a, $b)",
        ),
        (
            {"dollar": 'prompt = """\nfine $$5\ncosts $5"""\n'},
            ["-t", "dollar", "x"],
            "error: template 'dollar' ({folder}/dollar.toml) has a $ that names nothing "
            "(line 2 of its prompt)",
        ),
        (
            {"kind": "model = 4\n"},
            ["-t", "kind", "x"],
            "error: template 'kind' ({folder}/kind.toml): model must be a string, not int",
        ),
        ({}, ["-p", "a", "1", "x"], "error: -p fills a template's $NAME, but no template"),
        ({}, ["-t", "../up", "x"], "error: '../up' cannot name a template"),
        ({}, ["-t", "t" * 300, "x"], f"error: '{'t' * 300}' cannot name a template"),
    ],
)
def test_template_errors(
    files: dict[str, str],
    argv: list[str],
    expected: str,
    templates: Path,
    openai_mock: OpenAIMock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, text in files.items():
        _write(templates, name, text)

    assert main(["prompt", *argv]) == 1

    err = capsys.readouterr().err
    assert err.startswith(expected.format(folder=templates)), err
    assert err.count("\n") == 1
    assert openai_mock.requests == []


# -- relaykit templates ----------------------------------------------------------------


@pytest.mark.usefixtures("cli_config")
def test_templates_list_show_path_delete(
    templates: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["templates", "list"]) == 0
    assert "no templates yet" in capsys.readouterr().err

    path = _write(templates, "summarize", SUMMARIZE)
    _write(templates, "broken", "prompt = \n")
    assert main(["templates", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].startswith("broken") and "error: template file" in out[1]
    assert out[2].split(maxsplit=2) == ["summarize", str(path), "Summarize this:"]

    assert main(["templates", "show", "summarize"]) == 0
    assert capsys.readouterr().out == SUMMARIZE

    assert main(["templates", "path"]) == 0
    assert capsys.readouterr().out == f"{templates}\n"

    assert main(["templates", "delete", "summarize"]) == 0
    assert capsys.readouterr().out == f"deleted template summarize ({path})\n"
    assert not path.exists()
    assert main(["templates", "delete", "summarize"]) == 1
    assert capsys.readouterr().err.startswith("error: there is no template 'summarize'")


@pytest.mark.usefixtures("cli_config")
def test_templates_edit_runs_the_editor_and_checks_the_result(
    templates: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    editor = tmp_path / "editor.py"
    editor.write_text(
        "import sys\n"
        "from pathlib import Path\n"
        "p = Path(sys.argv[-1])\n"
        "p.write_text(p.read_text() + sys.argv[1] + '\\n')\n"
    )

    def use_editor(line: str) -> None:
        monkeypatch.setenv("EDITOR", f"{sys.executable} {editor} '{line}'")

    use_editor('system = "Edited."')
    assert main(["templates", "edit", "fresh"]) == 0
    saved = tomllib.loads((templates / "fresh.toml").read_text())
    assert saved == {"prompt": "$input", "system": "Edited."}  # the skeleton, then the edit

    use_editor("colour = 1")
    assert main(["templates", "edit", "fresh"]) == 1
    assert "unknown key 'colour'" in capsys.readouterr().err


@pytest.mark.usefixtures("cli_config")
def test_chat_refuses_a_system_prompt_holding_input(
    templates: Path, openai_mock: OpenAIMock, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(templates, "sys", 'model = "openai/gpt-4o-mini"\nsystem = "About $input"\n')

    assert main(["chat", "-t", "sys"]) == 1

    assert capsys.readouterr().err.startswith("error: template 'sys' uses $input, which in a chat")
    assert openai_mock.requests == []


@pytest.mark.parametrize(
    "value",
    [
        'plain "quoted" \\ back',
        "two\nlines with ''' and a trailing '",
        "multi\nline \\d+ regex\n",
        "tab\tand bell\x07\nnext",
        "\nstarts with a newline\nand more",
    ],
)
def test_rendered_templates_read_back_as_written(value: str) -> None:
    from relaykit.cli.template_files import render_template

    values = {"prompt": value, "options": {"stop": ["a\nb"], "odd key": 1.5, "n": 2}}
    assert tomllib.loads(render_template(values)) == values


@pytest.mark.usefixtures("cli_config")
def test_a_directory_in_the_templates_folder_is_no_template_and_cannot_be_saved_over(
    templates: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder named like a template file (notes.toml/) is not listed as a template
    (show said: no template 'notes' (known: notes)); --save over it is an error line."""
    (templates / "notes.toml").mkdir()

    assert main(["templates", "list"]) == 0
    assert "no templates yet" in capsys.readouterr().err
    assert main(["templates", "show", "notes"]) == 1
    assert "(known: none yet)" in capsys.readouterr().err

    assert main(["prompt", "-s", "x", "--save", "notes", "--force"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot write template 'notes' ({templates / 'notes.toml'})")
    assert "Is a directory" in err and len(err.splitlines()) == 1


@pytest.mark.usefixtures("cli_config")
@pytest.mark.parametrize("command", [["prompt", "-s", "x", "--save"], ["templates", "edit"]])
def test_a_templates_folder_that_is_a_file_is_an_error_line(
    command: list[str],
    templates: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("EDITOR", "true")  # (no terminal here: vi would be refused first)
    templates.rmdir()
    templates.write_text("not a folder")

    assert main([*command, "notes"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot write template 'notes'"), err
    assert "relaykit templates path" in err


@pytest.mark.parametrize(
    ("editor", "message"),
    [
        ('"unclosed', "$EDITOR '\"unclosed' is not a command line (No closing quotation)"),
        # blank: the template file itself was run as the editor
        ("   ", "$EDITOR is blank"),
    ],
)
def test_an_editor_setting_that_is_no_command_is_one_error_line_and_makes_no_file(
    editor: str,
    message: str,
    templates: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", editor)
    assert main(["templates", "edit", "fresh"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}"), err
    assert err.count("\n") == 1 and "EDITOR=nano" in err, err
    assert list(templates.iterdir()) == []


@pytest.mark.parametrize("where", ["stdin", "stdout"])
def test_edit_without_an_editor_set_or_a_terminal_refuses_rather_than_run_vi(
    where: str,
    templates: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A script (no terminal) ran vi, which waited for keys nobody would press."""
    ran = tmp_path / "vi-ran"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("vi", "notepad"):
        fake = bin_dir / name
        fake.write_text(f"#!/bin/sh\ntouch {ran}\n")
        fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.delenv("EDITOR", raising=False)
    monkeypatch.setattr("sys.stdout", _Terminal())  # (capsys' is no terminal)
    monkeypatch.setattr(f"sys.{where}", io.StringIO())

    assert main(["templates", "edit", "fresh"]) == 1

    err = capsys.readouterr().err
    assert err.startswith(f"error: templates edit runs an editor, but {where} is no terminal"), err
    assert err.count("\n") == 1 and "EDITOR=" in err and "--save fresh" in err, err
    assert not ran.exists()
    assert list(templates.iterdir()) == []


def test_edit_runs_the_editor_set_without_a_terminal(
    templates: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """$EDITOR named explicitly is run as asked (it may be a script: sed -i ...)."""
    monkeypatch.setattr("sys.stdin", io.StringIO())
    monkeypatch.setenv("EDITOR", f"{sys.executable} -c pass")
    assert main(["templates", "edit", "fresh"]) == 0
    assert (templates / "fresh.toml").exists()
