"""The exact response cache: keys, determinism, LRU with TTL, stream replay."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from unittest.mock import patch

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relaykit import ChatResponse, TokenLogprob, ToolCall, Usage, response_cache
from relaykit.assembly import ResponseAssembler
from relaykit.config import CacheConfig
from relaykit.messages import (
    CachePoint,
    DocumentPart,
    ImagePart,
    Message,
    ReasoningPart,
    TextPart,
    ToolResultPart,
    coerce_messages,
)
from relaykit.request import (
    PARAMS,
    ChatRequest,
    Reasoning,
    ResponseFormat,
    Tool,
    ToolChoice,
    build_request,
)
from relaykit.response_cache import (
    MemoryCache,
    StorageCache,
    as_cached,
    cache_key,
    canonical_request,
    is_deterministic,
    lookup_key,
    replay,
)
from relaykit.serialization import converter
from relaykit.web_search import Citation, SearchLocation, WebSearch


def req(text: str = "hi", **params: object):  # type: ignore[no-untyped-def]
    return build_request("m", coerce_messages(text), params)


@pytest.mark.parametrize(
    ("one", "other"), [({"temperature": 0}, {"temperature": 0.0}), ({"top_p": 1}, {"top_p": 1.0})]
)
def test_an_integer_and_the_equal_float_share_a_key(
    one: dict[str, Any], other: dict[str, Any]
) -> None:
    # `temperature=0` and `temperature=0.0` ask the same: once they missed each other.
    assert cache_key("p", req(seed=1, **one)) == cache_key("p", req(seed=1, **other))
    assert cache_key("p", req(seed=1, **one)) != cache_key("p", req(seed=1))


def test_key_ignores_metadata_and_timeout_but_not_parameters() -> None:
    base = cache_key("p", req(temperature=0))
    assert cache_key("p", req(temperature=0, metadata={"user": "u"}, timeout=5)) == base
    assert cache_key("p", req(temperature=0.5)) != base
    assert cache_key("q", req(temperature=0)) != base
    assert cache_key("p", req("other", temperature=0)) != base
    assert len(base) == 64


def test_only_deterministic_requests_by_default() -> None:
    assert is_deterministic(req(temperature=0))
    assert is_deterministic(req(seed=3))
    assert not is_deterministic(req())
    assert not is_deterministic(req(temperature=0.7))


@pytest.mark.anyio
@pytest.mark.parametrize("max_chars", [None, 10**6])
async def test_lru_and_ttl(max_chars: int | None) -> None:
    now = [0.0]
    cache = MemoryCache(max_entries=2, clock=lambda: now[0], max_chars=max_chars)
    a, b, c = (ChatResponse(text=t) for t in "abc")
    hit_a, hit_c = as_cached(a), as_cached(c)  # what a hit returns
    await cache.put("a", a, ttl=10)
    await cache.put("b", b, ttl=10)
    assert await cache.get("a") == hit_a  # a is now the most recent
    await cache.put("c", c, ttl=10)  # evicts b
    assert await cache.get("b") is None
    assert (await cache.get("a"), await cache.get("c")) == (hit_a, hit_c)
    now[0] = 11
    assert await cache.get("a") is None
    assert len(cache) == 1


@pytest.mark.parametrize("max_chars", [None, 10**6])
def test_storing_a_key_again_replaces_it_and_makes_it_the_most_recent(
    max_chars: int | None,
) -> None:
    cache = MemoryCache(max_entries=2, clock=lambda: 0.0, max_chars=max_chars)
    a, b, c, newer = (ChatResponse(text=t) for t in ("a", "b", "c", "a2"))
    cache.put_nowait("a", a, ttl=10)
    cache.put_nowait("b", b, ttl=10)
    cache.put_nowait("a", newer, ttl=10)
    cache.put_nowait("c", c, ttl=10)  # evicts b, the least recently used
    hits = (cache.get_nowait("a"), cache.get_nowait("b"), cache.get_nowait("c"))
    assert hits == (as_cached(newer), None, as_cached(c))
    assert len(cache) == 2


def test_memory_is_bounded_by_characters_least_recently_used_first() -> None:
    now = [0.0]
    cache = MemoryCache(max_entries=100, clock=lambda: now[0], max_chars=100)
    a, b, c = (ChatResponse(text=letter * 40) for letter in "abc")
    for key, answer in (("a", a), ("b", b)):
        cache.put_nowait(key, answer, ttl=10)
    assert cache.get_nowait("a") == as_cached(a)  # a is now the most recent
    cache.put_nowait("c", c, ttl=10)  # 120 characters: b goes
    assert (cache.get_nowait("a"), cache.get_nowait("b")) == (as_cached(a), None)
    assert len(cache) == 2 and cache._total == 80
    now[0] = 11  # both expire: what they held is given back
    assert cache.get_nowait("a") is None and cache.get_nowait("c") is None
    assert len(cache) == 0 and cache._total == 0


def test_an_answer_larger_than_the_bound_is_not_kept_nor_an_older_one_under_its_key() -> None:
    cache = MemoryCache(clock=lambda: 0.0, max_chars=100)
    small, huge = ChatResponse(text="x" * 10), ChatResponse(text="y" * 101)
    cache.put_nowait("k", small, ttl=10)
    cache.put_nowait("other", small, ttl=10)
    cache.put_nowait("k", huge, ttl=10)
    assert cache.get_nowait("k") is None  # not the stale small answer either
    assert cache.get_nowait("other") == as_cached(small) and cache._total == 10


def test_tool_call_arguments_and_reasoning_count_toward_the_bound() -> None:
    call = ToolCall("c1", "lookup", {"query": "q" * 50, "pages": [1, 2], "deep": {"k": "v" * 20}})
    answer = ChatResponse(text="", reasoning="r" * 30, tool_calls=(call,))
    size = response_cache.entry_chars(answer)
    # the strings in full, the keys, 8 characters a number and 32 a call
    call_size = 32 + len("lookup")
    arguments = len("query") + 50 + len("pages") + 8 + 8 + len("deep") + len("k") + 20
    assert size == 30 + call_size + arguments
    cache = MemoryCache(clock=lambda: 0.0, max_chars=size - 1)
    cache.put_nowait("k", answer, ttl=10)
    assert len(cache) == 0


def test_cache_memory_mb_is_read_as_megabytes_of_characters() -> None:
    assert CacheConfig().memory_chars == 64 * 2**20
    assert CacheConfig(memory_mb=0.5).memory_chars == 2**19
    assert CacheConfig(memory_mb=float("inf")).memory_chars is None


def test_an_entry_keeps_every_value_of_the_response_a_hit_does_not_replace() -> None:
    # the cache keeps a response as a tuple of its values, listed by hand
    assert {f.name for f in attrs.fields(ChatResponse)} == {
        "text",
        "reasoning",
        "tool_calls",
        "finish_reason",
        "usage",
        "model",
        "provider",
        "id",
        "cost",
        "latency",
        "time_to_first_token",
        "attempts",
        "cache_hit",
        "reasoning_signature",
        "reasoning_parts",
        "citations",
        "search_queries",
        "search_suggestions",
        "stop_sequence",
        "logprobs",
        "usage_estimated",  # not kept: a hit is billed nothing, so nothing is estimated
        "parsed",  # not kept: the client parses a hit's text again
    }, "update response_cache._entry and _response"
    assert {f.name for f in attrs.fields(Usage)} == {
        "input_tokens",
        "output_tokens",
        "cached_input_tokens",
        "reasoning_tokens",
        "cache_write_input_tokens",
        "cache_write_1h_input_tokens",
        "web_searches",
    }, "update response_cache._entry and _response"
    full = ChatResponse(
        text="t",
        reasoning="r",
        tool_calls=(ToolCall("c1", "f", {"a": 1}),),
        finish_reason="tool_calls",
        usage=Usage(1, 2, 3, 4, 5, 6, 7),
        model="m",
        provider="p",
        id="i",
        cost=Decimal("0.5"),
        latency=1.5,
        time_to_first_token=0.5,
        attempts=3,
        cache_hit=True,
        reasoning_signature="s",
        reasoning_parts=(ReasoningPart("r", "s", origin="anthropic"),),
        citations=(Citation(url="https://example.com", title="E", start=0, end=1),),
        search_queries=("q1", "q2"),
        search_suggestions="<div>suggested</div>",
        stop_sequence="END",
        logprobs=(TokenLogprob("t", -0.5, bytes=b"t"),),
        usage_estimated=True,
    )
    defaults = {f.name: f.default for f in attrs.fields(ChatResponse) if f.name != "parsed"}
    assert all(getattr(full, name) != value for name, value in defaults.items())
    cache = MemoryCache(clock=lambda: 0.0)
    cache.put_nowait("k", full, ttl=1)
    hit = cache.get_nowait("k")
    assert hit == as_cached(full)
    assert (hit.cost, hit.latency, hit.attempts, hit.cache_hit) == (Decimal(0), None, 0, True)
    assert hit.time_to_first_token is None  # the hit's own, set as it is served
    assert not hit.usage_estimated


def test_replay_assembles_into_the_same_response() -> None:
    parts = (
        ReasoningPart("thought", "sig-1", origin="anthropic"),
        ReasoningPart(redacted="EmwKAhgBEgy3va3p", origin="anthropic"),
        ReasoningPart(" more", "sig-2", origin="anthropic"),
    )
    original = ChatResponse(
        text="x" * 150,
        reasoning="thought more",
        reasoning_signature="sig-2",
        reasoning_parts=parts,
        tool_calls=(ToolCall("c1", "f", {"a": [1, 2]}),),
        finish_reason="tool_calls",
        usage=Usage(3, 4, 1, 2, web_searches=1),
        model="m",
        id="r1",
        citations=(Citation(url="https://example.com", cited_text="x", start=0, end=3),),
        search_queries=("q1", "q2"),
        search_suggestions="<div>suggested</div>",
        stop_sequence="END",
        logprobs=(
            TokenLogprob("x", -0.5, bytes=b"x", top_logprobs=(TokenLogprob("y", -1.0),)),
            TokenLogprob("xx", -0.0),
        ),
    )
    assembler = ResponseAssembler()
    for event in replay(original):
        assembler.add(event)
    assert assembler.response(model="m") == original


def test_replay_of_a_response_from_before_reasoning_parts_fills_them_in() -> None:
    # Stored by an older relaykit: reasoning and its signature, no blocks.
    original = ChatResponse(text="t", reasoning="thought", reasoning_signature="sig", model="m")
    assembler = ResponseAssembler()
    for event in replay(original):
        assembler.add(event)
    replayed = assembler.response(model="m")
    assert replayed == attrs.evolve(original, reasoning_parts=(ReasoningPart("thought", "sig"),))
    assert replayed.to_message() == original.to_message()


# -- the key's canonical form ------------------------------------------------------

_texts = st.sampled_from(["", "a", "b", "é", '"'])
_json = st.recursive(
    st.none() | st.booleans() | st.sampled_from([0, 1, 0.0, 1.5]) | _texts,
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(_texts, inner, max_size=2),
    max_leaves=4,
)
_dicts = st.dictionaries(_texts, _json, max_size=2)
_maybe_text = st.none() | _texts
_parts = st.one_of(
    st.builds(TextPart, _texts),
    st.builds(ImagePart, url=_texts),
    st.builds(ImagePart, data=st.sampled_from([b"", b"x"]), media_type=st.just("image/png")),
    st.builds(ToolCall, _texts, _texts, _dicts, _maybe_text),
    st.builds(ToolResultPart, _texts, _texts, st.booleans()),
    st.builds(
        DocumentPart,
        data=st.sampled_from([b"%PDF-1", b"%PDF-2"]),
        media_type=st.sampled_from(["application/pdf", "text/plain"]),
        name=_maybe_text,
    ),
    st.builds(DocumentPart, url=_texts),
    # a tool result's images and documents (its attachments) are part of what it says
    st.builds(
        ToolResultPart,
        _texts,
        _texts,
        attachments=st.lists(
            st.builds(
                ImagePart, data=st.sampled_from([b"a", b"b"]), media_type=st.just("image/png")
            )
            | st.builds(DocumentPart, data=st.sampled_from([b"a", b"b"]), name=_maybe_text),
            min_size=1,
            max_size=2,
        ).map(tuple),
    ),
    st.builds(ReasoningPart, _texts, _maybe_text, redacted=_maybe_text, origin=st.none() | _texts),
)
_messages = st.builds(
    Message, st.sampled_from(["user", "assistant"]), st.lists(_parts, max_size=2).map(tuple)
)
_numbers = st.none() | st.sampled_from([0, 1, 0.0, 0.5])
_requests = st.builds(
    ChatRequest,
    model=st.sampled_from(["m", "n"]),
    messages=st.lists(_messages, max_size=2).map(tuple),
    max_tokens=st.none() | st.sampled_from([1, 2]),
    temperature=_numbers,
    top_p=_numbers,
    stop=st.lists(_texts, max_size=2).map(tuple),
    seed=st.none() | st.sampled_from([0, 1]),
    tools=st.lists(
        st.builds(Tool, _texts, _texts, _dicts, st.none() | st.booleans()), max_size=1
    ).map(tuple),
    tool_choice=st.none() | st.builds(ToolChoice, st.sampled_from(["auto", "tool"]), _maybe_text),
    response_format=st.none()
    | st.builds(
        ResponseFormat,
        st.sampled_from(["text", "json_schema"]),
        st.none() | _dicts,
        _texts,
        st.booleans(),
    ),
    timeout=st.none() | st.just(5.0),
    metadata=st.dictionaries(_texts, _texts, max_size=1),
    extra=_dicts,
    web_search=st.none()
    | st.builds(
        WebSearch,
        max_uses=st.none() | st.sampled_from([1, 2]),
        allowed_domains=st.sampled_from([(), ("a.org",), ("b.org",)]),
        context_size=st.none() | st.sampled_from(["low", "high"]),
        location=st.none() | st.builds(SearchLocation, city=_maybe_text, country=st.just("GB")),
    ),
)


def reference_key(provider: str, request: ChatRequest) -> str:
    """The canonical form the key used to hash: cattrs, then sorted JSON of the whole."""
    data = converter.unstructure(request)
    del data["metadata"], data["timeout"]
    data["provider"] = provider
    for name in ("temperature", "top_p"):  # 0 and 0.0 ask the same
        if data.get(name) is not None:
            data[name] = float(data[name])
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


#: the canonical dumps a key may be made with: the standard library's, and orjson's
#: (installed as response_cache._fast_canonical, which the key's code calls)
CANONICAL: list[Callable[[Any], bytes]] = [response_cache._json_canonical]
if response_cache._fast_canonical is not response_cache._json_canonical:
    CANONICAL.append(response_cache._fast_canonical)


def test_the_key_is_the_sha256_of_the_canonical_form() -> None:
    request = build_request("m", coerce_messages("hello"), {"temperature": 0})
    fields: list[Any] = ["p", "m", [["user", "hello"]], None, 0.0, None, ()]
    fields += [None, (), None, None, {}]
    canonical = response_cache._canonical([response_cache._KEY_FORMAT, *fields])
    assert response_cache.canonical_request("p", request) == canonical
    assert response_cache.cache_key("p", request) == hashlib.sha256(canonical).hexdigest()


def test_a_short_form_is_its_own_memory_key_and_a_long_one_its_sha256() -> None:
    limit = response_cache.MEMORY_KEY_LIMIT
    for text, short in (("hello", True), ("x" * limit, False)):
        request = build_request("m", coerce_messages(text), {"temperature": 0})
        canonical = response_cache.canonical_request("p", request)
        key = response_cache.lookup_key(canonical)
        assert (key == canonical) is short
        assert key == canonical if short else key == response_cache.cache_key("p", request)
        # whichever kind, storage files it under the SHA-256 of the canonical form
        assert response_cache.storage_key(key) == response_cache.cache_key("p", request)


@pytest.mark.anyio
async def test_the_storage_cache_files_short_and_long_requests_under_their_sha256() -> None:
    class Shelf:
        def __init__(self) -> None:
            self.rows: dict[str, tuple[float, str]] = {}

        async def cached_response(self, key: str) -> tuple[float, str] | None:
            return self.rows.get(key)

        async def cache_response(self, key: str, expires_at: float, data: str) -> None:
            self.rows[key] = (expires_at, data)

    shelf = Shelf()
    writer = StorageCache(shelf, MemoryCache(), clock=lambda: 100.0)
    requests = [
        build_request("m", coerce_messages(text), {"temperature": 0})
        for text in ("short", "y" * response_cache.MEMORY_KEY_LIMIT)
    ]
    for i, request in enumerate(requests):
        key = response_cache.lookup_key(response_cache.canonical_request("p", request))
        await writer.put(key, ChatResponse(text=f"answer {i}", provider="p"), ttl=10)
    assert set(shelf.rows) == {response_cache.cache_key("p", r) for r in requests}
    # another process (its memory empty) finds both in storage
    reader = StorageCache(shelf, MemoryCache(), clock=lambda: 101.0)
    for i, request in enumerate(requests):
        key = response_cache.lookup_key(response_cache.canonical_request("p", request))
        hit = await reader.get(key)
        assert hit is not None and hit.text == f"answer {i}"


def test_orjson_makes_the_keys_when_installed() -> None:
    pytest.importorskip("orjson")
    assert len(CANONICAL) == 2


@pytest.mark.parametrize("canonical", CANONICAL, ids=["stdlib", "orjson"][: len(CANONICAL)])
@settings(max_examples=400)
@given(st.sampled_from(["p", "q"]), _requests, st.sampled_from(["p", "q"]), _requests)
def test_two_requests_share_a_key_exactly_when_their_whole_json_is_equal(
    canonical: Callable[[Any], bytes], p1: str, r1: ChatRequest, p2: str, r2: ChatRequest
) -> None:
    same = reference_key(p1, r1) == reference_key(p2, r2)
    with patch.object(response_cache, "_fast_canonical", canonical):
        assert (cache_key(p1, r1) == cache_key(p2, r2)) is same
        k1, k2 = (lookup_key(canonical_request(p, r)) for p, r in ((p1, r1), (p2, r2)))
        assert (k1 == k2) is same


@pytest.mark.parametrize("canonical", CANONICAL, ids=["stdlib", "orjson"][: len(CANONICAL)])
@given(_requests, st.data())
def test_a_changed_field_changes_the_key(
    canonical: Callable[[Any], bytes], request: ChatRequest, data: st.DataObject
) -> None:
    other = data.draw(_requests)
    with patch.object(response_cache, "_fast_canonical", canonical):
        for field in attrs.fields(ChatRequest):
            changed = attrs.evolve(request, **{field.name: getattr(other, field.name)})
            same = reference_key("p", request) == reference_key("p", changed)
            assert (cache_key("p", request) == cache_key("p", changed)) is same, field.name


@pytest.mark.parametrize(
    "value",
    [
        ["text", "é", '"', "\x00", "\u2028", "\U0001f600", None, True, 0, -1, 2**63 - 1],
        {"b": [1.5, 0.1, -0.0, 1.0, 1e16, 1e22, 5e-324], "a": {"é": 1, "z": 2}},
    ],
)
def test_orjson_and_the_standard_library_write_the_same_canonical_bytes(value: Any) -> None:
    # so a cache shared by processes with and without orjson keeps hitting
    for canonical in (response_cache._json_canonical, response_cache._canonical):
        assert canonical(value) == response_cache._json_canonical(value)


@pytest.mark.parametrize(
    "value", [{"big": 2**70}, {1: "an integer key"}, {"when": datetime(2026, 1, 1, tzinfo=UTC)}]
)
def test_what_orjson_refuses_or_writes_its_own_way_goes_to_the_standard_library(
    value: Any,
) -> None:
    for canonical in (response_cache._json_canonical, response_cache._canonical):
        try:
            expected = response_cache._json_canonical(value)
        except TypeError:
            with pytest.raises(TypeError):
                canonical(value)
        else:
            assert canonical(value) == expected
    # canonical_request falls back the same way (it inlines _canonical)
    request = build_request("m", coerce_messages("hi"), {"extra": {"v": value}})
    fields = ["p", "m", [["user", "hi"]], None, None, None, (), None, (), None, None]
    try:
        expected = response_cache._json_canonical(
            [response_cache._KEY_FORMAT, *fields, {"v": value}]
        )
    except TypeError:
        with pytest.raises(TypeError):
            response_cache.canonical_request("p", request)
    else:
        assert response_cache.canonical_request("p", request) == expected


@pytest.mark.parametrize(
    ("cls", "fields"),
    [
        (ChatRequest, set(PARAMS) | {"model", "messages"}),
        (Message, {"role", "content", "name"}),
        (TextPart, {"text", "type"}),
        (ImagePart, {"url", "data", "media_type", "type", "detail"}),
        (DocumentPart, {"data", "media_type", "url", "name", "type"}),
        (ToolCall, {"id", "name", "arguments", "raw_arguments", "type"}),
        (ToolResultPart, {"tool_call_id", "content", "is_error", "type", "attachments"}),
        (ReasoningPart, {"text", "signature", "type", "redacted", "origin"}),
        # `cache` and cache points are left out on purpose: where a prompt cache
        # ends does not change the answer (test_cache_points checks the key).
        (Tool, {"name", "description", "parameters", "strict", "cache"}),
        (CachePoint, {"ttl", "type"}),
        (ToolChoice, {"mode", "name"}),
        # `output_type` is left out on purpose: the schema written from it is in
        # the key, and a class with the same schema asks for the same answer.
        (ResponseFormat, {"type", "schema", "name", "strict", "output_type"}),
        (Reasoning, {"effort", "budget_tokens", "summary"}),
        (
            WebSearch,
            {"max_uses", "allowed_domains", "blocked_domains", "context_size", "location"},
        ),
        (SearchLocation, {"country", "region", "city", "timezone"}),
    ],
)
def test_the_key_knows_every_field(cls: type, fields: set[str]) -> None:
    # cache_key lists fields by hand: a new field must be added there (and here),
    # or two requests differing only in it would share a cached answer.
    assert {f.name for f in attrs.fields(cls)} == fields, "update response_cache.cache_key"


#: one part of each kind, and for each of its fields a part differing in that field alone
_PART_FIELDS: list[tuple[Any, dict[str, Any]]] = [
    (
        ImagePart(data=b"\x89PNG1", media_type="image/png"),
        {"data": b"\x89PNG2", "media_type": "image/webp"},
    ),
    (
        ImagePart(url="https://a.example/1.png"),
        {"url": "https://a.example/2.png", "detail": "low"},
    ),
    (
        DocumentPart(data=b"%PDF-1", name="a.pdf"),
        {"data": b"%PDF-2", "media_type": "text/plain", "name": "b.pdf"},
    ),
    (DocumentPart(url="https://a.example/1.pdf"), {"url": "https://a.example/2.pdf"}),
    (
        ToolCall("c1", "f", {"x": 1}, '{"x": 1}'),
        {"id": "c2", "name": "g", "arguments": {"x": 2}, "raw_arguments": '{"x":1}'},
    ),
    (
        ToolResultPart("c1", "42", attachments=(ImagePart(data=b"a", media_type="image/png"),)),
        {
            "tool_call_id": "c2",
            "content": "43",
            "is_error": True,
            "attachments": (ImagePart(data=b"b", media_type="image/png"),),
        },
    ),
    (
        ReasoningPart("thought", "sig"),
        {"text": "other", "signature": "sig2", "redacted": "opaque", "origin": "anthropic"},
    ),
]


@pytest.mark.parametrize(
    ("part", "field", "value"),
    [(part, field, value) for part, changes in _PART_FIELDS for field, value in changes.items()],
    ids=lambda v: v if isinstance(v, str) else type(v).__name__,
)
def test_each_field_of_a_part_is_in_the_key(part: Any, field: str, value: Any) -> None:
    # What the property tests seldom draw: two requests that differ in one field of
    # one part. A document's name or an image's bytes left out would serve one
    # document's answer for another.
    def key(p: Any) -> str:
        return cache_key("p", attrs.evolve(req(temperature=0), messages=(Message("user", (p,)),)))

    assert key(attrs.evolve(part, **{field: value})) != key(part)


def test_a_part_of_unknown_type_is_refused() -> None:
    odd = attrs.evolve(req(), messages=(Message("user", (object(),)),))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="unknown type"):
        cache_key("p", odd)


def test_a_full_cache_drops_its_least_recently_used_thirty_second_together() -> None:
    cache = MemoryCache(max_entries=64, clock=lambda: 0.0)
    for i in range(64):
        cache.put_nowait(f"k{i}", ChatResponse(text=str(i)), ttl=10)
    assert len(cache) == 64
    cache.get_nowait("k0")  # now the most recently used
    cache.put_nowait("new", ChatResponse(text="new"), ttl=10)
    # one over the limit: down to two below it, the least recently used going
    assert len(cache) == 62
    kept = {k for k in (f"k{i}" for i in range(64)) if cache.get_nowait(k) is not None}
    assert kept == {"k0"} | {f"k{i}" for i in range(4, 64)}
    assert cache.get_nowait("new") is not None
    for i in range(2):  # fills up again before it drops more
        cache.put_nowait(f"more{i}", ChatResponse(text="m"), ttl=10)
    assert len(cache) == 64


# -- the key of what callers pass ----------------------------------------------------
#
# The tests above work on ChatRequest values; these on the parameters a caller
# passes to chat(), through the same build_request the client runs: each parameter
# that can change the answer changes the key, and every spelling of one request
# (shorthands, dict key order, numbers as int or float, unset parameters given as
# None, metadata, timeouts and cache points) shares one.

_SCHEMA = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}

#: for each parameter, values that ask for different answers (and None: unset)
_CALLER_VALUES: dict[str, list[Any]] = {
    "max_tokens": [None, 1, 50],
    "temperature": [None, 0, 0.5, 1],
    "top_p": [None, 0.5, 1],
    "stop": [None, "END", ["END", "STOP"], ["STOP", "END"]],
    "seed": [None, 0, 7],
    "tools": [
        None,
        [{"type": "function", "function": {"name": "f", "parameters": _SCHEMA}}],
        [
            {
                "type": "function",
                "function": {"name": "f", "description": "d", "parameters": _SCHEMA},
            }
        ],
        [{"type": "function", "function": {"name": "g", "parameters": _SCHEMA}}],
    ],
    "tool_choice": [None, "auto", "none", "required", "f"],
    "response_format": [
        None,
        {"type": "json_object"},
        {"type": "json_schema", "json_schema": {"name": "a", "schema": _SCHEMA, "strict": True}},
        {"type": "json_schema", "json_schema": {"name": "b", "schema": _SCHEMA, "strict": True}},
        {"type": "json_schema", "json_schema": {"name": "a", "schema": _SCHEMA, "strict": False}},
    ],
    "reasoning": [None, "low", "high", 1024, 2048],
    "extra": [None, {"logprobs": True}, {"n": 2}, {"top_k": 5}, {"top_k": 6}],
    "web_search": [None, True, {"max_uses": 2}, {"allowed_domains": ["a.org"]}],
}
_MESSAGES: list[Any] = [
    "hi",
    "hello",
    [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
    [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hey"}],
    [{"role": "assistant", "content": "hi"}],
]

_caller_params = st.fixed_dictionaries(
    {name: st.sampled_from(values) for name, values in _CALLER_VALUES.items()}
).map(lambda p: {k: v for k, v in p.items() if v is not None})


def _caller_key(messages: Any, params: dict[str, Any]) -> str:
    return cache_key("p", build_request("m", coerce_messages(messages), params))


@given(st.sampled_from(_MESSAGES), _caller_params, st.data())
def test_each_parameter_a_caller_passes_changes_the_key(
    messages: Any, params: dict[str, Any], data: st.DataObject
) -> None:
    name = data.draw(st.sampled_from(sorted(_CALLER_VALUES)))
    other = data.draw(st.sampled_from([v for v in _CALLER_VALUES[name] if v != params.get(name)]))
    changed = {**params, name: other} if other is not None else _without(params, name)
    assert _caller_key(messages, changed) != _caller_key(messages, params), name
    text = data.draw(st.sampled_from([m for m in _MESSAGES if m != messages]))
    assert _caller_key(text, params) != _caller_key(messages, params)


def _without(params: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k != name}


def _reversed(value: Any) -> Any:
    """``value`` with every dict's keys in reverse order."""
    if isinstance(value, dict):
        return {k: _reversed(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reversed(v) for v in value]
    return value


def _respelled(params: dict[str, Any]) -> dict[str, Any]:
    """Another spelling of the same parameters."""
    p: dict[str, Any] = _reversed(params)
    for name in ("temperature", "top_p"):  # an int as the equal float
        if isinstance(p.get(name), int):
            p[name] = float(p[name])
    if isinstance(p.get("stop"), str):
        p["stop"] = [p["stop"]]
    elif isinstance(p.get("stop"), list):
        p["stop"] = tuple(p["stop"])
    if p.get("tools"):  # Anthropic's shape for OpenAI's
        p["tools"] = [
            {"name": f["name"], "input_schema": f["parameters"]}
            | ({"description": f["description"]} if "description" in f else {})
            for f in (t["function"] for t in p["tools"])
        ]
    choice = p.get("tool_choice")
    if choice in ("auto", "none", "required"):
        p["tool_choice"] = "any" if choice == "required" else choice  # Anthropic's word
    elif choice is not None:
        p["tool_choice"] = {"type": "function", "function": {"name": choice}}
    reasoning = p.get("reasoning")
    if reasoning is not None:
        key = "effort" if isinstance(reasoning, str) else "budget_tokens"
        p["reasoning"] = {key: reasoning}
    if p.get("web_search") is True:
        p["web_search"] = WebSearch()
    for name in _CALLER_VALUES:  # unset, said so
        p.setdefault(name, None)
    return p | {"metadata": {"user": "u1", "correlation_id": "c1"}, "timeout": 5}


def _respelled_messages(messages: Any) -> Any:
    """The same messages as dicts of parts, a cache point ending each."""
    turns = [{"role": "user", "content": messages}] if isinstance(messages, str) else messages
    return [
        {
            "role": t["role"],
            "content": [{"type": "text", "text": t["content"]}, {"type": "cache_point"}],
        }
        for t in turns
    ]


@given(st.sampled_from(_MESSAGES), _caller_params)
def test_every_spelling_of_one_request_shares_its_key(
    messages: Any, params: dict[str, Any]
) -> None:
    key = _caller_key(messages, params)
    assert _caller_key(messages, _respelled(params)) == key
    assert _caller_key(_respelled_messages(messages), params) == key
