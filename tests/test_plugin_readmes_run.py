"""The plugins' README programs and snippets run, offline, against loopback mocks.

- Complete programs (relaykit-pii, relaykit-sqlite, relaykit-aiohttp) run as users run
  them, with their own event loop, the vendor's base URL pointed at a mock; what
  they print is what their comments say.
- The providers' snippets ``await`` at top level, as a notebook does: each is
  compiled with ``ast.PyCF_ALLOW_TOP_LEVEL_AWAIT`` and awaited under asyncio and
  trio, against its vendor's mock (base URL and key from the variables the README
  names). Those that use a ``client`` they do not open get an open one.
- relaykit-prometheus's app, mounted in FastAPI as its README mounts it, serves
  the metrics of a call made through the same client.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from attrs import evolve as attrs_evolve

import relaykit
from relaykit import Citation
from relaykit.testing import OpenAIMock, Reply

ROOT = Path(__file__).resolve().parents[1]
KEY = "sk-readme-0123456789abcdef"


def blocks(readme: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / readme).read_text(), flags=re.S)


def commented_output(block: str) -> list[str]:
    """What a block's ``print(...)  # shown`` lines say they print."""
    return re.findall(r"^print\(.*\)  # (.*)$", block, flags=re.M)


# -- complete programs ---------------------------------------------------------------------


def test_pii_readme_prints_what_it_says(capsys: pytest.CaptureFixture[str]) -> None:
    [block] = blocks("plugins/pii/README.md")
    exec(compile(block, "plugins/pii/README.md", "exec"), {"__name__": "__main__"})
    printed = capsys.readouterr().out.splitlines()
    assert printed == commented_output(block)
    assert printed == ["mail [EMAIL]", "[('phone', 5, 21)]", "mail ana@example.com"]


def test_sqlite_readme_collection_example_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Run twice, as the README says: the second run embeds nothing again."""
    [block] = blocks("plugins/sqlite/README.md")
    monkeypatch.chdir(tmp_path)
    with OpenAIMock(api_key=KEY) as mock:
        monkeypatch.setenv("OPENAI_BASE_URL", mock.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        code = compile(block, "plugins/sqlite/README.md", "exec")
        exec(code, {"__name__": "__main__"})
        exec(code, {"__name__": "__main__"})
    out = capsys.readouterr().out
    first, second = out.split("3 embedded, 0 unchanged\n")[1].split("0 embedded, 3 unchanged\n")
    assert first == second
    found = first.splitlines()
    assert len(found) == 2
    for line in found:  # score, id: the stored text
        assert re.fullmatch(r"-?\d\.\d{3} (reset|invoices|refunds): .+\.", line), line
    assert (tmp_path / "embeddings.db").is_file()


def test_aiohttp_readme_example_goes_through_aiohttp(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    [block] = blocks("plugins/aiohttp/README.md")
    with OpenAIMock(api_key=KEY) as mock:
        monkeypatch.setenv("OPENAI_BASE_URL", mock.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        mock.script.push(Reply(text="Hi there."))
        exec(compile(block, "plugins/aiohttp/README.md", "exec"), {"__name__": "__main__"})
        sent_by = mock.last_request.headers.get("user-agent", "")
    assert capsys.readouterr().out == "Hi there.\n"
    assert "aiohttp" in sent_by.lower(), sent_by


# -- the providers' snippets -----------------------------------------------------------------


@contextmanager
def vendor(name: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The vendor's loopback mock, the README's variables pointing the plugin at it."""
    if name == "openai":
        with OpenAIMock(api_key=KEY) as mock:
            monkeypatch.setenv("OPENAI_BASE_URL", mock.base_url)
            monkeypatch.setenv("OPENAI_API_KEY", KEY)
            yield mock
    elif name == "anthropic":
        from relaykit_anthropic.testing import AnthropicMock

        with AnthropicMock(api_key=KEY) as mock:
            monkeypatch.setenv("ANTHROPIC_BASE_URL", mock.base_url)
            monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
            yield mock
    elif name == "gemini":
        from relaykit_gemini.testing import GeminiMock

        with GeminiMock(api_key=KEY) as mock:
            monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", mock.base_url)
            monkeypatch.setenv("GEMINI_API_KEY", KEY)
            yield mock
    elif name == "vertex":
        from relaykit_gemini.mock_vertex import VertexMock

        with VertexMock(static_tokens=[KEY]) as mock:
            monkeypatch.setenv("GOOGLE_VERTEX_BASE_URL", mock.base_url)
            monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", mock.project)
            monkeypatch.setenv("VERTEX_ACCESS_TOKEN", KEY)
            yield mock
    elif name == "ollama":
        from relaykit_ollama.testing import OllamaMock

        with OllamaMock() as mock:
            monkeypatch.setenv("OLLAMA_HOST", mock.base_url)
            yield mock
    else:
        from relaykit_bedrock.testing import BedrockMock

        with BedrockMock(bearer_token=KEY) as mock:
            monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", mock.base_url)
            monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK", mock.base_url)
            monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", KEY)
            monkeypatch.setenv("AWS_REGION", mock.region)
            yield mock


