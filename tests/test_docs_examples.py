"""What tests/test_docs.py does not cover: every other example in the docs runs or is checked.

- TOML blocks are valid relaykit configuration (the plugins' tables too);
- ``relaykit ...`` command lines parse with the real command-line parser;
- benchmark command lines name scripts, options and nox sessions that exist;
- the Python blocks of docs/storage.md, docs/observability.md,
  contrib/cohere/README.md and the exporter plugins' READMEs run, offline;
- docs/plugin-hooks.md and docs/writing-plugins.md agree with hookspecs.py and
  protocols.py on every protocol member and setting they describe.
"""

from __future__ import annotations

import inspect
import re
import shlex
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

import relaykit
from relaykit import hookspecs, protocols
from relaykit.cli.main import build_parser
from relaykit.config import load_config
from relaykit.plugins import build_plugin_manager
from relaykit.testing import loopback_tls

ROOT = Path(__file__).resolve().parents[1]
DOCS = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    ROOT / "contrib/cohere/README.md",
    *sorted(ROOT.glob("plugins/*/README.md")),
]


def blocks(lang: str, path: Path) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", path.read_text(), flags=re.S)


def labelled(lang: str) -> list[Any]:
    return [
        pytest.param(block, id=f"{path.relative_to(ROOT)}-{i}")
        for path in DOCS
        for i, block in enumerate(blocks(lang, path))
    ]


def command_lines(langs: tuple[str, ...]) -> list[str]:
    """Every command of the shell blocks: continuations joined, comments and prompts cut."""
    out = []
    for path in DOCS:
        for lang in langs:
            for block in blocks(lang, path):
                joined = re.sub(r"\\\n\s*", " ", block)
                for line in joined.splitlines():
                    line = line.removeprefix("$ ").split(" # ")[0].strip()
                    if line:
                        out.append(line)
    return out


# -- configuration ---------------------------------------------------------------------


@pytest.mark.parametrize("block", labelled("toml"))
def test_toml_examples_are_valid_configuration(
    block: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    closed_after: Callable[[relaykit.Client], relaykit.Client],
) -> None:
    data = tomllib.loads(block)
    if "project" in data:
        assert data["project"]["entry-points"]["relaykit"]  # a plugin's pyproject.toml
        return
    config = load_config(data, env={})
    if config.http.ca_file:  # the example's path names a file of the reader's machine
        ca_file = loopback_tls().write_ca(tmp_path / "ca.pem")
        config = attrs.evolve(config, http=attrs.evolve(config.http, ca_file=str(ca_file)))
    # Plugins validate their own tables when a client is built: providers' options,
    # redactors' settings. (Exporters are left out: they would open ports.)
    keys = (
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "CO_API_KEY",
        "GROQ_API_KEY",
        "AZURE_OPENAI_API_KEY",
        "ANTHROPIC_FOUNDRY_API_KEY",
        "AWS_BEARER_TOKEN_BEDROCK",
        "GEMINI_API_KEY",
    )
    for var in keys:
        monkeypatch.setenv(var, "sk-docs-0123456789abcdef")
    client = closed_after(
        relaykit.Client(
            attrs.evolve(config, exporters={}, storage=attrs.evolve(config.storage, backend="none"))
        )
    )
    for name in config.providers:
        client.provider(name)


EXPORTER_TABLES = [
    pytest.param(name, conf, id=f"{path.relative_to(ROOT)}-{name}")
    for path in DOCS
    for block in blocks("toml", path)
    for name, conf in tomllib.loads(block).get("exporters", {}).items()
]


@pytest.mark.parametrize(("name", "conf"), EXPORTER_TABLES)
def test_exporter_tables_are_valid(name: str, conf: dict[str, Any]) -> None:
    """The client test above leaves exporters out (they would open ports): each
    documented table is built here by its plugin, which refuses unknown keys."""
    import importlib

    import anyio

    module = importlib.import_module(f"relaykit_{name}.exporter")
    exporter = module.from_config({k: v for k, v in conf.items() if k != "port"})
    anyio.run(exporter.aclose)


def test_the_docs_show_every_exporter_table() -> None:
    assert {p.values[0] for p in EXPORTER_TABLES} >= {"prometheus", "statsd", "otlp"}


# -- command lines ------------------------------------------------------------------------


