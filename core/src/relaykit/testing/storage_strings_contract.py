"""Part of the storage contract: every string a user can hand relaykit is stored and reads back.

A Python ``str`` may hold lone surrogates (``"\\ud800"``, which UTF-8 cannot
encode), NUL (which PostgreSQL's ``text`` and ``jsonb`` refuse), characters
beyond the BMP, the escape character :mod:`relaykit.storable_text` uses, and
text that looks like an escape. Property tests (hypothesis) put such strings in
every text a call record holds, in response cache entries, vault names and
model listings, and check that each reads back equal and that a record is
still found by the ordinary words of its prompt and answer.

:class:`~relaykit.testing.StorageContract` inherits these tests, so every
backend's contract subclass runs them; the strategies are public for a
backend's own tests.
"""

from __future__ import annotations

import uuid
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ..messages import Message, ToolCall
from ..protocols import CachedModels, CallRecord, LogQuery, Storage
from ..response import ModelInfo
from ..web_search import Citation

#: any code point: surrogates (category Cs) and NUL included
ANY_CHARACTER = st.characters(exclude_categories=())

#: strings that broke, or could break, a backend or the escaping rule
AWKWARD = st.sampled_from(
    [
        "\x00",
        "\ud800",
        "\udfff",
        "\ud83d\ude00",  # a surrogate pair as two code points: not the emoji
        "\U0001f600",
        "\uffff",  # the escape character of relaykit.storable_text
        "\uffffd800\uffff",  # what an escape looks like, as plain text
        "\uffff0041\uffff",
        "\\u0000",  # a JSON escape, as plain text
        "\\ud800",
        '"',
        "\\",
    ]
)

#: any text, short, with the awkward strings above well represented
ANY_TEXT = st.lists(st.one_of(st.text(ANY_CHARACTER, max_size=12), AWKWARD), max_size=5).map(
    "".join
)

#: a word every backend's full-text search finds whole
WORD = st.from_regex(r"[a-z]{6,12}", fullmatch=True)

