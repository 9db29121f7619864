"""The two similarity search paths of relaykit_sqlite: pure Python (vectors.nearest)
and numpy (vector_matrix), which must give the same answers, and the matrix a
Collection keeps between searches, which must follow every write to the file."""

from __future__ import annotations

import contextlib
import random
import sqlite3
import struct
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import anyio
import pytest

import relaykit
import relaykit_sqlite
from relaykit.errors import InvalidRequestError, RelayError
from relaykit.testing import OpenAIMock, mock_vector
from relaykit_sqlite import Collection, CollectionModelError, SimilarItem
from relaykit_sqlite import vector_matrix as fast
from relaykit_sqlite.schema import EMBEDDINGS_MIGRATIONS, migrate
from relaykit_sqlite.vectors import encode, nearest

KEY = "sk-similarity-0123456789abcdef"
MODEL = "openai/text-embedding-3-small"
TEXTS = {
    "pw": "How do I reset my password?",
    "inv": "Invoices are emailed on the first working day of each month.",
    "2fa": "Turn on two-factor authentication under Security.",
    "ship": "Orders ship within two days.",
    "ret": "Returns are free for thirty days.",
    # the same text as "pw" under other ids: exact ties, ranked by id
    "a-pw": "How do I reset my password?",
    "pw-copy": "How do I reset my password?",
}


# -- the arithmetic: identical answers -------------------------------------------------


def _hard_blobs(dimensions: int, seed: int) -> tuple[list[float], list[bytes]]:
    """Blobs that make a careless float32 ranking differ from the exact one."""
    rng = random.Random(seed)
    base = [rng.gauss(0, 1) for _ in range(dimensions)]
    vectors: list[list[float]] = []
    for _ in range(300):
        kind = rng.random()
        if kind < 0.1:
            vectors.append([0.0] * dimensions)  # scores as the pure path scores it (0.5)
        elif kind < 0.5:  # near-ties: closer together than float32 sums can tell
            vectors.append([b + rng.gauss(0, 1) * 1e-6 for b in base])
        else:
            vectors.append([rng.gauss(0, 1) for _ in range(dimensions)])
    vectors += vectors[:20]  # exact ties
    blobs = [encode(v) for v in vectors]
    # a blob another program wrote, not unit length
    blobs.append(struct.pack(f"<{dimensions}f", *(3 * b for b in base)))
    return base, blobs


