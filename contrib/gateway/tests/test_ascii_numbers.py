"""Numbers the gateway reads from requests and its environment are ASCII digits.

``str.isdigit()`` is true of other scripts' digits (Arabic-Indic ``٣``, which
``int()`` reads as 3) and of superscripts (``³``, which ``int()`` refuses: a
500 with a traceback in the log), and of a run of 5,000 nines (past ``int()``'s
digit limit: a 500 too). Each is now a 400 naming the field, as any other
value that is no whole number."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

import relaykit
from relaykit import ConfigError
from relaykit.testing import FakePlugin, mock_image
from relaykit_gateway.asgi_messages import read_body
from relaykit_gateway.file_store import FileStore
from relaykit_gateway.testing import KEY, running

pytestmark = pytest.mark.anyio

NOT_ASCII = ["٣", "³", "３", "9" * 5000]
AUTH = {"Authorization": f"Bearer {KEY}"}


@asynccontextmanager
async def gateway(fake: FakePlugin, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    config: dict[str, Any] = {"storage": {"backend": "none"}}
    async with (
        relaykit.Client(config, plugins=[fake]) as client,
        running(client, files=FileStore(tmp_path)) as url,
        httpx.AsyncClient(base_url=url, headers=AUTH, timeout=30) as http,
    ):
        yield http


@pytest.mark.parametrize("n", NOT_ASCII)
async def test_an_image_edit_n_in_other_digits_is_a_400(
    n: str, fake: FakePlugin, tmp_path: Path
) -> None:
    async with gateway(fake, tmp_path) as http:
        r = await http.post(
            "/v1/images/edits",
            data={"model": "fake/gpt-image-1", "prompt": "a hat", "n": n},
            files={"image": ("fox.png", mock_image("fox", side=16), "image/png")},
        )
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == "n"
    assert fake.image_edits == []


@pytest.mark.parametrize("seconds", ["٣٦٠٠", "3600²", "9" * 5000])
async def test_a_file_expiry_in_other_digits_is_a_400(
    seconds: str, fake: FakePlugin, tmp_path: Path
) -> None:
    async with gateway(fake, tmp_path) as http:
        r = await http.post(
            "/v1/files",
            data={
                "purpose": "batch",
                "expires_after[anchor]": "created_at",
                "expires_after[seconds]": seconds,
            },
            files={"file": ("in.jsonl", b'{"custom_id": "a"}\n', "application/jsonl")},
        )
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == "expires_after.seconds"


@pytest.mark.parametrize("limit", NOT_ASCII)
async def test_a_batch_listing_limit_in_other_digits_is_a_400(
    limit: str, fake: FakePlugin, tmp_path: Path
) -> None:
    async with gateway(fake, tmp_path) as http:
        r = await http.get("/v1/batches", params={"limit": limit})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == "limit"


@pytest.mark.parametrize("length", ["\xb2", "\xb9\xb2", "9" * 5000])
async def test_a_content_length_that_is_no_ascii_number_is_not_trusted(length: str) -> None:
    """Latin-1 headers hold superscripts ``¹²³``: int() refused them, a 500."""
    sent = [{"type": "http.request", "body": b"hello", "more_body": False}]

    async def receive() -> dict[str, Any]:
        return sent.pop(0)

    assert await read_body(receive, {"content-length": length}, 100) == b"hello"


@pytest.mark.parametrize("total", ["١٠٠٠", "1000²", "9" * 5000])
def test_a_files_max_bytes_in_other_digits_is_a_config_error(total: str, tmp_path: Path) -> None:
    env = {"RELAYKIT_GATEWAY_FILES_DIR": str(tmp_path), "RELAYKIT_GATEWAY_FILES_MAX_BYTES": total}
    with pytest.raises(ConfigError, match="RELAYKIT_GATEWAY_FILES_MAX_BYTES must be a whole"):
        FileStore.from_env(env)
