"""The mock's Messages API route: ``POST /anthropic/v1/messages`` on ``bedrock-runtime``.

As AWS's "Inference using Anthropic Messages API" page and Anthropic's Messages
reference describe it: ``model``, ``max_tokens`` and ``messages`` in the body,
``anthropic_version: "bedrock-2023-05-31"`` there too; an answer is one
``message`` object (``content`` blocks, ``stop_reason`` and ``stop_sequence``:
``"stop_sequence"`` and ``Reply.stop_sequence`` for a reply scripted to stop
on one, as ``message_delta``'s ``delta`` says it streamed; ``usage`` with cache
reads and writes apart from ``input_tokens`` and the writes by TTL in
``cache_creation``), or with ``stream: true`` server-sent events
(``text/event-stream``) in Anthropic's order: ``message_start``, per block
``content_block_start``/``_delta``/``_stop``, ``message_delta``,
``message_stop``, a ``ping`` early on, an ``error`` event for an in-stream
failure (of ``reply.error_code``'s type, else ``overloaded_error``).
:func:`validate_messages` refuses what the API refuses (its messages
worded by the mock): a missing version, model or ``max_tokens``, Converse's
field names, a conversation that does not start with the user or alternate,
blank text, unknown block types, thinking whose signature the mock did not
give, ``tool_result`` for no earlier ``tool_use``, tool blocks without
``tools``, with thinking on a final assistant turn calling tools without its
thinking, ``cache_control`` other than ``ephemeral`` with ttl ``5m`` or
``1h``, more than four of them. The thinking and sampling rules of
:mod:`relaykit_bedrock.testing.reasoning` apply to it as to Converse.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Mapping
from itertools import pairwise
from typing import Any

from relaykit.testing.loopback import Drop, Pause, Reset, Response
from relaykit.testing.script import Reply
from relaykit_claude_models import missing_thinking_refusal

from .checks import malformed
from .frames import reasoning_signature, stop_word

PATH = "/anthropic/v1/messages"
VERSION = "bedrock-2023-05-31"
STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}
_BLOCK_TYPES = frozenset(
    {"text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking"}
)
_CONVERSE_FIELDS = ("inferenceConfig", "toolConfig", "additionalModelRequestFields", "outputConfig")
_TTLS = ("5m", "1h")
MAX_CACHE_POINTS = 4


def anthropic_error(status: int, kind: str, message: str) -> Response:
    """An error in Anthropic's shape, as the Messages route answers the model's refusals."""
    body = {"type": "error", "error": {"type": kind, "message": message}}
    return Response.json(body, status)


def validate_messages(body: Any) -> str | None:
    """The ``invalid_request_error`` message the Messages API would give ``body``, or ``None``."""
    if not isinstance(body, dict):
        return "The request body is not a JSON object."
    if body.get("anthropic_version") != VERSION:
        return f"anthropic_version: must be {VERSION!r} on bedrock-runtime."
    for key in _CONVERSE_FIELDS:
        if key in body:
            return f"{key}: Extra inputs are not permitted"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model: Field required"
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        return "max_tokens: Field required"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or messages[0].get("role") != "user":
        return "messages: the first message must use the user role"
    if any(a.get("role") == b.get("role") for a, b in pairwise(messages)):
        return "messages: roles must alternate between user and assistant"
    tool_ids: set[str] = set()
    has_tools = False
    cache_points = _cache_marks(body.get("system")) + _cache_marks(body.get("tools"))
    for i, m in enumerate(messages):
        content = m.get("content")
        if not isinstance(content, list) or not content:
            return f"messages.{i}.content: must be a non-empty list"
        cache_points += _cache_marks(content)
        for j, block in enumerate(content):
            where = f"messages.{i}.content.{j}"
            if problem := _block_problem(block, where, tool_ids):
                return problem
            has_tools = has_tools or block["type"] in ("tool_use", "tool_result")
        if m.get("role") == "assistant" and (problem := _thinking_not_first(content, i)):
            return problem
    if problem := tool_choice_problem(body.get("tool_choice")):
        return problem
    if has_tools and not body.get("tools"):
        return "tools: must be given when messages hold tool_use or tool_result blocks"
    if problem := _thinking_missing(body, messages):
        return problem
    for mark in cache_points:
        if not isinstance(mark, dict) or mark.get("type") != "ephemeral":
            return "cache_control.type: Input should be 'ephemeral'"
        if mark.get("ttl", "5m") not in _TTLS:
            return "cache_control.ttl: Input should be '5m' or '1h'"
    if len(cache_points) > MAX_CACHE_POINTS:
        return f"A maximum of {MAX_CACHE_POINTS} blocks with cache_control may be provided."
    return None


#: what InvokeModel takes outside a Claude body: the model in its path, streaming by
#: its operation
_NOT_INVOKE_MODEL_FIELDS = ("model", "stream")


def invoke_model_body(encoded: Any) -> Any:
    """The JSON CountTokens' ``input.invokeModel.body`` carries (base64 of the body
    InvokeModel would be sent). Raises :class:`ValueError` when it is not base64 of
    JSON."""
    if not isinstance(encoded, str):
        raise ValueError("not base64 text")
    return json.loads(base64.b64decode(encoded, validate=True))


def validate_invoke_model(body: Any, model_id: str) -> str | None:
    """The ValidationException message InvokeModel would give Claude model ``model_id``
    for ``body``, or ``None``: the Messages API's body on ``bedrock-runtime`` without
    ``model`` and ``stream``, whose schema refuses them (worded as Bedrock words its
    schema errors), then checked as :func:`validate_messages` checks one."""
    if not isinstance(body, dict):
        return malformed("#", "expected type: JSONObject")
    for key in _NOT_INVOKE_MODEL_FIELDS:
        if key in body:
            return malformed("#", f"extraneous key [{key}] is not permitted")
    for key in ("anthropic_version", "max_tokens", "messages"):
        if key not in body:
            return malformed("#", f"required key [{key}] not found")
    return validate_messages({**body, "model": model_id})


#: the ``tool_choice`` types the Messages API takes
_TOOL_CHOICES = ("auto", "any", "tool", "none")


def tool_choice_problem(choice: Any) -> str | None:
    """The Messages API's refusal of a ``tool_choice`` not in its shape (an object
    whose ``type`` is one of :data:`_TOOL_CHOICES`, ``tool`` with a ``name``), or
    ``None``. Worded as the API words its schema errors (its "Input tag ... does not
    match any of the expected tags" for a tool's ``type``); only ``extra`` can send
    another shape, and the mock's thinking rules read the type of a valid one. Claude
    on Converse refuses one in ``additionalModelRequestFields`` alike."""
    if choice is None:
        return None
    if not isinstance(choice, dict):
        return "tool_choice: Input should be a valid dictionary or object to extract fields from"
    if "type" not in choice:
        # as Converse passes Claude's words on (BerriAI/litellm#27184)
        return "tool_choice.type: Field required"
    kind = choice.get("type")
    if kind not in _TOOL_CHOICES:
        expected = ", ".join(repr(k) for k in _TOOL_CHOICES)
        return (
            f"tool_choice: Input tag {kind!r} found using 'type' does not match any of the "
            f"expected tags: {expected}"
        )
    if kind == "tool" and not isinstance(choice.get("name"), str):
        return "tool_choice.tool.name: Field required"
    return None


#: the thinking block types, which must open an assistant turn holding any
_THINKING = ("thinking", "redacted_thinking")


def _thinking_not_first(content: list[dict[str, Any]], i: int) -> str | None:
    """Claude's refusal of assistant turn ``i`` holding thinking that does not open it
    (its words, claude-code#20705)."""
    first = content[0]["type"]
    if first in _THINKING or not any(b["type"] in _THINKING for b in content):
        return None
    return (
        f"messages.{i}.content.0: If an assistant message contains any thinking blocks,"
        f" the first block must be `thinking` or `redacted_thinking`. Found `{first}`."
    )


def _thinking_missing(body: dict[str, Any], messages: list[dict[str, Any]]) -> str | None:
    """Claude's refusal, with thinking on, of a final assistant turn that calls tools
    without the thinking it began with (its words, claude-code#20705): a tool loop in
    progress needs it back."""
    thinking = body.get("thinking")
    if not isinstance(thinking, dict) or thinking.get("type") == "disabled":
        return None
    last = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=None)
    if last is None:
        return None
    content = messages[last]["content"]
    first = content[0]["type"]
    if first in _THINKING or not any(b["type"] == "tool_use" for b in content):
        return None
    return missing_thinking_refusal(last, first)


def _cache_marks(blocks: Any) -> list[Any]:
    if not isinstance(blocks, list):
        return []
    return [b["cache_control"] for b in blocks if isinstance(b, dict) and "cache_control" in b]


def _block_problem(block: Any, where: str, tool_ids: set[str]) -> str | None:
    kind = block.get("type") if isinstance(block, dict) else None
    if kind not in _BLOCK_TYPES:
        return f"{where}.type: Input tag {kind!r} does not match any of the expected tags"
    if kind == "text" and not str(block.get("text", "")).strip():
        return f"{where}: text content blocks must be non-empty"
    if kind == "thinking" and block.get("signature") != reasoning_signature(
        str(block.get("thinking"))
    ):
        return f"{where}.signature: Invalid `signature` in `thinking` block"
    if kind == "redacted_thinking":
        try:
            base64.b64decode(block.get("data") or "", validate=True)
        except (binascii.Error, TypeError, ValueError):
            return f"{where}.data: Invalid `data` in `redacted_thinking` block"
    if kind == "tool_use":
        if not isinstance(block.get("input"), dict):
            return f"{where}.input: Input should be a valid dictionary"
        tool_ids.add(str(block.get("id")))
    if kind == "tool_result" and block.get("tool_use_id") not in tool_ids:
        return f"{where}: unexpected `tool_use_id` found in `tool_result` blocks"
    if kind in ("image", "document") and (block.get("source") or {}).get("type") not in (
        "base64",
        "text",
    ):
        return f"{where}.source.type: Input should be 'base64' or 'text'"
    return None


def as_converse_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a Messages ``body`` the mock's thinking rules read, in Converse's
    names (:func:`relaykit_bedrock.testing.reasoning.reasoning_problem` and
    ``sent_reasoning`` take those)."""
    fields = {k: body[k] for k in ("thinking", "output_config", "top_k") if k in body}
    inference = {
        k: body[v] for k, v in (("temperature", "temperature"), ("topP", "top_p")) if v in body
    }
    choice = (body.get("tool_choice") or {}).get("type")
    tool_config: dict[str, Any] = {"toolChoice": {"any": {}}} if choice in ("any", "tool") else {}
    out: dict[str, Any] = {"additionalModelRequestFields": fields} if fields else {}
    if inference:
        out["inferenceConfig"] = inference
    if tool_config:
        out["toolConfig"] = tool_config
    return out


def prompt_text(body: Mapping[str, Any]) -> str:
    """The system and text blocks of a Messages body, for the mock's token estimate."""
    system = body.get("system") or []
    texts = [b["text"] for b in system if b.get("type") == "text"]
    for m in body["messages"]:
        texts += [b["text"] for b in m["content"] if b.get("type") == "text"]
    return " ".join(texts)


def last_user_text(body: Mapping[str, Any]) -> str:
    """The text of the last user turn that has some (the mock's echo)."""
    for m in reversed(body["messages"]):
        texts = [b["text"] for b in m["content"] if b.get("type") == "text"]
        if m["role"] == "user" and texts:
            return " ".join(texts)
    return ""


def usage(reply: Reply, inp: int, out: int) -> dict[str, Any]:
    """Anthropic's ``usage``: cache reads and writes counted apart from ``input_tokens``."""
    written, one_hour = reply.cache_write_input_tokens, reply.cache_write_1h_input_tokens
    return {
        "input_tokens": inp - reply.cached_input_tokens - written,
        "output_tokens": out,
        "cache_read_input_tokens": reply.cached_input_tokens,
        "cache_creation_input_tokens": written,
        "cache_creation": {
            "ephemeral_5m_input_tokens": written - one_hour,
            "ephemeral_1h_input_tokens": one_hour,
        },
    }


def content(reply: Reply, tool_id: str) -> list[dict[str, Any]]:
    """The content blocks of an answer to ``reply``: thinking, text, tool calls (after
    a block of a kind the API may add, for ``Reply.future_events``)."""
    out: list[dict[str, Any]] = []
    if reply.future_events:
        out.append({"type": "future_block", "detail": "a block of a kind added later"})
    for thought in reply.thoughts():
        if thought.redacted is not None:
            out.append({"type": "redacted_thinking", "data": thought.redacted})
        else:
            sig = reasoning_signature(thought.text)
            out.append({"type": "thinking", "thinking": thought.text, "signature": sig})
    if reply.text:
        out.append({"type": "text", "text": reply.text})
    for n, (name, args) in enumerate(reply.tool_calls):
        out.append({"type": "tool_use", "id": f"{tool_id}{n}", "name": name, "input": dict(args)})
    return out


def message(
    reply: Reply,
    model: str,
    message_id: str,
    tool_id: str,
    use: dict[str, Any],
    stop_sequence: str | None = None,
) -> dict[str, Any]:
    """The whole ``message`` object answering ``reply`` (``stop_sequence``: the one
    met, when its stop reason is ``"stop_sequence"``)."""
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content(reply, tool_id),
        "stop_reason": stop_word(reply, STOP_REASONS),
        "stop_sequence": stop_sequence,
        "usage": use,
    }


