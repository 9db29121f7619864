"""Translate between relaykit values and the Bedrock Converse wire format.

Choices the Converse API forces on us, each documented here once:

- ``seed`` has no Converse field (nor the Messages route): one is refused
  before sending (with no status, so a route falls back), as LiteLLM refuses
  it unless told to drop it, rather than dropped unsaid.
- ``response_format`` with a JSON schema becomes ``outputConfig.textFormat``
  (Bedrock's structured outputs, ``type: json_schema``, the schema as a JSON
  *string*). ``json_object`` has no Converse equivalent (no JSON mode), so it is
  emulated, as LiteLLM does: a tool named after the format (``response``), taking
  any object, goes after the caller's tools with ``toolChoice`` forcing it (over
  the caller's ``tool_choice``), and its input comes back as the answer's text
  (finish ``stop``, no tool call), whole and streamed, on the Messages route too.
  A tool of the caller's by that name is refused before sending, and so, where
  Claude refuses a forced tool (while it thinks; Opus 5.5 and the like always),
  is the format, the fix being a JSON schema (sent natively). For Claude, that
  schema and a strict tool's parameters are converted to Claude's subset, or
  refused before sending; every tool's name is checked (see :mod:`.schemas`).
- ``tool_choice="none"`` has no Converse equivalent: the tools are left out,
  unless the conversation already holds tool calls (Bedrock then insists on a
  ``toolConfig``), in which case they are sent without a ``toolChoice``.
- Images must travel as bytes (or ``s3://`` URIs); Bedrock never fetches URLs.
  A system block is text (or a cache point): an image in a system message is
  refused before sending, saying to move it into a user message.
- A :class:`~relaykit.DocumentPart` becomes a ``document`` block with a name
  Bedrock accepts, unique in the request (see :mod:`.documents`). Bedrock reads
  documents in user turns that hold text too; anything else (a document in a
  system or assistant message, a user turn of documents alone, a URL, a media
  type it does not read) is refused before sending, with the fix.
- The body is built for the Messages route too (``api="messages"``, see
  :mod:`.routes`): what is refused before sending then names that API and
  follows its rules where they differ (a document alone in a user turn is
  sent; no ``s3://`` source or Word and Excel formats are offered as fixes).
- Each ``reasoningContent`` block becomes one reasoning part
  (``origin="bedrock"``), in order: ``reasoningText`` with its own signature,
  ``redactedContent`` (base64 on the wire) as ``redacted``. They go back as
  they came, first in their assistant turn (Claude refuses a turn whose
  thinking does not open it: :mod:`relaykit_claude_models.turn_order`), and
  only when Bedrock made them: another provider's signature
  means nothing here (not even Anthropic's own for Claude: relaykit does not
  count on the two being interchangeable), and Claude rejects unsigned
  reasoning, so such parts are left out.
- A tool call whose arguments were not a JSON object (``raw_arguments``) goes
  back as ``{"raw_arguments": "..."}``: Converse wants ``toolUse.input`` to be one.
- Tool call ids go out as Bedrock takes them (1 to 64 of ``[a-zA-Z0-9_-]``, each
  once in a request: another provider's ``functions.now:0``, or relaykit's
  made-up ``call_0`` of two answers, renamed), each result under its call's:
  see :mod:`relaykit_claude_models.tool_ids`.
- A tool result's ``status`` is sent only for errors: only some model
  families accept the field at all.
- A text part that is empty or only whitespace is left out (Converse refuses a
  blank text block, in ``system`` too), and so is a message left with nothing.
  A conversation with nothing left, or one opening with an assistant turn, is
  refused before sending: Converse wants a user turn first. A prefill (a final
  assistant turn ending in text) is sent without its trailing whitespace,
  which Claude refuses.
- A tool result with no text (or only whitespace) and no attachments is sent
  as the text :data:`NO_OUTPUT`: Converse refuses a blank text block and, for
  some models, an empty ``content`` list, and Claude refuses an error result
  with no content. Whitespace beside attachments is left out.
- A :class:`~relaykit.CachePoint` becomes a ``{"cachePoint": {"type": "default"}}``
  block where it stands, in ``system`` (the system text is cut there) or a
  message's ``content``; ``Tool.cache`` one right after that tool in
  ``toolConfig.tools``. ``ttl`` is sent only when set. Bedrock reads the prompt
  as tools, then system, then messages, and a point ends the prefix of
  everything before it in that order, so (see :mod:`.cache_points`): a point
  that would open a message's content (or be all of it, which Bedrock refuses)
  goes to the end of the block list before it, the previous message's, else the
  system's, else the tools' (same prefix, and merged turns keep their points
  in place); one with nothing at all before it caches nothing and is left out;
  one right after a reasoning block (which Bedrock refuses) goes before the
  reasoning; two in a row become one, with the longer ttl. Bedrock's own rules
  are left to Bedrock: at most four points, longer ttls first.
- ``reasoning=`` becomes the model family's own field in
  ``additionalModelRequestFields`` (Claude's ``thinking``, Nova 2's
  ``reasoningConfig``, gpt-oss's ``reasoning_effort``), or is refused before
  sending for other models: see :mod:`.reasoning`.
- A ``temperature``, ``top_p`` or ``top_k`` other than the default is
  refused before sending for the Claude models that refuse it whatever their
  thinking (Opus 4.7 on, Sonnet 5 on, Haiku 5.5, Fable and Mythos): see
  :mod:`.sampling`.
- A conversation ending in an assistant turn (a prefill) is refused before
  sending for the Claude models that refuse one (4.6 on, Fable and Mythos), on
  Converse and the Messages API alike: see :mod:`.prefill`.
- ``extra`` is merged into the body; a dict merges into the dict already
  there (``extra={"inferenceConfig": {...}}`` adds keys, and
  ``extra={"additionalModelRequestFields": {...}}`` joins the fields
  ``reasoning=`` made, its own keys winning), anything else replaces.
  Other model-specific switches (Claude's ``top_k``) go in
  ``extra={"additionalModelRequestFields": {...}}``. Converse hands those to
  Claude's own request: its ``tool_choice``, ``temperature`` and ``top_p`` there are
  what the thinking and sampling checks read, and one of those or ``max_tokens``
  beside Converse's own field for it (``toolConfig.toolChoice``,
  ``inferenceConfig.temperature``, ``topP`` or ``maxTokens``, which relaykit sends
  itself for a thinking budget) is refused before sending, as Converse refuses the
  pair, naming where each came from.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from relaykit import (
    CachePoint,
    ChatRequest,
    ChatResponse,
    Citation,
    InvalidRequestError,
    Message,
    Usage,
)
from relaykit.json_decode import SHAPE_ERRORS, count, require_answer, wrong_shape
from relaykit.json_encode import dumps
from relaykit.json_schemas import name_problem
from relaykit.messages import (
    DocumentPart,
    ImagePart,
    ReasoningPart,
    TextPart,
    ToolCall,
    ToolResultPart,
    misplaced_part,
    refuse_names,
)
from relaykit.request import refuse_seed
from relaykit.response import NO_USAGE, FinishReason, reasoning_fields
from relaykit_claude_models import ToolIds, thinking_first

from . import citations, prefill, reasoning, sampling, schemas
from .cache_points import CachePoints
from .claude_api import is_claude
from .documents import DocumentNames, check_user_turns, document_block
from .routes import API_NAMES, CONVERSE, Api

#: the ``origin`` of the reasoning parts this provider makes, and accepts back
ORIGIN = "bedrock"

#: the text sent for a tool result with nothing in it (Converse refuses it empty)
NO_OUTPUT = "(no output)"

FINISH_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}

IMAGE_FORMATS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}
_IMAGE_EXTENSIONS = {"png": "png", "jpg": "jpeg", "jpeg": "jpeg", "gif": "gif", "webp": "webp"}


#: The Converse fields CountTokens counts (``input.converse``, a ConverseTokensRequest):
#: the prompt. Its newer ``additionalModelRequestFields`` is left out: it carries
#: model switches, sampling ones (``top_k``) among them, rather than prompt.
COUNT_TOKENS_FIELDS = ("messages", "system", "toolConfig")


#: what the tool emulating ``json_object`` says it is for
JSON_TOOL_DESCRIPTION = "Give the final answer as this tool's input."


def json_tool_name(request: ChatRequest) -> str | None:
    """The name of the tool whose input is the answer, when ``json_object`` is emulated
    (Converse has no JSON mode), else ``None``."""
    rf = request.response_format
    return rf.name if rf is not None and rf.type == "json_object" else None


def finish_reason(raw: str | None) -> FinishReason:
    """relaykit's finish reason for a Converse ``stopReason``."""
    return FINISH_REASONS.get(raw or "", "other")