@pytest.mark.parametrize("dimensions", [3, 64, 1536])
def test_the_numpy_path_ranks_exactly_as_the_pure_one(
    dimensions: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, blobs = _hard_blobs(dimensions, seed=dimensions)
    rows = list(enumerate(blobs))
    matrix = fast.VectorMatrix.read(
        ((i + 100, b) for i, b in rows), len(rows), dimensions, key=None
    )
    rng = random.Random(1)
    for query in (base, [rng.gauss(0, 1) for _ in range(dimensions)]):
        for n in (0, 1, 7, 50, len(rows) + 5):
            expected = nearest(query, rows, n)
            assert len(expected) == min(n, len(rows))
            # the same floats, in the same order: nothing approximate
            assert [(s, r - 100) for s, r in matrix.nearest(query, n)] == expected
            monkeypatch.setattr(fast, "CHUNK_ROWS", 37)  # chunk edges inside the ties
            assert fast.nearest_in_chunks(query, rows, n) == expected
            monkeypatch.undo()
    # leaving a row out is leaving it out of the scan
    without = [row for row in rows if row[0] != 5]
    assert [(s, r - 100) for s, r in matrix.nearest(base, 9, exclude=105)] == nearest(
        base, without, 9
    )


def test_the_numpy_path_refuses_other_lengths_as_the_pure_one() -> None:
    rows = [("a", encode([1, 0, 0])), ("b", encode([1, 0]))]
    with pytest.raises(ValueError, match="3 dimensions, the query 2"):
        fast.nearest_in_chunks([1, 0], rows, 1)
    with pytest.raises(ValueError, match="3 dimensions, the query 2"):
        fast.VectorMatrix.read(enumerate(blob for _, blob in rows), 2, 2, key=None)
    matrix = fast.VectorMatrix.read([(1, encode([1, 0, 0]))], 1, 3, key=None)
    with pytest.raises(ValueError, match="3 dimensions, the query 2"):
        matrix.nearest([1, 0], 1)
    assert matrix.nbytes == 3 * 4 + fast.ROW_OVERHEAD


# -- collections on both paths -------------------------------------------------------------


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


async def answers(path: Path, **options: object) -> dict[str, list[SimilarItem]]:
    """Every item's ``similar_by_id`` answer, and one for the "pw" text, on one path."""
    async with Collection(path, "faq", **options) as faq:  # type: ignore[arg-type]
        found = {id: await faq.similar_by_id(id, n=4) for id in sorted(TEXTS)}
        found["(pw vector)"] = await faq._nearest(mock_vector(TEXTS["pw"]), 10, exclude=None)
    return found


@pytest.mark.anyio
async def test_both_paths_answer_alike_with_ties_in_id_order(
    mock: OpenAIMock, tmp_path: Path
) -> None:
    path = tmp_path / "e.db"
    async with client(mock) as c, Collection(path, "faq", MODEL) as faq:
        await faq.embed_many(c, list(TEXTS.items()), store=True)
    pure = await answers(path, use_numpy=False)
    assert await answers(path, use_numpy=True) == pure
    assert await answers(path, use_numpy=True, matrix_cache_bytes=0) == pure
    # the three copies of one text tie at the top, in id order
    assert [f.id for f in pure["(pw vector)"][:3]] == ["a-pw", "pw", "pw-copy"]
    assert [f.id for f in pure["pw"][:2]] == ["a-pw", "pw-copy"]
    assert len(pure["(pw vector)"]) == len(TEXTS)


@pytest.mark.anyio
async def test_the_kept_matrix_follows_every_write_to_the_file(
    mock: OpenAIMock, tmp_path: Path
) -> None:
    path = tmp_path / "e.db"
    query = mock_vector("forgot my password")

    async def expected() -> list[SimilarItem]:
        async with Collection(path, "faq", use_numpy=False) as pure:
            return await pure._nearest(query, 3, exclude=None)

    async with (
        client(mock) as c,
        Collection(path, "faq", MODEL, use_numpy=True) as kept,
        Collection(path, "faq", MODEL) as writer,  # another connection, as another process
    ):
        await writer.embed_many(c, [(i, t) for i, t in TEXTS.items() if i in ("inv", "ship")])
        assert await kept._nearest(query, 3, exclude=None) == await expected()
        assert kept.matrix_bytes == 2 * (8 * 4 + fast.ROW_OVERHEAD)
        matrix = kept._matrix
        await kept.similar_by_id("inv")
        assert kept._matrix is matrix  # nothing written: nothing read again

        async def remake() -> None:
            # The collection deleted and made again: the same name, the same
            # rowid, and as many writes as the kept matrix had seen.
            await writer.delete()
            await writer.embed_many(c, [(i, TEXTS[i]) for i in ("pw", "2fa", "ship", "ret")])

        def delete_in_sql() -> None:  # by some other program
            with contextlib.closing(sqlite3.connect(path)) as conn, conn:
                conn.execute("DELETE FROM embeddings WHERE id = 'pw'")

        writes: list[Callable[[], Awaitable[object]]] = [
            # a new item, the query's own text: it must come first
            lambda: writer.embed(c, "new", "forgot my password"),
            # an id's vector replaced in place (the same rowid, the same count)
            lambda: writer.embed(c, "inv", "forgot my password!"),
            remake,
            lambda: anyio.to_thread.run_sync(delete_in_sql),
        ]
        for write in writes:
            before = await kept._nearest(query, 3, exclude=None)
            await write()
            found = await kept._nearest(query, 3, exclude=None)
            assert found != before
            assert found == await expected()
    assert kept.matrix_bytes == 0  # closing drops it


@pytest.mark.anyio
async def test_matrix_cache_bytes_bounds_what_is_kept(mock: OpenAIMock, tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    async with client(mock) as c, Collection(path, "faq", MODEL) as faq:
        await faq.embed_many(c, list(TEXTS.items()))
    needed = len(TEXTS) * (8 * 4 + fast.ROW_OVERHEAD)
    for limit, kept in ((needed, needed), (needed - 1, 0), (0, 0)):
        async with Collection(path, "faq", use_numpy=True, matrix_cache_bytes=limit) as faq:
            found = await faq.similar_by_id("inv", n=3)
            assert faq.matrix_bytes == kept
        async with Collection(path, "faq", use_numpy=False) as pure:
            assert found == await pure.similar_by_id("inv", n=3)
    with pytest.raises(InvalidRequestError, match="matrix_cache_bytes is -1"):
        Collection(path, "faq", matrix_cache_bytes=-1)


@pytest.mark.anyio
async def test_other_dimensions_are_refused_on_both_paths(tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        migrate(conn, EMBEDDINGS_MIGRATIONS, "relaykit_embeddings_migrations")
        with conn:
            conn.execute("INSERT INTO collections (name, model, created_at) VALUES ('m', 'x/y', 0)")
            conn.executemany(
                "INSERT INTO embeddings (collection_id, id, embedding, content_hash, updated_at)"
                " VALUES (1, ?, ?, x'00', 0)",
                [("a", encode([1, 0, 0])), ("b", encode([1, 0]))],
            )
    for use_numpy in (False, True):
        async with Collection(path, "m", use_numpy=use_numpy) as mixed:
            with pytest.raises(CollectionModelError, match="3 dimensions, the query 2"):
                await mixed.similar_by_id("b")


@pytest.mark.anyio
async def test_a_file_from_before_versions_is_migrated(mock: OpenAIMock, tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        migrate(conn, EMBEDDINGS_MIGRATIONS[:1], "relaykit_embeddings_migrations")
        with conn:
            conn.execute(
                "INSERT INTO collections (name, model, created_at) VALUES ('faq', ?, 0)", (MODEL,)
            )
            conn.execute(
                "INSERT INTO embeddings (collection_id, id, embedding, content_hash, updated_at)"
                " VALUES (1, 'old', ?, x'00', 0)",
                (encode(mock_vector(TEXTS["ship"])),),
            )
    async with client(mock) as c, Collection(path, "faq", use_numpy=True) as faq:
        assert [f.id for f in await faq.similar(c, TEXTS["ship"])] == ["old"]
        await faq.embed(c, "new", TEXTS["ship"])
        assert [f.id for f in await faq.similar(c, TEXTS["ship"])] == ["new", "old"]


@pytest.mark.anyio
async def test_without_numpy_the_pure_path_answers(
    mock: OpenAIMock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "e.db"
    async with client(mock) as c, Collection(path, "faq", MODEL) as faq:
        await faq.embed_many(c, list(TEXTS.items()))
        expected = await faq.similar_by_id("inv", n=3)
    monkeypatch.setitem(sys.modules, "numpy", None)  # what an import of a missing one does
    monkeypatch.delitem(sys.modules, "relaykit_sqlite.vector_matrix")
    monkeypatch.delattr(relaykit_sqlite, "vector_matrix")
    async with Collection(path, "faq") as faq:
        assert await faq.similar_by_id("inv", n=3) == expected
        assert faq.matrix_bytes == 0
    async with Collection(path, "faq", use_numpy=True) as faq:
        with pytest.raises(RelayError, match="numpy cannot be imported") as caught:
            await faq.similar_by_id("inv")
    assert "relaykit-sqlite[numpy]" in (caught.value.hint or "")


def test_importing_the_plugin_leaves_numpy_unimported() -> None:
    script = (
        "import sys\n"
        "import relaykit_sqlite\n"
        "from relaykit_sqlite import Collection\n"
        "Collection('unused.db', 'faq')\n"
        "print('numpy' in sys.modules)\n"
    )
    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert ran.stdout.split() == ["False"]
