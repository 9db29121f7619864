"""An answer of the wrong shape is a typed error, from every vendor's decoder.

Each chat API's mock answers normally once (text; a tool call; reasoning; a web
search's citations, where the API searches), non-streamed and streamed; then the
same answer is served again over loopback HTTP, in the vendor's framing (JSON,
server-sent events, NDJSON, AWS event-stream frames), with one document (a
stream event) replaced whole, or one field changed at a time: set to null, a
list, an object, a number, a string, or removed, each list emptied, and each
number made ``1e400`` (which decodes to ``inf``: ``int()`` of it raises
``OverflowError``, a count or a price of it is no number). Every
such call either succeeds with a well-typed :class:`relaykit.ChatResponse` (a
lenient decoder is fine where the field is optional) or raises a
:class:`relaykit.RelayError`; never a bare ``TypeError``, ``AttributeError`` or
``IndexError`` (the core maps a decoder's ``ValueError``/``KeyError`` to the
retryable "malformed response" error; it does not map those others, which in a
plugin's request encoding are its own bugs). Embedding answers, token counts,
model listings (Vertex AI's publisher listings too), rerank, moderation, image
and transcription answers are swept the same way, and batches: each answer about
one (submitted, described, cancelled, listed) and their results, where a result
of the wrong shape that still names its item is that item's error and the other
items are read all the same. About 800 changes escaped untyped before the
decoders caught them (session 28), about 150 more of the listings, and (session
29) about 350 of the batches, and a number of ``1e400`` in about 40 places.
"""

from __future__ import annotations

import collections.abc
import json
import math
import pathlib
import types
import typing
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import anyio
import attrs
import pytest

import relaykit
from relaykit import ChatResponse, Citation, EmbeddingResponse, RelayError, ToolCall
from relaykit.testing import mock_audio
from relaykit.testing.configs import one_try_config
from relaykit.testing.loopback import Request, Response
from relaykit.testing.provider_contract import WEATHER_TOOL
from relaykit.testing.script import Reply
from relaykit.testing.vendor_mock import VendorMock
from relaykit_anthropic.mock_vertex import VertexClaudeMock
from relaykit_anthropic.testing import AnthropicMock
from relaykit_bedrock.eventstream import EventStreamDecoder
from relaykit_bedrock.testing.frames import encode_message
from relaykit_cohere.testing import CohereMock
from relaykit_gemini.mock_vertex import VertexMock
from relaykit_gemini.testing import GeminiMock

# ``vendor`` (conftest.py): each chat API's mock in turn

PARIS = "Paris is the capital of France."
#: the bearer token the Vertex mocks accept (``VERTEX_ACCESS_TOKEN``)
VENDOR_TOKEN = "ya29.test-token-0123456789abcdef"
#: the key of the Gemini API and Cohere mocks the page-token test starts
GEMINI_KEY = "test-key-gemini-0123456789abcdef"

#: the answers whose fields are changed: plain text, a tool call beside text,
#: reasoning before text, and a web search's (its queries and citations)
REPLIES = {
    "text": Reply(text="echo: hi there"),
    "tool": Reply(text="let me look", tool_calls=(("get_weather", {"city": "Oslo"}),)),
    "reasoning": Reply(reasoning="think it over", text="done"),
    "web": Reply(
        text=PARIS,
        citations=(
            Citation(
                url="https://en.wikipedia.org/wiki/Paris",
                title="Paris",
                cited_text=PARIS[:20],
                start=0,
                end=len(PARIS),
            ),
        ),
        web_searches=1,
        search_queries=("capital of France",),
    ),
}

#: the APIs that search the web (``web_search=True``), with the model that does
#: where the fixture's does not
SEARCHING = {
    "anthropic": None,
    "gemini": None,
    "openai": "openai/gpt-4o-mini-search-preview",
    "openai-responses": None,
}

#: what a field is set to, by name; a list's own "list" is a list of numbers
#: (each item a number where an object or string was)
REPLACEMENTS: dict[str, Any] = {"null": None, "list": [], "object": {}, "number": 7, "string": "x"}

#: finish reasons a ChatResponse may carry
FINISH_REASONS = {"stop", "length", "tool_calls", "content_filter", "other"}

#: a JSON value's place: keys and indexes from the document's root
Path = tuple[str | int, ...]

#: one piece of a body: how to write it given its JSON document, and the document
#: (``None`` for bytes that hold none, written as they are)
Piece = tuple[Callable[[Any], bytes], Any]


# -- taking a body apart into JSON documents, and putting it back ---------------------


def pieces(content_type: str, body: bytes) -> list[Piece]:
    """``body`` as the JSON documents its framing carries, each with its writer."""
    if "eventstream" in content_type:
        return _frames(body)
    if "event-stream" in content_type:
        return _sse_events(body)
    if "ndjson" in content_type:
        return [_ndjson_line(line) for line in body.splitlines(keepends=True)]
    return [(_dumps, json.loads(body))]


def _dumps(doc: Any) -> bytes:
    # a number too large for a double decodes to inf: written as a vendor would write it
    return json.dumps(doc).replace("Infinity", "1e400").encode()


def _raw(data: bytes) -> Piece:
    return (lambda _doc: data), None