# -- request ----------------------------------------------------------------------


def request_body(request: ChatRequest, *, api: Api = CONVERSE) -> dict[str, Any]:
    """The JSON body of ``POST /model/{modelId}/converse`` (and ``converse-stream``).

    ``api`` is the API the call goes to (:mod:`.routes`): what is refused before
    sending names it and follows its rules. For :data:`~.routes.MESSAGES`, which
    sends no ``strict``, the tools' ``strict`` flags are left out and their
    parameters sent as given; :mod:`.messages_wire` translates the body."""
    refuse_names(request.messages, API_NAMES[api])
    refuse_seed(request, API_NAMES[api])
    # First, so that a model that refuses sampling whatever its thinking says so,
    # rather than the thinking check offering to turn thinking off.
    sampling.check(request, api)
    # Built in Bedrock's prompt order (tools, system, messages): a cache point
    # goes after the last block before it, whichever list that is in.
    points = CachePoints()
    tool_config = _tool_config(request, points, api)
    if (json_tool := json_tool_name(request)) is not None:
        tool_config = _json_tool_config(tool_config, json_tool, points)
    system = system_blocks(request.messages, points, api)
    body: dict[str, Any] = {"messages": messages(request.messages, points, api)}
    prefill.check(body["messages"], request.model)
    if system:
        body["system"] = system
    inference: dict[str, Any] = {}
    if request.max_tokens is not None:
        inference["maxTokens"] = request.max_tokens
    if request.temperature is not None:
        inference["temperature"] = request.temperature
    if request.top_p is not None:
        inference["topP"] = request.top_p
    if request.stop:
        inference["stopSequences"] = list(request.stop)
    if inference:
        body["inferenceConfig"] = inference
    if tool_config:
        body["toolConfig"] = tool_config
    reasoning.apply(body, request, api)
    rf = request.response_format
    if rf is not None and rf.type == "json_schema" and rf.schema is not None:
        schema = schemas.format_schema(rf, claude=is_claude(request.model))
        # The core's encoder: a value JSON cannot hold is an InvalidRequestError, as
        # it is anywhere else in a body, not json.dumps' TypeError
        text = dumps(schema).decode()
        body["outputConfig"] = {
            "textFormat": {
                "type": "json_schema",
                "structure": {"jsonSchema": {"schema": text, "name": rf.name}},
            }
        }
    for key, value in request.extra.items():
        if isinstance(value, dict) and isinstance(body.get(key), dict):
            body[key] = {**body[key], **value}
        else:
            body[key] = value
    if api == CONVERSE and is_claude(request.model):
        _check_claude_fields(body, request)
    return body


