"""Embedding collections (relaykit_sqlite.Collection) on real SQLite files, with
vectors from the loopback OpenAI mock (deterministic per text: mock_vector)."""

from __future__ import annotations

import contextlib
import json
import math
import random
import sqlite3
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

import relaykit
from relaykit.testing import OpenAIMock, mock_vector
from relaykit_sqlite import (
    Collection,
    CollectionInfo,
    CollectionModelError,
    CollectionNotFoundError,
    EmbedCounts,
    SimilarItem,
    list_collections,
)
from relaykit_sqlite.vectors import encode, nearest

pytestmark = pytest.mark.anyio

KEY = "sk-collections-0123456789abcdef"
MODEL = "openai/text-embedding-3-small"
TEXTS = {
    "pw": "How do I reset my password?",
    "inv": "Invoices are emailed on the first working day of each month.",
    "2fa": "Turn on two-factor authentication under Security.",
    "ship": "Orders ship within two days.",
    "ret": "Returns are free for thirty days.",
}


@pytest.fixture
def mock() -> Iterator[OpenAIMock]:
    with OpenAIMock(api_key=KEY) as server:
        yield server


def client(mock: OpenAIMock) -> relaykit.Client:
    return relaykit.Client(
        {
            "storage": {"backend": "none"},
            "retry": {"initial_wait": 0},
            "providers": {"openai": {"base_url": mock.base_url, "api_key": KEY}},
        }
    )


def embedding_inputs(mock: OpenAIMock) -> list[list[str]]:
    """The texts of each embeddings request the mock got, in order."""
    return [json.loads(r.body)["input"] for r in mock.requests if r.path.endswith("/embeddings")]