def _sse_events(body: bytes) -> list[Piece]:
    separator = b"\r\n\r\n" if b"\r\n\r\n" in body else b"\n\n"
    newline = separator[: len(separator) // 2]
    out: list[Piece] = []
    for event in body.split(separator):
        lines = event.split(newline)
        data = [i for i, line in enumerate(lines) if line.startswith(b"data:")]
        try:
            doc = json.loads(lines[data[0]][5:]) if len(data) == 1 else None
        except ValueError:  # [DONE]
            doc = None
        if doc is None:
            out.append(_raw(event + separator if event else b""))
            continue
        out.append((_sse_writer(lines, data[0], newline, separator), doc))
    return out


def _sse_writer(
    lines: list[bytes], at: int, newline: bytes, separator: bytes
) -> Callable[[Any], bytes]:
    def write(doc: Any) -> bytes:
        changed = [*lines[:at], b"data: " + _dumps(doc), *lines[at + 1 :]]
        return newline.join(changed) + separator

    return write


def _ndjson_line(line: bytes) -> Piece:
    if not line.strip():
        return _raw(line)
    return (lambda doc: _dumps(doc) + b"\n"), json.loads(line)


def _frames(body: bytes) -> list[Piece]:
    return [
        (_frame_writer(dict(m.headers)), json.loads(m.payload))
        for m in EventStreamDecoder().feed(body)
    ]


def _frame_writer(headers: dict[str, Any]) -> Callable[[Any], bytes]:
    return lambda doc: encode_message(headers, _dumps(doc))


def written(parts: list[Piece], changed: int = -1, doc: Any = None) -> bytes:
    """The body of ``parts``, with document ``changed`` replaced by ``doc``."""
    return b"".join(
        write(doc if i == changed else original) for i, (write, original) in enumerate(parts)
    )


# -- the changes ------------------------------------------------------------------------


def places(doc: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Every value in ``doc`` below its root, with its path, parents first."""
    items = (
        doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    )
    for key, value in items:
        yield (*path, key), value
        yield from places(value, (*path, key))


def replaced(doc: Any, path: Path, value: Any, *, remove: bool = False) -> Any:
    """A copy of ``doc`` with the value at ``path`` set to ``value`` (or removed)."""
    copy = json.loads(json.dumps(doc))
    parent = copy
    for key in path[:-1]:
        parent = parent[key]
    if remove:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return copy


def changes(doc: Any) -> Iterator[tuple[str, Any]]:
    """Each changed copy of ``doc``, named by where and what: the whole document
    replaced, then one field at a time."""
    for name, _, new in changes_at(doc):
        yield name, new


def changes_at(doc: Any) -> Iterator[tuple[str, Path, Any]]:
    """As :func:`changes`, each with the path of the value changed (``()``: the whole)."""
    for name, new in REPLACEMENTS.items():
        yield f"={name}", (), new
    for path, value in places(doc):
        where = "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in path)
        for name, new in REPLACEMENTS.items():
            if name == "list" and isinstance(value, list):
                if value:
                    yield f"{where} emptied", path, replaced(doc, path, [])
                new = [7] * max(1, len(value))
            if new != value:
                yield f"{where}={name}", path, replaced(doc, path, new)
        if type(value) in (int, float):  # a count or size too large to be one
            yield f"{where}=1e400", path, replaced(doc, path, math.inf)
        yield f"{where} removed", path, replaced(doc, path, None, remove=True)


def shape(doc: Any) -> Any:
    """What ``doc``'s changes depend on: its keys and the kinds of its values (two
    stream events of one shape, such as two text deltas, are changed only once)."""
    if isinstance(doc, dict):
        return tuple((k, shape(v)) for k, v in doc.items())
    if isinstance(doc, list):
        return tuple(shape(v) for v in doc)
    return type(doc).__name__


def changed_bodies(parts: list[Piece]) -> Iterator[tuple[str, bytes]]:
    """Each body with one field of one document changed, named."""
    seen: set[Any] = set()
    for i, (_, doc) in enumerate(parts):
        if doc is None or shape(doc) in seen:
            continue
        seen.add(shape(doc))
        for name, new in changes(doc):
            yield f"#{i}{name}", written(parts, i, new)


# -- what a call may end with ---------------------------------------------------------


def problems(r: ChatResponse) -> list[str]:
    """What is wrong with ``r``'s types (a decoder that let a wrong value through)."""
    out = [
        f"{f}={getattr(r, f)!r}"
        for f in ("text", "reasoning")
        if not isinstance(getattr(r, f), str)
    ]
    if not isinstance(r.model, str) or not isinstance(r.id, str | None):
        out.append(f"model={r.model!r}, id={r.id!r}")
    if r.finish_reason not in FINISH_REASONS:
        out.append(f"finish_reason={r.finish_reason!r}")
    for field in attrs.fields(type(r.usage)):
        value = getattr(r.usage, field.name)
        if type(value) is not int:
            out.append(f"usage.{field.name}={value!r}")
    for cited in r.citations:
        if not (
            isinstance(cited.url, str)
            and isinstance(cited.title, str)
            and isinstance(cited.cited_text, str)
            and isinstance(cited.start, int | None)
            and isinstance(cited.end, int | None)
        ):
            out.append(f"citation {cited!r}")
    if not all(isinstance(q, str) for q in r.search_queries):
        out.append(f"search_queries={r.search_queries!r}")
    if not isinstance(r.search_suggestions, str | None):
        out.append(f"search_suggestions={r.search_suggestions!r:.60}")
    for part in r.reasoning_parts:
        if not (
            isinstance(part.text, str)
            and isinstance(part.signature, str | None)
            and isinstance(part.redacted, str | None)
        ):
            out.append(f"reasoning part {part!r}")
    for call in r.tool_calls:
        if not (
            isinstance(call, ToolCall)
            and isinstance(call.id, str)
            and isinstance(call.name, str)
            and isinstance(call.arguments, dict)
        ):
            out.append(f"tool call {call!r}")
    return out


async def outcome(
    ask: Callable[[], Awaitable[Any]], errors: list[RelayError] | None = None
) -> str | None:
    """``None`` for a well-typed response or a typed error (added to ``errors``), else
    what went wrong."""
    try:
        r = await ask()
    except relaykit.CircuitOpenError as e:  # the breaker is off: every call reaches the decoder
        return f"the circuit opened: {e}"
    except RelayError as e:
        if errors is not None:
            errors.append(e)
        return None
    except Exception as e:  # the escape this test is for
        return f"{type(e).__name__} at {_raised_at(e)}: {e}"
    wrong = problems(r) if isinstance(r, ChatResponse) else []
    return f"accepted as {wrong}" if wrong else None


def _chain_text(e: BaseException | None) -> str:
    """The text of ``e`` and of every exception it chains."""
    seen: list[str] = []
    while e is not None and len(seen) < 20:
        seen.append(f"{e!s} {e!r}")
        e = e.__cause__ or e.__context__
    return " ".join(seen)


def _raised_at(e: BaseException) -> str:
    """The file and line ``e`` was raised at, to find the decoder that let it out."""
    tb = e.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return "?"
    return f"{pathlib.Path(tb.tb_frame.f_code.co_filename).name}:{tb.tb_lineno}"


def embedding_problems(r: EmbeddingResponse, texts: int) -> list[str]:
    """What is wrong with ``r``'s types or vector count."""
    out = [] if isinstance(r.model, str) else [f"model={r.model!r}"]
    if len(r.vectors) != texts:
        out.append(f"{len(r.vectors)} vectors for {texts} texts")
    for vector in r.vectors:
        if not (
            isinstance(vector, tuple) and all(type(x) is float or type(x) is int for x in vector)
        ):
            out.append(f"vector {vector!r:.60}")
    if type(r.usage.input_tokens) is not int:
        out.append(f"usage.input_tokens={r.usage.input_tokens!r}")
    return out


# -- the sweep ------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("answer", sorted(set(REPLIES) - {"web"}))
@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_an_answer_of_the_wrong_shape_is_a_typed_error(
    vendor: tuple[VendorMock, dict[str, Any], str],
    request: pytest.FixtureRequest,
    answer: str,
    streamed: bool,
) -> None:
    mock, providers, model = vendor
    params: dict[str, Any] = {"tools": [WEATHER_TOOL], "max_tokens": 50}
    await sweep_chat(mock, providers, model, params, answer, streamed)


@pytest.mark.anyio
@pytest.mark.parametrize("vendor", sorted(SEARCHING), indirect=True)  # those that have it
@pytest.mark.parametrize("streamed", [False, True], ids=["chat", "stream"])
async def test_a_web_search_answer_of_the_wrong_shape_is_a_typed_error(
    vendor: tuple[VendorMock, dict[str, Any], str],
    request: pytest.FixtureRequest,
    streamed: bool,
) -> None:
    mock, providers, model = vendor
    model = SEARCHING[request.node.callspec.params["vendor"]] or model
    await sweep_chat(mock, providers, model, {"web_search": True}, "web", streamed)


async def read_each_change(
    first: Response,
    serve: list[bytes],
    ask: Callable[[], Awaitable[object]],
    errors: list[RelayError],
) -> list[str]:
    """Serve each change of ``first`` (the unchanged answer) through ``serve`` and
    ``ask`` for it; what escaped untyped, each named by its change (``errors``
    gathers the typed ones)."""
    assert first.status == 200, first.body
    parts = pieces(first.headers.get("content-type", ""), first.body)  # type: ignore[arg-type]
    escaped: list[str] = []
    for change, body in changed_bodies(parts):
        serve[:] = [body]
        wrong = await outcome(ask, errors)
        if wrong is not None:
            escaped.append(f"{change}: {wrong}")
    return escaped


async def sweep_chat(
    mock: VendorMock,
    providers: dict[str, Any],
    model: str,
    params: dict[str, Any],
    answer: str,
    streamed: bool,
) -> None:
    """Serve :data:`REPLIES`' ``answer`` whole, then each change of it: every one read
    as a well-typed response or refused with a typed error."""
    normal: list[Response] = []
    serve: list[bytes] = []

    async def rewrite(request: Request, response: Response) -> Response:
        body = response.body
        if not isinstance(body, bytes):
            body = b"".join([x for x in body if isinstance(x, bytes)])  # type: ignore[union-attr]
        if not serve:
            normal.append(attrs.evolve(response, body=body))
            return normal[-1]
        return attrs.evolve(response, body=serve[0] if not streamed else [serve[0]])

    async def ask() -> ChatResponse:
        if not streamed:
            return await client.chat(model, "hi there", **params)
        async with client.stream(model, "hi there", **params) as s:
            async for _ in s:
                pass
        return s.response

    mock.rewrite = rewrite
    # No retries (each answer is read once) and no circuit to open on the failures.
    config = one_try_config(providers, breaker={"failures": 1_000_000})
    errors: list[RelayError] = []
    async with relaykit.Client(config) as client:
        mock.script.push(REPLIES[answer])
        unchanged = await ask()  # read whole: each change then breaks what was read
        assert not problems(unchanged), problems(unchanged)
        assert {
            "text": unchanged.text,
            "tool": unchanged.tool_calls,
            "reasoning": unchanged.reasoning,
            "web": unchanged.citations,  # and queries, where the API says (not Chat Completions)
        }[answer]
        (first,) = normal
        escaped = await read_each_change(first, serve, ask, errors)
    assert not escaped, "\n".join(escaped)
    # Each decoder refused some change, saying what it found, and no error shows the key.
    malformed = [e for e in errors if "malformed response" in e.message]
    said = [e.message for e in malformed]
    assert any("has the wrong shape" in m or ": expected " in m for m in said), errors
    if not streamed:  # a whole answer's decoder names the place that does not fit
        assert any(": expected an object, got " in m for m in said), said
    # Before a stream's first event: retryable (after it, a StreamError that says why).
    early = [e for e in malformed if not isinstance(e, relaykit.StreamError)]
    assert all(isinstance(e, relaykit.ProviderUnavailableError) and e.retryable for e in early)
    keys = {table["api_key"] for table in providers.values() if "api_key" in table}
    assert not [e for e in errors for key in keys if key in _chain_text(e)]


#: the API's embedding model, for those that embed
EMBEDDING_MODELS = {
    "openai": "openai/text-embedding-3-small",
    "gemini": "gemini/gemini-embedding-001",
    "ollama": "ollama/nomic-embed-text",
    "bedrock": "bedrock/amazon.titan-embed-text-v2:0",
    "cohere": "cohere/embed-v4.0",
}

#: the APIs whose token counts come from the vendor's counting endpoint
COUNTED = ("anthropic", "bedrock", "bedrock-messages", "gemini", "openai", "openai-responses")


@pytest.mark.anyio
@pytest.mark.parametrize("vendor", sorted(EMBEDDING_MODELS), indirect=True)  # those that have it
async def test_an_embedding_of_the_wrong_shape_is_a_typed_error(
    vendor: tuple[VendorMock, dict[str, Any], str], request: pytest.FixtureRequest
) -> None:
    await sweep_call(vendor, request.node.callspec.params["vendor"], "embed")


@pytest.mark.anyio
@pytest.mark.parametrize("vendor", sorted(COUNTED), indirect=True)  # those that have it
async def test_a_token_count_of_the_wrong_shape_is_a_typed_error(
    vendor: tuple[VendorMock, dict[str, Any], str], request: pytest.FixtureRequest
) -> None:
    await sweep_call(vendor, request.node.callspec.params["vendor"], "count_tokens")


async def sweep_call(vendor: tuple[VendorMock, dict[str, Any], str], name: str, call: str) -> None:
    """As :func:`sweep_chat`, for ``call`` (``embed`` or ``count_tokens``) on API ``name``."""
    mock, providers, model = vendor
    normal: list[Response] = []
    serve: list[bytes] = []

    async def rewrite(request: Request, response: Response) -> Response:
        assert isinstance(response.body, bytes), response.body
        if not serve:
            normal.append(response)
            return response
        return attrs.evolve(response, body=serve[0])

    texts = ["hi there"]  # one: Titan on Bedrock embeds a text a request

    async def ask() -> None:
        if call == "embed":
            wrong = embedding_problems(await client.embed(EMBEDDING_MODELS[name], texts), 1)
        else:
            counted = await client.count_tokens(model, "hi there")
            wrong = [] if type(counted.input_tokens) is int and counted.exact else [repr(counted)]
        assert not wrong, wrong  # an AssertionError: reported as an escape

    mock.rewrite = rewrite
    config = one_try_config(providers, breaker={"failures": 1_000_000})
    errors: list[RelayError] = []
    async with relaykit.Client(config) as client:
        await ask()  # the answer, unchanged, is read
        assert len(normal) == 1, [(r.path, r.body[:300]) for r in mock.requests]
        (first,) = normal
        escaped = await read_each_change(first, serve, ask, errors)
    assert not escaped, "\n".join(escaped)
    assert errors  # some changes were refused (with the decoder's or the core's error)


# -- model listings -------------------------------------------------------------------

#: the APIs that list models (``client.models()``): each plugin's own listing once
#: (the Responses API lists with OpenAI's ``GET /models``)
LISTING = ("anthropic", "bedrock", "cohere", "gemini", "ollama", "openai")


def model_problems(models: list[relaykit.ModelInfo], provider: str) -> list[str]:
    """What is wrong with the types of a listing's models."""
    out = []
    for m in models:
        fits = (
            isinstance(m.id, str)
            and m.id
            and m.provider == provider
            and all(
                type(getattr(m, f)) is int or getattr(m, f) is None
                for f in ("context_window", "max_output_tokens", "created")
            )
            and isinstance(m.owned_by, str | None)
        )
        if not fits:
            out.append(f"model {m!r:.160}")
    return out


def one_of_each(doc: Any) -> Any:
    """``doc`` with each list's items cut to one of each shape (a listing's hundred
    models are one model's changes a hundred times over)."""
    if isinstance(doc, dict):
        return {k: one_of_each(v) for k, v in doc.items()}
    if not isinstance(doc, list):
        return doc
    kept: dict[Any, Any] = {}
    for item in doc:
        kept.setdefault(shape(item), one_of_each(item))
    return list(kept.values())


@pytest.mark.anyio
@pytest.mark.parametrize("vendor", LISTING, indirect=True)  # those that have it
async def test_a_model_listing_of_the_wrong_shape_is_a_typed_error(
    vendor: tuple[VendorMock, dict[str, Any], str],
) -> None:
    mock, providers, _ = vendor
    (name,) = providers
    await sweep_listing(mock, one_try_config(providers, breaker={"failures": 1_000_000}), name)


#: Vertex AI's publisher listings: (the provider type, the mock of its publisher)
VERTEX = {"vertex": VertexMock, "vertex-anthropic": VertexClaudeMock}


def vertex_config(kind: str, mock: VendorMock) -> dict[str, Any]:
    """A one-try client config of ``mock`` as a Vertex provider of type ``kind``."""
    table = {"type": kind, "base_url": mock.base_url, "project": "mock-project"}
    return one_try_config({kind: {**table, "location": "us-east5"}})


@pytest.mark.anyio
@pytest.mark.parametrize("kind", sorted(VERTEX))
async def test_a_vertex_model_listing_of_the_wrong_shape_is_a_typed_error(kind: str) -> None:
    with VERTEX[kind](static_tokens=[VENDOR_TOKEN]) as mock:
        await sweep_listing(
            mock, vertex_config(kind, mock), kind, {"VERTEX_ACCESS_TOKEN": VENDOR_TOKEN}
        )


#: the listings that follow page tokens: (the query field that asks for a page, the
#: answer's field that names the next)
PAGE_TOKENS = {
    "cohere": ("page_token", "next_page_token"),
    "gemini": ("pageToken", "nextPageToken"),
    **dict.fromkeys(VERTEX, ("pageToken", "nextPageToken")),
}


@pytest.mark.anyio
@pytest.mark.parametrize("kind", sorted(PAGE_TOKENS))
async def test_a_listing_that_repeats_its_page_token_ends(kind: str) -> None:
    """A page that names the page asked for as the next one ends the listing (each
    page would ask for itself again, for ever; Cohere's stopped after 20 pages)."""
    asks, names = PAGE_TOKENS[kind]

    async def repeat_the_token(request: Request, response: Response) -> Response:
        asked = request.query.get(asks)
        if not asked:
            return response
        assert isinstance(response.body, bytes)
        page = {**json.loads(response.body), names: asked}
        return attrs.evolve(response, body=_dumps(page))

    mock: VendorMock
    if kind == "gemini":
        mock = GeminiMock(api_key=GEMINI_KEY, page_size=1)
    elif kind == "cohere":
        mock = CohereMock(api_key=GEMINI_KEY, page_size=1)
    else:
        mock = VERTEX[kind](static_tokens=[VENDOR_TOKEN], page_size=1)
    with mock:
        mock.rewrite = repeat_the_token
        config = (
            vertex_config(kind, mock)
            if kind in VERTEX
            else one_try_config({kind: {"base_url": mock.base_url, "api_key": GEMINI_KEY}})
        )
        env = {"VERTEX_ACCESS_TOKEN": VENDOR_TOKEN}
        async with relaykit.Client(config, env=env) as client:
            with anyio.fail_after(10):
                await client.models(kind)
    assert len([r for r in mock.requests if r.method == "GET"]) == 2


async def sweep_listing(
    mock: VendorMock, config: dict[str, Any], name: str, env: dict[str, str] | None = None
) -> None:
    """Serve ``mock``'s model listing whole (each list cut to one item of each shape),
    then each change of it: every one read as well-typed models or a typed error.
    A listing of several requests (Bedrock's foundation models, then its inference
    profiles) has each request's answer changed in turn, the others served whole.

    A client a change: the catalog serves its last good listing when a listing
    fails, which would hide the error."""
    normal: list[Response] = []
    paths: list[str] = []
    serve: list[bytes] = []
    changing: list[str] = []  # the path whose answer is changed

    async def rewrite(request: Request, response: Response) -> Response:
        assert isinstance(response.body, bytes), response.body
        if not serve:
            normal.append(response)
            paths.append(request.path)
            return response
        if request.path != changing[0]:
            return response
        return attrs.evolve(response, body=serve[0])

    async def ask() -> None:
        async with relaykit.Client(config, env=env or {}) as client:
            wrong = model_problems(await client.models(name), name)
        assert not wrong, wrong  # an AssertionError: reported as an escape

    mock.rewrite = rewrite
    await ask()  # the listing, unchanged, is read
    # each request once: no page of the listing asked for twice
    assert normal and len(set(paths)) == len(paths), [(r.path, r.body[:300]) for r in mock.requests]
    for path, listed in zip(paths, normal, strict=True):
        assert isinstance(listed.body, bytes), listed.body
        changing[:] = [path]
        first = attrs.evolve(listed, body=_dumps(one_of_each(json.loads(listed.body))))
        errors: list[RelayError] = []
        escaped = await read_each_change(first, serve, ask, errors)
        assert not escaped, "\n".join(escaped)
        said = [e.message for e in errors if "malformed response" in e.message]
        assert any(": expected " in m or "has the wrong shape" in m for m in said), (path, errors)


# -- the other answers: rerank, moderation, images, transcripts ----------------------
DOCUMENTS = ["Berlin is in Germany", PARIS]
#: call -> (the API's mock, the provider it is called through when not the
#: fixture's own, the call)
CALLS: dict[str, tuple[str, str | None, Callable[[relaykit.Client], Awaitable[Any]]]] = {
    "rerank-vllm": (
        "openai",
        "vllm",
        lambda c: c.rerank("vllm/BAAI/bge-reranker-v2-m3", "capital", DOCUMENTS),
    ),
    "rerank-cohere": (
        "cohere",
        None,
        lambda c: c.rerank("cohere/rerank-v3.5", "capital", DOCUMENTS),
    ),
    "rerank-bedrock-cohere": (
        "bedrock",
        None,
        lambda c: c.rerank("bedrock/cohere.rerank-v3-5:0", "capital", DOCUMENTS),
    ),
    "rerank-bedrock-amazon": (
        "bedrock",
        None,
        lambda c: c.rerank("bedrock/amazon.rerank-v1:0", "capital", DOCUMENTS),
    ),
    "moderation-openai": (
        "openai",
        None,
        lambda c: c.moderate("openai/omni-moderation-latest", DOCUMENTS),
    ),
    "moderation-mistral": (
        "openai",
        "mistral",
        lambda c: c.moderate("mistral/mistral-moderation-latest", DOCUMENTS),
    ),
    "image-openai": ("openai", None, lambda c: c.generate_image("openai/gpt-image-1", "a fox")),
    "image-dall-e": ("openai", None, lambda c: c.generate_image("openai/dall-e-3", "a fox")),
    "image-gemini": (
        "gemini",
        None,
        lambda c: c.generate_image("gemini/gemini-2.5-flash-image", "a fox"),
    ),
    "image-bedrock": (
        "bedrock",
        None,
        lambda c: c.generate_image("bedrock/amazon.nova-canvas-v1:0", "a fox"),
    ),
    "transcript-whisper": (
        "openai",
        None,
        lambda c: c.transcribe("openai/whisper-1", mock_audio("noon", seconds=2)),
    ),
    "transcript-gpt": (
        "openai",
        None,
        lambda c: c.transcribe("openai/gpt-4o-mini-transcribe", mock_audio("noon", seconds=2)),
    ),
}


def typed_problems(value: Any, hint: Any = None, at: str = "") -> list[str]:
    """Where ``value`` (an attrs value: a response) holds what its annotations do not
    allow (``hint``, for a part of it: its annotation), each as ``place=value``."""
    if hint is None or attrs.has(hint):
        cls = type(value) if hint is None else hint
        if not isinstance(value, cls):
            return [f"{at}={value!r:.80}"]
        hints = typing.get_type_hints(cls)
        return [
            p
            for f in attrs.fields(cls)
            for p in typed_problems(getattr(value, f.name), hints[f.name], f"{at}.{f.name}")
        ]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        fits = any(not typed_problems(value, a, at) for a in args)
    elif origin is tuple:
        if not isinstance(value, tuple):
            return [f"{at}={value!r:.80}"]
        return [p for i, v in enumerate(value) for p in typed_problems(v, args[0], f"{at}[{i}]")]
    elif origin in (collections.abc.Mapping, dict):
        if not isinstance(value, collections.abc.Mapping):
            return [f"{at}={value!r:.80}"]
        return [p for k, v in value.items() for p in typed_problems(v, args[1], f"{at}[{k!r}]")]
    elif origin is typing.Literal:
        fits = value in args
    elif hint is float:
        fits = type(value) in (int, float)
    elif hint is type(None):
        fits = value is None
    elif hint is Any:
        fits = True
    else:
        fits = isinstance(value, hint) and (hint is bool or type(value) is not bool)
    return [] if fits else [f"{at}={value!r:.80}"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("vendor", "call"),
    [(api, call) for call, (api, _, _) in sorted(CALLS.items())],
    indirect=["vendor"],
)
async def test_an_answer_to_another_call_of_the_wrong_shape_is_a_typed_error(
    vendor: tuple[VendorMock, dict[str, Any], str], call: str
) -> None:
    mock, providers, _ = vendor
    _, through, send = CALLS[call]
    if through is not None:  # a compatible service's preset, at the same mock
        providers = {through: next(iter(providers.values()))}
    normal: list[Response] = []
    serve: list[bytes] = []

    async def rewrite(request: Request, response: Response) -> Response:
        assert isinstance(response.body, bytes), response.body
        if not serve:
            normal.append(response)
            return response
        return attrs.evolve(response, body=serve[0])

    async def ask() -> None:
        wrong = typed_problems(await send(client))
        assert not wrong, wrong  # an AssertionError: reported as an escape

    mock.rewrite = rewrite
    config = one_try_config(providers, breaker={"failures": 1_000_000})
    errors: list[RelayError] = []
    async with relaykit.Client(config) as client:
        await ask()  # the answer, unchanged, is read
        assert len(normal) == 1, [(r.path, r.body[:300]) for r in mock.requests]
        (first,) = normal
        escaped = await read_each_change(first, serve, ask, errors)
    assert not escaped, "\n".join(escaped)
    assert errors  # some changes were refused (with the decoder's or the core's error)


# -- a paused turn, continued ---------------------------------------------------------

#: changes of a paused answer (``stop_reason: "pause_turn"``) its continuation reads
PAUSED_CHANGES: dict[str, dict[str, Any]] = {
    "usage=string": {"usage": "x"},
    "usage=list": {"usage": [7]},
    "usage.server_tool_use=string": {"usage": {"server_tool_use": "x"}},
    "usage.cache_creation=list": {"usage": {"input_tokens": 2, "cache_creation": [7]}},
    "content=string": {"content": "x"},
    "content=number": {"content": 7},
    "content[0]=string": {"content": ["x"]},
}


@pytest.mark.anyio
@pytest.mark.parametrize("vendor", ["anthropic"], indirect=True)  # the API that pauses turns
@pytest.mark.parametrize("change", sorted(PAUSED_CHANGES))
async def test_a_paused_turn_of_the_wrong_shape_is_a_typed_error(
    vendor: tuple[VendorMock, dict[str, Any], str], change: str
) -> None:
    """The plugin reads a paused answer's usage and content to continue it: one of
    the wrong shape is a malformed answer, not a bare error."""
    mock, providers, model = vendor
    assert isinstance(mock, AnthropicMock)
    answered: list[Request] = []

    async def rewrite(request: Request, response: Response) -> Response:
        answered.append(request)
        if len(answered) > 1:  # the continuation's answer, unchanged
            return response
        assert isinstance(response.body, bytes), response.body
        paused = {**json.loads(response.body), **PAUSED_CHANGES[change]}
        assert paused["stop_reason"] == "pause_turn"
        return attrs.evolve(response, body=_dumps(paused))

    mock.rewrite = rewrite
    mock.pause_turns = 1
    async with relaykit.Client(one_try_config(providers)) as client:
        with pytest.raises(relaykit.ProviderUnavailableError, match="a paused turn: ") as e:
            await client.chat(model, "hi there", max_tokens=50)
    assert "malformed response" in e.value.message and len(answered) == 1


# -- batches: their status answers and results -----------------------------------------

#: the swept batch's items, answered as :data:`REPLIES`' text and tool call
BATCH_ITEMS = [
    relaykit.BatchItem("text", "hi there"),
    relaykit.BatchItem("tool", "the weather in Oslo?", {"tools": [WEATHER_TOOL]}),
]

#: sweep -> (the API, the call asked, the batch request whose answer is changed (see
#: :func:`batch_request`)); Gemini's inline results come in the batch's own answer, a
#: large batch's (``gemini-file``: sent as a file) in a file of JSON lines
BATCH_SWEEPS: dict[str, tuple[str, str, str]] = {
    **{
        f"{api}-{call}": (api, call, call)
        for api in ("anthropic", "gemini", "openai")
        for call in ("submit", "get", "cancel", "list", "results")
    },
    "openai-upload": ("openai", "submit", "upload"),
    "gemini-results": ("gemini", "results", "get"),
    "gemini-file-results": ("gemini", "results", "results"),
}
#: the sweeps that may refuse no change, and why
NOT_REFUSED = {
    "gemini-cancel": "its answer ({}) is not read: the batch is asked for after it",
    "openai-submit": "a create whose answer cannot be read is found in the list, by its tag",
    "gemini-submit": "a create whose answer cannot be read is found in the list, by its name",
}


def batch_request(request: Request) -> str | None:
    """Which batch call ``request`` is (``upload``: the input file's), else ``None``."""
    path, method = request.path, request.method
    if method == "POST" and path.endswith("/files"):
        return "upload"
    if path.endswith(("/cancel", ":cancel")):
        return "cancel"
    if path.endswith(("/results", "/content")) or ":download" in path:
        return "results"
    if path.endswith(":batchGenerateContent") or (method == "POST" and path.endswith("/batches")):
        return "submit"
    if method == "GET" and path.endswith("/batches"):
        return "list"
    if method == "GET" and "/batches/" in path:
        return "get"
    return None


def result_problems(results: list[relaykit.BatchResult]) -> list[str]:
    """What is wrong with the types of a batch's results."""
    out = []
    for r in results:
        fits = isinstance(r, relaykit.BatchResult) and isinstance(r.custom_id, str)
        if not fits or (r.response is None) == (r.error is None):
            out.append(f"result {r!r:.160}")
        elif r.error is not None and not isinstance(r.error, RelayError):
            out.append(f"{r.custom_id}: error {r.error!r:.80}")
        elif r.response is not None:
            out += [f"{r.custom_id}: {p}" for p in problems(r.response)]
    return out


def other_items(
    sweep: str, parts: list[Piece], i: int, path: Path, change: str, new: Any
) -> set[str] | None:
    """The items whose results a change of document ``i`` at ``path`` (to ``new``)
    leaves alone, when it is confined to one item's result that still names its
    item: a line of a file of results, or an entry of Gemini's inline answers (which
    the input's order names too); else ``None``."""
    if sweep == "gemini-results":
        inline = ("response", "inlinedResponses", "inlinedResponses")
        removed = len(path) == 4 and change.endswith(" removed")
        if path[:3] != inline or len(path) < 4 or removed:
            return None
        entries = parts[0][1]["response"]["inlinedResponses"]["inlinedResponses"]
        return {e["metadata"]["key"] for k, e in enumerate(entries) if k != path[3]}
    name = "key" if sweep.startswith("gemini") else "custom_id"
    if len(parts) < 2 or not (isinstance(new, dict) and isinstance(new.get(name), str)):
        return None
    return {doc[name] for j, (_, doc) in enumerate(parts) if j != i}


def batch_body(response: Response) -> bytes:
    """``response``'s body whole (a results file is served in chunks)."""
    body = response.body
    if isinstance(body, bytes):
        return body
    return b"".join(x for x in body if isinstance(x, bytes))  # type: ignore[union-attr]


def batch_pieces(response: Response) -> list[Piece]:
    """The JSON documents of a batch answer: one, or a file's lines."""
    body = batch_body(response)
    lines = [line for line in body.splitlines(keepends=True) if line.strip()]
    if len(lines) > 1 or (lines and body.rstrip().endswith(b"}") and b"}\n{" in body):
        return [_ndjson_line(line) for line in lines]
    return pieces(response.headers.get("content-type", ""), body)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("vendor", "sweep"),
    [pytest.param(api, sweep, id=sweep) for sweep, (api, _, _) in sorted(BATCH_SWEEPS.items())],
    indirect=["vendor"],
)
async def test_a_batch_answer_of_the_wrong_shape_is_a_typed_error(
    vendor: tuple[VendorMock, dict[str, Any], str], sweep: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch's status (submitted, described, cancelled, listed) and its results, each
    changed one field at a time: well-typed or a typed error. A result line (or
    Gemini's inline answer) of the wrong shape that still names its item is that
    item's error: the other items' answers are read all the same."""
    mock, providers, model = vendor
    _, call, rewritten = BATCH_SWEEPS[sweep]
    if sweep == "gemini-file-results":  # a batch large enough to go as a file
        from relaykit_gemini import batches as gemini_batches

        monkeypatch.setattr(gemini_batches, "INLINE_MAX_BYTES", 10)
    (name,) = providers
    normal: list[Response] = []
    serve: list[bytes] = []

    async def rewrite(request: Request, response: Response) -> Response:
        if batch_request(request) != rewritten:
            return response
        if not serve:
            normal.append(attrs.evolve(response, body=batch_body(response)))
            return normal[-1]
        return attrs.evolve(response, status=200, body=serve[0])

    mock.rewrite = rewrite
    mock.hold_batches = call == "cancel"  # a batch in progress, to cancel
    mock.script.push(REPLIES["text"])
    mock.script.push(REPLIES["tool"])
    config = one_try_config(providers, breaker={"failures": 1_000_000})
    read: list[relaykit.BatchResult] = []

    async def ask() -> None:
        read.clear()
        if call == "submit":
            wrong = typed_problems(await client.submit_batch(model, BATCH_ITEMS))
        elif call == "get":
            wrong = typed_problems(await client.batch(batch.id))
        elif call == "cancel":
            wrong = typed_problems(await client.cancel_batch(batch.id))
        elif call == "list":
            wrong = [p for b in await client.batches(name) for p in typed_problems(b)]
        else:
            read.extend([r async for r in client.batch_results(batch.id)])
            wrong = result_problems(read)
        assert not wrong, wrong  # an AssertionError: reported as an escape

    errors: list[RelayError] = []
    escaped: list[str] = []
    async with relaykit.Client(config) as client:
        if call != "submit":
            batch = await client.submit_batch(model, BATCH_ITEMS)
        if call == "results":
            assert (await client.batch(batch.id)).done  # it ran
        await ask()  # the answer, unchanged, is read
        assert normal, [(r.method, r.path) for r in mock.requests]
        first = normal[0]
        assert first.status == 200, first.body
        if call == "results":
            assert {r.custom_id for r in read if r.ok} == {"text", "tool"}, read
        parts = batch_pieces(first)
        seen: set[Any] = set()
        for i, (_, doc) in enumerate(parts):
            if doc is None or shape(doc) in seen:
                continue
            seen.add(shape(doc))
            for change, path, new in changes_at(doc):
                serve[:] = [written(parts, i, new)]
                before = len(errors)
                wrong = await outcome(ask, errors)
                others = other_items(sweep, parts, i, path, change, new)
                if wrong is None and call == "results" and others is not None:
                    answered = {r.custom_id for r in read if r.ok}
                    if len(errors) > before:
                        wrong = f"the read failed on one item's result: {errors[-1].message:.200}"
                    elif len(read) != 2 or not others <= answered:
                        wrong = f"not read as one item's error: {read!r:.300}"
                if wrong is not None:
                    escaped.append(f"#{i}{change}: {wrong}")
    mock.rewrite = None
    assert not escaped, "\n".join(escaped)
    assert errors or sweep in NOT_REFUSED  # some changes were refused