RELAYKIT_LINES = [
    line.split("| ")[-1]
    for line in command_lines(("sh", "console"))
    if re.search(r"(^|\| |uv run )relaykit ", line)
]


def test_the_docs_show_relaykit_commands() -> None:
    assert len(RELAYKIT_LINES) >= 20


@pytest.mark.parametrize("line", RELAYKIT_LINES)
def test_relaykit_command_lines_parse(line: str) -> None:
    argv = shlex.split(line.split("relaykit ", 1)[1])
    parser = build_parser(build_plugin_manager())
    args = parser.parse_args(argv)  # a usage error exits: that is the failure
    assert callable(getattr(args, "func", None)), f"{line!r} runs no command"


BENCH_LINES = [
    line for line in command_lines(("sh", "console")) if "bench/" in line or "nox " in line
]


def _nox_script(session: str) -> str:
    """The bench script the nox session ``session`` runs (its function named so, or
    declared with ``name="session"``); fails if there is no such session."""
    noxfile = (ROOT / "noxfile.py").read_text()
    found = re.search(
        rf'^@nox\.session\(name="{re.escape(session)}"\)\ndef \w+\(session'
        rf"|^(?:@nox\.session.*\n)?def {re.escape(session)}\(session",
        noxfile,
        re.MULTILINE,
    )
    assert found, f"noxfile.py has no session {session!r}"
    body = noxfile[found.end() :].split("\n@nox.session", 1)[0]
    scripts: list[str] = re.findall(r"bench/(\w+\.py)", body)
    assert scripts, f"nox -s {session} runs no bench script"
    return scripts[-1]


@pytest.mark.parametrize("line", BENCH_LINES)
def test_benchmark_command_lines_name_what_exists(line: str) -> None:
    words = shlex.split(line)
    if "nox" in words:
        session = words[words.index("-s") + 1]
        script = _nox_script(session)
        options = words[words.index("--") + 1 :] if "--" in words else []
    else:
        script = next(w for w in words if w.startswith("bench/")).removeprefix("bench/")
        options = words[words.index(f"bench/{script}") + 1 :]
    if script == "versus.py" and "--" in options:
        # versus.py BASE SCRIPT [its options] -- [SCRIPT's options]: each half is checked
        # against its own script
        inner = next(w for w in options if w.endswith(".py"))
        _check_options(inner, options[options.index("--") + 1 :])
        options = options[: options.index("--")]
    _check_options(script, options)


def _check_options(script: str, options: list[str]) -> None:
    source = (ROOT / "bench" / script).read_text()
    # Options may come from a bench module the script builds its parser with.
    for module in re.findall(r"^from (\w+) import", source, re.MULTILINE):
        if (ROOT / "bench" / f"{module}.py").exists():
            source += (ROOT / "bench" / f"{module}.py").read_text()
    for option in (w for w in options if w.startswith("--")):
        assert f'"{option}"' in source, f"bench/{script} has no {option} option"


# -- Python blocks outside the README and the plugin docs -------------------------------


def test_storage_query_example_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "relaykit.toml").write_text(
        f'[storage]\nbackend = "sqlite"\npath = "{tmp_path / "logs.db"}"\n'
    )
    block = blocks("python", ROOT / "docs/storage.md")[0]
    exec(compile(block, "docs/storage.md", "exec"), {"__name__": "__main__"})
    assert capsys.readouterr().out == "0 timeouts, 0 days of OpenAI usage, 0 calls\n"


def test_storage_contract_example_is_a_contract_suite() -> None:
    from relaykit.testing import MemoryStorage

    block = blocks("python", ROOT / "docs/storage.md")[1]
    namespace: dict[str, Any] = {"MyStorage": lambda path: MemoryStorage()}
    exec(compile(block, "docs/storage.md", "exec"), namespace)
    from relaykit.testing.storage_contract import StorageContract

    assert issubclass(namespace["TestMyStorage"], StorageContract)


def test_json_logging_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    block = blocks("python", ROOT / "docs/observability.md")[0]
    exec(compile(block, "docs/observability.md", "exec"), {"__name__": "__main__"})
    logger = logging.getLogger("relaykit")
    try:
        assert logging.getLogger("relaykit.calls").isEnabledFor(logging.INFO)
        handler = logger.handlers[-1]
        assert type(handler.formatter).__name__ == "JsonFormatter"
    finally:
        logger.handlers.clear()
        logging.getLogger("relaykit.calls").setLevel(logging.NOTSET)