PYTHON_ORG = Citation(url="https://docs.python.org/3.14/whatsnew/3.14.html", title="What's new")
EURO = Citation(url="https://www.uefa.com/euro2024/", title="UEFA")
# What each snippet's mock answers, the snippet's index in its README and what it prints
SNIPPETS = [
    pytest.param("anthropic", 0, "anthropic", None, None, id="anthropic-0"),
    pytest.param(
        "anthropic",
        1,
        "anthropic",
        Reply(
            text="Python 3.14 adds template strings.",
            citations=(attrs_evolve(PYTHON_ORG, start=12, end=33),),
            web_searches=1,
        ),
        "adds template strings -> https://docs.python.org/3.14/whatsnew/3.14.html\n",
        id="anthropic-1-web-search",
    ),
    pytest.param("openai", 0, "openai", None, None, id="openai-0"),
    pytest.param(
        "openai",
        1,
        "openai",
        Reply(
            text="asyncio gained a call graph.",
            citations=(attrs_evolve(PYTHON_ORG, start=0, end=27),),
            web_searches=1,
        ),
        "https://docs.python.org/3.14/whatsnew/3.14.html What's new asyncio gained a call graph\n",
        id="openai-1-web-search",
    ),
    pytest.param("gemini", 0, "gemini", None, None, id="gemini-0"),
    pytest.param("gemini", 1, "vertex", None, None, id="gemini-1-vertex"),
    pytest.param(
        "gemini",
        3,
        "gemini",
        Reply(
            text="Spain won Euro 2024.",
            citations=(attrs_evolve(EURO, start=0, end=19),),
            web_searches=1,
        ),
        "Spain won Euro 2024 -> UEFA https://www.uefa.com/euro2024/\n",
        id="gemini-3-grounding",
    ),
    pytest.param(
        "gemini",
        2,
        "vertex",
        Reply(tool_calls=(("weather", {"city": "Zürich"}),)),
        "weather {'city': 'Zürich'}\n",
        id="gemini-2-streamed-call-arguments",
    ),
    pytest.param(
        "gemini",
        4,
        "gemini",
        Reply(
            text="Spain won Euro 2024.",
            web_searches=2,
            search_queries=("euro 2024 winner", "euro 2024 final"),
            search_suggestions="<div>euro 2024 winner</div>",
        ),
        "('euro 2024 winner', 'euro 2024 final')\n",
        id="gemini-4-search-queries",
    ),
    pytest.param("ollama", 0, "ollama", None, None, id="ollama-0"),
    pytest.param("bedrock", 0, "bedrock", None, None, id="bedrock-0"),
    # the mock checks cache points' shape; the caching it leaves to scripted replies
    pytest.param("bedrock", 1, "bedrock", None, "0 0\n", id="bedrock-1-cache-points"),
]


def test_every_provider_readme_snippet_is_run() -> None:
    """A block added to a provider's README needs a row above (or its own test)."""
    covered = {(p.values[0], p.values[1]) for p in SNIPPETS}
    for plugin in ("anthropic", "openai", "gemini", "ollama", "bedrock"):
        for i, block in enumerate(blocks(f"plugins/{plugin}/README.md")):
            assert (plugin, i) in covered or "SyncClient" in block, f"{plugin} README block {i}"


