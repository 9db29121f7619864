"""Chat, stream, token counting and model listing against the Bedrock mock, on asyncio and trio.

python plugins/bedrock/examples/mock_demo.py
"""

from __future__ import annotations

import importlib.util
import os
import tempfile

import anyio

import relaykit
from relaykit_bedrock import BedrockProvider
from relaykit_bedrock.testing import ACCESS_KEY, REGION, SECRET_KEY, BedrockMock

MODEL = "bedrock/us.anthropic.claude-haiku-4-5-20251001-v1:0"


async def main(mock: BedrockMock) -> None:
    config = {
        "storage": {"backend": "none"},
        "providers": {"bedrock": {"base_url": mock.base_url, "control_plane_url": mock.base_url}},
    }
    async with relaykit.Client(config) as client:
        r = await client.chat(MODEL, "Hello Bedrock")
        print("chat:  ", repr(r.text), r.finish_reason, r.usage, f"cost ${r.cost}")
        mock.script.reply("Streamed over AWS event-stream frames.", reasoning="a short thought")
        async with client.stream(MODEL, "stream please") as s:
            async for event in s:
                print("   ", event)
        print("stream:", repr(s.response.text), s.response.finish_reason, s.response.usage)
        provider = client.provider("bedrock")
        assert isinstance(provider, BedrockProvider)
        request = relaykit.ChatRequest(
            model=MODEL.removeprefix("bedrock/"),
            messages=(relaykit.Message.user("how many tokens is this"),),
        )
        print("tokens:", await provider.count_tokens(request))
        print("models:", ", ".join(m.id for m in await client.models("bedrock")))


if __name__ == "__main__":
    # The mock's test credentials, and nothing from the real ~/.aws.
    empty = tempfile.mkdtemp()
    os.environ.update(
        AWS_ACCESS_KEY_ID=ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SECRET_KEY,
        AWS_REGION=REGION,
        AWS_CONFIG_FILE=os.path.join(empty, "config"),
        AWS_SHARED_CREDENTIALS_FILE=os.path.join(empty, "credentials"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    os.environ.pop("AWS_BEARER_TOKEN_BEDROCK", None)
    backends = ["asyncio"] + (["trio"] if importlib.util.find_spec("trio") else [])
    with BedrockMock() as mock:
        for backend in backends:
            print(f"--- {backend}")
            anyio.run(main, mock, backend=backend)
