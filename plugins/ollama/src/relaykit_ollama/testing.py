"""A loopback server speaking Ollama's native API, for tests and demos.

Built from Ollama's API reference (docs/api.md in github.com/ollama/ollama):
``POST /api/chat`` streams newline-delimited JSON objects (``application/x-ndjson``)
unless the body says ``"stream": false``, each carrying a piece of ``message``
(``content``, ``thinking``, whole ``tool_calls`` with object arguments), the
last with ``done: true``, ``done_reason`` and ``prompt_eval_count`` /
``eval_count``; ``POST /api/embed`` takes ``input`` as a string or a list of
them and answers ``{"model", "embeddings": [[...]], "total_duration",
"load_duration", "prompt_eval_count"}``, each text's vector being
:func:`~relaykit.testing.mock_vector` of it (of ``dimensions`` floats, else 8)
and its tokens one per word (:func:`~relaykit.testing.mock_embedding_tokens`);
``GET /api/tags`` lists the pulled models; errors are
``{"error": "..."}`` with the HTTP status, also as a line mid-stream.

It checks requests the way Ollama does where a provider is easy to get wrong:
a body its JSON decoder reads (:func:`body_problem`, in Go's words), a known
model, valid roles, base64 images, a ``format`` that is ``"json"`` or a
schema object, option types; an ``input`` of strings; no chat with an
embedding model (:data:`EMBEDDING_FAMILIES`), and no ``tools`` for a model
without the tools capability (:data:`NO_TOOLS_MODELS`: 400, ``registry.ollama.ai/
library/llava:7b does not support tools``). A bad ``format`` or option type is
refused with 500, as Ollama refuses it where it loads the model or runs it
(``invalid format: ...; expected "json" or a valid JSON Schema object``,
``option "seed" must be of type integer``; a schema with a ``$ref`` it does not
hold: ``invalid JSON schema in format``). The shape of a conversation is not
checked, as Ollama checks none of it: empty content, images on any role, two
turns of one role and a system message mid-way all reach the model's template.

``think`` is checked as Ollama's server checks it: ``true``, ``false`` or a
level (``invalid think value: ...`` otherwise); thinking asked of a model that
cannot think (its family not in :data:`THINKING_FAMILIES`) is ``"MODEL" does
not support thinking``; a level for a model other than gpt-oss
(:data:`LEVEL_FAMILIES`) is ``think value "high" is not supported for this
model``, as Ollama answered before it started taking a level as plain ``true``:
the stricter answer, so a plugin that works here works with either.
:meth:`OllamaMock.sent_reasoning` reads the setting back.

Scripted replies (:class:`relaykit.testing.Reply`) map onto Ollama's counts:
``input_tokens`` is ``prompt_eval_count``, ``output_tokens`` (reasoning
included) is ``eval_count``; Ollama reports no reasoning tokens; a reply's
``cached_input_tokens`` under its prompt are ``prompt_eval_cached_count`` (newer
Ollama's count of the prompt its prefix cache served), and a reply whose
``cached_input_tokens`` cover the whole prompt has no ``prompt_eval_count``, as
Ollama before that left it out when its KV cache served the prompt.
An embeddings request takes one reply too: a failure (an error status or a
connection fault, as for chat), a ``delay``, or ``input_tokens`` for its
``prompt_eval_count``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from relaykit import Reasoning
from relaykit.testing.embedding_vectors import MOCK_DIMENSIONS, mock_embedding_tokens, mock_vector
from relaykit.testing.loopback import Drop, Pause, Request, Reset, Response
from relaykit.testing.script import Reply
from relaykit.testing.vendor_json import JSONConstant, strict_json
from relaykit.testing.vendor_mock import VendorMock, scripted_fault

#: (name, family, parameter size)
MODELS: tuple[tuple[str, str, str], ...] = (
    ("llama3.2:latest", "llama", "3.2B"),
    ("qwen3:8b", "qwen3", "8.2B"),
    ("gpt-oss:20b", "gptoss", "20.9B"),
    ("llava:7b", "llama", "7B"),
    ("nomic-embed-text:latest", "nomic-bert", "137M"),
)
#: models without Ollama's tools capability: ``tools`` sent to one is refused
NO_TOOLS_MODELS = ("llava:7b",)
#: families of embedding models, which ``/api/chat`` refuses
EMBEDDING_FAMILIES = ("nomic-bert", "bert")
#: families of the listed models that think (Ollama reads it from a model's template)
THINKING_FAMILIES = ("qwen3", "gptoss")
#: families that take a ``think`` level, not only true or false
LEVEL_FAMILIES = ("gptoss",)
#: the ``think`` levels Ollama knows
THINK_LEVELS = ("high", "medium", "low")
_ROLES = ("system", "user", "assistant", "tool")
_DONE_REASON = {"stop": "stop", "length": "length", "tool_calls": "stop", "content_filter": "stop"}
#: options Ollama reads as integers and as float32s (api.Options)
_INTEGER_OPTIONS = ("top_k", "num_predict", "num_ctx", "seed", "num_keep", "repeat_last_n")
_FLOAT_OPTIONS = ("temperature", "top_p", "min_p", "typical_p", "repeat_penalty")


class OllamaMock(VendorMock):
    """An Ollama server at ``base_url`` (``http://127.0.0.1:PORT``).

    ``api_key`` makes it demand a bearer token, as Ollama behind a proxy or
    ollama.com does. ``call_ids=True`` gives tool calls an ``id``, which newer
    Ollama versions send; by default they have none.
    """

    base_path = ""

    def __init__(
        self,
        api_key: str | None = None,
        models: Sequence[tuple[str, str, str]] = MODELS,
        *,
        call_ids: bool = False,
    ) -> None:
        super().__init__(api_key)
        self.models = tuple(models)
        self.call_ids = call_ids
        self._n = 0

    async def route(self, request: Request) -> Response:
        """Check the bearer token (if any), then dispatch by path."""
        if (
            self.api_key is not None
            and request.headers.get("authorization") != f"Bearer {self.api_key}"
        ):
            return _error(401, "unauthorized")
        if request.method == "GET" and request.path == "/api/tags":
            return Response.json({"models": [_model(*m) for m in self.models]})
        if request.method in ("GET", "HEAD") and request.path == "/":
            return Response(
                200, {"content-type": "text/plain; charset=utf-8"}, b"Ollama is running"
            )
        if request.method == "POST" and request.path == "/api/chat":
            return await self._chat(request)
        if request.method == "POST" and request.path == "/api/embed":
            return await self._embed(request)
        return Response(404, {"content-type": "text/plain"}, b"404 page not found")

    def _family(self, model: str) -> str | None:
        # "llama3.2" means "llama3.2:latest", as in the CLI.
        full = model if ":" in model else f"{model}:latest"
        return next((m[1] for m in self.models if m[0] == full), None)

    async def _chat(self, request: Request) -> Response:
        problem = body_problem(request.body, "api.ChatRequest")
        if problem:
            return _error(400, problem)
        body = go_json(request.body) or {}  # null decodes to an empty request, as in Go
        problem = validate(body)
        if problem:
            return _error(400, problem)
        model = body["model"]
        family = self._family(model)
        if family is None:
            return _error(404, f"model '{model}' not found")
        if family in EMBEDDING_FAMILIES:
            return _error(400, f'"{model}" does not support chat')
        problem = _think_problem(body.get("think"), model, family)
        if problem:
            return _error(400, problem)
        full = model if ":" in model else f"{model}:latest"
        if body.get("tools") and full in NO_TOOLS_MODELS:
            # Ollama's capability check names the model in full (ollama#14795).
            return _error(400, f"registry.ollama.ai/library/{full} does not support tools")
        # What Ollama refuses only where it loads or runs the model, with 500
        # (handleScheduleError's default, and a runner error before any output).
        problem = _options_problem(body.get("options") or {}) or _format_problem(body.get("format"))
        if problem:
            return _error(500, problem)
        messages = body.get("messages") or []
        prompt = " ".join(str(m.get("content") or "") for m in messages)
        last_user = next(
            (m.get("content") or "" for m in reversed(messages) if m.get("role") == "user"), ""
        )
        reply = self.script.next(self.default_reply(last_user))
        failed = await scripted_fault(reply, _scripted_error)
        if failed is not None:
            return failed
        self._n += 1
        turn = _Turn(self, reply, model, prompt)
        if body.get("stream", True):  # Ollama streams by default
            return Response(
                200, {"content-type": "application/x-ndjson", **reply.headers}, turn.lines()
            )
        return Response.json(turn.whole(), headers=dict(reply.headers))

    def sent_reasoning(self, request: Request) -> Reasoning | None:
        """``think``: ``false`` as thinking off, ``true`` as thinking on (the model's
        default amount), a level as that effort; ``None`` without it."""
        return sent_reasoning(request.json())

    async def _embed(self, request: Request) -> Response:
        problem = body_problem(request.body, "api.EmbedRequest")
        if problem:
            return _error(400, problem)
        body = go_json(request.body) or {}  # null decodes to an empty request, as in Go
        problem = validate_embed(body)
        if problem:
            return _error(400, problem)
        model = body["model"]
        if self._family(model) is None:
            return _error(404, f"model '{model}' not found")
        problem = _options_problem(body.get("options") or {})
        if problem:  # where Ollama loads the model: handleScheduleError's 500
            return _error(500, problem)
        texts = _embed_inputs(body.get("input"))
        if not texts:  # Ollama answers "no input" without running the model
            return Response.json({"model": model, "embeddings": []})
        reply = self.script.next(Reply())
        failed = await scripted_fault(reply, _scripted_error)
        if failed is not None:
            return failed
        size = body.get("dimensions") or MOCK_DIMENSIONS
        tokens = reply.input_tokens
        if tokens is None:
            tokens = sum(map(mock_embedding_tokens, texts))
        data = {
            "model": model,
            "embeddings": [list(mock_vector(text, size)) for text in texts],
            "total_duration": 14_143_917,
            "load_duration": 1_019_500,
            "prompt_eval_count": tokens,
        }
        return Response.json(data, headers=dict(reply.headers))


class _Turn:
    """One scripted reply rendered as Ollama chat objects."""

    def __init__(self, mock: OllamaMock, reply: Reply, model: str, prompt: str) -> None:
        self.reply = reply
        self.model = model
        self.prompt_tokens, self.eval_tokens = mock.usage_of(reply, prompt)
        self.calls: list[dict[str, Any]] = []
        for i, (name, args) in enumerate(reply.tool_calls):
            call: dict[str, Any] = {"function": {"index": i, "name": name, "arguments": dict(args)}}
            if mock.call_ids:
                call["id"] = f"call_mock{mock._n}{i}"
            self.calls.append(call)

    def _object(self, message: dict[str, Any], *, done: bool = False) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "model": self.model,
            "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "message": {"role": "assistant", "content": "", **message},
            "done": done,
        }
        if self.reply.future_events:  # fields of kinds Ollama may add
            obj["future_field"] = {"detail": "a field of a kind added later"}
            obj["message"]["future_field"] = "more"
        if done:
            obj.update(
                done_reason=self.reply.finish_word(_DONE_REASON),
                total_duration=512_000_000,
                load_duration=12_000_000,
                prompt_eval_count=self.prompt_tokens,
                prompt_eval_duration=40_000_000,
                eval_count=self.eval_tokens,
                eval_duration=450_000_000,
            )
            if not self.reply.usage:  # a server that leaves the counts out
                for field in ("prompt_eval_count", "prompt_eval_duration", "eval_count"):
                    del obj[field]
            elif 0 < self.reply.cached_input_tokens < self.prompt_tokens:
                # part of the prompt from the prefix cache: newer Ollama counts it
                # apart, inside prompt_eval_count
                obj["prompt_eval_cached_count"] = self.reply.cached_input_tokens
            elif 0 < self.prompt_tokens <= self.reply.cached_input_tokens:
                # The whole prompt from the KV cache: Ollama leaves its count out
                # (Go's omitempty on a count of newly evaluated tokens, 0).
                del obj["prompt_eval_count"], obj["prompt_eval_duration"]
        return obj

    def whole(self) -> dict[str, Any]:
        """The non-streamed response."""
        message: dict[str, Any] = {"content": self.reply.text}
        if self.reply.reasoning:
            message["thinking"] = self.reply.reasoning
        if self.calls:
            message["tool_calls"] = self.calls
        return self._object(message, done=True)

    def lines(self) -> Iterator[bytes | Pause | Drop | Reset]:
        """The streamed response, one JSON object per line, with pauses and faults."""
        reply = self.reply
        for i in range(0, len(reply.reasoning), 8):
            yield _line(self._object({"thinking": reply.reasoning[i : i + 8]}))
        for piece in reply.chunks():
            if reply.chunk_delay:
                yield Pause(reply.chunk_delay)
            yield _line(self._object({"content": piece}))
        if reply.stream_fault == "drop":
            yield Drop()
            return
        if reply.stream_fault == "reset":
            yield Reset()
            return
        if reply.stream_fault == "garbage":
            yield b"{this is not json\n"
            return
        if reply.stream_fault == "truncate":  # the body ends before the done line
            return
        if reply.stream_fault == "error":
            yield _line(
                {"error": reply.error or "an error was encountered while running the model"}
            )
            return
        if self.calls:
            yield _line(self._object({"tool_calls": self.calls}))
        yield _line(self._object({}, done=True))


def _line(obj: Mapping[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


def _model(name: str, family: str, size: str) -> dict[str, Any]:
    return {
        "name": name,
        "model": name,
        "modified_at": "2025-06-01T12:00:00.000000000Z",
        "size": 2_019_393_189,
        "digest": hashlib.sha256(name.encode()).hexdigest(),
        "details": {
            "parent_model": "",
            "format": "gguf",
            "family": family,
            "families": [family],
            "parameter_size": size,
            "quantization_level": "Q4_K_M",
        },
    }


def body_problem(raw: bytes, go_type: str) -> str | None:
    """Ollama's 400 message for a body it cannot decode into ``go_type`` (its Go
    request struct), or ``None``.

    Ollama's handlers bind the body with Go's JSON decoder (``ShouldBindJSON`` in
    server/routes.go) and answer its error as it is, but an empty body, which is
    "missing request body"; JSON ``null`` decodes to an empty request. The decoder's
    words are Go's ("unexpected EOF", "json: cannot unmarshal array into Go value of
    type api.ChatRequest"); for a stray character the mock says "invalid character
    'x' looking for beginning of value" wherever it is, where Go names what it was
    looking for at that place."""
    if not raw.strip():
        return "missing request body"
    try:
        body = go_json(raw)
    except JSONConstant as e:  # NaN, Infinity: no JSON to Go
        if e.name.startswith("-"):
            return "invalid character 'I' in numeric literal"
        return f"invalid character {e.name[0]!r} looking for beginning of value"
    except json.JSONDecodeError as e:
        if e.pos >= len(e.doc.rstrip()):
            return "unexpected EOF"
        return f"invalid character {e.doc[e.pos]!r} looking for beginning of value"
    kinds = ((bool, "bool"), (int | float, "number"), (str, "string"), (list, "array"))
    kind = next((name for t, name in kinds if isinstance(body, t)), None)
    if kind is None:  # an object, or null
        return None
    return f"json: cannot unmarshal {kind} into Go value of type {go_type}"


def go_json(raw: bytes) -> Any:
    """``raw`` read as Go's JSON decoder reads it: bytes that are not UTF-8 replaced by
    U+FFFD, and no ``NaN`` or ``Infinity`` (a ``ValueError``, as for any JSON error)."""
    return strict_json(raw.decode("utf-8", errors="replace"))


def validate(body: Any) -> str | None:
    """Ollama's message for what is wrong with a ``/api/chat`` body's shape (refused
    with 400 before the model is looked up), or ``None``. Options and ``format``
    are checked later, as Ollama checks them (see :class:`OllamaMock`)."""
    if not isinstance(body, dict):
        return "invalid request body"
    if not body.get("model"):
        return "model is required"
    for m in body.get("messages") or ():
        if not isinstance(m, dict) or m.get("role") not in _ROLES:
            role = m.get("role") if isinstance(m, dict) else None
            return f"json: invalid role {role!r}"
        if not isinstance(m.get("content", ""), str):
            return (
                "json: cannot unmarshal array into Go struct field "
                "Message.messages.content of type string"
            )
        for image in m.get("images") or ():
            try:
                base64.b64decode(image, validate=True)
            except (binascii.Error, TypeError, ValueError):
                return "illegal base64 data at input byte 0"
        for call in m.get("tool_calls") or ():
            if not isinstance((call.get("function") or {}).get("arguments", {}), dict):
                return (
                    "json: cannot unmarshal string into Go struct field ToolCallFunction."
                    "messages.tool_calls.function.arguments of type map[string]interface {}"
                )
    think = body.get("think")
    if think is not None and not isinstance(think, bool) and think not in THINK_LEVELS:
        shown = json.dumps(think)
        return f'invalid think value: {shown} (must be "high", "medium", "low", true, or false)'
    return None


def _format_problem(fmt: Any) -> str | None:
    """Ollama's words for a ``format`` that is neither ``"json"`` nor a schema object
    (llm/server.go: the raw JSON quoted as Go's ``%q`` quotes it)."""
    if isinstance(fmt, dict):
        # A $ref the schema does not hold fails the grammar's conversion
        # (datalab-to/marker#780: 500, this sentence).
        refs = re.findall(r'"\$ref":\s*"([^"]*)"', json.dumps(fmt))
        if any(not _holds(fmt, ref) for ref in refs):
            return "invalid JSON schema in format"
        return None
    if fmt is None or fmt == "json" or fmt == "":
        return None
    raw = json.dumps(fmt, separators=(",", ":"))
    return f'invalid format: {json.dumps(raw)}; expected "json" or a valid JSON Schema object'


def _holds(schema: dict[str, Any], ref: str) -> bool:
    node: Any = schema
    for part in ref.removeprefix("#").strip("/").split("/") if ref != "#" else ():
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return ref.startswith("#")


def _think_problem(think: bool | str | None, model: str, family: str) -> str | None:
    """What Ollama answers a well-formed ``think`` the model cannot take, or ``None``."""
    if isinstance(think, str) and family not in LEVEL_FAMILIES:
        return f"think value {json.dumps(think)} is not supported for this model"
    if think and family not in THINKING_FAMILIES:
        return f"{json.dumps(model)} does not support thinking"
    return None


def sent_reasoning(body: Any) -> Reasoning | None:
    """The thinking setting in a ``/api/chat`` body: see :meth:`OllamaMock.sent_reasoning`."""
    think = body.get("think")
    if think is None:
        return None
    if isinstance(think, str):
        return Reasoning(think)  # type: ignore[arg-type]  # one of THINK_LEVELS
    return Reasoning() if think else Reasoning("none")


def validate_embed(body: Any) -> str | None:
    """Ollama's message for what is wrong with a ``/api/embed`` body, or ``None``.

    A negative ``dimensions`` is refused in the mock's own words.
    """
    if not isinstance(body, dict):
        return "invalid request body"
    if not body.get("model"):
        return "model is required"
    texts = body.get("input")
    strings = isinstance(texts, list) and all(isinstance(t, str) for t in texts)
    if texts is not None and not isinstance(texts, str) and not strings:
        return "invalid input type"
    size = body.get("dimensions")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool)):
        return _unmarshal_error(size, "dimensions", "int")
    if size is not None and size < 0:
        return "dimensions must not be negative"
    truncate = body.get("truncate")
    if truncate is not None and not isinstance(truncate, bool):
        return _unmarshal_error(truncate, "truncate", "bool")
    return None