#: Claude's own fields that Converse makes from one of its own: (Converse's field,
#: relaykit's parameter that fills it)
_TRANSLATED = {
    "tool_choice": ("toolConfig", "toolChoice", "tool_choice"),
    "temperature": ("inferenceConfig", "temperature", "temperature"),
    "top_p": ("inferenceConfig", "topP", "top_p"),
    "max_tokens": ("inferenceConfig", "maxTokens", "max_tokens"),
}


def _check_claude_fields(body: dict[str, Any], request: ChatRequest) -> None:
    """Refuse before sending a Converse ``body`` to Claude whose
    ``additionalModelRequestFields`` gives one of Claude's fields that Converse makes
    from its own field, which the body carries too, naming where each came from.

    Converse hands ``additionalModelRequestFields`` to Claude's own request, and
    refuses a key there that its own field gives already ("The additional field
    tool_choice/type conflicts with the existing field toolConfig.toolChoice.tool.
    Remove tool_choice/type and try again.", BerriAI/litellm#36536; "The additional
    field max_tokens conflicts with the existing field maxTokens. Remove max_tokens
    and try again.", BerriAI/litellm#13841); a key alone is the model's (the checks
    read it: :func:`.messages_wire.extra_field`). The Messages route takes both,
    ``additionalModelRequestFields``' winning, so the refusal has no status and a
    route falls back. ``stop_sequences`` beside ``stopSequences`` is not refused:
    nothing found shows what Converse answers to that pair."""
    fields = body.get("additionalModelRequestFields")
    if not isinstance(fields, dict):
        return
    for name, (group, key, param) in _TRANSLATED.items():
        own = body.get(group)
        if name not in fields or not isinstance(own, dict) or key not in own:
            continue
        # additionalModelRequestFields' key is extra's: reasoning= adds only the
        # thinking fields there. Converse's own field is the parameter's, extra's, or,
        # for maxTokens alone, relaykit's (room for a thinking budget: .reasoning).
        given = [f"{param}="] if getattr(request, param) is not None else []
        theirs = request.extra.get(group)
        if isinstance(theirs, dict) and key in theirs:
            given.append(f"extra's {group}.{key}")
        message = (
            f"Bedrock's Converse API refuses additionalModelRequestFields.{name} beside its "
            f"own {group}.{key}, which it makes into Claude's {name} too: extra gives the "
        )
        if given:
            raise InvalidRequestError(
                f"{message}first, {' and '.join(given)} the second",
                param=f"extra.additionalModelRequestFields.{name}",
                hint=f"give it once: drop {name} from extra's additionalModelRequestFields, "
                f"or drop {' and '.join(given)}",
            )
        raise InvalidRequestError(
            f"{message}first, relaykit the second (the room reasoning='s thinking budget "
            f"needs, as {param}= was not given)",
            param=f"extra.additionalModelRequestFields.{name}",
            hint=f"give the cap as {param}={fields[name]!r} instead of in extra's "
            f"additionalModelRequestFields: relaykit then sends it as {group}.{key}",
        )