def _event(name: str, data: Mapping[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


def sse_events(
    reply: Reply,
    model: str,
    message_id: str,
    tool_id: str,
    use: dict[str, Any],
    stop_sequence: str | None = None,
) -> Iterator[bytes | Pause | Drop | Reset]:
    """The server-sent events of one streamed answer to ``reply``, faults included
    (``stop_sequence`` as :func:`message` takes it)."""
    start = {**message(reply, model, message_id, tool_id, use), "content": [], "stop_reason": None}
    start["usage"] = {**use, "output_tokens": 1}
    yield _event("message_start", {"type": "message_start", "message": start})
    yield _event("ping", {"type": "ping"})
    if reply.future_events:
        yield _event("future_event", {"type": "future_event", "detail": {"kind": "mock"}})
    for index, block in enumerate(content(reply, tool_id)):
        yield from _block_events(index, block, reply)
    if reply.stream_fault == "error":
        kind = reply.error_code or "overloaded_error"
        error = {"type": kind, "message": reply.error or "Overloaded"}
        yield _event("error", {"type": "error", "error": error})
        return
    if reply.stream_fault == "drop":
        yield Drop()
        return
    if reply.stream_fault == "reset":
        yield Reset()
        return
    if reply.stream_fault == "garbage":
        yield b"event: content_block_delta\ndata: {this is not json\n\n"
        return
    delta = {"stop_reason": stop_word(reply, STOP_REASONS), "stop_sequence": stop_sequence}
    usage_delta = {"output_tokens": use["output_tokens"]}
    yield _event("message_delta", {"type": "message_delta", "delta": delta, "usage": usage_delta})
    if reply.stream_fault == "truncate":
        return
    yield _event("message_stop", {"type": "message_stop"})


def _block_events(index: int, block: dict[str, Any], reply: Reply) -> Iterator[bytes | Pause]:
    kind = block["type"]
    empty = {"text": {"type": "text", "text": ""}, "thinking": {"type": "thinking", "thinking": ""}}
    first = (
        {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
        if kind == "tool_use"
        else None
    )
    start = empty.get(kind) or first or block
    yield _event(
        "content_block_start",
        {"type": "content_block_start", "index": index, "content_block": start},
    )
    deltas: list[dict[str, Any]] = []
    if kind == "text":
        for piece in reply.chunks():
            deltas.append({"type": "text_delta", "text": piece})
    elif kind == "thinking":
        text = block["thinking"]
        deltas += [
            {"type": "thinking_delta", "thinking": text[i : i + 8]} for i in range(0, len(text), 8)
        ]
        deltas.append({"type": "signature_delta", "signature": block["signature"]})
    elif kind == "tool_use":
        text = json.dumps(block["input"])
        deltas += [
            {"type": "input_json_delta", "partial_json": text[j : j + 5]}
            for j in range(0, len(text), 5)
        ]
    elif kind == "future_block":  # a block of a kind to come streams a delta of one
        deltas.append({"type": "future_delta", "detail": "more"})
    for n, delta in enumerate(deltas):
        if n and reply.chunk_delay:
            yield Pause(reply.chunk_delay)
        yield _event(
            "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
        )
    yield _event("content_block_stop", {"type": "content_block_stop", "index": index})


def met_stop_sequence(reply: Reply, body: Mapping[str, Any]) -> str | None:
    """The stop sequence an answer to ``reply`` names, as the API names the one it
    met: ``Reply.stop_sequence``, else the first ``body`` sent when the answer
    stops at one (``Reply.vendor_finish="stop_sequence"``); else ``None``."""
    if stop_word(reply, STOP_REASONS) != "stop_sequence":
        return None
    if reply.stop_sequence is not None:
        return reply.stop_sequence
    sequences = body.get("stop_sequences")
    return str(sequences[0]) if isinstance(sequences, list) and sequences else None