def cosine(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / (math.hypot(*a) * math.hypot(*b))


def expected_order(query: str, ids: list[str]) -> list[str]:
    """The ids by the cosine of the mock's vectors, computed here the obvious way."""
    probe = mock_vector(query)
    return sorted(ids, key=lambda i: -cosine(probe, mock_vector(TEXTS[i])))


async def test_similar_ranks_by_cosine_with_content_and_metadata(
    mock: OpenAIMock, tmp_path: Path
) -> None:
    items = [(i, t, {"n": n}) for n, (i, t) in enumerate(TEXTS.items())]
    async with client(mock) as c, Collection(tmp_path / "e.db", "faq", MODEL) as faq:
        counts = await faq.embed_many(c, items, store=True)
        found = await faq.similar(c, "forgot my password", n=3)
    assert counts == EmbedCounts(embedded=5, unchanged=0)
    order = expected_order("forgot my password", list(TEXTS))
    assert [f.id for f in found] == order[:3]
    best = found[0]
    assert best.content == TEXTS[best.id]
    assert best.metadata == {"n": list(TEXTS).index(best.id)}
    assert best.score == pytest.approx(
        cosine(mock_vector("forgot my password"), mock_vector(TEXTS[best.id])), abs=1e-6
    )
    assert found[0].score >= found[1].score >= found[2].score
    # one request for the five documents, one for the query
    assert embedding_inputs(mock) == [list(TEXTS.values()), ["forgot my password"]]


async def test_unchanged_texts_are_not_sent_again(mock: OpenAIMock, tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    async with client(mock) as c, Collection(path, "faq", MODEL) as faq:
        await faq.embed_many(c, [("pw", TEXTS["pw"]), ("inv", TEXTS["inv"])])
        again = await faq.embed_many(
            c, [("pw", TEXTS["pw"]), ("inv", "Invoices go out monthly."), ("new", TEXTS["ship"])]
        )
        same = await faq.embed(c, "pw", TEXTS["pw"], metadata={"tag": "account"})
        changed = await faq.embed(c, "pw", "Reset your password in Settings.")
        assert await faq.count() == 3
    assert again == EmbedCounts(embedded=2, unchanged=1)
    assert (same, changed) == (False, True)
    assert embedding_inputs(mock) == [
        [TEXTS["pw"], TEXTS["inv"]],
        ["Invoices go out monthly.", TEXTS["ship"]],
        ["Reset your password in Settings."],
    ]
    async with Collection(path, "faq") as faq:  # a new object reads the hashes back
        assert (await faq.similar_by_id("inv", n=5))[0].id in ("pw", "new")
        metadata = {f.id: f.metadata for f in await faq.similar_by_id("inv", n=5)}
    assert metadata["pw"] == {"tag": "account"}  # kept when later calls give none


async def test_batches_are_sent_and_committed_batch_by_batch(
    mock: OpenAIMock, tmp_path: Path
) -> None:
    items = [*TEXTS.items(), ("pw", "a later text for pw")]
    async with client(mock) as c, Collection(tmp_path / "e.db", "faq", MODEL) as faq:
        counts = await faq.embed_many(c, items, batch_size=2)
        assert await faq.count() == 5
    assert counts == EmbedCounts(embedded=6, unchanged=0)
    assert [len(texts) for texts in embedding_inputs(mock)] == [2, 2, 2]


async def test_similar_by_id_leaves_the_item_out_and_calls_no_model(
    mock: OpenAIMock, tmp_path: Path
) -> None:
    async with client(mock) as c, Collection(tmp_path / "e.db", "faq", MODEL) as faq:
        await faq.embed_many(c, TEXTS.items())
        before = len(mock.requests)
        found = await faq.similar_by_id("pw", n=10)
    assert len(mock.requests) == before
    others = [i for i in TEXTS if i != "pw"]
    probe = mock_vector(TEXTS["pw"])
    assert [f.id for f in found] == sorted(
        others, key=lambda i: -cosine(probe, mock_vector(TEXTS[i]))
    )
    assert all(f.content is None and f.metadata is None for f in found)


async def test_a_collection_keeps_its_model(mock: OpenAIMock, tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    async with client(mock) as c:
        async with Collection(path, "faq", MODEL) as faq:
            await faq.embed(c, "pw", TEXTS["pw"])
        async with Collection(path, "faq", "openai/text-embedding-3-large") as other:
            with pytest.raises(CollectionModelError) as raised:
                await other.embed(c, "inv", TEXTS["inv"])
            with pytest.raises(CollectionModelError):
                await other.similar(c, "password")
        async with Collection(path, "faq") as faq:  # no model given: the stored one
            assert await faq.model() == MODEL
            assert await faq.embed(c, "inv", TEXTS["inv"])
    message = str(raised.value)
    assert MODEL in message and "openai/text-embedding-3-large" in message
    assert "use model openai/text-embedding-3-small for it, or a new collection" in message
    assert isinstance(raised.value, relaykit.InvalidRequestError)
    assert len(embedding_inputs(mock)) == 2  # the refused calls sent nothing


async def test_a_missing_collection_is_a_typed_error_and_creates_no_file(
    mock: OpenAIMock, tmp_path: Path
) -> None:
    path = tmp_path / "none.db"
    async with client(mock) as c, Collection(path, "nope") as nope:
        assert await nope.info() is None and await nope.count() == 0
        with pytest.raises(CollectionNotFoundError, match="no collection named 'nope'"):
            await nope.similar(c, "anything")
        with pytest.raises(CollectionNotFoundError, match="with a model to create it"):
            await nope.embed(c, "x", "some text")
        with pytest.raises(CollectionNotFoundError):
            await nope.similar_by_id("x")
        assert await nope.delete() is False
    assert not path.exists()
    assert await list_collections(path) == []
    assert mock.requests == []


async def test_bad_items_are_refused_before_any_call(mock: OpenAIMock, tmp_path: Path) -> None:
    async with client(mock) as c, Collection(tmp_path / "e.db", "faq", MODEL) as faq:
        with pytest.raises(relaykit.InvalidRequestError, match="'blank' has no text"):
            await faq.embed_many(c, [("ok", "text"), ("blank", "  ")])
        with pytest.raises(relaykit.InvalidRequestError, match="not JSON"):
            await faq.embed(c, "x", "text", metadata={"when": object()})
        with pytest.raises(relaykit.InvalidRequestError, match="batch_size"):
            await faq.embed_many(c, [("x", "text")], batch_size=0)
    assert mock.requests == []


async def test_vectors_are_unit_float32_blobs_and_keys_are_never_stored(
    mock: OpenAIMock, tmp_path: Path
) -> None:
    path = tmp_path / "e.db"
    async with client(mock) as c, Collection(path, "faq", MODEL) as faq:
        await faq.embed(c, "pw", TEXTS["pw"], store=True)
    check_stored_file(path, TEXTS["pw"])


def check_stored_file(path: Path, text: str) -> None:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        (blob,) = conn.execute("SELECT embedding FROM embeddings").fetchone()
    expected = mock_vector(text)
    assert len(blob) == 4 * len(expected)
    assert struct.unpack(f"<{len(expected)}f", blob) == pytest.approx(expected, abs=1e-6)
    assert math.hypot(*struct.unpack(f"<{len(expected)}f", blob)) == pytest.approx(1, abs=1e-6)
    assert path.stat().st_mode & 0o077 == 0  # the owner's only
    files = [p for p in path.parent.iterdir() if p.name.startswith(path.name)]
    assert KEY.encode() not in b"".join(p.read_bytes() for p in files)


async def test_list_count_and_delete(mock: OpenAIMock, tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    async with client(mock) as c:
        async with Collection(path, "b", MODEL) as b:
            await b.embed_many(c, list(TEXTS.items())[:2])
        async with Collection(path, "a", MODEL) as a:
            await a.embed(c, "one", "just one")
        assert await list_collections(path) == [
            CollectionInfo("a", MODEL, 1),
            CollectionInfo("b", MODEL, 2),
        ]
        async with Collection(path, "b") as b:
            assert await b.delete() is True
            assert await b.exists() is False
    assert await list_collections(path) == [CollectionInfo("a", MODEL, 1)]


async def test_two_collections_fill_one_file_at_once(mock: OpenAIMock, tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    items = [(f"{i}", f"text number {i}") for i in range(40)]

    async def fill(name: str) -> None:
        async with Collection(path, name, MODEL) as collection:
            await collection.embed_many(c, items, batch_size=5)

    async with client(mock) as c, anyio.create_task_group() as tg:
        tg.start_soon(fill, "a")
        tg.start_soon(fill, "b")
    assert await list_collections(path) == [
        CollectionInfo("a", MODEL, 40),
        CollectionInfo("b", MODEL, 40),
    ]


# -- the arithmetic ------------------------------------------------------------------


def _brute_force(query: list[float], vectors: list[list[float]], n: int) -> list[int]:
    scores = [cosine(tuple(query), tuple(v)) for v in vectors]
    return sorted(range(len(vectors)), key=lambda i: (-scores[i], i))[:n]


@pytest.mark.parametrize("dimensions", [3, 64, 1536])
def test_nearest_agrees_with_the_obvious_cosine(dimensions: int) -> None:
    rng = random.Random(dimensions)
    vectors = [[rng.gauss(0, 1) * 3 for _ in range(dimensions)] for _ in range(200)]
    query = [rng.gauss(0, 1) for _ in range(dimensions)]
    found = nearest(query, ((i, encode(v)) for i, v in enumerate(vectors)), 7)
    assert [key for _, key in found] == _brute_force(query, vectors, 7)
    for score, key in found:
        assert score == pytest.approx(cosine(tuple(query), tuple(vectors[key])), abs=1e-5)


def test_nearest_breaks_ties_by_order_and_refuses_other_lengths() -> None:
    rows: list[tuple[Any, bytes]] = [("a", encode([1, 0])), ("b", encode([2, 0]))]
    assert nearest([1, 0], rows, 5) == [(1.0, "a"), (1.0, "b")]
    assert nearest([1, 0], rows, 0) == []
    with pytest.raises(ValueError, match="3 dimensions, the query 2"):
        nearest([1, 0], [("c", encode([1, 0, 0]))], 1)


def test_similar_items_are_frozen_values() -> None:
    item = SimilarItem("a", 0.5, None, None)
    with pytest.raises(AttributeError):
        item.score = 1.0  # type: ignore[misc]


#: ids and texts holding a lone surrogate, NUL, and the escape of relaykit.storable_text
AWKWARD = {
    "half \ud83d": "a text with half \ud83d an emoji",
    "nul\x00": "a NUL \x00 inside",
    "esc\uffff": "the escape \uffff and its look-alike \uffffd800\uffff",
}


async def test_any_string_in_a_collection_is_stored_and_read_back(
    mock: OpenAIMock, tmp_path: Path
) -> None:
    name = "docs \ud800 \x00 \uffff"
    items = [(i, t, {"k\udfff": f"v\x00 {t}"}) for i, t in AWKWARD.items()]
    async with client(mock) as c, Collection(tmp_path / "e.db", name, MODEL) as docs:
        await docs.embed_many(c, items, store=True)
        again = await docs.embed_many(c, items, store=True)  # the hashes read back match
        found = await docs.similar_by_id("half \ud83d", n=5)
        assert await docs.count() == 3
    assert again == EmbedCounts(embedded=0, unchanged=3)
    assert {(f.id, f.content, f.metadata["k\udfff"]) for f in found if f.metadata} == {
        (i, t, f"v\x00 {t}") for i, t in AWKWARD.items() if i != "half \ud83d"
    }
    assert [(i.name, i.model) for i in await list_collections(tmp_path / "e.db")] == [(name, MODEL)]


async def test_names_and_ids_stored_before_the_escape_rule_are_the_same_names(
    mock: OpenAIMock, tmp_path: Path
) -> None:
    # Stored raw before relaykit.storable_text; migration 3 escapes them, so
    # embedding the same id again replaces its row instead of adding one beside it.
    from relaykit_sqlite.schema import EMBEDDINGS_MIGRATIONS, migrate

    path = tmp_path / "e.db"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        migrate(conn, EMBEDDINGS_MIGRATIONS[:2], "relaykit_embeddings_migrations")
        with conn:
            conn.execute(
                "INSERT INTO collections (name, model, created_at) VALUES ('faq\uffff', ?, 0)",
                (MODEL,),
            )
            conn.execute(
                "INSERT INTO embeddings (collection_id, id, embedding, content, content_hash,"
                " metadata, updated_at) VALUES (1, 'old\uffff', ?, 'text \uffff', x'00',"
                ' \'{"k": "\uffff"}\', 0)',
                (encode(mock_vector(TEXTS["ship"])),),
            )
    async with client(mock) as c, Collection(path, "faq\uffff") as faq:
        await faq.embed(c, "new", TEXTS["ret"])
        [old] = await faq.similar_by_id("new")
        assert (old.id, old.content, old.metadata) == ("old\uffff", "text \uffff", {"k": "\uffff"})
        await faq.embed(c, "old\uffff", TEXTS["ship"])
        assert await faq.count() == 2
    assert [i.name for i in await list_collections(path)] == ["faq\uffff"]