def _tool_config(request: ChatRequest, points: CachePoints, api: Api) -> dict[str, Any] | None:
    if not request.tools:
        return None
    choice = request.tool_choice
    if choice is not None and choice.mode == "none" and not _has_tool_parts(request.messages):
        return None
    tools: list[dict[str, Any]] = []
    claude = is_claude(request.model)
    for i, tool in enumerate(request.tools):
        # where the Messages route sends the tool: its name is refused at that path
        where = f"toolConfig.tools[{i}].toolSpec" if api == CONVERSE else f"tools[{i}]"
        strict = tool.strict if api == CONVERSE else None
        parameters = schemas.tool_schema(tool, where, claude=claude, strict=strict)
        spec: dict[str, Any] = {"name": tool.name, "inputSchema": {"json": parameters}}
        if tool.description:  # Bedrock rejects an empty description
            spec["description"] = tool.description
        if strict is not None:
            spec["strict"] = strict
        points.add(tools, {"toolSpec": spec})
        if tool.cache is not None:
            points.mark(tool.cache)
    config: dict[str, Any] = {"tools": tools}
    if choice is not None:
        if choice.mode == "auto":
            config["toolChoice"] = {"auto": {}}
        elif choice.mode == "required":
            config["toolChoice"] = {"any": {}}
        elif choice.mode == "tool":
            config["toolChoice"] = {"tool": {"name": choice.name}}
    return config


def _json_tool_config(
    config: dict[str, Any] | None, name: str, points: CachePoints
) -> dict[str, Any]:
    """``config`` (the caller's tools, or ``None``) with the tool emulating
    ``json_object`` after them, forced."""
    problem = name_problem(name, "the response format's name")
    if problem is not None:  # it names the tool the answer comes in
        raise InvalidRequestError(
            problem, param="response_format.name", hint="name it with letters, digits, '_', '-'"
        )
    # the caller's list itself: the cache points placed in it know it
    tools: list[dict[str, Any]] = config["tools"] if config else []
    if any(t.get("toolSpec", {}).get("name") == name for t in tools):
        raise InvalidRequestError(
            f"json_object is emulated on Bedrock with a tool named after the response format, "
            f"{name!r}, and a tool of the call's has that name",
            param="response_format.name",
            hint="name the format otherwise: "
            "response_format=relaykit.ResponseFormat('json_object', name='json_answer')",
        )
    spec = {
        "name": name,
        "description": JSON_TOOL_DESCRIPTION,
        "inputSchema": {"json": {"type": "object"}},
    }
    points.add(tools, {"toolSpec": spec})
    return {"tools": tools, "toolChoice": {"tool": {"name": name}}}