def _unmarshal_error(value: Any, field: str, go_type: str) -> str:
    kind = {str: "string", bool: "bool", list: "array", dict: "object"}.get(type(value), "number")
    where = f"Go struct field EmbedRequest.{field}"
    return f"json: cannot unmarshal {kind} into {where} of type {go_type}"


def _embed_inputs(texts: str | list[str] | None) -> list[str]:
    # A lone empty string is no input at all, as for Ollama.
    if isinstance(texts, str):
        return [texts] if texts else []
    return list(texts or ())


def _options_problem(options: Mapping[str, Any]) -> str | None:
    """Ollama's words for an option of the wrong type (api.Options.FromMap)."""
    for keys, kind in ((_INTEGER_OPTIONS, "integer"), (_FLOAT_OPTIONS, "float32")):
        for key in keys:
            value = options.get(key)
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if value is not None and not number:
                return f'option "{key}" must be of type {kind}'
    stop = options.get("stop")
    if stop is not None and not isinstance(stop, list):
        return 'option "stop" must be of type array'
    if stop is not None and not all(isinstance(s, str) for s in stop):
        return 'option "stop" must be of an array of strings'
    return None


def _scripted_error(reply: Reply) -> Response:
    """A scripted failure's status and message as Ollama's error."""
    return _error(reply.status, reply.error, dict(reply.headers))


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response.json({"error": message}, status, headers)


@asynccontextmanager
async def client_for(mock: OllamaMock, **provider: Any) -> AsyncIterator[Any]:
    """An entered relaykit client against ``mock`` (no call log, one attempt, no
    environment); ``provider`` adds ``[providers.ollama]`` options."""
    import relaykit

    config = {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1, "initial_wait": 0, "max_retry_after": 0},
        "providers": {"ollama": {"base_url": mock.base_url, **provider}},
    }
    async with relaykit.Client(config, env={}) as client:
        yield client


__all__ = [
    "EMBEDDING_FAMILIES",
    "LEVEL_FAMILIES",
    "MODELS",
    "NO_TOOLS_MODELS",
    "THINKING_FAMILIES",
    "THINK_LEVELS",
    "OllamaMock",
    "client_for",
    "sent_reasoning",
    "validate",
    "validate_embed",
]
