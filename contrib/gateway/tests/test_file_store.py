"""The pieces under POST /v1/files: the streamed form reader and the on-disk file store."""

from __future__ import annotations

from pathlib import Path

import pytest

from relaykit import ConfigError, multipart
from relaykit_gateway.file_store import FileStore, StoreFullError
from relaykit_gateway.upload_form import FilePart, FormError, read_form

pytestmark = pytest.mark.anyio


class Collected:
    """A sink keeping what it was given."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.writes = 0

    async def write(self, data: bytes, /) -> None:
        self.data.extend(data)
        self.writes += 1


class Pieces:
    """``body`` arriving ``size`` bytes at a time, as an ASGI server hands it over."""

    def __init__(self, body: bytes, size: int) -> None:
        self._left = [body[i : i + size] for i in range(0, len(body), size)]

    def __aiter__(self) -> Pieces:
        return self

    async def __anext__(self) -> bytes:
        if not self._left:
            raise StopAsyncIteration
        return self._left.pop(0)


def pieces(body: bytes, size: int) -> Pieces:
    return Pieces(body, size)


@pytest.mark.parametrize("size", [1, 7, 64 * 1024])
async def test_a_form_is_read_however_it_is_cut_and_its_file_streams_on(size: int) -> None:
    # the file holds what looks like a boundary's start, and the form's own line breaks
    data = b'{"a": 1}\r\n--relay\r\n-- not the end\r\n' * 50
    body, content_type = multipart.encode(
        [("purpose", "batch"), ("expires_after[seconds]", "3600")],
        [multipart.Part("file", data, 'my "in"\r\n.jsonl', "application/jsonl")],
    )
    boundary = multipart.boundary_of(content_type)
    assert boundary is not None
    sink = Collected()
    opened: list[tuple[FilePart, dict[str, str]]] = []

    async def open_file(part: FilePart, fields: dict[str, str]) -> Collected:
        opened.append((part, fields))
        return sink

    fields = await read_form(pieces(body, size), boundary, open_file)
    assert fields == {"purpose": "batch", "expires_after[seconds]": "3600"}
    assert bytes(sink.data) == data
    [(part, seen)] = opened
    assert part == FilePart("file", 'my "in"\r\n.jsonl', "application/jsonl")
    assert seen == fields  # the fields before the file: enough to refuse it early
    if size == 1:
        assert sink.writes > 1  # streamed, not gathered


async def test_a_form_without_its_closing_boundary_or_names_is_malformed() -> None:
    body, content_type = multipart.encode([("purpose", "batch")])
    boundary = multipart.boundary_of(content_type)
    assert boundary is not None

    async def never(part: FilePart, fields: dict[str, str]) -> Collected:
        raise AssertionError("no file in this form")

    with pytest.raises(FormError, match="closing boundary"):
        await read_form(pieces(body[:-10], 100), boundary, never)
    nameless = body.replace(b'form-data; name="purpose"', b"form-data")
    with pytest.raises(FormError, match="no content-disposition name"):
        await read_form(pieces(nameless, 100), boundary, never)


async def test_files_expire_stay_their_owners_and_respect_the_caps(tmp_path: Path) -> None:
    now = [1_000_000.0]
    store = FileStore(tmp_path, max_file_bytes=10, ttl=100, clock=lambda: now[0])
    async with store.upload("alice", "a.jsonl") as upload:
        await upload.write(b"12345")
    stored = upload.stored
    assert stored is not None and (stored.bytes, stored.expires_at) == (5, 1_000_100)
    assert await store.get("alice", stored.id) == stored
    assert await store.get("bob", stored.id) is None
    assert await store.get("alice", "../" + stored.id) is None  # never a path
    assert [f.id for f in await store.files("alice")] == [stored.id]
    with pytest.raises(StoreFullError, match="larger than 10 bytes"):
        async with store.upload("alice", "b.jsonl") as too_big:
            await too_big.write(b"0123456789A")
    assert len(await store.files("alice")) == 1  # the refused one is gone
    await store.keep_batch("alice", "batch_x", {"job": "n"})
    assert (await store.batch("alice", "batch_x") or {})["metadata"] == {"job": "n"}
    assert await store.batch("bob", "batch_x") is None
    now[0] += 100  # expired: gone at the next look
    assert await store.get("alice", stored.id) is None
    assert await store.batch("alice", "batch_x") is None
    assert await store.files("alice") == [] and await store.batches("alice") == []


def test_the_store_defaults_to_the_user_config_dir_and_reads_its_cap_from_env(
    tmp_path: Path,
) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path), "RELAYKIT_GATEWAY_FILES_MAX_BYTES": "1000"}
    store = FileStore.from_env(env)
    assert store.max_total_bytes == 1000
    assert store.directory == tmp_path / "relaykit" / "gateway-files"
    assert not store.directory.exists()  # made on the first upload
    assert FileStore.from_env({"RELAYKIT_GATEWAY_FILES_DIR": str(tmp_path)}).directory == tmp_path
    with pytest.raises(ConfigError, match="RELAYKIT_GATEWAY_FILES_MAX_BYTES"):
        FileStore.from_env({"RELAYKIT_GATEWAY_FILES_MAX_BYTES": "lots"})


async def test_a_batchs_request_settings_are_its_owners_and_expire_as_its_record(
    tmp_path: Path,
) -> None:
    now = [1_000_000.0]
    store = FileStore(tmp_path, ttl=100, clock=lambda: now[0])
    settings = {"a": {"instructions": "Be brief.", "temperature": 0.2}}
    await store.keep_settings("alice", "openai/batch_1", settings)
    await store.keep_settings("alice", "openai/batch_2", settings)
    assert await store.settings("alice", "openai/batch_1") == settings
    assert await store.settings("bob", "openai/batch_1") == {}
    assert await store.settings("alice", "openai/batch_9") == {}
    assert await store.batches("alice") == []  # no batch record among them
    await store.forget_settings("openai/batch_2")  # its provider forgot the batch
    assert await store.settings("alice", "openai/batch_2") == {}
    now[0] += 100
    assert await store.settings("alice", "openai/batch_1") == {}
