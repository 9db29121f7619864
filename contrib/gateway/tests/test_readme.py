"""The README's examples, run against a gateway over loopback HTTP."""

from __future__ import annotations

import re
from pathlib import Path
from types import CodeType

import anyio
import pytest

import relaykit
from relaykit.testing import FakePlugin, Reply, mock_relevance
from relaykit_anthropic.testing import AnthropicMock
from relaykit_gateway.file_store import FileStore
from relaykit_gateway.testing import KEY, running

README = (Path(__file__).parents[1] / "README.md").read_text()
UPSTREAM_KEY = "sk-ant-api03-readme-0123456789"


def run_example(code: CodeType) -> None:
    """Run a compiled synchronous example, then close the SDK clients it made: the
    README leaves them open, as a script may, and a client left for the garbage
    collector warns of its unclosed socket in whichever later test it lands."""
    namespace: dict[str, object] = {"__name__": "__main__"}
    try:
        exec(code, namespace)
    finally:
        for value in namespace.values():
            if type(value).__module__.split(".")[0] in ("openai", "anthropic", "cohere"):
                close = getattr(value, "close", None)
                if callable(close):
                    close()


def python_block(containing: str) -> str:
    """The README's one Python example that holds ``containing``."""
    blocks: list[str] = re.findall(r"```python\n(.*?)```", README, re.S)
    [block] = [b for b in blocks if containing in b]
    return block


@pytest.mark.anyio
async def test_the_openai_sdk_example_reaches_an_anthropic_model(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    block = python_block("chat.completions.create")
    monkeypatch.setenv("GATEWAY_KEY", KEY)
    with AnthropicMock(api_key=UPSTREAM_KEY) as upstream:
        upstream.script.push(Reply(text="Bonjour !"))
        config = {
            "storage": {"backend": "none"},
            "providers": {"anthropic": {"base_url": upstream.base_url, "api_key": UPSTREAM_KEY}},
        }
        async with relaykit.Client(config) as client, running(client) as url:
            source = block.replace("http://localhost:4000", url)
            code = compile(source, "contrib/gateway/README.md", "exec")
            # the example is synchronous, as most SDK code is: it runs in a thread
            await anyio.to_thread.run_sync(run_example, code)
        assert upstream.last_request.path == "/v1/messages"
    assert capsys.readouterr().out == "Bonjour !\n"


def test_the_asgi_example_compiles_and_uses_public_names() -> None:
    block = python_block("Gateway(client")
    namespace: dict[str, object] = {"__name__": "example"}
    exec(compile(block.replace("anyio.run(main)", ""), "README.md", "exec"), namespace)
    assert callable(namespace["main"])


@pytest.mark.anyio
async def test_the_embeddings_example_gets_a_vector_per_text(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    block = python_block("embeddings.create")
    monkeypatch.setenv("GATEWAY_KEY", KEY)
    fake = FakePlugin()
    # the example's `openai/...` model, answered by the fake provider under that name
    config = {"storage": {"backend": "none"}, "providers": {"openai": {"type": "fake"}}}
    async with relaykit.Client(config, plugins=[fake]) as client, running(client) as url:
        source = block.replace("http://localhost:4000", url)
        code = compile(source, "contrib/gateway/README.md", "exec")
        await anyio.to_thread.run_sync(run_example, code)
    (request,) = fake.embeddings
    assert (request.model, request.dimensions) == ("text-embedding-3-small", 256)
    assert capsys.readouterr().out == "2 256\n"


@pytest.mark.anyio
async def test_the_rerank_example_prints_the_best_documents_index_and_score(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    block = python_block("/v1/rerank")
    monkeypatch.setenv("GATEWAY_KEY", KEY)
    fake = FakePlugin()
    # the example's `cohere/...` model, answered by the fake provider under that name
    config = {"storage": {"backend": "none"}, "providers": {"cohere": {"type": "fake"}}}
    async with relaykit.Client(config, plugins=[fake]) as client, running(client) as url:
        source = block.replace("http://localhost:4000", url)
        code = compile(source, "contrib/gateway/README.md", "exec")
        await anyio.to_thread.run_sync(run_example, code)
    (request,) = fake.reranks
    assert (request.model, request.top_n) == ("rerank-v3.5", 1)
    score = mock_relevance(request.query, request.documents[1], 1)
    assert capsys.readouterr().out == f"1 {score}\n"


def test_the_key_models_example_parses() -> None:
    from relaykit_gateway import GatewayKeys

    (models,) = re.findall(r'RELAYKIT_GATEWAY_KEY_MODELS="([^"]+)"', README)
    keys = GatewayKeys.parse(f"interns={KEY},batch={KEY[::-1]}", models)
    assert keys.allows("interns", "fast") and not keys.allows("interns", "openai/gpt-4o")
    assert keys.allows("batch", "openai/text-embedding-3-small")


@pytest.mark.anyio
async def test_the_batches_example_batches_through_the_gateway_to_openai(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    block = python_block("messages.batches.create")
    monkeypatch.setenv("GATEWAY_KEY", KEY)
    fake = FakePlugin()  # answers the example's `openai/...` model: it batches as OpenAI does
    config = {"storage": {"backend": "none"}, "providers": {"openai": {"type": "fake"}}}
    async with relaykit.Client(config, plugins=[fake]) as client, running(client) as url:
        source = block.replace("http://localhost:4000", url)
        code = compile(source, "contrib/gateway/README.md", "exec")
        await anyio.to_thread.run_sync(run_example, code)
    assert [request.model for request in fake.calls] == ["gpt-4o-mini", "gpt-4o-mini"]
    assert capsys.readouterr().out == "q0 succeeded\nq1 succeeded\n"


@pytest.mark.anyio
async def test_the_openai_batches_example_uploads_batches_and_reads_the_output(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    block = python_block("batches.create(\n    input_file_id")
    monkeypatch.setenv("GATEWAY_KEY", KEY)
    fake = FakePlugin()  # answers the example's `anthropic/...` model, batching as Anthropic does
    fake.script.reply("Paris.")
    fake.script.reply("Madrid.")
    config = {"storage": {"backend": "none"}, "providers": {"anthropic": {"type": "fake"}}}
    files = FileStore(tmp_path)
    async with (
        relaykit.Client(config, plugins=[fake]) as client,
        running(client, files=files) as url,
    ):
        source = block.replace("http://localhost:4000", url)
        code = compile(source, "contrib/gateway/README.md", "exec")
        await anyio.to_thread.run_sync(run_example, code)
    assert [request.model for request in fake.calls] == ["claude-haiku-4-5"] * 2
    assert capsys.readouterr().out == "q0 Paris.\nq1 Madrid.\n"
