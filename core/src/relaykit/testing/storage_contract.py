"""The storage contract suite: what every storage backend must do, as pytest tests.

A backend's test module subclasses :class:`StorageContract` and supplies one
fixture, ``storage``, yielding a fresh, empty backend (and closing it after)::

    class TestSQLite(StorageContract):
        @pytest.fixture
        async def storage(self, tmp_path):
            storage = SQLiteStorage(tmp_path / "logs.db")
            yield storage
            await storage.aclose()

Every test runs under asyncio and trio (the suite brings its own
``anyio_backend`` fixture). :class:`relaykit.testing.MemoryStorage` is the
reference implementation and passes the suite too.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest

from .._hookimpl import hookimpl
from ..client import Client
from ..config import Config
from ..errors import InvalidRequestError, StorageUnavailableError
from ..messages import (
    CachePoint,
    DocumentPart,
    ImagePart,
    Message,
    ReasoningPart,
    TextPart,
    ToolCall,
)
from ..protocols import CachedModels, CallRecord, LogQuery, Storage, UsageTotal, search_words
from ..response import ModelInfo, ModelPrice, Usage
from ..web_search import Citation
from .cache_store_contract import check_many_at_once, check_round_trip
from .fake_provider import FakePlugin
from .records import SAME_INSTANT_IDS as SAME_INSTANT_IDS
from .records import T0 as T0
from .records import make_record as make_record
from .storage_paging_contract import StoragePagingContract
from .storage_strings_contract import StorageStringsContract


def chat_records(turns: int, *, first: int = 0, chat: str = "c") -> list[CallRecord]:
    """One chat's calls, a second apart from ``first``: each resends the history.

    The system prompt, questions and answers are long enough for a backend to
    store each once (:data:`relaykit.record_rows.SHARED_MESSAGE_CHARS`); the
    words ``<chat>q<n>x`` and ``<chat>a<n>x`` are said only in turn ``n``.
    """
    history = [Message.system("You answer questions about trams, briefly. " * 8)]
    records = []
    for n in range(1, turns + 1):
        question = Message.user(f"{chat}q{n}x: tell me more about the trams. " * 8)
        answer = f"{chat}a{n}x: they run every six minutes in the centre. " * 8
        records.append(
            make_record(first + n, messages=(*history, question), text=answer, conversation_id=chat)
        )
        history += [question, Message.assistant(answer)]
    return records


#: texts :meth:`StorageContract.test_text_search_agrees_with_the_reference_on_tricky_text`
#: searches (words inside paths, addresses, numbers, code; CJK, emoji, NUL, a lone surrogate)
SEARCH_CORPUS = (
    "plain words here",
    "東京、大阪と京都。",
    "hi😀there emoji",
    "foo-bar baz_qux",
    "don't stop",
    "price 3.14 dollars",
    "mail bob@example.com now",
    "path /usr/local/bin ok",
    "https://example.com/a/b c",
    "straße Zürich",
    "x\x00y nul",
    "lone \ud800 surrogate",
    "a1b2 c3",
    "tab\tsep\nnew",
    "中文字符测试",
    "v1.2.3 release",
    "C++ and C#",
    "snake_case_name",
    "os.path.join(dots)",
    "foo/bar",
    "-5 minus +plus #hash 10% 1e10 0x1f",
    "1,000 items",
    "NEAR(foo bar) OR NOT x AND y",
    'it\'s "quoted" (parens) [brackets] {braces} back\\slash col:on',
    # accents (SQLite's tokenizer drops Latin ones by default), a decomposed
    # accent, Turkish dotted I, an emoji newer than SQLite's Unicode tables,
    # a script with vowel signs (marks between letters)
    "Zürich café naïve São",
    "zurich cafe naive sao",
    "cafe\u0301s",
    "İstanbul",
    "hi\U0001f916robot",
    "हिन्दी ก่อน",
)
#: queries searched for in :data:`SEARCH_CORPUS`: FTS5 and tsquery syntax, punctuation
SEARCH_QUERIES = (
    *('"', "'", "*", "-", ":", "(", ")", "\\", "&", "|", "!", "<->", "^", "+", "''"),
    *("OR", "NOT", "AND", "NEAR", "NEAR(foo bar)", "foo NOT bar", '"foo bar"', "fo*"),
    *("foo & bar", "foo | bar", "!foo", "(foo", "foo\\", "\\foo", "foo:*", "foo:1"),
    *("\ud800", "\x00", "😀", "", "  ", "\t\n"),
    *("東京", "京都", "大阪", "中文字符测试", "hi", "there", "emoji", "hi😀there"),
    *("foo", "bar", "foo-bar", "foo/bar", "baz", "qux", "baz_qux", "don't", "don", "t"),
    *("3", "14", "3.14", "example", "example.com", "bob", "bob@example.com", "com"),
    *("usr", "local", "/usr/local/bin", "https", "https://example.com/a/b", "a", "b"),
    *("straße", "zürich", "x", "y", "nul", "surrogate", "a1b2", "c3", "sep", "new"),
    *("v1", "2", "v1.2.3", "release", "c", "snake", "case", "snake_case_name"),
    *("os", "path", "join", "os.path.join", "dots", "5", "plus", "hash", "10", "1e10"),
    *("0x1f", "1", "000", "1,000", "items", "near", "quoted", "parens", "slash", "col"),
    "it's (parens) back\\slash",
    *("zurich", "Zürich", "cafe", "café", "naive", "naïve", "sao", "são", "cafes", "s"),
    *("istanbul", "İstanbul", "i", "stanbul", "robot", "hi\U0001f916robot", "हिन्दी"),
    *("ह", "ก", "อน", "ก่อน"),
)


def failed_record(n: int = 0, **fields: Any) -> CallRecord:
    """A record of a call that failed with HTTP 429."""
    values: dict[str, Any] = {
        "text": "",
        "usage": Usage(),
        "cost": None,
        "time_to_first_token": None,
        "finish_reason": None,
        "model_served": None,
        "response_id": None,
        "error_type": "RateLimitError",
        "error_message": "openai/gpt-4o-mini: HTTP 429: slow down",
        "status": 429,
        "attempts": 3,
    }
    values.update(fields)
    return make_record(n, **values)


#: a tool definition as a record's ``params["tools"]`` holds it
TOOL_PARAM: dict[str, Any] = {
    "name": "lookup",
    "description": "Look a word up.",
    "parameters": {
        "type": "object",
        "properties": {"q": {"type": "string", "description": "the word"}},
        "required": ["q"],
    },
}
#: a JSON-schema response format as a record's ``params["response_format"]`` holds it
RESPONSE_FORMAT_PARAM: dict[str, Any] = {
    "type": "json_schema",
    "name": "answer",
    "schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    "strict": True,
}
#: what the client-level contract test puts in tools, schemas, extra and metadata
_PLANTED_KEY = "sk-proj-" + "Pl4ntedC0ntract" * 3


class _KeepOpen:
    """``storage`` for a client that closes what it is given: everything but ``aclose``."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    def __getattr__(self, name: str) -> Any:
        return getattr(self._storage, name)

    async def aclose(self) -> None:
        pass  # the fixture closes it, after the test has read the records back