def _has_tool_parts(values: tuple[Message, ...]) -> bool:
    """Whether the turns sent hold tool calls or results (each becomes a tool block)."""
    return any(
        isinstance(p, ToolCall | ToolResultPart)
        for m in values
        if m.role != "system"
        for p in m.content
    )


def system_blocks(
    values: tuple[Message, ...], points: CachePoints | None = None, api: Api = CONVERSE
) -> list[dict[str, Any]]:
    """Converse ``system``: one text block per system turn, cut where a cache point is;
    an image or a document there is refused, naming ``api``."""
    points = CachePoints() if points is None else points
    out: list[dict[str, Any]] = []
    for i, m in enumerate(values):
        if m.role != "system":
            continue
        text: list[str] = []
        for j, part in enumerate(m.content):
            if isinstance(part, TextPart):
                text.append(part.text)
            elif isinstance(part, CachePoint):
                _add_text(out, text, points)
                points.mark(part)
            else:
                # A system block is text, a guardrail's content or a cache point: an
                # image or a document is refused, not left out.
                where = f"messages[{i}].content[{j}]"
                raise misplaced_part("system", part, where, api=API_NAMES[api])
        _add_text(out, text, points)
    return out


def _add_text(out: list[dict[str, Any]], text: list[str], points: CachePoints) -> None:
    # A blank system block is refused too (spring-ai#6209): left out, as in messages.
    if (joined := "".join(text)) and not joined.isspace():
        points.add(out, {"text": joined})
    text.clear()


def messages(
    values: tuple[Message, ...], points: CachePoints | None = None, api: Api = CONVERSE
) -> list[dict[str, Any]]:
    """Converse ``messages``: system turns left out, tool results in user turns, same roles merged.

    Converse wants user and assistant turns to alternate, so consecutive turns
    that map to the same role (a tool result followed by a user question, say)
    become one message. ``points`` places the cache points; without it, the
    messages are the whole prompt. ``api`` is the API the call goes to, whose rules
    and name the refusals made here follow (:mod:`.routes`).
    """
    points = CachePoints() if points is None else points
    names = DocumentNames()  # unique over the whole conversation, as Bedrock wants
    out: list[dict[str, Any]] = []
    for m in values:
        if m.role == "system":
            continue
        role = "assistant" if m.role == "assistant" else "user"
        merging = bool(out) and out[-1]["role"] == role
        blocks: list[dict[str, Any]] = out[-1]["content"] if merging else []
        # Claude wants an assistant turn's thinking first (its rule, passed on by Converse).
        for part in thinking_first(m.content) if role == "assistant" else m.content:
            if isinstance(part, CachePoint):
                points.mark(part)
            elif (block := _block(part, names, api)) is not None:
                points.add(blocks, block)
        # An empty turn (only unsigned reasoning, say) is a validation error: left out.
        if blocks and not merging:
            out.append({"role": role, "content": blocks})
        elif merging and role == "assistant":
            # merged after an assistant message of its own: its reasoning first again
            _reasoning_first(blocks)
    _check_opening(out, api)
    # Checked once turns are merged: the text may come in the next relaykit message.
    check_user_turns(out, api)
    _strip_prefill(out[-1])
    _send_ids(out)
    return out


def _send_ids(turns: list[dict[str, Any]]) -> None:
    """Give each ``toolUse`` an id Bedrock takes (1 to 64 of ``[a-zA-Z0-9_-]``, once
    in the request, as Claude wants) and each ``toolResult`` its call's: see
    :mod:`relaykit_claude_models.tool_ids`."""
    ids = ToolIds(max_length=64)
    for turn in turns:
        for block in turn["content"]:
            if "toolUse" in block:
                block["toolUse"]["toolUseId"] = ids.call(block["toolUse"]["toolUseId"])
            elif "toolResult" in block:
                result = block["toolResult"]
                result["toolUseId"] = ids.result(result["toolUseId"])


