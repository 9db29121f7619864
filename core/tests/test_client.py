"""The client pipeline with the in-process fake provider: timeouts, retries, fallbacks, streams."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

import relaykit
from relaykit import (
    ClientClosedError,
    ConfigError,
    InvalidRequestError,
    ProviderUnavailableError,
    RateLimitError,
    RelayError,
    RequestTimeoutError,
    StreamError,
    TextDelta,
)
from relaykit.known_secrets import KnownSecrets
from relaykit.model_catalog import ModelCatalog
from relaykit.testing import FakePlugin, Reply

FAST_RETRY = {"attempts": 3, "initial_wait": 0, "max_retry_after": 0}


def make(fake: FakePlugin, *more: FakePlugin, **sections: Any) -> relaykit.Client:
    config: dict[str, Any] = {"storage": {"backend": "none"}, "retry": FAST_RETRY, **sections}
    return relaykit.Client(config, plugins=[fake, *more])


@pytest.mark.anyio
async def test_chat_fills_cost_latency_and_provider() -> None:
    fake = FakePlugin()
    fake.script.reply("four words right here", input_tokens=1000, output_tokens=500)
    async with make(fake) as client:
        r = await client.chat("fake/model-a", "hi")
    assert (r.provider, r.model, r.attempts) == ("fake", "model-a", 1)
    assert str(r.cost) == "0.002"  # 1000 * $1/M + 500 * $2/M
    assert r.latency is not None


@pytest.mark.anyio
async def test_model_id_splits_at_the_first_slash_only() -> None:
    fake = FakePlugin()
    async with make(fake) as client:
        r = await client.chat("fake/meta-llama/llama-3-8b", "hi")
    assert fake.calls[-1].model == "meta-llama/llama-3-8b"
    assert r.model == "meta-llama/llama-3-8b"


@pytest.mark.anyio
async def test_model_without_provider_is_a_config_error() -> None:
    async with make(FakePlugin()) as client:
        with pytest.raises(ConfigError, match="provider/model"):
            await client.chat("gpt-4o", "hi")


@pytest.mark.anyio
async def test_retry_honours_retry_after() -> None:
    fake = FakePlugin()
    fake.script.push(Reply.failure(429, "slow", retry_after=0.2), Reply(text="ok"))
    async with make(fake, retry={"attempts": 2, "initial_wait": 0, "max_retry_after": 5}) as client:
        start = anyio.current_time()
        r = await client.chat("fake/m", "hi")
        waited = anyio.current_time() - start
    assert (r.text, r.attempts) == ("ok", 2)
    assert waited >= 0.2


@pytest.mark.anyio
async def test_a_retry_after_past_max_retry_after_is_raised_not_retried_early() -> None:
    # It was clamped: the call retried after max_retry_after (60 s) while the
    # server had asked for 300, and all but certainly got another 429.
    fake = FakePlugin()
    fake.script.push(Reply.failure(429, "slow", retry_after=300), Reply(text="too early"))
    async with make(
        fake, retry={"attempts": 2, "initial_wait": 0, "max_retry_after": 0.01}
    ) as client:
        with anyio.fail_after(2), pytest.raises(RateLimitError) as raised:
            await client.chat("fake/m", "hi")
    assert len(fake.calls) == 1
    assert raised.value.retry_after == 300  # the server's, for the caller to schedule
    assert "more than [retry] max_retry_after (0.01s)" in str(raised.value.hint)


@pytest.mark.anyio
async def test_a_retry_after_past_max_retry_after_moves_on_to_the_fallback() -> None:
    main, backup = FakePlugin("fake"), FakePlugin("backup")
    main.script.push(Reply.failure(429, "slow", retry_after=300), Reply(text="too early"))
    backup.script.push(Reply.failure(503, "down"), Reply(text="backup"))
    routes = {"g": {"targets": ["fake/m", "backup/m"]}}
    retry = {"attempts": 2, "initial_wait": 0, "max_retry_after": 0.01}
    async with make(main, backup, models=routes, retry=retry) as client:
        with anyio.fail_after(2):
            r = await client.chat("g", "hi")
    assert (r.provider, r.text) == ("backup", "backup")
    assert len(main.calls) == 1  # not asked again while it said to keep away


@pytest.mark.anyio
async def test_a_retry_after_within_max_retry_after_is_waited_exactly() -> None:
    fake = FakePlugin()
    fake.script.push(Reply.failure(429, "slow", retry_after=0.05), Reply(text="ok"))
    async with make(fake, retry={"attempts": 2, "initial_wait": 0, "max_retry_after": 1}) as client:
        with anyio.fail_after(2):
            r = await client.chat("fake/m", "hi")
    assert r.attempts == 2


@pytest.mark.anyio
async def test_no_retry_when_the_wait_would_outlast_the_total_timeout() -> None:
    fake = FakePlugin()
    fake.script.push(Reply.failure(429, "slow", retry_after=30), Reply(text="never"))
    async with make(fake, retry={"attempts": 3, "max_retry_after": 60}) as client:
        with pytest.raises(RateLimitError):
            await client.chat("fake/m", "hi", timeout=1)
    assert len(fake.calls) == 1


@pytest.mark.anyio
async def test_caller_errors_are_not_retried() -> None:
    fake = FakePlugin()
    fake.script.fail(400, "bad request")
    async with make(fake) as client:
        with pytest.raises(InvalidRequestError):
            await client.chat("fake/m", "hi")
    assert len(fake.calls) == 1


@pytest.mark.anyio
async def test_fallback_route_serves_from_the_next_target() -> None:
    first, second = FakePlugin("fake"), FakePlugin("backup")
    first.script.push(*[Reply.failure(503, "down")] * 3)
    second.script.reply("from backup")
    routes = {"fast": {"targets": ["fake/a", "backup/b"], "strategy": "fallback"}}
    async with make(first, second, models=routes) as client:
        r = await client.chat("fast", "hi")
    assert (r.text, r.provider, r.model, r.attempts) == ("from backup", "backup", "b", 4)


@pytest.mark.anyio
async def test_all_targets_failing_raises_the_last_error() -> None:
    first, second = FakePlugin("fake"), FakePlugin("backup")
    first.script.push(*[Reply.failure(503, "down")] * 3)
    second.script.push(*[Reply.failure(500, "also down")] * 3)
    routes = {"fast": {"targets": ["fake/a", "backup/b"]}}
    async with make(first, second, models=routes) as client:
        with pytest.raises(ProviderUnavailableError, match="also down"):
            await client.chat("fast", "hi")


@pytest.mark.anyio
async def test_total_timeout() -> None:
    fake = FakePlugin()
    fake.script.push(Reply(text="late", delay=5))
    async with make(fake) as client:
        with pytest.raises(RequestTimeoutError) as info:
            await client.chat("fake/m", "hi", timeout=0.1)
    assert info.value.which == "total"


@pytest.mark.anyio
async def test_first_token_timeout_on_streams() -> None:
    fake = FakePlugin()
    fake.script.push(*[Reply(text="late", delay=5)] * 3)
    async with make(fake, timeouts={"first_token": 0.1}, retry={"attempts": 1}) as client:
        with pytest.raises(RequestTimeoutError) as info:
            async with client.stream("fake/m", "hi") as s:
                async for _ in s:
                    pass
    assert info.value.which == "first_token"


@pytest.mark.anyio
async def test_idle_timeout_between_stream_events() -> None:
    fake = FakePlugin()
    fake.script.push(Reply(text="a" * 40, chunk_delay=1))
    async with make(fake, timeouts={"idle": 0.1, "first_token": 5}) as client:
        with pytest.raises(RequestTimeoutError) as info:
            async with client.stream("fake/m", "hi") as s:
                async for _ in s:
                    pass
    assert info.value.which == "idle"


@pytest.mark.anyio
async def test_stream_retries_before_the_first_event_only() -> None:
    fake = FakePlugin()
    fake.script.push(Reply.failure(503, "down"), Reply(text="second try", stream_fault="error"))
    async with make(fake) as client:
        with pytest.raises(StreamError) as info:
            async with client.stream("fake/m", "hi") as s:
                async for _ in s:
                    pass
    assert len(fake.calls) == 2  # retried the 503, never the broken stream
    assert info.value.partial is not None and info.value.partial.text == "second try"
    assert s.response.text == "second try"


@pytest.mark.anyio
async def test_stream_must_be_entered() -> None:
    async with make(FakePlugin()) as client:
        with pytest.raises(RelayError, match="async with"):
            async for _ in client.stream("fake/m", "hi"):
                pass


@pytest.mark.anyio
async def test_stream_left_early_keeps_what_arrived() -> None:
    fake = FakePlugin()
    fake.script.reply("abcdefgh" * 10)
    async with make(fake) as client, client.stream("fake/m", "hi") as s:
        async for event in s:
            if isinstance(event, TextDelta):
                break
    assert s.response.text == "abcdefgh"


@pytest.mark.anyio
async def test_closed_client_refuses_calls() -> None:
    client = make(FakePlugin())
    async with client:
        pass
    with pytest.raises(ClientClosedError, match="closed"):
        await client.chat("fake/m", "hi")


@pytest.mark.anyio
async def test_client_works_without_async_with() -> None:
    client = make(FakePlugin())
    try:
        assert (await client.chat("fake/m", "hi")).text == "echo: hi"
    finally:
        await client.aclose()


@pytest.mark.anyio
async def test_models_are_listed_and_cached() -> None:
    fake = FakePlugin()
    async with make(fake, providers={"fake": {}}) as client:
        models = await client.models("fake")
        assert [m.qualified_id for m in models] == ["fake/fake-model"]
        assert await client.models() == models


class _FlakyProvider:
    def __init__(self) -> None:
        self.calls = 0
        self.fail = False

    async def list_models(self) -> list[relaykit.ModelInfo]:
        self.calls += 1
        if self.fail:
            raise ProviderUnavailableError("listing is down")
        return [relaykit.ModelInfo(f"m{self.calls}", "p")]


class _Registry:
    def __init__(self, provider: _FlakyProvider) -> None:
        self.provider = provider
        self.known_secrets = KnownSecrets()
        self.ca_file = None

    def names(self) -> list[str]:
        return ["p"]

    def get(self, name: str) -> _FlakyProvider:
        return self.provider


@pytest.mark.anyio
async def test_model_cache_ttl_and_stale_fallback() -> None:
    now = [0.0]
    provider = _FlakyProvider()
    catalog = ModelCatalog(_Registry(provider), ttl=60, clock=lambda: now[0])  # type: ignore[arg-type]
    assert [m.id for m in await catalog.models("p")] == ["m1"]
    now[0] = 30
    assert [m.id for m in await catalog.models("p")] == ["m1"]  # cached
    now[0] = 61
    assert [m.id for m in await catalog.models("p")] == ["m2"]  # refreshed
    provider.fail = True
    now[0] = 200
    assert [m.id for m in await catalog.models("p")] == ["m2"]  # stale beats an error
    with pytest.raises(ProviderUnavailableError):
        await ModelCatalog(_Registry(provider), ttl=60).models("p")  # type: ignore[arg-type]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_sync_client(backend: str) -> None:
    fake = FakePlugin()
    fake.script.reply("sync hello")
    config = {"storage": {"backend": "none"}}
    with relaykit.SyncClient(config, plugins=[fake], backend=backend) as client:
        assert client.chat("fake/m", "hi").text == "sync hello"
        with client.stream("fake/m", "stream") as s:
            deltas = [e.text for e in s if isinstance(e, TextDelta)]
        assert "".join(deltas) == "echo: stream" == s.response.text
        assert client.models("fake")[0].id == "fake-model"
        with pytest.raises(InvalidRequestError):
            client.chat("fake/m", [])


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_sync_client_keeps_an_async_context_open_in_its_loop_until_it_closes(
    backend: str,
) -> None:
    from contextlib import asynccontextmanager

    fake = FakePlugin()
    fake.script.push(Reply(tool_calls=(("loop_task", {}),)), Reply(text="done"))
    log: list[str] = []

    @asynccontextmanager
    async def connection() -> Any:
        # a task group, as an MCP session holds: entered and left in one task
        async with anyio.create_task_group():
            log.append("open")
            yield [relaykit.FunctionTool.from_function(loop_task)]
            # left before the client closes: it still answers
            assert inner is not None
            log.append((await inner.chat("fake/m", "bye")).text)

    async def loop_task() -> str | None:
        """A tool awaited in the client's event loop."""
        return anyio.get_current_task().name

    config = {"storage": {"backend": "none"}}
    with relaykit.SyncClient(config, plugins=[fake], backend=backend) as client:
        inner = client._client
        tools = client.enter_async_context(connection())
        assert log == ["open"]
        assert client.run_tools("fake/m", "go", tools).text == "done"
    assert log == ["open", "echo: bye"]


def test_sync_client_must_be_entered() -> None:
    # (typed, not the RuntimeError it was: `client = OpenAI(); client.chat...` is
    # how the OpenAI SDK is used, so this is met often)
    with pytest.raises(relaykit.RelayError, match=r"with relaykit\.SyncClient"):
        relaykit.SyncClient().chat("fake/m", "hi")


@pytest.mark.anyio
async def test_errors_leave_the_client_block_unwrapped() -> None:
    fake = FakePlugin()
    fake.script.fail(429, "slow down")
    with pytest.raises(RateLimitError):  # not an ExceptionGroup
        async with make(fake, retry={"attempts": 1}) as client:
            await client.chat("fake/m", "hi")


@pytest.mark.anyio
async def test_cancellation_through_the_client_block() -> None:
    fake = FakePlugin()
    fake.script.push(Reply(text="slow", delay=5))
    with anyio.move_on_after(0.05) as scope:
        async with make(fake) as client:
            await client.chat("fake/m", "hi")
    assert scope.cancelled_caught
