"""Anthropic's Messages API on Bedrock: the request body and the answer, in this plugin's terms.

The body is made from the Converse body :func:`relaykit_bedrock.wire.request_body`
builds for this route (``api="messages"``, :mod:`.routes`), so every check made
there (sampling, thinking, cache points, documents, images) holds on this route
too, its refusals naming this API and following its rules where they differ
from Converse's (a document needs no text beside it here). The answer is read
back into Converse's shape, so :func:`relaykit_bedrock.wire.response` and the
stream translator read both APIs alike. relaykit-anthropic writes and reads the
same wire, but from and into relaykit's values: the two share what is not a
translation (a Claude model's rules, the default ``max_tokens``, the error
types, the hint for a refused turn of thinking: relaykit-claude-models), not the
translators, whose inputs and outputs differ; where this route does otherwise
it says why below (Converse renamed or refused it first). The request, as
AWS's "Inference using Anthropic Messages API" page and Anthropic's Messages
reference describe it:

- ``POST /anthropic/v1/messages`` with ``model`` (the Bedrock model or
  inference profile id) and ``stream`` in the body, ``anthropic_version:
  "bedrock-2023-05-31"`` in the body as AWS asks for ``bedrock-runtime`` and
  the ``anthropic-version: 2023-06-01`` header the Messages API itself takes.
- ``max_tokens`` is required: when none is given, :data:`DEFAULT_MAX_TOKENS`
  for the answer plus room for the thinking the call will do (it caps both
  together), as relaykit-anthropic reckons it: see :func:`default_max_tokens`.
- ``system`` and message content are Anthropic content blocks; a Converse
  ``cachePoint`` becomes ``cache_control: {"type": "ephemeral"}`` (with its
  ``ttl``) on the block before it, in ``tools``, ``system`` or a message.
- Images travel as base64 (an ``s3://`` image is refused: the Messages API
  takes none); PDFs as base64 documents, plain text, Markdown, CSV and HTML as
  text documents; Word and Excel files are refused (Converse reads them).
- Reasoning goes back as ``thinking`` blocks with their signatures, redacted
  reasoning as ``redacted_thinking``; tool calls as ``tool_use``, results as
  ``tool_result`` (``is_error`` for failures).
- ``additionalModelRequestFields`` (thinking, ``output_config``, ``top_k``,
  what ``extra`` put there) are top-level fields of a Messages body; a JSON
  schema ``response_format`` is ``output_config.format``. Other ``extra`` keys
  that Converse does not have are sent as they are, so Messages-only fields
  can be given that way.
- ``tool_choice="none"`` has no Converse equivalent (see :mod:`.wire`): the
  tools are left out, or kept without a choice when the conversation holds
  tool blocks. The Messages API has one, so those kept tools are sent with
  ``tool_choice: {"type": "none"}``.
- A tool's ``strict`` flag is not sent: Bedrock's Messages route refuses it for
  some models ("tools.0.custom.strict: Extra inputs are not permitted" from Opus
  4.7, 4.8 and Sonnet 5: vercel/ai#16237, BerriAI/litellm#33193), so the Converse
  body built for this route has none and the parameters go unconverted. A JSON
  schema ``response_format`` is converted for Claude before it gets here (see
  :mod:`.schemas`).
- What Converse made of the request stays as it made it, where relaykit-anthropic
  sends otherwise: a document's ``title`` is Converse's unique, sanitized name
  (``invoice-7``, not ``invoice-7.pdf``), one system block goes per system
  message (relaykit-anthropic joins them), and a tool call whose arguments were
  not JSON goes back as ``{"raw_arguments": ...}``. The answer's stop reason is
  Converse's too (``refusal`` is ``content_filtered``, the ``Finish`` event's raw
  reason), which relaykit reads as the same finish reason.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from relaykit import ChatRequest, InvalidRequestError, RelayError, json_encode
from relaykit.json_decode import SHAPE_ERRORS, require_answer, wrong_shape
from relaykit.secrets import cut_short
from relaykit_claude_models import default_max_tokens as _default_max_tokens

from .prices import base_model
from .routes import MESSAGES, Api

#: ``anthropic_version`` in the body, as AWS documents for ``bedrock-runtime``
BEDROCK_VERSION = "bedrock-2023-05-31"
#: the Messages API version header
ANTHROPIC_VERSION = "2023-06-01"
#: the path of the Messages API on ``bedrock-runtime``
PATH = "/anthropic/v1/messages"
#: the answer's share of ``max_tokens`` when the caller gives none (the Messages API
#: requires one); room for thinking goes on top (:func:`default_max_tokens`)
DEFAULT_MAX_TOKENS = 8192

# Converse top-level fields this module translates; any other key is sent as it is.
_CONVERSE_FIELDS = frozenset(
    {
        "messages",
        "system",
        "inferenceConfig",
        "toolConfig",
        "additionalModelRequestFields",
        "outputConfig",
    }
)
# What a Messages body carries that an InvokeModel body for Claude does not.
_NOT_INVOKE_MODEL_FIELDS = frozenset({"model", "stream"})
_TEXT_DOCUMENTS = {
    "txt": "text/plain",
    "md": "text/markdown",
    "csv": "text/csv",
    "html": "text/html",
}

#: Converse's ``stopReason`` for each Messages ``stop_reason`` (what the Converse reader maps)
STOP_REASONS = {
    "end_turn": "end_turn",
    "stop_sequence": "stop_sequence",
    "max_tokens": "max_tokens",
    "model_context_window_exceeded": "model_context_window_exceeded",
    "tool_use": "tool_use",
    "refusal": "content_filtered",
}


def default_max_tokens(request: ChatRequest) -> int:
    """The ``max_tokens`` sent for ``request`` when Converse's body has no ``maxTokens``:
    :data:`DEFAULT_MAX_TOKENS` plus the room its thinking needs (a Claude 5 model
    thinks unasked), by :func:`relaykit_claude_models.default_max_tokens`. A
    ``thinking`` field ``extra`` gives (as a Messages field, or Converse's in
    ``additionalModelRequestFields``) replaces ``reasoning=``, as it does in the body."""
    found = extra_field(request, "thinking")
    given = None if found is None else found[0]
    return _default_max_tokens(
        DEFAULT_MAX_TOKENS, base_model(request.model), request.reasoning, given
    )


def extra_field(request: ChatRequest, name: str, api: Api = MESSAGES) -> tuple[Any, str] | None:
    """The value ``request.extra`` gives Claude's own Messages API field ``name``
    (``tool_choice``, ``temperature``, ``thinking``, ...) on the route ``api``, and the
    field of ``extra`` that gives it; ``None`` when ``extra`` gives none.

    :func:`request_body` makes each key of ``additionalModelRequestFields`` a
    top-level field, over what it translated (the tools' choice, the sampling of
    ``inferenceConfig``), then sends ``extra``'s other keys as they are, last: so
    a top-level key wins over ``additionalModelRequestFields``'s, which wins over
    the translated one. Converse hands ``additionalModelRequestFields`` to Claude's
    own request the same way, but sends no other key there (a top-level one is a
    Converse field), and refuses a key that gives a field its translation gives too
    (:func:`relaykit_bedrock.wire.request_body` refuses that before sending). The
    checks made before sending read the value from here, as the model will get it.
    A ``None`` value counts as given (it replaces)."""
    if api == MESSAGES and name in request.extra:
        return request.extra[name], name
    fields = request.extra.get("additionalModelRequestFields")
    if isinstance(fields, dict) and name in fields:
        return fields[name], f"additionalModelRequestFields.{name}"
    return None


def request_body(
    converse: dict[str, Any],
    model: str,
    *,
    stream: bool,
    tool_choice_none: bool = False,
    default_max_tokens: int = DEFAULT_MAX_TOKENS,
) -> dict[str, Any]:
    """The Messages API body for the Converse body ``converse`` of a call to ``model``.

    ``extra`` was merged into ``converse``: a Converse field it gave in another shape
    is refused (:class:`~relaykit.InvalidRequestError`, unsent) by the field's name.
    ``tool_choice_none`` says the caller's ``tool_choice`` was ``"none"``, which
    Converse cannot say: the tools it kept go with ``tool_choice: {"type": "none"}``.
    ``default_max_tokens`` is sent when Converse's body has no ``maxTokens``."""
    with _converse_field("inferenceConfig"):
        inference = converse.get("inferenceConfig") or {}
        max_tokens = inference.get("maxTokens", default_max_tokens)
    with _converse_field("messages"):
        sent = [
            {"role": m["role"], "content": _blocks(m["content"], f"messages.{i}")}
            for i, m in enumerate(converse.get("messages") or ())
        ]
    body: dict[str, Any] = {
        "anthropic_version": BEDROCK_VERSION,
        "model": model,
        "max_tokens": max_tokens,
        "messages": sent,
    }
    if converse.get("system"):
        with _converse_field("system"):
            body["system"] = _blocks(converse["system"], "system")
    with _converse_field("inferenceConfig"):
        for ours, theirs in (("temperature", "temperature"), ("topP", "top_p")):
            if ours in inference:
                body[theirs] = inference[ours]
        if inference.get("stopSequences"):
            body["stop_sequences"] = inference["stopSequences"]
    tool_config = converse.get("toolConfig")
    if tool_config:
        with _converse_field("toolConfig"):
            body["tools"] = _tools(tool_config.get("tools") or ())
            choice = _tool_choice(tool_config.get("toolChoice"))
            if choice is None and tool_choice_none and body["tools"]:
                # Converse keeps the tools, unchosen, only for a conversation that
                # holds tool blocks (the API wants them then): the Messages API can
                # still forbid calling one.
                choice = {"type": "none"}
            if choice is not None:
                body["tool_choice"] = choice
    with _converse_field("additionalModelRequestFields"):
        for key, value in (converse.get("additionalModelRequestFields") or {}).items():
            body[key] = value
    with _converse_field("outputConfig"):
        text_format = (converse.get("outputConfig") or {}).get("textFormat")
        if text_format and text_format.get("type") == "json_schema":
            schema = json.loads(text_format["structure"]["jsonSchema"]["schema"])
            output = dict(body.get("output_config") or {})
            output["format"] = {"type": "json_schema", "schema": schema}
            body["output_config"] = output
    for key, value in converse.items():
        if key not in _CONVERSE_FIELDS:
            body[key] = value
    if stream:
        body["stream"] = True
    return body