def _reasoning_first(blocks: list[dict[str, Any]]) -> None:
    """Move a merged assistant turn's ``reasoningContent`` blocks first, in place, the
    rest in their order; a ``cachePoint`` block moves with the block it follows."""
    units: list[list[dict[str, Any]]] = []
    for block in blocks:
        if "cachePoint" in block and units:
            units[-1].append(block)
        else:
            units.append([block])
    if "reasoningContent" in units[0][0] or not any("reasoningContent" in u[0] for u in units):
        return
    units.sort(key=lambda unit: "reasoningContent" not in unit[0])
    blocks[:] = [block for unit in units for block in unit]


def _check_opening(out: list[dict[str, Any]], api: Api) -> None:
    """Refuse before sending a conversation ``api`` refuses for how it opens (Converse:
    "A conversation must start with a user message"): none left, or an assistant turn
    first. LiteLLM refuses the latter too, unless told to make up a user turn."""
    if not out:
        raise InvalidRequestError(
            "nothing to send to Bedrock: every user and assistant message is empty or "
            "whitespace only",
            param="messages",
            hint="send at least one user message with text, an image, a document or a "
            "tool result: system messages alone are only a system prompt",
        )
    if out[0]["role"] != "user":
        raise InvalidRequestError(
            f"{API_NAMES[api]} wants the conversation to start with a user message, "
            "not an assistant one",
            param="messages",
            hint="put a user message first (what the assistant said first can go in the "
            "system prompt instead)",
        )


def _strip_prefill(final: dict[str, Any]) -> None:
    """Strip the whitespace ending a prefill (a final assistant turn ending in text):
    Claude refuses it ("final assistant content cannot end with trailing
    whitespace"), and LiteLLM strips it too (``anthropic_messages_pt``). A block of
    only whitespace was left out already, so one is never emptied."""
    last = final["content"][-1]
    if final["role"] == "assistant" and last.get("text", "")[-1:].isspace():
        last["text"] = last["text"].rstrip()


def _block(part: Any, names: DocumentNames, api: Api) -> dict[str, Any] | None:
    if isinstance(part, TextPart):
        # Converse refuses a blank text block ("The text field in the ContentBlock object
        # at messages.N.content.M is blank", continue#9767; Claude's own words:
        # "text content blocks must contain non-whitespace text", hermes-agent#60628):
        # it says nothing, so it is left out.
        return {"text": part.text} if part.text and not part.text.isspace() else None
    if isinstance(part, ImagePart):
        return {"image": _image(part, api)}
    if isinstance(part, DocumentPart):
        return document_block(part, names, api)
    if isinstance(part, ToolCall):
        arguments: Any = part.arguments
        if part.raw_arguments is not None and not part.arguments:
            # Converse refuses an input that is not an object: wrap what the model said.
            arguments = {"raw_arguments": part.raw_arguments}
        return {"toolUse": {"toolUseId": part.id, "name": part.name, "input": arguments}}
    if isinstance(part, ToolResultPart):
        blank = not part.content.strip()
        content: list[dict[str, Any]] = [] if blank else [{"text": part.content}]
        # Converse reads images and documents inside a tool result, after its text.
        content += [_block(a, names, api) for a in part.attachments]  # type: ignore[misc]
        if not content:
            content = [{"text": NO_OUTPUT}]  # see the module docstring
        result: dict[str, Any] = {"toolUseId": part.tool_call_id, "content": content}
        if part.is_error:
            result["status"] = "error"
        return {"toolResult": result}
    if isinstance(part, ReasoningPart):
        if not part.belongs_to(ORIGIN):
            return None
        if part.redacted is not None:
            return {"reasoningContent": {"redactedContent": part.redacted}}
        if not part.signature:
            return None
        return {
            "reasoningContent": {"reasoningText": {"text": part.text, "signature": part.signature}}
        }
    raise InvalidRequestError(f"cannot send {type(part).__name__} to Bedrock")