@pytest.mark.anyio
@pytest.mark.parametrize(("plugin", "index", "mock_name", "reply", "printed"), SNIPPETS)
async def test_provider_readme_snippet_runs(
    plugin: str,
    index: int,
    mock_name: str,
    reply: Reply | None,
    printed: str | None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    readme = f"plugins/{plugin}/README.md"
    block = blocks(readme)[index]
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": "__main__", "relaykit": relaykit}
    code = compile(block, readme, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
    with vendor(mock_name, monkeypatch) as mock:
        if reply is not None:
            mock.script.push(reply)
        if "relaykit.Client()" in block:
            await eval(code, namespace)
        else:  # a snippet of a section that opened its client before
            async with relaykit.Client() as client:
                namespace["client"] = client
                await eval(code, namespace)
    r = namespace["r"]
    assert isinstance(r, relaykit.ChatResponse)
    assert r.text or r.tool_calls
    if printed is not None:
        assert capsys.readouterr().out == printed
    if reply is not None and reply.web_searches:
        assert r.usage.web_searches == reply.web_searches
        assert r.cost is not None and r.cost > 0
    if "search_suggestions" in block:
        assert namespace["html"] == "<div>euro 2024 winner</div>"
    if "drawn" in namespace:
        assert namespace["image"].media_type in ("image/png", "image/jpeg")
    if "s" in namespace:  # the stream was read to its end
        streamed = namespace["s"].response
        assert streamed.text or streamed.tool_calls
    if "streamFunctionCallArguments" in block:  # Vertex was asked to stream them
        sent = json.loads(mock.requests[-1].body)["toolConfig"]["functionCallingConfig"]
        assert sent["streamFunctionCallArguments"] is True
    if "CachePoint" in block:  # each became a cachePoint of its own, in the hour's cache
        body = json.loads(mock.requests[-1].body)
        point = {"cachePoint": {"type": "default", "ttl": "1h"}}
        assert body["system"][-1] == point
        assert body["toolConfig"]["tools"][-1] == point


def test_bedrock_readme_image_example_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A blocking ``SyncClient`` program, run as written: the file it saves and the
    values its last line's comment gives."""
    readme = "plugins/bedrock/README.md"
    [block] = [b for b in blocks(readme) if "SyncClient" in b]
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": "__main__"}
    with vendor("bedrock", monkeypatch):
        exec(compile(block, readme, "exec"), namespace)
    r = namespace["r"]
    assert (tmp_path / "lighthouse.png").read_bytes() == r.images[0].data
    assert len(r.images) == 2
    assert (r.size, r.quality, r.cost) == ("1280x720", "standard", Decimal("0.08"))
    assert '"1280x720", "standard", Decimal("0.08")' in block


# -- relaykit-prometheus mounted in FastAPI ---------------------------------------------------


@pytest.mark.anyio
async def test_prometheus_readme_app_serves_the_clients_metrics(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import httpx

    readme = "plugins/prometheus/README.md"
    [block] = [b for b in blocks(readme) if "FastAPI" in b]
    monkeypatch.chdir(tmp_path)
    # "its config has an [exporters.prometheus] table, without port"
    (tmp_path / "relaykit.toml").write_text(
        '[exporters.prometheus]\n\n[storage]\nbackend = "none"\n'
    )
    namespace: dict[str, Any] = {"__name__": "__main__"}
    with vendor("openai", monkeypatch):
        exec(compile(block, readme, "exec"), namespace)
        client = namespace["client"]
        async with client:
            await client.chat("openai/gpt-4.1-mini", "Hello")
            transport = httpx.ASGITransport(app=namespace["app"])
            async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
                scraped = await http.get("/metrics/")
    assert scraped.status_code == 200
    assert (
        'relaykit_requests_total{gen_ai_operation_name="chat",gen_ai_provider_name="openai",'
        'gen_ai_request_model="gpt-4.1-mini",relaykit_provider=""} 1.0'
    ) in scraped.text
