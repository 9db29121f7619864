"""relaykit.Client chatting and streaming with Claude, against the local Anthropic mock.

Run with ``python plugins/anthropic/examples/mock_demo.py`` (add ``trio`` as an
argument to run the same code under trio). No network or real key is used.
"""

from __future__ import annotations

import sys

import anyio

import relaykit
from relaykit_anthropic import AnthropicProvider
from relaykit_anthropic.testing import AnthropicMock

KEY = "sk-ant-demo-0000000000000000000000"


async def main() -> None:
    with AnthropicMock(api_key=KEY) as mock:
        config = {
            "storage": {"backend": "none"},
            "providers": {"anthropic": {"base_url": mock.base_url, "api_key": KEY}},
        }
        async with relaykit.Client(config) as client:
            mock.script.reply("Hello from Claude (mocked).", input_tokens=12, output_tokens=6)
            r = await client.chat("anthropic/claude-haiku-4-5", "Say hello")
            print(f"chat:   {r.text!r} finish={r.finish_reason} usage={r.usage} cost=${r.cost}")

            mock.script.reply("The answer is 4.", reasoning="2 plus 2 makes 4")
            async with client.stream("anthropic/claude-sonnet-4-5", "2+2?", max_tokens=200) as s:
                async for event in s:
                    print(f"  event: {event!r}")
            print(f"stream: {s.response.text!r} reasoning={s.response.reasoning!r}")

            provider = client.provider("anthropic")
            assert isinstance(provider, AnthropicProvider)
            request = relaykit.ChatRequest(
                model="claude-haiku-4-5",
                messages=(relaykit.Message.user("how many tokens is this"),),
            )
            print(f"count_tokens: {await provider.count_tokens(request)}")
            models = await client.models("anthropic")
            print(f"models: {', '.join(m.id for m in models)}")


if __name__ == "__main__":
    anyio.run(main, backend=sys.argv[1] if len(sys.argv) > 1 else "asyncio")