def _image(part: ImagePart, api: Api) -> dict[str, Any]:
    if part.data is not None:
        return {
            "format": _image_format(part.media_type),
            "source": {"bytes": base64.b64encode(part.data).decode()},
        }
    url = part.url or ""
    if url.startswith("data:") and ";base64," in url:
        header, _, payload = url.partition(";base64,")
        return {"format": _image_format(header[5:]), "source": {"bytes": payload}}
    if url.startswith("s3://"):
        extension = url.rsplit(".", 1)[-1].lower()
        fmt = _IMAGE_EXTENSIONS.get(extension)
        if fmt is None:
            raise InvalidRequestError(
                f"cannot tell the image format of {url!r} from its extension",
                param="content.image.url",
                hint="name the object .png, .jpg, .gif or .webp, or pass the bytes",
            )
        return {"format": fmt, "source": {"s3Location": {"uri": url}}}
    # Only Converse reads an s3:// image: the Messages route refuses one in turn.
    s3 = ", or use an s3:// URI" if api == CONVERSE else ""
    raise InvalidRequestError(
        "Bedrock does not fetch images by URL",
        param="content.image.url",
        hint="download the image and pass its bytes: ImagePart(data=..., media_type='image/png')"
        + s3,
    )


def _image_format(media_type: str | None) -> str:
    fmt = IMAGE_FORMATS.get((media_type or "").lower())
    if fmt is None:
        raise InvalidRequestError(
            f"Bedrock does not accept images of type {media_type!r}",
            param="content.image.media_type",
            hint="use PNG, JPEG, GIF or WebP",
        )
    return fmt


# -- response ---------------------------------------------------------------------


def usage(data: dict[str, Any] | None) -> Usage:
    """Normalise a Converse ``usage`` object.

    Bedrock counts cache reads and writes apart from ``inputTokens``; relaykit's
    input includes both, and reports them apart too, as ``cached_input_tokens``
    and ``cache_write_input_tokens``; ``cacheDetails`` splits the writes by TTL,
    and those to the one-hour cache are ``cache_write_1h_input_tokens``.
    Bedrock has no count of reasoning tokens (they are inside ``outputTokens``).
    """
    if not data:
        # None reported: NO_USAGE tells the client to estimate what was billed
        return NO_USAGE
    cache_read = _tokens(data, "cacheReadInputTokens", "usage.")
    cache_write = _tokens(data, "cacheWriteInputTokens", "usage.")
    one_hour = 0
    for detail in data.get("cacheDetails") or ():
        if isinstance(detail, dict) and detail.get("ttl") == "1h":
            one_hour += _tokens(detail, "inputTokens", "usage.cacheDetails[].")
    return Usage(
        input_tokens=_tokens(data, "inputTokens", "usage.") + cache_read + cache_write,
        output_tokens=_tokens(data, "outputTokens", "usage."),
        cached_input_tokens=cache_read,
        cache_write_input_tokens=cache_write,
        cache_write_1h_input_tokens=one_hour,
    )


def _tokens(data: dict[str, Any], key: str, at: str) -> int:
    """``data[key]``, a token count (0 when missing or null); a ``ValueError`` naming
    the field for one that is no count (negative, fractional, ``false``, text), which
    the core reports as a malformed response. (``x or 0`` read ``false`` as 0.)"""
    value = data.get(key)
    return 0 if value is None else count(value, at + key)


def reasoning_part(content: dict[str, Any]) -> ReasoningPart:
    """The reasoning part for a ``reasoningContent`` block."""
    if "redactedContent" in content:
        return ReasoningPart(redacted=str(content["redactedContent"] or ""), origin=ORIGIN)
    rt = content.get("reasoningText") or {}
    # str(): a part's fields are checked when it is made (a non-string is the caller's
    # mistake there); what an answer holds is taken as text, as elsewhere here.
    signature = rt.get("signature")
    return ReasoningPart(
        str(rt.get("text") or ""), str(signature) if signature else None, origin=ORIGIN
    )