class _StoragePlugin:
    __name__ = "storage-under-test"

    def __init__(self, storage: Storage) -> None:
        self._storage = _KeepOpen(storage)

    @hookimpl
    def relaykit_storage(self, name: str, config: Config) -> Any:
        return self._storage if name == "under-test" else None


async def check_vault_update_holds_off_writers(first: Storage, second: Storage) -> None:
    """Check that a vault write on ``second`` waits for ``first.vault_update`` to finish.

    ``first`` and ``second`` are two connections to one database (as two
    processes have): while ``vault_update``'s ``change`` runs, the other's
    ``vault_put`` must not land, so what ``change`` read is still what is stored
    when it writes, and the later put wins whole.
    """
    await first.vault_put({"openai": b"old"})
    inside, release = threading.Event(), threading.Event()
    seen: list[bytes] = []

    def change(blobs: dict[str, bytes]) -> dict[str, bytes]:
        seen.append(blobs["openai"])
        inside.set()
        release.wait(30)
        return {"openai": blobs["openai"] + b"+updated"}

    put_done = anyio.Event()

    async def put() -> None:
        await second.vault_put({"openai": b"put"})
        put_done.set()

    async with anyio.create_task_group() as tg:
        try:
            tg.start_soon(first.vault_update, change)  # type: ignore[attr-defined]
            await anyio.to_thread.run_sync(inside.wait, 30)
            tg.start_soon(put)
            await anyio.sleep(0.3)
            assert not put_done.is_set(), "a vault_put landed inside another's vault_update"
        finally:
            release.set()
    assert seen == [b"old"]
    assert (await first.vault_items())["openai"] == b"put"


class _FirstVaultWriteWaits:
    """``storage``, whose first vault write (``vault_put`` or ``vault_update``) waits for ``go``.

    It sets ``waiting`` first, so a test can run something else between a key
    vault's decision and its write.
    """

    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self.waiting = anyio.Event()
        self.go = anyio.Event()

    async def _turn(self) -> None:
        if not self.waiting.is_set():
            self.waiting.set()
            await self.go.wait()

    async def vault_put(self, blobs: Any) -> None:
        await self._turn()
        await self._storage.vault_put(blobs)

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._storage, name)
        if name != "vault_update":
            return found

        async def vault_update(change: Any) -> None:
            await self._turn()
            await found(change)

        return vault_update