_PROPERTY = settings(
    max_examples=30,
    # One backend (the fixture) serves every example; each writes its own keys.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@st.composite
def awkward_records(draw: st.DrawFn) -> tuple[CallRecord, str, str]:
    """A record whose every text holds :data:`ANY_TEXT`; and a word of its prompt
    and a word of its answer (separated from the rest by spaces).

    Its ``id`` and ``conversation_id`` are drawn too: make them unique (prefix a
    UUID) before storing, as the record may be drawn again.
    """

    def text() -> str:
        return draw(ANY_TEXT)

    prompt_word, answer_word = draw(WORD), draw(WORD)
    # Long enough, sometimes, for a backend to store the system prompt once (shared).
    system = text() * draw(st.sampled_from([1, 40]))
    # The first name is never empty: it is also grouped by (LogQuery.group_by).
    metadata = {"k" + text(): text(), text(): text()}
    record = CallRecord(
        id=text(),  # made unique by the test (shrinking repeats what it draws)
        started_at=1_741_953_600.0 + draw(st.integers(0, 10**6)),
        finished_at=1_741_953_600.0 + 10**6 + 1,
        operation="chat",
        provider=text(),
        model_requested=text(),
        model=text(),
        model_served=text(),
        route=(text(), text()),
        route_errors=(text() + "Error", ""),  # the first failed (one is never empty)
        streamed=False,
        messages=(
            Message.system(system),
            Message.user(f"{text()} {prompt_word} {text()}", name=text() or None),
        ),
        params={"metadata": metadata, "stop": [text()], "extra": {text(): [text(), 1]}},
        text=f"{text()} {answer_word} {text()}",
        tool_calls=(ToolCall(text(), text(), {text(): {text(): text()}}),),
        reasoning=text(),
        error_type=text(),
        error_message=text(),
        finish_reason="stop",
        correlation_id=text(),
        conversation_id=text(),  # made unique by the test
        response_id=text(),
        stop_sequence=text(),
        search_queries=(text(),),
        citations=(Citation(url=text(), title=text(), cited_text=text()),),
    )
    return record, prompt_word, answer_word


class StorageStringsContract:
    """The contract's tests of awkward strings (see the module docs)."""

    @pytest.mark.anyio
    @_PROPERTY
    @given(drawn=awkward_records())
    async def test_any_string_in_a_record_is_stored_and_found(
        self, storage: Storage, drawn: tuple[CallRecord, str, str]
    ) -> None:
        record, prompt_word, answer_word = drawn
        record = attrs.evolve(
            record,
            id=uuid.uuid4().hex + record.id,
            conversation_id=uuid.uuid4().hex + (record.conversation_id or ""),
        )
        await storage.write_batch([record])
        mine = LogQuery(conversation_id=record.conversation_id)
        assert await storage.query_logs(mine) == [record]
        for query in (
            LogQuery(conversation_id=record.conversation_id, text=prompt_word),
            LogQuery(conversation_id=record.conversation_id, text=answer_word),
            LogQuery(
                conversation_id=record.conversation_id,
                provider=record.provider,
                model=record.model,
                status="error",
                metadata=tuple(record.params["metadata"].items()),
            ),
        ):
            assert [r.id for r in await storage.query_logs(query)] == [record.id], query
        name, value = next(iter(record.params["metadata"].items()))
        [total] = await storage.usage_totals(
            LogQuery(conversation_id=record.conversation_id, group_by=name)
        )
        assert (total.provider, total.model, total.group, total.calls) == (
            record.provider,
            record.model,
            value,
            1,
        )

    @pytest.mark.anyio
    async def test_a_long_text_with_awkward_characters_is_stored_and_found(
        self, storage: Storage
    ) -> None:
        noise = "".join(chr(c) for c in (0, 0xD800, 0xDFFF, 0xFFFF, 0x1F600)) + " words " * 20
        question = noise * 1000 + " needle " + noise * 1000  # ~1.3 MB
        record_id = uuid.uuid4().hex
        await storage.write_batch(
            [
                _plain_record(
                    record_id, messages=(Message.user(question),), text=noise * 500 + " haystack"
                )
            ]
        )
        [stored] = await storage.query_logs(LogQuery(text="needle"))
        assert stored.id == record_id
        assert stored.messages[0].text == question and stored.text.endswith(" haystack")
        assert [r.id for r in await storage.query_logs(LogQuery(text="haystack"))] == [record_id]

    @pytest.mark.anyio
    @_PROPERTY
    @given(key=ANY_TEXT, response=ANY_TEXT, other=ANY_TEXT)
    async def test_any_string_in_a_response_cache_entry_reads_back(
        self, storage: Storage, key: str, response: str, other: str
    ) -> None:
        if not hasattr(storage, "cache_response"):
            pytest.skip("this backend does not keep cached responses (optional)")
        cache: Any = storage
        await cache.cache_response(key, 2_000_000_000.0, response)
        assert await cache.cached_response(key) == (2_000_000_000.0, response)
        if hasattr(storage, "cache_responses"):
            entries = [(key, 2_000_000_001.0, other), (other, 2_000_000_002.0, response)]
            await cache.cache_responses(entries)
            # (key and other may be equal: the last entry of a key wins)
            assert await cache.cached_responses([key, other]) == {k: (e, r) for k, e, r in entries}

    @pytest.mark.anyio
    @_PROPERTY
    @given(name=ANY_TEXT, blob=st.binary(max_size=64))
    async def test_any_vault_name_is_stored_and_deleted(
        self, storage: Storage, name: str, blob: bytes
    ) -> None:
        await storage.vault_put({name: blob})
        assert (await storage.vault_items())[name] == blob
        update = getattr(storage, "vault_update", None)
        if update is not None:
            await update(lambda blobs: {name: blobs[name] + b"!"})
            assert (await storage.vault_items())[name] == blob + b"!"
        assert await storage.vault_delete(name) is True
        assert name not in await storage.vault_items()

    @pytest.mark.anyio
    @_PROPERTY
    @given(provider=ANY_TEXT, model=ANY_TEXT, owner=ANY_TEXT)
    async def test_any_string_in_a_model_listing_reads_back(
        self, storage: Storage, provider: str, model: str, owner: str
    ) -> None:
        entry = CachedModels(
            provider, 1_741_953_600.5, (ModelInfo(model, provider, owned_by=owner),)
        )
        await storage.cache_models(entry)
        assert await storage.cached_models(provider) == entry


def _plain_record(record_id: str, **fields: Any) -> CallRecord:
    values: dict[str, Any] = {
        "id": record_id,
        "started_at": 1_741_953_600.0,
        "finished_at": 1_741_953_601.0,
        "operation": "chat",
        "provider": "openai",
        "model_requested": "openai/gpt-4o-mini",
        "model": "gpt-4o-mini",
        "route": ("openai/gpt-4o-mini",),
        "streamed": False,
        "messages": (),
        "params": {},
        "text": "",
    }
    values.update(fields)
    return CallRecord(**values)