@pytest.mark.anyio
async def test_mask_secret_example_masks_the_callers_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The example's function, called, with a call where its ``...`` stands: the
    caller's token (of no shape the redactor knows) is masked in what is stored."""
    from relaykit.protocols import LogQuery
    from relaykit.testing import OpenAIMock

    block = blocks("python", ROOT / "docs/observability.md")[1]
    call = 'await client.chat("openai/gpt-4.1-mini", f"my token is {token}")'
    assert block.count("        ...\n") == 1
    source = block.replace("        ...\n", f"        {call}\n")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "relaykit.toml").write_text(
        f'[storage]\nbackend = "sqlite"\npath = "{tmp_path / "logs.db"}"\n'
    )
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec(compile(source, "docs/observability.md", "exec"), namespace)
    token = "caller-7f3e9a1b2c4d5e6f"
    key = "sk-docs-0123456789abcdef"
    with OpenAIMock(api_key=key) as mock:
        monkeypatch.setenv("OPENAI_BASE_URL", mock.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", key)
        await namespace["serve_one"](token)
    async with relaykit.Client() as client:
        assert client.storage is not None
        [record] = await client.storage.query_logs(LogQuery())
    stored = record.messages[-1].text + record.text
    assert token not in stored
    assert stored.count("[REDACTED]") == 2  # the prompt and the mock's echo of it


def test_cohere_readme_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    block = blocks("python", ROOT / "contrib/cohere/README.md")[0]
    exec(compile(block, "contrib/cohere/README.md", "exec"), {"__name__": "__main__"})
    assert capsys.readouterr().out == "Bonjour !\n"


@pytest.mark.parametrize(
    ("readme", "printed"),
    [
        (
            "plugins/statsd/README.md",
            "relaykit.requests:1|c|#gen_ai_operation_name:chat,"
            "gen_ai_provider_name:fake,gen_ai_request_model:any-model\n",
        ),
        (
            "plugins/prometheus/README.md",
            'relaykit_requests_total{gen_ai_operation_name="chat",gen_ai_provider_name="fake",'
            'gen_ai_request_model="any-model",relaykit_provider=""} 1.0\n',
        ),
        ("plugins/otlp/README.md", "['chat any-model']\n"),
    ],
)
def test_exporter_readme_examples_run(
    readme: str, printed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The exporters' READMEs end with a call through the fake provider, offline; each
    prints what it says it prints."""
    block = blocks("python", ROOT / readme)[-1]
    exec(compile(block, readme, "exec"), {"__name__": "__main__"})
    assert capsys.readouterr().out == printed
    assert printed.strip() in (ROOT / readme).read_text()  # the README shows the output


# -- every Python block is run by some test ----------------------------------------------


#: Docs whose every ```python block a test runs, whatever their number: README.md
#: (tests/test_docs.py), the hook reference (tests/test_docs.py), the plugin guide
#: (tests/test_writing_plugins_guide.py), the providers' READMEs
#: (tests/test_plugin_readmes_run.py, which fails on a block without its row).
RUN_EVERY_BLOCK = {
    "README.md",
    "docs/plugin-hooks.md",
    "docs/writing-plugins.md",
    *(f"plugins/{p}/README.md" for p in ("anthropic", "openai", "gemini", "ollama", "bedrock")),
}
#: Docs whose blocks tests pick one by one (by index or by what they hold): how many
#: there are, so a block added is one no test runs until a test does and this says so.
RUN_ONE_BY_ONE = {
    "docs/observability.md": 2,  # this file
    "docs/storage.md": 2,  # this file
    "contrib/cohere/README.md": 1,  # this file
    "plugins/statsd/README.md": 1,  # this file (its last block)
    "plugins/otlp/README.md": 1,  # this file (its last block)
    "plugins/prometheus/README.md": 2,  # this file, and tests/test_plugin_readmes_run.py
    "plugins/pii/README.md": 1,  # tests/test_plugin_readmes_run.py
    "plugins/sqlite/README.md": 1,  # tests/test_plugin_readmes_run.py
    "plugins/aiohttp/README.md": 1,  # tests/test_plugin_readmes_run.py
    "contrib/gateway/README.md": 6,  # contrib/gateway/tests/test_readme.py
    "contrib/mcp/README.md": 1,  # contrib/mcp/tests/test_readme.py
    "libs/claude-models/README.md": 1,  # libs/claude-models/tests/test_readme.py
}
#: The benchmark pages' Python blocks are compiled only (test_docs_python_blocks_compile.py):
#: they need the bench harness and minutes.
COMPILED_ONLY = {
    "docs/benchmarks.md",
    "docs/benchmarks-observability.md",
    "docs/benchmarks-storage.md",
}
#: a Python fence however it is spelled: the runners take ```python only
ANY_PYTHON_FENCE = re.compile(r"^[ \t]*```\s*(?:python3?|py)\b[^\n]*\n(.*?)^[ \t]*```", re.M | re.S)


def _every_markdown_file() -> list[Path]:
    return sorted(
        p
        for p in ROOT.glob("**/*.md")
        if not any(part.startswith(".") or part == "node_modules" for part in p.parts)
    )


def test_every_python_block_of_the_docs_is_run_by_a_test() -> None:
    unrun = []
    for path in _every_markdown_file():
        name = str(path.relative_to(ROOT))
        text = path.read_text()
        found = len(ANY_PYTHON_FENCE.findall(text))
        if not found or name in COMPILED_ONLY:
            continue
        runnable = len(blocks("python", path))
        if runnable != found:
            unrun.append(f"{name}: {found - runnable} block(s) fenced other than ```python")
        elif name not in RUN_EVERY_BLOCK and RUN_ONE_BY_ONE.get(name) != found:
            unrun.append(f"{name}: {found} block(s), {RUN_ONE_BY_ONE.get(name, 0)} run")
    assert unrun == [], "run each new block in a test, then count it here: " + "; ".join(unrun)


# -- the plugin docs' examples as a third party ships them: installed distributions ------

#: the hook reference's examples, each installed as a distribution of its own (the
#: blocks, by what they hold; the config-tables block alone is the exporter's twin)
HOOK_EXAMPLE_DISTS = {
    "docs-echo": ["class EchoProvider"],
    "docs-list": ["class ListStorage"],
    "docs-dict": ["class DictCache"],
    "docs-counting": ["class CountingExporter"],
    "docs-email": ["class EmailRedactor"],
    "docs-tickets": ["class TicketRedactor"],
    "docs-unlimited": ["class UnlimitedLimiter"],
    "docs-httpx": ["def relaykit_http_client(", "def relaykit_http_client_modules("],
    "docs-echotools": ["async def echo_tools"],
    "docs-whoami": ["async def whoami_tools"],
    "docs-hello": ["def hello(args)"],
}
PARROT_KEY = "parrot-docs-0123456789abcdef"


def _install(site: Path, dist: str, package: str, files: dict[str, str], entry: str) -> None:
    """What ``pip install`` leaves in ``site``: the package, and its dist-info naming
    ``entry`` (``name = module``) in the ``relaykit`` entry-point group."""
    (site / package).mkdir()
    for name, text in {"__init__.py": "", **files}.items():
        (site / package / name).write_text(text)
    info = site / f"{dist.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(f"[relaykit]\n{entry}\n")


@pytest.fixture
def installed_doc_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The guide's relaykit-parrot, laid out as its section 1 says, and every hook
    example, installed into a folder on the import path; removed afterwards."""
    import sys

    site = tmp_path / "site"
    site.mkdir()
    files = {}
    for block in blocks("python", ROOT / "docs/writing-plugins.md"):
        named = re.match(r"# (\w+\.py)\n", block)  # tests/test_contract.py is not shipped
        if named:
            files[named.group(1)] = block
    assert sorted(files) == ["plugin.py", "provider.py", "testing.py", "wire.py"]
    entry = re.search(r"\[project.entry-points.relaykit\]\n(.*)\n", GUIDE)
    assert entry is not None
    _install(site, "relaykit-parrot", "relaykit_parrot", files, entry.group(1).replace('"', ""))
    hook_blocks = blocks("python", ROOT / "docs/plugin-hooks.md")
    for dist, holds in HOOK_EXAMPLE_DISTS.items():
        [source] = ["\n\n".join(b for h in holds for b in hook_blocks if h in b)]
        package = dist.replace("-", "_")
        name = dist.removeprefix("docs-")
        _install(site, dist, package, {"plugin.py": source}, f"{name} = {package}.plugin")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv("RELAYKIT_PLUGINS", raising=False)
    monkeypatch.delenv("RELAYKIT_DISABLE_PLUGINS", raising=False)
    yield site
    for module in [m for m in sys.modules if m.startswith(("relaykit_parrot", "docs_"))]:
        del sys.modules[module]


def _doc_plugins_config(base_url: str) -> dict[str, Any]:
    return {
        "providers": {"parrot": {"base_url": base_url, "api_key": PARROT_KEY}},
        "storage": {"backend": "list"},
        "cache": {"enabled": True, "backend": "dict"},
        "exporters": {"counting": {}},
        "redactors": {"tickets": {}},
        "limiter": {"backend": "unlimited"},
        "limits": {"parrot/*": {"rpm": 100}},
    }


@pytest.mark.anyio
async def test_the_plugin_docs_examples_work_installed(installed_doc_plugins: Path) -> None:
    """Each kind of plugin the docs show, found through its entry point and used
    by a client: the guide's provider over loopback HTTP (streaming included), the
    reference's storage, cache store, exporter, redactors, limiter and HTTP client."""
    import importlib

    mock_module = importlib.import_module("relaykit_parrot.testing")
    loaded = build_plugin_manager(env={}).versions
    assert {"parrot", *(d.removeprefix("docs-") for d in HOOK_EXAMPLE_DISTS)} <= set(loaded)
    with mock_module.ParrotMock(api_key=PARROT_KEY) as mock:
        async with relaykit.Client(_doc_plugins_config(mock.base_url), env={}) as client:
            r = await client.chat("parrot/parrot-1", "mail bob@example.com", temperature=0)
            again = await client.chat("parrot/parrot-1", "mail bob@example.com", temperature=0)
            async with client.stream("parrot/parrot-1", "about TICKET-42") as s:
                deltas = [e.text async for e in s if isinstance(e, relaykit.TextDelta)]
            models = await client.models()
            echo = await client.chat("echo/echo-1", "hello echo")
            assert PARROT_KEY not in repr(vars(client.provider("parrot")))
            storage, exporters = client.storage, client.exporters
    assert (r.text, r.finish_reason, r.usage.output_tokens > 0) == (
        "echo: mail bob@example.com",
        "stop",
        True,
    )
    assert r.cost is not None and again.text == r.text
    sent = [q.json()["turns"][-1]["text"] for q in mock.requests if q.path == "/v1/generate"]
    # the second chat came from the dict cache; the ticket went out as a placeholder
    assert sent == ["mail bob@example.com", "about <T0>"]
    assert len(deltas) > 1 and s.response.text == "".join(deltas) == "echo: about TICKET-42"
    assert [m.id for m in models] == ["parrot-1"] and echo.text == "hello echo"
    records: list[Any] = getattr(storage, "records", [])  # ListStorage's
    stored = [rec.messages[-1].text for rec in records]
    assert stored == ["mail [EMAIL]", "mail [EMAIL]", "about <T0>", "hello echo"]
    [counting] = [e for e in exporters if type(e).__name__ == "CountingExporter"]
    assert counting.totals["relaykit.requests"] == 4  # type: ignore[attr-defined]


def test_the_plugin_docs_examples_work_from_the_command_line(
    installed_doc_plugins: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import importlib

    from relaykit.cli import main

    assert main(["plugins"]) == 0
    listed = capsys.readouterr().out
    assert all(f"{name} " in listed for name in ("parrot", "hello", "counting", "tickets"))
    mock_module = importlib.import_module("relaykit_parrot.testing")
    with mock_module.ParrotMock(api_key=PARROT_KEY) as mock:
        config = tmp_path / "docs.toml"
        config.write_text(
            f'[providers.parrot]\nbase_url = "{mock.base_url}"\napi_key = "{PARROT_KEY}"\n'
            '[storage]\nbackend = "list"\n[exporters.counting]\n[redactors.tickets]\n'
            '[limiter]\nbackend = "unlimited"\n[limits."parrot/*"]\nrpm = 100\n'
        )
        assert main(["prompt", "-c", str(config), "-m", "parrot/parrot-1", "hi"]) == 0
        assert capsys.readouterr().out == "echo: hi\n"
        # relaykit-mcp (installed here) takes any spec, but is asked last
        argv = ["prompt", "-c", str(config), "-m", "echo/echo-1", "--mcp", "echo", "go"]
        assert main(argv) == 0
        assert capsys.readouterr().out == "go\n"
    assert main(["hello", "world"]) == 0
    assert capsys.readouterr().out == "hello, world\n"


def test_every_name_the_plugin_docs_point_plugins_at_is_in_its_modules_all() -> None:
    """A name the guide or the hook reference sends a plugin to (``from relaykit.X
    import NAME`` in a block, or `relaykit.X.NAME` in the text) is one the plugin
    API keeps stable: in the ``__all__`` of a module plugins may import."""
    import importlib

    from relaykit.plugin_api import PLUGIN_MODULES

    missing = []
    for doc in ("docs/writing-plugins.md", "docs/plugin-hooks.md"):
        text = (ROOT / doc).read_text()
        imported = re.findall(r"^from (relaykit[\w.]*) import ([\w, ]+)$", text, flags=re.M)
        named = re.findall(r"`relaykit\.([a-z_]+)\.([A-Za-z_]\w*)[`(]", text)
        pairs = [(m, n.strip()) for m, names in imported for n in names.split(",")]
        pairs += [(f"relaykit.{m}", n) for m, n in named]
        for module, name in pairs:
            if module.startswith("relaykit.testing") or f"{module}.{name}" in PLUGIN_MODULES:
                continue
            if module not in PLUGIN_MODULES:
                continue  # the client's own machinery, named to explain what it does
            if name not in importlib.import_module(module).__all__:
                missing.append(f"{doc}: {module}.{name}")
    assert missing == []


# -- the plugin docs against hookspecs.py and protocols.py -------------------------------


HOOKS_DOC = (ROOT / "docs/plugin-hooks.md").read_text()
GUIDE = (ROOT / "docs/writing-plugins.md").read_text()


def section(hook: str) -> str:
    start = HOOKS_DOC.index(f"\n## {hook}(")
    end = HOOKS_DOC.find("\n## ", start + 1)
    return HOOKS_DOC[start : end if end != -1 else None]


HOOK_PROTOCOLS = {
    "relaykit_providers": protocols.Provider,
    "relaykit_storage": protocols.Storage,
    "relaykit_exporters": protocols.Exporter,
    "relaykit_redactors": protocols.Redactor,
    "relaykit_rate_limiter": protocols.RateLimiter,
    "relaykit_response_cache": protocols.CacheStore,
}


def members(protocol: type) -> list[str]:
    return [
        name
        for name, value in vars(protocol).items()
        if not name.startswith("_") and callable(value)
    ]


@pytest.mark.parametrize("hook", sorted(HOOK_PROTOCOLS))
def test_each_hook_section_names_every_member_of_its_protocol_with_its_parameters(
    hook: str,
) -> None:
    text = section(hook)
    protocol = HOOK_PROTOCOLS[hook]
    assert f"relaykit.protocols.{protocol.__name__}" in text
    for name in members(protocol):
        params = [p for p in inspect.signature(getattr(protocol, name)).parameters if p != "self"]
        named = re.findall(rf"`{name}\(([^`]*)\)", text)
        assert named or f"`{name}`" in text, f"{hook}: {name} is not documented"
        for written in named:
            args = [a.split("=")[0].strip() for a in written.split(",") if a.strip()]
            args = [a for a in args if a not in ("cost",)]  # the budget keyword, explained there
            assert args == params, f"{hook}: `{name}({written})` but the protocol has {params}"


@pytest.mark.parametrize("hook", sorted(n for n in dir(hookspecs) if n.startswith("relaykit_")))
def test_first_result_hooks_and_only_those_say_so(hook: str) -> None:
    firstresult = getattr(hookspecs, hook).relaykit_spec.get("firstresult", False)
    assert ("Stops at first non-None result." in section(hook)) == firstresult


def test_every_provider_factory_setting_is_in_both_plugin_docs() -> None:
    settings = [n for n in protocols.ProviderFactory.__annotations__ if n != "type"]
    for name in settings:
        assert f"`{name}`" in section("relaykit_providers"), name
        assert f"`{name}`" in GUIDE, name


def test_the_guide_lists_every_provider_settings_field() -> None:
    fields = [f.name for f in attrs.fields(protocols.ProviderSettings)]
    listed = re.search(r"`settings` is a `relaykit.ProviderSettings`: (.*?)\.\n", GUIDE, re.S)
    assert listed is not None
    named = [n for n in re.findall(r"`(\w+)`", listed.group(1)) if n != "None"]
    assert named == fields