class StorageContract(StorageStringsContract, StoragePagingContract):
    """Tests every storage backend passes. Subclass it and define the ``storage`` fixture.

    The tests of awkward strings come from :class:`StorageStringsContract`, those of
    paging with a cursor from :class:`StoragePagingContract`.
    """

    @pytest.fixture(params=["asyncio", "trio"])
    def anyio_backend(self, request: pytest.FixtureRequest) -> str:
        """Every contract test runs under both backends, whatever the plugin's conftest says."""
        return str(request.param)

    @pytest.fixture
    def storage(self) -> Storage:
        """A fresh, empty backend; subclasses must override (and close it afterwards)."""
        raise NotImplementedError("define a `storage` fixture yielding a fresh, empty backend")

    # -- the response cache (an optional capability) ---------------------------

    @pytest.mark.anyio
    async def test_response_cache_round_trip(self, storage: Storage) -> None:
        from relaykit.response_cache import StorageCache

        if not StorageCache.supported_by(storage):
            pytest.skip("this backend does not keep cached responses (optional)")
        await check_round_trip(storage)

    @pytest.mark.anyio
    async def test_cached_responses_are_read_and_written_many_at_once(
        self, storage: Storage
    ) -> None:
        if not hasattr(storage, "cached_responses"):
            pytest.skip("this backend looks cached responses up one at a time (optional)")
        await check_many_at_once(storage)

    @pytest.mark.anyio
    async def test_a_ttl_of_inf_keeps_answers(self, storage: Storage) -> None:
        """``[cache] ttl`` takes inf (no expiry): the answer is kept and read back by a
        second client, as by another process (an infinite expiry is no number SQL takes)."""
        from relaykit.response_cache import StorageCache

        if not StorageCache.supported_by(storage):
            pytest.skip("this backend does not keep cached responses (optional)")
        config = {
            "storage": {"backend": "under-test"},
            "cache": {"enabled": True, "ttl": float("inf")},
        }
        fake, question = FakePlugin(), f"forever {uuid.uuid4().hex}"  # no earlier run's key
        for _ in range(2):
            async with Client(config, plugins=[fake, _StoragePlugin(storage)]) as client:
                answer = await client.chat("fake/m", question, temperature=0)
                assert client.cache_errors == 0
        assert answer.cache_hit and len(fake.calls) == 1

    # -- writing and reading back ----------------------------------------------

    @pytest.mark.anyio
    async def test_records_round_trip_every_field(self, storage: Storage) -> None:
        rich = make_record(
            1,
            started_at=T0.timestamp() + 1.123456789,
            messages=(
                Message("system", (TextPart("You are terse."), CachePoint("1h"))),
                Message.user(
                    "what is this?", ImagePart(data=b"\x89PNG\x00\xff", media_type="image/png")
                ),
                Message(
                    "user",
                    (
                        DocumentPart(data=b"%PDF-1.4 \x00\xff", name="a.pdf"),
                        DocumentPart(url="https://example.com/b.pdf"),
                    ),
                ),
                Message(
                    "assistant",
                    (
                        ReasoningPart("Look it up.", "sig-a", origin="anthropic"),
                        ReasoningPart(redacted="EmwKAhgBEgy3va3p", origin="anthropic"),
                        ToolCall("call_1", "lookup", {"q": "x", "n": [1, 2]}),
                    ),
                ),
                Message.tool("call_1", '{"found": true}'),
            ),
            params={
                "max_tokens": 50,
                "temperature": 0.2,
                "top_p": 0.9,
                "seed": 7,
                "stop": ["END"],
                "timeout": 30.5,
                "tools": [TOOL_PARAM],
                "tool_choice": {"name": "lookup"},
                "response_format": RESPONSE_FORMAT_PARAM,
                "extra": {"reasoning_effort": "high", "logit_bias": {"50256": -100}},
                "metadata": {"user_id": "u-7"},
            },
            text="Zürich, naïve café — 東京 ✓",
            reasoning="First, Zürich — then 東京.",
            reasoning_parts=(
                ReasoningPart("First, Zürich", "c2lnLTE=", origin="bedrock"),
                ReasoningPart(redacted="cmVkYWN0ZWQ=", origin="bedrock"),
                ReasoningPart(" — then 東京.", "c2lnLTI=", origin="bedrock"),
            ),
            tool_calls=(
                ToolCall("call_2", "book", {"city": "Zürich"}),
                ToolCall("c3", "x", {}, "{bad"),
            ),
            usage=Usage(
                1200,
                300,
                1000,
                120,
                cache_write_input_tokens=150,
                cache_write_1h_input_tokens=50,
                web_searches=3,
            ),
            citations=(
                Citation(
                    url="https://example.org/zürich?q=東京&x=1",
                    title="Zürich — 東京",
                    cited_text='Trams run "every" 6 min.',
                    start=0,
                    end=6,
                ),
                Citation(url="https://example.com/b"),  # no title, text or place
            ),
            # in order, a repeat kept; quotes, a newline and other scripts
            search_queries=('trams "Zürich" 東京', "trams Zürich", "line\nbreak", "trams Zürich"),
            cost=Decimal("0.000123456789"),
            streamed=True,
            finish_reason="tool_calls",
            # whitespace, a newline and other scripts: kept exactly
            stop_sequence="\n\nHuman: 東京 ",
            attempts=2,
            fallbacks=1,
            cache_hit=True,
            usage_estimated=True,
            correlation_id="corr-1",
            conversation_id="conv-1",
            model_requested="fast",
            route=("openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"),
            route_errors=("RateLimitError 429", ""),
        )
        failed = failed_record(0)
        await storage.write_batch([failed, rich])
        assert await storage.query_logs() == [rich, failed]

    @pytest.mark.anyio
    async def test_a_client_records_the_whole_request_and_answer_redacted(
        self, storage: Storage
    ) -> None:
        """Tools, tool choice, response format, extra, metadata, stop sequences and
        reasoning are kept."""
        key = _PLANTED_KEY
        fake = FakePlugin()
        fake.script.reply(
            "Paris",
            reasoning=f"The user's key is {key}; the capital is Paris.",
            stop_sequence=f"END {key}",
            # a model echoing the key as a name, not only as a value
            tool_calls=(("lookup", {"q": f"use {key}", f"as {key}": {key: 1}}),),
        )
        fake.script.reply("Paris", reasoning="Streamed thoughts.", stop_sequence=f"END {key}")
        fake.script.fail(400, "bad schema")
        tool = {
            "type": "function",
            "function": {**TOOL_PARAM, "description": f"Look a word up with {key}."},
        }
        response_format = {
            "type": "json_schema",
            "json_schema": {
                "name": "answer",
                "schema": {"type": "object", "description": f"never {key}"},
            },
        }
        params: dict[str, Any] = {
            "tools": [tool],
            "tool_choice": "lookup",
            "response_format": response_format,
            "extra": {"reasoning_effort": "high", "user": f"token {key}", "n": [1, 2.5, None]},
            "metadata": {"correlation_id": "corr-1", "user_id": f"u {key}", f"by {key}": "x"},
            "timeout": 60,
            "max_tokens": 20,
            "stop": ["\n\n", f"END {key}"],
        }
        config = {"storage": {"backend": "under-test"}, "retry": {"attempts": 1}}
        async with Client(config, plugins=[fake, _StoragePlugin(storage)]) as client:
            await client.chat("fake/m", "capital of France?", **params)
            async with client.stream("fake/m", "again?", **params) as s:
                async for _ in s:
                    pass
            with pytest.raises(InvalidRequestError):
                await client.chat("fake/m", "and now?", **params)
        chat, streamed, failed = sorted(await storage.query_logs(), key=lambda r: r.started_at)
        expected = {
            "max_tokens": 20,
            "stop": ["\n\n", "END [REDACTED]"],
            "timeout": 60,
            "tools": [{**TOOL_PARAM, "description": "Look a word up with [REDACTED]."}],
            "tool_choice": {"name": "lookup"},
            "response_format": {
                "type": "json_schema",
                "name": "answer",
                "schema": {"type": "object", "description": "never [REDACTED]"},
                # a dict that does not say: strict only when its schema keeps the
                # strict rules (this one leaves additionalProperties open)
                "strict": False,
            },
            "extra": {"reasoning_effort": "high", "user": "token [REDACTED]", "n": [1, 2.5, None]},
            "metadata": {"user_id": "u [REDACTED]", "by [REDACTED]": "x"},
        }
        assert chat.params == streamed.params == failed.params == expected
        # the stop sequence met: the caller's text, redacted as the prompt is
        assert chat.stop_sequence == streamed.stop_sequence == "END [REDACTED]"
        assert failed.stop_sequence is None
        assert chat.reasoning == "The user's key is [REDACTED]; the capital is Paris."
        assert streamed.reasoning == "Streamed thoughts."
        assert (failed.reasoning, failed.error_type) == ("", "InvalidRequestError")
        assert chat.correlation_id == "corr-1"
        [called] = chat.tool_calls
        assert called.arguments == {"q": "use [REDACTED]", "as [REDACTED]": {"[REDACTED]": 1}}
        assert key not in repr(await storage.query_logs())

    @pytest.mark.anyio
    async def test_empty_batch_is_fine(self, storage: Storage) -> None:
        await storage.write_batch([])
        assert await storage.query_logs() == []

    @pytest.mark.anyio
    async def test_a_record_written_twice_is_stored_once(self, storage: Storage) -> None:
        record, other = make_record(1), make_record(2)
        await storage.write_batch([record])
        await storage.write_batch([record, other])
        assert await storage.query_logs() == [other, record]

    @pytest.mark.anyio
    async def test_a_chat_reads_back_every_turn_whole(self, storage: Storage) -> None:
        records = chat_records(12)
        for record in records:  # as a chat writes them, one turn at a time
            await storage.write_batch([record])
        await storage.write_batch(records[3:6])  # a retried batch changes nothing
        assert await storage.query_logs() == records[::-1]
        assert await storage.query_logs(LogQuery(limit=1)) == [records[-1]]

    @pytest.mark.anyio
    async def test_a_chat_word_is_found_in_the_call_that_said_it(self, storage: Storage) -> None:
        """A chat resends its history: a word of turn 2 is in turn 2's prompt only."""
        await storage.write_batch(chat_records(5))
        assert await self.ids(storage, text="cq2x") == [2]
        assert await self.ids(storage, text="ca2x") == [2]  # the answer, in its own call
        assert await self.ids(storage, text="trams") == [5, 4, 3, 2, 1]

    @pytest.mark.anyio
    async def test_filter_by_conversation(self, storage: Storage) -> None:
        c, d = chat_records(3), chat_records(2, first=3, chat="d")
        await storage.write_batch([*c, *d, make_record(6)])  # the last in no conversation
        assert await self.ids(storage, conversation_id="c") == [3, 2, 1]
        assert await self.ids(storage, conversation_id="d", text="dq1x") == [4]
        assert await self.ids(storage, conversation_id="e") == []
        [last] = await storage.query_logs(LogQuery(conversation_id="c", limit=1))
        # what a chat continues from: every turn, each answer after its question
        assert last.conversation()[1:] == tuple(
            m for r in c for m in (r.messages[-1], Message.assistant(r.text))
        )

    @pytest.mark.anyio
    async def test_pruning_a_chat_keeps_its_later_turns_whole(self, storage: Storage) -> None:
        records = chat_records(8) + chat_records(3, first=8, chat="d")
        await storage.write_batch(records)
        assert await storage.prune(T0 + timedelta(seconds=5)) == 4
        assert await storage.query_logs() == records[4:][::-1]
        assert await storage.prune(T0 + timedelta(seconds=100)) == 7
        assert await storage.query_logs() == []
        await storage.write_batch(records[:2])  # what pruning dropped can come back
        assert await storage.query_logs() == records[:2][::-1]

    @pytest.mark.anyio
    async def test_newest_first_with_limit_and_offset(self, storage: Storage) -> None:
        records = [make_record(n) for n in range(25)]
        await storage.write_batch(records[::2])
        await storage.write_batch(records[1::2])
        newest_first = records[::-1]
        pages = [await storage.query_logs(LogQuery(limit=10, offset=o)) for o in (0, 10, 20, 30)]
        assert [[r.id for r in p] for p in pages] == [
            [r.id for r in newest_first[o : o + 10]] for o in (0, 10, 20, 30)
        ]

    @pytest.mark.anyio
    async def test_pages_of_records_started_at_once_are_stable_and_whole(
        self, storage: Storage
    ) -> None:
        """Records started in the same instant (a batch of calls, a hedge and its
        loser) come in id order, newest first by code point, in every backend: so
        paging through them shows each once, whatever the database's collation."""
        ids = SAME_INSTANT_IDS
        await storage.write_batch([make_record(0, id=i) for i in ids])
        pages = [await storage.query_logs(LogQuery(limit=4, offset=o)) for o in range(0, 24, 4)]
        assert [r.id for page in pages for r in page] == sorted(ids, reverse=True)

    @pytest.mark.anyio
    async def test_large_batches_and_concurrent_writers_lose_nothing(
        self, storage: Storage
    ) -> None:
        await storage.write_batch([make_record(n) for n in range(2000)])

        async def writer(w: int) -> None:
            for b in range(5):
                await storage.write_batch(
                    [make_record(10_000 + w * 100 + b * 10 + i) for i in range(10)]
                )

        async with anyio.create_task_group() as tg:
            for w in range(10):
                tg.start_soon(writer, w)
        stored = await storage.query_logs(LogQuery(limit=10_000))
        assert len(stored) == 2500
        assert len({r.id for r in stored}) == 2500

    # -- filters ---------------------------------------------------------------

    @pytest.fixture
    async def mixed(self, storage: Storage) -> list[CallRecord]:
        """Six records across providers, models, an alias and both outcomes."""
        records = [
            make_record(0),
            make_record(
                1,
                provider="anthropic",
                model="claude-haiku-4-5",
                model_requested="anthropic/claude-haiku-4-5",
            ),
            make_record(2, model_requested="fast"),
            failed_record(3),
            make_record(
                4, provider="groq", model="llama-3.1-8b", model_requested="groq/llama-3.1-8b"
            ),
            failed_record(
                5, provider="anthropic", model="claude-haiku-4-5", model_requested="fast"
            ),
        ]
        await storage.write_batch(records)
        return records

    @staticmethod
    async def ids(storage: Storage, **filters: Any) -> list[int]:
        """The record numbers (as :func:`make_record` numbered them) a query selects."""
        return [int(r.id[:6]) for r in await storage.query_logs(LogQuery(**filters))]

    @pytest.mark.anyio
    async def test_filter_by_provider(self, storage: Storage, mixed: list[CallRecord]) -> None:
        assert await self.ids(storage, provider="anthropic") == [5, 1]
        assert await self.ids(storage, provider="nobody") == []

    @pytest.mark.anyio
    async def test_filter_by_model_as_requested_or_routed(
        self, storage: Storage, mixed: list[CallRecord]
    ) -> None:
        assert await self.ids(storage, model="openai/gpt-4o-mini") == [3, 2, 0]
        assert await self.ids(storage, model="gpt-4o-mini") == [3, 2, 0]
        assert await self.ids(storage, model="fast") == [5, 2]
        assert await self.ids(storage, model="anthropic/claude-haiku-4-5") == [5, 1]
        assert await self.ids(storage, model="openai/claude-haiku-4-5") == []

    @pytest.mark.anyio
    async def test_filter_by_status(self, storage: Storage, mixed: list[CallRecord]) -> None:
        assert await self.ids(storage, status="error") == [5, 3]
        assert await self.ids(storage, status="ok") == [4, 2, 1, 0]

    @pytest.mark.anyio
    async def test_filter_by_time_window(self, storage: Storage, mixed: list[CallRecord]) -> None:
        since, until = T0 + timedelta(seconds=1), T0 + timedelta(seconds=4)
        assert await self.ids(storage, since=since, until=until) == [3, 2, 1]
        naive_local = datetime.fromtimestamp(since.timestamp())  # naive means local time
        assert await self.ids(storage, since=naive_local) == [5, 4, 3, 2, 1]
        assert await self.ids(storage, until=T0) == []

    @pytest.mark.anyio
    async def test_filters_combine(self, storage: Storage, mixed: list[CallRecord]) -> None:
        assert await self.ids(storage, provider="anthropic", status="error") == [5]
        assert await self.ids(storage, model="fast", since=T0 + timedelta(seconds=3)) == [5]
        assert await self.ids(storage, provider="openai", text="answer", status="ok") == [2, 0]

    # -- full-text search --------------------------------------------------------

    @pytest.mark.anyio
    async def test_text_search_finds_prompt_and_response_words(self, storage: Storage) -> None:
        await storage.write_batch(
            [
                make_record(
                    0, messages=(Message.user("Tell me about Zürich trams"),), text="They are blue."
                ),
                make_record(
                    1, messages=(Message.user("Paris metro"),), text="Mostly underground TRAMS too."
                ),
                make_record(2, messages=(Message.user("Tokyo"),), text="東京 has trains"),
                make_record(
                    3,
                    messages=(Message.system("secret system words"), Message.user("hi")),
                    text="hello",
                ),
            ]
        )
        assert await self.ids(storage, text="trams") == [1, 0]
        assert await self.ids(storage, text="zürich trams") == [0]
        assert await self.ids(storage, text="TRAMS underground") == [1]
        assert await self.ids(storage, text="blue paris") == []  # every word must match
        assert await self.ids(storage, text="tram") == []  # whole words, not prefixes
        assert await self.ids(storage, text="東京") == [2]
        assert await self.ids(storage, text="system") == [3]

    @pytest.mark.anyio
    async def test_text_search_finds_a_cited_pages_title_and_url(self, storage: Storage) -> None:
        """``relaykit logs -q`` finds a web-searching call by a source it cited."""
        tides = Citation(url="https://en.wikipedia.org/wiki/Tide", title="Tide - Wikipedia")
        await storage.write_batch(
            [
                make_record(0, text="High tide is at six.", citations=(tides,)),
                make_record(1, text="Low tide.", citations=(Citation(url="https://b.example/x"),)),
                make_record(2, text="About wikipedia tides, uncited."),
            ]
        )
        assert await self.ids(storage, text="wikipedia") == [2, 0]
        assert await self.ids(storage, text="en.wikipedia.org") == [0]
        assert await self.ids(storage, text="wiki") == [0]  # a word of the URL's path
        assert await self.ids(storage, text="b.example") == [1]
        assert await self.ids(storage, text="six wikipedia") == [0]  # answer and source
        assert await self.ids(storage, text="question wiki") == [0]  # prompt and source
        assert await self.ids(storage, text="https") == [1, 0]
        # the stored record is the record: the searched text is not in it
        [found] = await storage.query_logs(LogQuery(text="wiki"))
        assert found.text == "High tide is at six." and found.citations == (tides,)

    @pytest.mark.anyio
    async def test_text_search_finds_what_a_call_searched_the_web_for(
        self, storage: Storage
    ) -> None:
        """``relaykit logs -q`` finds a web-searching call by the queries the model ran."""
        await storage.write_batch(
            [
                make_record(0, text="Six.", search_queries=("high tide Brighton", "tide tables")),
                make_record(1, text="About Brighton.", search_queries=("weather forecast",)),
                make_record(2, text="Nothing searched."),
            ]
        )
        assert await self.ids(storage, text="brighton") == [1, 0]
        assert await self.ids(storage, text="tables") == [0]
        assert await self.ids(storage, text="forecast brighton") == [1]  # query and answer
        assert await self.ids(storage, text="question tables") == [0]  # prompt and query
        assert await self.ids(storage, text="tables forecast") == []  # two calls' queries
        [found] = await storage.query_logs(LogQuery(text="tables"))
        assert found.search_queries == ("high tide Brighton", "tide tables")
        assert found.text == "Six."

    @pytest.mark.anyio
    async def test_text_search_treats_operators_as_words(self, storage: Storage) -> None:
        await storage.write_batch(
            [
                make_record(0, text="foo and bar, not baz or qux"),
                make_record(1, text="foo only"),
            ]
        )
        assert await self.ids(storage, text='NOT "foo" OR (bar*') == [0]
        assert await self.ids(storage, text="foo: bar^ -baz") == [0]
        assert await self.ids(storage, text="foo' ; DROP TABLE logs; --") == []
        assert await self.ids(storage, text="  ") == [1, 0]  # no words: no text filter

    @pytest.mark.anyio
    async def test_text_search_agrees_with_the_reference_on_tricky_text(
        self, storage: Storage
    ) -> None:
        """Every backend finds the records :meth:`LogQuery.matches` finds, for text
        full of punctuation, paths, numbers, addresses, CJK and emoji, and for
        queries full of FTS and tsquery syntax: a word is a run of letters and
        digits wherever it stands, and no query is a syntax error."""
        records = [
            make_record(n, messages=(Message.user("q"),), text=text)
            for n, text in enumerate(SEARCH_CORPUS)
        ]
        await storage.write_batch(records)
        wrong = {}
        for text in SEARCH_QUERIES:
            if text.strip() and not search_words(text):
                continue  # no word to look for: refused (test_a_search_without_words_...)
            query = LogQuery(text=text, limit=1000)
            expected = sorted(r.id for r in records if query.matches(r))
            found = sorted(r.id for r in await storage.query_logs(query))
            if found != expected:
                wrong[text] = (
                    [SEARCH_CORPUS[int(i[:6])] for i in found],
                    [SEARCH_CORPUS[int(i[:6])] for i in expected],
                )
        assert wrong == {}, "query: (found, expected)"

    @pytest.mark.anyio
    async def test_a_search_without_words_is_refused_not_every_record(
        self, storage: Storage
    ) -> None:
        """A search for ``*``, ``"``, ``-`` or an emoji has no word to match: it was
        no filter at all, and listed every record as if each matched."""
        await storage.write_batch([make_record(0), make_record(1)])
        for text in ("*", '"', "-", "((", "😀", "''", "&"):
            with pytest.raises(InvalidRequestError, match="no word to look for") as caught:
                await storage.query_logs(LogQuery(text=text))
            assert caught.value.param == "text"
            assert "search for a word" in str(caught.value.hint)
        # nothing typed is no search: every record
        assert await self.ids(storage, text="  ") == [1, 0]

    @pytest.mark.anyio
    async def test_a_huge_answer_is_stored_and_found(self, storage: Storage) -> None:
        """A 2.4 MB answer of 400,000 different words (a CSV of numbers) is stored
        whole, and found by its first words."""
        huge = " ".join(str(n) for n in range(400_000))
        await storage.write_batch([make_record(0, text=huge), make_record(1, text="small")])
        [found] = await storage.query_logs(LogQuery(text="12345 question"))
        assert found.text == huge
        assert await self.ids(storage, text="small") == [1]

    # -- usage totals ------------------------------------------------------------

    @pytest.mark.anyio
    async def test_usage_totals_per_model_and_utc_day(self, storage: Storage) -> None:
        day2 = 24 * 3600
        await storage.write_batch(
            [
                make_record(0, usage=Usage(10, 5, 2, 1, 4, 1, 2), cost=Decimal("0.000001")),
                make_record(
                    1,
                    usage=Usage(20, 10, 0, 3, 6, 2, 1),
                    cost=Decimal("0.0000025"),
                    usage_estimated=True,  # a stream left before the vendor's usage came
                ),
                failed_record(2, usage=Usage(1000), usage_estimated=True),  # cut off: no price
                # estimated, with no price: its cost is unknown, as is the group's
                make_record(
                    4,
                    provider="fake",
                    model="m",
                    usage=Usage(1, 1),
                    cost=None,
                    usage_estimated=True,
                ),
                make_record(3, provider="fake", model="m", usage=Usage(1, 1), cost=None),
                make_record(day2, usage=Usage(7, 7), cost=Decimal("0.1")),
                # 23:59:59 UTC on T0's day: still the first day
                make_record(12 * 3600 - 1, usage=Usage(1, 0), cost=Decimal("0.000000001")),
            ]
        )
        totals = await storage.usage_totals()
        d1, d2 = T0.date(), (T0 + timedelta(days=1)).date()
        assert totals == [
            UsageTotal(
                day=d1,
                provider="fake",
                model="m",
                calls=2,
                errors=0,
                usage=Usage(2, 2),
                cost=None,
                estimated=1,
                estimated_cost=None,
            ),
            UsageTotal(
                day=d1,
                provider="openai",
                model="gpt-4o-mini",
                calls=4,
                errors=1,
                usage=Usage(
                    1031,
                    15,
                    2,
                    4,
                    cache_write_input_tokens=10,
                    cache_write_1h_input_tokens=3,
                    web_searches=3,
                ),
                cost=Decimal("0.000003501"),
                estimated=2,
                estimated_cost=Decimal("0.0000025"),
            ),
            UsageTotal(
                day=d2,
                provider="openai",
                model="gpt-4o-mini",
                calls=1,
                errors=0,
                usage=Usage(7, 7),
                cost=Decimal("0.1"),
            ),
        ]

    @pytest.mark.anyio
    async def test_a_call_started_just_before_midnight_counts_on_its_day(
        self, storage: Storage
    ) -> None:
        """A day's totals hold the calls started before its last instant ends, to the
        last microsecond and below (SQLite's date() rounds to the millisecond)."""
        midnight = datetime(2025, 3, 15, tzinfo=UTC).timestamp()
        before = (0.0004, 0.0000004, 0.5)
        await storage.write_batch(
            [
                *[make_record(n, started_at=midnight - d) for n, d in enumerate(before)],
                make_record(9, started_at=midnight),
            ]
        )
        totals = await storage.usage_totals()
        assert [(t.day.isoformat(), t.calls) for t in totals] == [
            ("2025-03-14", 3),
            ("2025-03-15", 1),
        ]

    @pytest.mark.anyio
    async def test_usage_totals_sum_costs_exactly(self, storage: Storage) -> None:
        """No rounding, however many digits: 37 significant digits here, more
        than a default :class:`decimal.Context` keeps (28)."""
        costs = ["123456789.123456789123456789", "0.0000000000000000000000000000001", "1"]
        await storage.write_batch(
            [make_record(n, cost=Decimal(c), usage_estimated=True) for n, c in enumerate(costs)]
        )
        [total] = await storage.usage_totals()
        exact = Decimal("123456790.1234567891234567890000000000001")
        assert (total.cost, total.estimated_cost) == (exact, exact)

    @pytest.mark.anyio
    async def test_usage_totals_count_cache_hits_and_none_of_their_tokens(
        self, storage: Storage
    ) -> None:
        # A hit's record keeps its answer's usage; the provider processed none of it.
        answered = Usage(10, 5, 2, 1, 4, 1, 2)
        await storage.write_batch(
            [
                make_record(0, usage=answered),
                make_record(1, usage=answered, cost=Decimal(0), cache_hit=True),
                make_record(2, usage=answered, cost=Decimal(0), cache_hit=True),
                make_record(3, provider="fake", model="m", usage=Usage(3, 3), cache_hit=True),
            ]
        )
        totals = await storage.usage_totals()
        assert [(t.model, t.calls, t.cache_hits, t.usage) for t in totals] == [
            ("m", 1, 1, Usage()),
            ("gpt-4o-mini", 3, 2, answered),
        ]
        assert [r.usage for r in await storage.query_logs()] == [Usage(3, 3), *[answered] * 3]

    @pytest.mark.anyio
    async def test_usage_totals_apply_the_filters(
        self, storage: Storage, mixed: list[CallRecord]
    ) -> None:
        totals = await storage.usage_totals(LogQuery(provider="anthropic", limit=1))
        assert [(t.model, t.calls, t.errors) for t in totals] == [("claude-haiku-4-5", 2, 1)]
        totals = await storage.usage_totals(LogQuery(status="ok", since=T0 + timedelta(seconds=1)))
        assert sum(t.calls for t in totals) == 3

    @pytest.mark.anyio
    async def test_filter_by_metadata_and_total_per_caller(self, storage: Storage) -> None:
        def by(n: int, usage: Usage, cost: str, **metadata: str) -> CallRecord:
            params = {"max_tokens": 10, "metadata": metadata}
            return make_record(n, params=params, usage=usage, cost=Decimal(cost))

        await storage.write_batch(
            [
                by(0, Usage(10, 1), "0.1", gateway_key="alice", user="u-1"),
                by(1, Usage(20, 2), "0.2", gateway_key="bob", user="u-1"),
                by(2, Usage(30, 3), "0.3", gateway_key="alice", user="u-2"),
                by(3, Usage(40, 4), "0.4"),  # no metadata: its own group, first
                # a value that is another name's elsewhere, and one only bytes tell apart
                by(4, Usage(50, 5), "0.5", user="alice", gateway_key="Bob"),
            ]
        )
        alice = await storage.query_logs(LogQuery(metadata=(("gateway_key", "alice"),)))
        assert [r.usage.input_tokens for r in alice] == [30, 10]
        both = LogQuery(metadata=(("gateway_key", "alice"), ("user", "u-1")))
        assert [r.usage.input_tokens for r in await storage.query_logs(both)] == [10]
        none = LogQuery(metadata=(("gateway_key", "carol"),))
        assert await storage.query_logs(none) == []
        totals = await storage.usage_totals(LogQuery(group_by="gateway_key"))
        assert [(t.group, t.calls, t.usage.input_tokens, t.cost) for t in totals] == [
            (None, 1, 40, Decimal("0.4")),
            ("Bob", 1, 50, Decimal("0.5")),
            ("alice", 2, 40, Decimal("0.4")),
            ("bob", 1, 20, Decimal("0.2")),
        ]
        # the filters apply to grouped totals too
        per_user = LogQuery(group_by="user", metadata=(("gateway_key", "alice"),))
        totals = await storage.usage_totals(per_user)
        assert [(t.group, t.calls) for t in totals] == [("u-1", 1), ("u-2", 1)]
        assert all(t.group is None for t in await storage.usage_totals())

    # -- retention ---------------------------------------------------------------

    @pytest.mark.anyio
    async def test_metadata_values_that_are_not_text_match_as_their_json(
        self, storage: Storage
    ) -> None:
        """A client takes ``metadata={"user": 5, "beta": True}``: every backend
        filters and groups such a value as its JSON text (``5``, ``true``), and a
        null as no value."""

        def held(n: int, **metadata: Any) -> CallRecord:
            return make_record(n, params={"metadata": metadata})

        await storage.write_batch(
            [
                held(0, user=5, beta=True, rate=2.5, gone=None),
                held(1, user="5", beta="true"),
                held(2, user=6, beta=False),
            ]
        )
        assert await self.ids(storage, metadata=(("user", "5"),)) == [1, 0]
        assert await self.ids(storage, metadata=(("beta", "true"),)) == [1, 0]
        assert await self.ids(storage, metadata=(("beta", "false"),)) == [2]
        assert await self.ids(storage, metadata=(("rate", "2.5"),)) == [0]
        assert await self.ids(storage, metadata=(("gone", "null"),)) == []
        assert await self.ids(storage, metadata=(("gone", "None"),)) == []
        by_user = await storage.usage_totals(LogQuery(group_by="user"))
        assert [(t.group, t.calls) for t in by_user] == [("5", 2), ("6", 1)]
        by_beta = await storage.usage_totals(LogQuery(group_by="beta"))
        assert [(t.group, t.calls) for t in by_beta] == [("false", 1), ("true", 2)]
        by_gone = await storage.usage_totals(LogQuery(group_by="gone"))
        assert [(t.group, t.calls) for t in by_gone] == [(None, 3)]

    @pytest.mark.anyio
    async def test_metadata_numbers_and_objects_match_as_one_text_in_every_backend(
        self, storage: Storage
    ) -> None:
        """Numbers beyond the plain ones (an exponent, negative zero, an integer over
        64 bits) and objects and arrays are one text in every backend, PostgreSQL's
        ``jsonb`` text (relaykit.protocols.metadata_text): the same filter finds the
        same calls, and totals group them under the same name."""
        values: list[tuple[Any, str]] = [
            (1e-07, "0.0000001"),
            (1e20, "100000000000000000000"),
            (-0.0, "0.0"),
            (2.50, "2.5"),
            (100.0, "100.0"),
            (12345678901234567890, "12345678901234567890"),
            # keys by length, then bytes, as jsonb orders them
            (
                {"kk": 1e20, "k": [1, 2.5], "a\n": "é"},
                '{"k": [1, 2.5], "a\\n": "é", "kk": 100000000000000000000}',
            ),
            ([1, "x", None, True], '[1, "x", null, true]'),
            ("\x00nul", "\x00nul"),  # stored escaped: sorts after the others
            ("zz", "zz"),
        ]
        await storage.write_batch(
            [make_record(n, params={"metadata": {"v": v}}) for n, (v, _) in enumerate(values)]
        )
        found = {text: await self.ids(storage, metadata=(("v", text),)) for _, text in values}
        assert found == {text: [n] for n, (_, text) in enumerate(values)}
        totals = await storage.usage_totals(LogQuery(group_by="v"))
        assert [t.group for t in totals] == [
            *("0.0", "0.0000001", "100.0", "100000000000000000000", "12345678901234567890"),
            *("2.5", '[1, "x", null, true]', "zz", values[6][1], "\x00nul"),
        ]

    @pytest.mark.anyio
    async def test_prune_deletes_only_older_records(self, storage: Storage) -> None:
        await storage.write_batch([make_record(n, text=f"keep{n}") for n in range(10)])
        assert await storage.prune(T0 + timedelta(seconds=4)) == 4
        assert await self.ids(storage) == [9, 8, 7, 6, 5, 4]
        assert await self.ids(storage, text="keep2") == []
        assert await self.ids(storage, text="keep4") == [4]
        assert sum(t.calls for t in await storage.usage_totals()) == 6
        assert await storage.prune(T0) == 0

    # -- key vault primitives ----------------------------------------------------

    @pytest.mark.anyio
    async def test_vault_blobs(self, storage: Storage) -> None:
        every_byte = bytes(range(256))
        assert await storage.vault_items() == {}
        await storage.vault_put({"openai": every_byte, "anthropic": b"a"})
        await storage.vault_put({"anthropic": b"b"})
        assert await storage.vault_items() == {"openai": every_byte, "anthropic": b"b"}
        assert await storage.vault_delete("openai") is True
        assert await storage.vault_delete("openai") is False
        assert await storage.vault_items() == {"anthropic": b"b"}

    @pytest.mark.anyio
    async def test_vault_update_reads_and_writes_in_one_step(self, storage: Storage) -> None:
        update = getattr(storage, "vault_update", None)
        if update is None:
            pytest.skip("no vault_update: a `keys set` racing `keys rotate` is not guarded")
        await storage.vault_put({"openai": b"a", "anthropic": b"b"})
        seen: list[dict[str, bytes]] = []

        def change(blobs: dict[str, bytes]) -> dict[str, bytes]:
            seen.append(dict(blobs))
            return {"openai": blobs["openai"] + b"2", "groq": b"c"}

        await update(change)
        assert seen == [{"openai": b"a", "anthropic": b"b"}]
        assert await storage.vault_items() == {"openai": b"a2", "anthropic": b"b", "groq": b"c"}

        def refuse(blobs: dict[str, bytes]) -> dict[str, bytes]:
            raise LookupError("refused")

        with pytest.raises(LookupError, match="refused"):  # nothing stored, the error as raised
            await update(refuse)
        assert await storage.vault_items() == {"openai": b"a2", "anthropic": b"b", "groq": b"c"}

    @pytest.mark.anyio
    async def test_a_key_stored_while_the_vault_is_rotated_stays_readable(
        self, storage: Storage, tmp_path: Path
    ) -> None:
        # `keys set` decided on the old master key, then `keys rotate` committed and
        # renamed master.key.new before the set's write: that write must land under
        # the new key (it was stored under the old one, unreadable ever after).
        from ..key_vault import KeyVault, load_master_key, load_vault_keys, rotate_master_key

        env = {"XDG_CONFIG_HOME": str(tmp_path / "vault-race")}
        old = load_master_key(env, create=True)
        assert old is not None
        await KeyVault(storage, old).set("openai", "sk-first")
        late = _FirstVaultWriteWaits(storage)
        async with anyio.create_task_group() as tg:
            tg.start_soon(KeyVault(late, old).set, "groq", "gsk-late")
            await late.waiting.wait()
            new, count = await rotate_master_key(storage, env)
            late.go.set()
        assert count == 1
        keys = await load_vault_keys(storage, env)
        assert {name: key.reveal() for name, key in keys.items()} == {
            "groq": "gsk-late",
            "openai": "sk-first",
        }
        assert new.path is not None and not new.path.with_name("master.key.new").exists()

    # -- model cache ---------------------------------------------------------------

    @pytest.mark.anyio
    async def test_model_cache(self, storage: Storage) -> None:
        assert await storage.cached_models("openai") is None
        models = (
            ModelInfo(
                "gpt-4o-mini",
                "openai",
                context_window=128_000,
                price=ModelPrice(Decimal("0.15"), Decimal("0.6"), Decimal("0.075")),
            ),
            ModelInfo("o3", "openai", created=1_700_000_000, owned_by="system"),
        )
        first = CachedModels("openai", T0.timestamp() + 0.5, models)
        await storage.cache_models(first)
        await storage.cache_models(CachedModels("groq", T0.timestamp(), ()))
        assert await storage.cached_models("openai") == first
        newer = CachedModels("openai", T0.timestamp() + 60, models[:1])
        await storage.cache_models(newer)
        assert await storage.cached_models("openai") == newer
        assert await storage.cached_models("groq") == CachedModels("groq", T0.timestamp(), ())

    @pytest.mark.anyio
    async def test_peeking_shows_model_listings_written_and_read(self, storage: Storage) -> None:
        peek = getattr(storage, "peek_cached_models", None)
        if peek is None:
            pytest.skip("peek_cached_models is optional and this backend has none")
        assert peek("openai") is None
        entry = CachedModels("openai", T0.timestamp(), (ModelInfo("o3", "openai"),))
        await storage.cache_models(entry)
        assert peek("openai") == entry
        assert await storage.cached_models("openai") == entry
        assert peek("openai") == entry
        assert peek("groq") is None

    # -- outages -------------------------------------------------------------------

    @pytest.fixture
    def unavailable_storage(self) -> Storage:
        """The backend unable to reach its store (a server that refuses connections,
        a file another process holds locked); yield it and close it afterwards.

        Optional: without it the outage test skips. With it, the suite checks
        that a write fails with :class:`relaykit.StorageUnavailableError`, which
        the call log retries rather than taking for a record storage refuses.
        """
        pytest.skip("define an `unavailable_storage` fixture to check how an outage is told")

    @pytest.mark.anyio
    async def test_an_outage_is_storage_unavailable(self, unavailable_storage: Storage) -> None:
        with pytest.raises(StorageUnavailableError) as caught:
            await unavailable_storage.write_batch([make_record(0)])
        assert caught.value.retryable

    # -- the spill file's name (an optional attribute) ------------------------------

    @pytest.fixture
    def storage_secrets(self) -> list[str]:
        """Secrets the ``storage`` fixture's backend was built with (a DSN's password),
        which its ``spill_target`` must not show; override it if there are any."""
        return []

    @pytest.mark.anyio
    async def test_spill_target_names_the_storage_without_secrets(
        self, storage: Storage, storage_secrets: list[str]
    ) -> None:
        target = getattr(storage, "spill_target", None)
        if target is None:
            pytest.skip("this backend has no spill_target: the config names its spill file")
        assert isinstance(target, str) and target.strip(), f"spill_target is {target!r}"
        assert getattr(storage, "spill_target", None) == target  # stable: it names a file
        for secret in storage_secrets:
            assert secret not in target, "spill_target shows a secret"

    # -- lifecycle -----------------------------------------------------------------

    @pytest.mark.anyio
    async def test_aclose_is_idempotent(self, storage: Storage) -> None:
        await storage.write_batch([make_record(0)])
        await storage.aclose()
        await storage.aclose()


__all__ = [
    "T0",
    "StorageContract",
    "check_vault_update_holds_off_writers",
    "failed_record",
    "make_record",
]