def invoke_model_body(body: dict[str, Any]) -> str:
    """The Messages ``body`` as CountTokens takes an InvokeModel body
    (``input.invokeModel.body``): base64 of its JSON, without ``model`` and ``stream``.

    The Messages API's body on Bedrock is Claude's InvokeModel body, but for those
    two: InvokeModel names the model in its path and streams by its operation
    (``invoke-with-response-stream``), and its schema refuses both keys."""
    sent = {k: v for k, v in body.items() if k not in _NOT_INVOKE_MODEL_FIELDS}
    return base64.b64encode(json_encode.dumps(sent)).decode("ascii")


@contextmanager
def _converse_field(field: str) -> Iterator[None]:
    """Translate the Converse field ``field``, refusing one not in Converse's shape.

    The body relaykit builds is always in shape: only ``extra`` can put another
    there. Its lookup errors would otherwise leave the provider as an answer's
    ("malformed response", retried) though nothing was sent."""
    try:
        yield
    except RelayError:
        raise
    except (AttributeError, IndexError, KeyError, TypeError, ValueError) as e:
        raise InvalidRequestError(
            f"extra's {field} is not in Converse's shape, so the Messages API route cannot"
            f" translate it ({type(e).__name__}: {cut_short(str(e), 100)})",
            param=f"extra.{field}",
            hint=f"give {field} in Converse's own shape (the Converse API reference), or a"
            " Messages API field (top_k, output_config, ...) under its own name in extra",
        ) from None