def response(
    data: dict[str, Any], model: str, id: str | None = None, json_tool: str | None = None
) -> ChatResponse:
    """A :class:`ChatResponse` from a Converse response body (which carries no id or
    model); a ``ValueError`` for a body of the wrong shape or without its
    ``output.message`` (``{}``: no answer, not an empty one).

    ``json_tool`` names the tool emulating ``json_object`` (:func:`json_tool_name`):
    its input is the answer's text, not a tool call."""
    require_answer(data, "a Converse answer", "output")
    try:
        require_answer(data["output"], "a Converse answer's output", "message")
        return _response(data, model, id, json_tool)
    except SHAPE_ERRORS as e:
        raise wrong_shape("a Converse answer", e, data, _CONVERSE) from e


#: the containers response() reads, to name the one that does not fit (json_decode.misfit)
_CONVERSE = {
    "output": {
        "message": {"content": [{"toolUse": {}, "reasoningContent": {}, "citationsContent": {}}]}
    },
    "usage": {"cacheDetails": [{}]},
}


def _response(
    data: dict[str, Any], model: str, id: str | None, json_tool: str | None
) -> ChatResponse:
    content = ((data.get("output") or {}).get("message") or {}).get("content") or ()
    text: list[str] = []
    thoughts: list[ReasoningPart] = []
    calls: list[ToolCall] = []
    cited: list[Citation] = []
    length = 0  # of the text so far: where a cited block's stretch starts
    for block in content:
        if "text" in block:
            text.append(block["text"])
            length += len(block["text"])
        elif "citationsContent" in block:
            piece = citations.block_text(block["citationsContent"])
            raw = block["citationsContent"].get("citations") or ()
            cited += citations.web_citations(raw, length, length + len(piece))
            text.append(piece)
            length += len(piece)
        elif "toolUse" in block:
            use = block["toolUse"]
            if json_tool is not None and use.get("name") == json_tool:
                text.append(json_answer(use.get("input")))
                length += len(text[-1])
                continue
            calls.append(
                _tool_call(
                    str(use.get("toolUseId") or ""), str(use.get("name") or ""), use.get("input")
                )
            )
        elif "reasoningContent" in block:
            thoughts.append(reasoning_part(block["reasoningContent"]))
    raw = data.get("stopReason")
    finish = finish_reason(raw)
    if calls and finish == "stop":
        finish = "tool_calls"
    elif not calls and json_tool is not None and finish == "tool_calls":
        finish = "stop"  # the forced tool's input was the answer
    reasoning, signature = reasoning_fields(thoughts) if thoughts else ("", None)
    return ChatResponse(
        text="".join(text),
        reasoning=reasoning,
        reasoning_signature=signature,
        reasoning_parts=tuple(thoughts),
        tool_calls=tuple(calls),
        finish_reason=finish,
        usage=usage(data.get("usage")),
        model=model,
        id=id,
        citations=tuple(cited),
        stop_sequence=stop_sequence(data),
    )


def json_answer(given: Any) -> str:
    """The text of an answer given as the input of the tool emulating ``json_object``:
    an object as JSON; text (as some models send a tool's input) as it came."""
    if isinstance(given, str):
        return given
    return json.dumps({} if given is None else given)


def stop_sequence(data: dict[str, Any]) -> str | None:
    """The stop sequence an answer (or ``messageStop`` event) names: Claude's
    ``stop_sequence``, which Converse gives in ``additionalModelResponseFields`` when
    the request asks for ``/stop_sequence`` (and the Messages route always puts
    there: :mod:`.messages_wire`); ``None`` when it names none."""
    fields = data.get("additionalModelResponseFields")
    met = fields.get("stop_sequence") if isinstance(fields, dict) else None
    return met if isinstance(met, str) else None


def _tool_call(id: str, name: str, arguments: Any) -> ToolCall:
    if isinstance(arguments, dict):
        return ToolCall(id, name, arguments)
    if isinstance(arguments, str):  # some models return the input as JSON text
        return ToolCall.from_json_arguments(id, name, arguments)
    if arguments is None:
        return ToolCall(id, name)
    return ToolCall(id, name, raw_arguments=json.dumps(arguments))