def _cache_control(point: dict[str, Any]) -> dict[str, Any]:
    mark = {"type": "ephemeral"}
    if point.get("ttl"):
        mark["ttl"] = point["ttl"]
    return mark


def _blocks(blocks: list[dict[str, Any]], where: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for block in blocks:
        if "cachePoint" in block:
            # Converse already moved every point to follow a block (see cache_points).
            if out:
                out[-1]["cache_control"] = _cache_control(block["cachePoint"])
            continue
        out.append(_block(block, where))
    return out


def _block(block: dict[str, Any], where: str) -> dict[str, Any]:
    if "text" in block:
        return {"type": "text", "text": block["text"]}
    if "image" in block:
        return _image(block["image"], where)
    if "document" in block:
        return _document(block["document"], where)
    if "toolUse" in block:
        use = block["toolUse"]
        return {
            "type": "tool_use",
            "id": use["toolUseId"],
            "name": use["name"],
            "input": use["input"],
        }
    if "toolResult" in block:
        result = block["toolResult"]
        out: dict[str, Any] = {
            "type": "tool_result",
            "tool_use_id": result["toolUseId"],
            "content": [_block(b, where) for b in result.get("content") or ()],
        }
        if result.get("status") == "error":
            out["is_error"] = True
        return out
    if "reasoningContent" in block:
        content = block["reasoningContent"]
        if "redactedContent" in content:
            return {"type": "redacted_thinking", "data": content["redactedContent"]}
        text = content.get("reasoningText") or {}
        return {"type": "thinking", "thinking": text["text"], "signature": text["signature"]}
    raise InvalidRequestError(f"cannot send a {next(iter(block))} block through the Messages API")


def _image(image: dict[str, Any], where: str) -> dict[str, Any]:
    source = image.get("source") or {}
    if "bytes" not in source:
        raise InvalidRequestError(
            "the Messages API on Bedrock takes images as bytes, not s3:// objects",
            param=f"{where}.content.image.url",
            hint="pass the image's bytes (ImagePart(data=...)), or call this model through "
            "Converse: [providers.NAME] claude_api = 'converse'",
        )
    media_type = f"image/{image['format']}"
    return {
        "type": "image",
        "source": {"type": "base64", "media_type": media_type, "data": source["bytes"]},
    }


def _document(document: dict[str, Any], where: str) -> dict[str, Any]:
    fmt, source = document["format"], document.get("source") or {}
    if "bytes" not in source:
        raise InvalidRequestError(
            "the Messages API on Bedrock takes documents as bytes, not s3:// objects",
            param=f"{where}.content.document.url",
            hint="pass the document's bytes (DocumentPart(data=...))",
        )
    out: dict[str, Any] = {"type": "document", "title": document["name"]}
    if fmt == "pdf":
        out["source"] = {"type": "base64", "media_type": "application/pdf", "data": source["bytes"]}
        return out
    if fmt not in _TEXT_DOCUMENTS:
        raise InvalidRequestError(
            f"the Messages API reads PDF and text documents, not {fmt}",
            param=f"{where}.content.document.media_type",
            hint="send a PDF or plain text, or call this model through Converse, which reads "
            "Word and Excel files: [providers.NAME] claude_api = 'converse'",
        )
    try:
        text = base64.b64decode(source["bytes"]).decode()
    except (binascii.Error, UnicodeDecodeError) as e:
        raise InvalidRequestError(
            f"a {fmt} document is not UTF-8 text",
            param=f"{where}.content.document.data",
            hint="send the document as UTF-8",
        ) from e
    out["source"] = {"type": "text", "media_type": "text/plain", "data": text}
    return out


def _tools(tools: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for entry in tools:
        if "cachePoint" in entry:
            if out:
                out[-1]["cache_control"] = _cache_control(entry["cachePoint"])
            continue
        spec = entry["toolSpec"]
        tool: dict[str, Any] = {"name": spec["name"], "input_schema": spec["inputSchema"]["json"]}
        if spec.get("description"):
            tool["description"] = spec["description"]
        out.append(tool)
    return out


def _tool_choice(choice: Any) -> dict[str, Any] | None:
    if not choice:
        return None
    if not isinstance(choice, dict):
        # Converse's toolChoice is an object ({"any": {}}); a string's "any" would
        # read as one and force a tool the thinking checks never saw.
        raise TypeError(f"toolChoice is a {type(choice).__name__}, not an object")
    if "any" in choice:
        return {"type": "any"}
    if "tool" in choice:
        return {"type": "tool", "name": choice["tool"]["name"]}
    return {"type": "auto"}


# -- the answer ---------------------------------------------------------------------


def converse_usage(usage: dict[str, Any] | None) -> dict[str, Any]:
    """A Messages ``usage`` object in Converse's terms (cache reads and writes apart,
    one-hour writes in ``cacheDetails``)."""
    usage = usage or {}
    # as they came (null: none): wire.usage refuses a count that is no count
    out: dict[str, Any] = {
        "inputTokens": usage.get("input_tokens"),
        "outputTokens": usage.get("output_tokens"),
        "cacheReadInputTokens": usage.get("cache_read_input_tokens"),
        "cacheWriteInputTokens": usage.get("cache_creation_input_tokens"),
    }
    one_hour = (usage.get("cache_creation") or {}).get("ephemeral_1h_input_tokens") or 0
    if one_hour:
        out["cacheDetails"] = [{"ttl": "1h", "inputTokens": one_hour}]
    return out


def converse_block(block: dict[str, Any]) -> dict[str, Any] | None:
    """A Messages content block of an answer in Converse's shape (``None`` for kinds
    relaykit does not read, such as server tool results)."""
    kind = block.get("type")
    if kind == "text":
        return {"text": block.get("text") or ""}
    if kind == "thinking":
        text = {"text": block.get("thinking") or "", "signature": block.get("signature")}
        return {"reasoningContent": {"reasoningText": text}}
    if kind == "redacted_thinking":
        return {"reasoningContent": {"redactedContent": block.get("data") or ""}}
    if kind == "tool_use":
        use = {
            "toolUseId": block.get("id", ""),
            "name": block.get("name", ""),
            "input": block.get("input"),
        }
        return {"toolUse": use}
    return None


def converse_response(data: dict[str, Any]) -> dict[str, Any]:
    """A Messages API answer in the shape of a Converse answer; a ``ValueError`` for an
    answer of the wrong shape or without its ``content`` (``{}``: no answer)."""
    require_answer(data, "a message", "content")
    try:
        return _converse_response(data)
    except SHAPE_ERRORS as e:
        raise wrong_shape("a message", e, data, _MESSAGE) from e


#: the containers converse_response() reads, to name the one that does not fit
#: (json_decode.misfit)
_MESSAGE = {"content": [{}], "usage": {"cache_creation": {}}}


def _converse_response(data: dict[str, Any]) -> dict[str, Any]:
    content = [b for b in map(converse_block, data.get("content") or ()) if b is not None]
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop_reason(data.get("stop_reason")),
        "usage": converse_usage(data.get("usage")),
        **stop_sequence_fields(data.get("stop_sequence")),
    }


def stop_sequence_fields(met: object) -> dict[str, Any]:
    """Where Converse puts the stop sequence Claude met (``additionalModelResponseFields``,
    when a request asks for ``/stop_sequence``), for the sequence a Messages answer
    names; nothing when it names none."""
    if not isinstance(met, str):
        return {}
    return {"additionalModelResponseFields": {"stop_sequence": met}}


def stop_reason(raw: str | None) -> str | None:
    """Converse's ``stopReason`` for a Messages ``stop_reason`` (unknown ones as they are)."""
    return STOP_REASONS.get(raw or "", raw)
