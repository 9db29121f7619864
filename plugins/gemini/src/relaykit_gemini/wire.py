"""Translate between relaykit values and the Gemini ``generateContent`` wire format.

Request side: relaykit messages become ``contents`` (roles ``user`` and
``model``; documents are parts, see :mod:`relaykit_gemini.documents`), the
system prompt ``systemInstruction``, tools
``functionDeclarations`` and sampling parameters ``generationConfig``.
Response side: ``GenerateContentResponse`` objects become a
:class:`~relaykit.ChatResponse` (or, chunk by chunk, stream events: see
:mod:`relaykit_gemini.stream_decoder`).

A conversation with no user or assistant content, or one opening with the
assistant's function calls, is refused before sending: Gemini refuses both.
``systemInstruction`` is text only: an image (or a document) in a system
message is refused before sending, saying to move it into a user message.

An image by URL goes as ``fileData``, its ``mimeType`` the part's media type or
the one its file extension names, else none: the Gemini API reads it as optional
(a Files API URI has no extension; the file has its type). Vertex AI requires it,
so there such a URL is refused before sending (:func:`refuse_untyped_images`),
naming ``media_type=`` as the fix: the URL is not fetched to guess.

Gemini pairs a ``functionResponse`` with its call by function *name* (and by
``id`` when the model sent one); relaykit pairs tool results by call id, so
the name is looked up in the assistant turns before the result. When Gemini
sends no call id, one is made up from the call's position in the response
(``gemini-call-0``, ...), so the same reply always gets the same ids; made-up
ids are never sent back to Gemini.

A response's thoughts and its first ``thoughtSignature`` become one reasoning
part (``origin="gemini"``). The signature goes back only on parts Gemini
made: another provider's signature is not one Gemini can read (its thought text
is never sent back). Gemini 3 wants a signature on the first function call of
each step of the current turn, which a call Gemini did not make lacks (a tool
run begun on another provider, a call written by hand): such a call goes with
the dummy signature Gemini's docs give for it, ``skip_thought_signature_validator``
(for Gemini 3 on; 2.x checks none).
"""

from __future__ import annotations

import base64
import json
import mimetypes
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from relaykit import (
    ChatRequest,
    ChatResponse,
    Citation,
    InvalidRequestError,
    Message,
    Tool,
    ToolChoice,
    Usage,
)
from relaykit.json_decode import SHAPE_ERRORS, count, require_answer, wrong_shape
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
from relaykit.response import FinishReason, TokenLogprob, no_usage

from . import documents, grounding, thinking
from .code_execution import code_text

#: the ``origin`` of the reasoning parts this provider makes, and accepts back
ORIGIN = "gemini"

#: the API's name in the errors raised before sending
API = "Gemini's generateContent"

#: Gemini's finish reasons that relaykit names; the rest are ``other``.
FINISH_REASONS: dict[str, FinishReason] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    # Image-generating models stop for the same policies under their own names.
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
}

#: Prefix of the call ids made up when Gemini sends none.
SYNTHETIC_ID_PREFIX = "gemini-call-"

_TOOL_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY", "tool": "ANY"}


# -- request -------------------------------------------------------------------


def request_body(
    request: ChatRequest,
    *,
    thinking_config: Mapping[str, Any] | None = None,
    search: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON body of ``models/{model}:generateContent`` for ``request``.

    ``thinking_config`` is the call's ``generationConfig.thinkingConfig``, made
    by :func:`relaykit_gemini.thinking.config` from the options and ``reasoning=``;
    ``search`` the ``googleSearch`` tool's settings, made by
    :func:`relaykit_gemini.grounding.search_tool` from ``web_search=``.
    """
    refuse_names(request.messages, "Gemini's API")
    body: dict[str, Any] = {"contents": contents(request.messages)}
    if checks_signatures(request.model):
        sign_current_turn(body["contents"])
    system = request.system
    if system:
        body["systemInstruction"] = {"parts": [{"text": system}]}
    tools: list[dict[str, Any]] = []
    if request.tools:
        tools.append({"functionDeclarations": [_declaration(t) for t in request.tools]})
    if search is not None:
        tools.append({"googleSearch": dict(search)})
    if tools:
        body["tools"] = tools
    if request.tool_choice is not None:
        body["toolConfig"] = {"functionCallingConfig": _calling_config(request.tool_choice)}
    config = _generation_config(request, thinking_config)
    if config:
        body["generationConfig"] = config
    if request.extra:
        merge_extra(body, request.extra)
    return body


def _check_candidates(config: object) -> None:
    """Refuse before sending a ``generationConfig`` from ``extra`` asking for more
    than one candidate: relaykit reads the first (a stream's candidates would mix
    into one answer), so the rest were paid for and dropped. OpenAI's plugin refuses
    ``n`` the same way."""
    if not isinstance(config, Mapping):
        return
    for key in ("candidateCount", "candidate_count"):  # Gemini's JSON takes both
        count = config.get(key)
        # Protobuf's JSON takes an integer as a string too ("2").
        if isinstance(count, str) and count.strip().isdigit():
            count = int(count)
        if isinstance(count, int) and not isinstance(count, bool) and count > 1:
            named = "candidateCount" if key == "candidateCount" else f"candidateCount ({key})"
            raise InvalidRequestError(
                f"generationConfig.{named}={count} (from extra) asks Gemini for {count}"
                " candidates, and relaykit reads one",
                param="generationConfig.candidateCount",
                hint=f"relaykit returns one answer per call: drop {key} and make {count} calls",
            )


def merge_extra(body: dict[str, Any], extra: Mapping[str, Any]) -> None:
    """Merge ``extra`` into ``body``, one level deep (two for ``thinkingConfig`` and
    ``functionCallingConfig``).

    So ``extra={"generationConfig": {"topK": 40}}`` adds to the generation
    config relaykit built instead of replacing it, and a ``thinkingConfig``
    there adds to relaykit's (see :func:`relaykit_gemini.thinking.merge`); a
    ``toolConfig.functionCallingConfig`` (Vertex AI's
    ``{"streamFunctionCallArguments": true}``) adds to the ``mode`` relaykit
    made of ``tool_choice``. ``tools`` in ``extra`` (``{"urlContext": {}}``,
    ``{"codeExecution": {}}``) go after the ones relaykit made of ``tools=`` and
    ``web_search=``: Gemini's ``tools`` is a list of one kind of tool each, and
    replacing it dropped the caller's functions and search without a word.

    Raises :class:`~relaykit.InvalidRequestError` for a ``candidateCount`` over 1
    (see :func:`_check_candidates`): every route that merges ``extra`` (chat,
    speech, transcription, image output) reads one candidate, so the check lives
    here rather than beside each route.
    """
    for key, value in extra.items():
        current = body.get(key)
        if key == "tools" and isinstance(current, list) and isinstance(value, list | tuple):
            body[key] = [*current, *value]
        elif isinstance(current, dict) and isinstance(value, Mapping):
            # update() would replace our thinkingConfig (functionCallingConfig) whole:
            # keep it to merge into.
            inner = _INNER.get(key, "")
            ours = current.get(inner)
            current.update(value)
            theirs = value.get(inner)
            if inner and isinstance(ours, dict) and isinstance(theirs, Mapping):
                current[inner] = (
                    thinking.merge(ours, theirs)
                    if inner == "thinkingConfig"
                    else {**ours, **theirs}
                )
        else:
            body[key] = value
    _check_candidates(body.get("generationConfig"))


#: the settings merged two levels deep: the one inside each that relaykit makes
_INNER = {"generationConfig": "thinkingConfig", "toolConfig": "functionCallingConfig"}


def _generation_config(
    request: ChatRequest, thinking_config: Mapping[str, Any] | None
) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if request.max_tokens is not None:
        config["maxOutputTokens"] = request.max_tokens
    if request.temperature is not None:
        config["temperature"] = request.temperature
    if request.top_p is not None:
        config["topP"] = request.top_p
    if request.stop:
        config["stopSequences"] = list(request.stop)
    if request.seed is not None:
        config["seed"] = request.seed
    rf = request.response_format
    if rf is not None and rf.type != "text":
        config["responseMimeType"] = "application/json"
        if rf.type == "json_schema":
            # responseJsonSchema takes standard JSON Schema; the older
            # responseSchema takes only an OpenAPI subset (no additionalProperties).
            config["responseJsonSchema"] = rf.schema or {}
    if thinking_config:
        config["thinkingConfig"] = dict(thinking_config)
    return config


def _declaration(tool: Tool) -> dict[str, Any]:
    decl: dict[str, Any] = {"name": tool.name}
    if tool.description:
        decl["description"] = tool.description
    decl["parametersJsonSchema"] = tool.parameters
    return decl


def _calling_config(choice: ToolChoice) -> dict[str, Any]:
    config: dict[str, Any] = {"mode": _TOOL_MODES[choice.mode]}
    if choice.mode == "tool" and choice.name:
        config["allowedFunctionNames"] = [choice.name]
    return config


def contents(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """The ``contents`` list for ``messages`` (system messages go elsewhere).

    Consecutive turns with the same Gemini role are merged into one content:
    Gemini wants the results of parallel calls together in one turn. A tool
    result's attachments (images, documents) follow the turn's function
    responses as parts of their own, which every Gemini model reads.
    """
    out: list[dict[str, Any]] = []
    call_names: dict[str, str] = {}  # call id -> function name, as seen so far
    attached: list[dict[str, Any]] = []  # the current turn's tool results' attachments
    for i, m in enumerate(messages):
        if m.role != "user":
            documents.check_role(m, f"messages[{i}]")
        if m.role == "system":
            # systemInstruction is text only (Gemini's reference): an image there is
            # refused, or request.system would leave it out.
            for j, p in enumerate(m.content):
                if isinstance(p, ImagePart):
                    raise misplaced_part("system", p, f"messages[{i}].content[{j}]", api=API)
            continue
        for call in m.tool_calls:
            call_names[call.id] = call.name
        media: list[dict[str, Any]] = []
        parts = _parts(m, call_names, f"messages[{i}]", media)
        if not parts:
            continue
        role = "model" if m.role == "assistant" else "user"
        if out and out[-1]["role"] == role:
            out[-1]["parts"].extend(parts)
        else:
            _attach(out, attached)
            out.append({"role": role, "parts": parts})
        attached += media
    _attach(out, attached)
    _check_opening(out)
    return out


#: the signature Gemini's docs give a function call it did not make (another
#: provider's, or written by hand), which its check lets through
SKIP_SIGNATURE = "skip_thought_signature_validator"


def checks_signatures(model: str) -> bool:
    """Whether ``model`` refuses a function call of the current turn without its
    signature: Gemini 3 and later, and the aliases (``gemini-flash-latest``); not
    1.x, 2.x or Gemma (a path's last segment is read, as a Vertex name has one)."""
    name = model.rsplit("/", 1)[-1]
    return name.startswith("gemini-") and not re.match(r"gemini-[12](\.|-)", name)


def sign_current_turn(out: list[dict[str, Any]]) -> None:
    """Give each step of the current turn (since the user last wrote) whose calls
    carry no signature the dummy one, on its first call: Gemini 3 refuses such a
    call ("Function call is missing a thought_signature in functionCall parts"),
    and a tool run begun on another provider, or a call written by hand, has none.
    Earlier turns, which Gemini does not check, go as they are."""
    for content in reversed(out):
        parts = content["parts"]
        if content["role"] == "user":
            if not any("functionResponse" in p for p in parts) or any("text" in p for p in parts):
                return  # the user's own words: the current turn starts after them
            continue
        calls = [p for p in parts if "functionCall" in p]
        if calls and not any("thoughtSignature" in p for p in calls):
            calls[0]["thoughtSignature"] = SKIP_SIGNATURE


def _check_opening(out: list[dict[str, Any]]) -> None:
    """Refuse before sending what Gemini refuses for how the conversation opens, with
    a message that says so: no contents ("contents is not specified"), or a model
    turn of function calls first ("Please ensure that function call turn comes
    immediately after a user turn or after a function response turn", pi#471)."""
    if not out:
        raise InvalidRequestError(
            "nothing to send to Gemini: every user and assistant message is empty",
            param="messages",
            hint="send at least one user message with text, an image, a document or a "
            "tool result: system messages alone are only a system instruction",
        )
    if out[0]["role"] == "model" and any("functionCall" in p for p in out[0]["parts"]):
        raise InvalidRequestError(
            "Gemini wants a user turn before the assistant's function calls, and the "
            "conversation opens with them",
            param="messages",
            hint="start the conversation with the user message that led to the calls",
        )


def _attach(out: list[dict[str, Any]], attached: list[dict[str, Any]]) -> None:
    """Close the last turn: its tool results' attachments go after its other parts."""
    if attached:
        out[-1]["parts"].extend(attached)
        attached.clear()


def _parts(
    m: Message, call_names: Mapping[str, str], where: str, media: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """``m``'s parts; its tool results' attachments go to ``media``."""
    parts: list[dict[str, Any]] = []
    signature: str | None = None
    for p in m.content:
        if isinstance(p, TextPart):
            if p.text:  # Gemini rejects empty text parts in requests
                parts.append({"text": p.text})
        elif isinstance(p, ImagePart):
            parts.append(_image(p))
        elif isinstance(p, DocumentPart):
            parts.append(documents.part(p))
        elif isinstance(p, ToolCall):
            parts.append({"functionCall": _function_call(p)})
        elif isinstance(p, ToolResultPart):
            parts.append({"functionResponse": _function_response(p, call_names, where)})
            media += [
                _image(a) if isinstance(a, ImagePart) else documents.part(a) for a in p.attachments
            ]
        elif (
            isinstance(p, ReasoningPart)
            and p.signature
            and signature is None
            and p.belongs_to(ORIGIN)
        ):
            # Thought text is not sent back; the signature is, so the model can
            # pick up its reasoning where it left off (Gemini 3 requires it on calls).
            signature = p.signature
    if signature is not None:
        _attach_signature(parts, signature)
    return parts


def _attach_signature(parts: list[dict[str, Any]], signature: str) -> None:
    # Gemini puts the signature on the first function call of a turn, or on the
    # last part of a turn without calls; put it back where it came from.
    target = next((p for p in parts if "functionCall" in p), None)
    if target is None:
        target = next((p for p in reversed(parts) if "text" in p), None)
    if target is not None:
        target["thoughtSignature"] = signature


def _image(p: ImagePart) -> dict[str, Any]:
    if p.data is not None:
        return {"inlineData": {"mimeType": p.media_type, "data": base64.b64encode(p.data).decode()}}
    assert p.url is not None
    if p.url.startswith("data:"):
        head, _, data = p.url.partition(",")
        mime = head[len("data:") :].split(";")[0] or p.media_type or "application/octet-stream"
        if ";base64" not in head:
            raise InvalidRequestError(
                "Gemini needs data: URLs base64-encoded", param="content.image.url"
            )
        return {"inlineData": {"mimeType": mime, "data": data}}
    file_data: dict[str, Any] = {"fileUri": p.url}
    guessed = url_media_type(p)
    if guessed:
        file_data["mimeType"] = guessed
    return {"fileData": file_data}


def url_media_type(p: ImagePart) -> str | None:
    """The ``mimeType`` of an image given by URL (not ``data:``): its media type, or the
    one the URL's file extension names, or ``None``."""
    assert p.url is not None
    return p.media_type or mimetypes.guess_type(urlsplit(p.url).path)[0]


def refuse_untyped_images(messages: Sequence[Message], api: str) -> None:
    """Refuse the first image given by URL whose ``mimeType`` is unknown (no
    ``media_type``, no file extension), for ``api`` ("Vertex AI"), which requires one
    in ``fileData``: before sending, rather than answer 400. The URL is shown without
    its query, which may hold a signature."""
    for i, m in enumerate(messages):
        for j, p in enumerate(m.content):
            where = f"messages[{i}].content[{j}]"
            if isinstance(p, ImagePart):
                _check_typed(p, where, api)
            elif isinstance(p, ToolResultPart):
                for k, a in enumerate(p.attachments):
                    if isinstance(a, ImagePart):
                        _check_typed(a, f"{where}.attachments[{k}]", api)


def _check_typed(p: ImagePart, where: str, api: str) -> None:
    if p.url is None or p.url.startswith("data:") or url_media_type(p):
        return
    split = urlsplit(p.url)
    shown = f"{split.scheme}://{split.netloc}{split.path}" if split.scheme else split.path
    raise InvalidRequestError(
        f"{api} needs an image URL's type (fileData.mimeType), and {shown[:120]!r} names "
        "none (no file extension)",
        param=f"{where}.media_type",
        hint="give it: ImagePart(url=..., media_type='image/png') (or 'image/jpeg', "
        "'image/webp', ...)",
    )


def _function_call(call: ToolCall) -> dict[str, Any]:
    args: Any = call.arguments
    if call.raw_arguments is not None and not call.arguments:
        # Arguments the model produced as broken JSON: send what it said, as text.
        args = {"raw_arguments": call.raw_arguments}
    fc: dict[str, Any] = {"name": call.name, "args": args}
    if not call.id.startswith(SYNTHETIC_ID_PREFIX):
        fc["id"] = call.id
    return fc


def _function_response(
    p: ToolResultPart, call_names: Mapping[str, str], where: str
) -> dict[str, Any]:
    name = call_names.get(p.tool_call_id)
    if name is None:
        raise InvalidRequestError(
            f"{where}: the tool result for {p.tool_call_id!r} answers no earlier tool call; "
            "Gemini needs the function's name, so keep the assistant turn with that call "
            "in the messages",
            param=f"{where}.tool_call_id",
        )
    fr: dict[str, Any] = {"name": name, "response": _result_object(p)}
    if not p.tool_call_id.startswith(SYNTHETIC_ID_PREFIX):
        fr["id"] = p.tool_call_id
    return fr


def _result_object(p: ToolResultPart) -> dict[str, Any]:
    # `response` must be a JSON object. A result that already is one goes as is;
    # anything else is wrapped under "output" ("error" for failures), the keys
    # Google's own SDKs use.
    try:
        value: Any = json.loads(p.content)
    except ValueError:
        value = p.content
    if p.is_error:
        return {"error": value}
    return value if isinstance(value, dict) else {"output": value}


# -- response ------------------------------------------------------------------


def finish_reason(raw: str | None, *, has_calls: bool) -> FinishReason:
    """relaykit's finish reason for Gemini's ``raw`` one.

    Gemini ends a turn that calls functions with ``STOP``; relaykit says ``tool_calls``.
    """
    reason = FINISH_REASONS.get(raw or "", "other")
    if has_calls and reason == "stop":
        return "tool_calls"
    return reason


def text_or_none(value: object) -> str | None:
    """An optional text field of the answer (its id, the model's version), or ``None``
    for null or a value that is not text: the response can do without it."""
    return value if isinstance(value, str) else None


def usage(meta: Mapping[str, Any] | None, web_searches: int = 0) -> Usage:
    """Normalise ``usageMetadata``, with the ``web_searches`` billed beside it
    (:func:`relaykit_gemini.grounding.searches`).

    ``promptTokenCount`` already includes ``cachedContentTokenCount``; thinking
    tokens (``thoughtsTokenCount``) are billed as output but reported apart from
    ``candidatesTokenCount``, so they are added to output here. Tokens of
    tool-use prompts (search grounding, code execution) count as input.
    """
    if not meta:
        # None reported: no_usage tells the client to estimate the tokens billed
        # (NO_USAGE itself without searches), and keeps the searches' fees
        return no_usage(web_searches)
    # Every chunk of a stream repeats these: count() in place of int(), no more calls.
    thoughts = count(meta.get("thoughtsTokenCount") or 0, "usageMetadata.thoughtsTokenCount")
    return Usage(
        input_tokens=count(meta.get("promptTokenCount") or 0, "usageMetadata.promptTokenCount")
        + count(meta.get("toolUsePromptTokenCount") or 0, "usageMetadata.toolUsePromptTokenCount"),
        output_tokens=count(
            meta.get("candidatesTokenCount") or 0, "usageMetadata.candidatesTokenCount"
        )
        + thoughts,
        cached_input_tokens=count(
            meta.get("cachedContentTokenCount") or 0, "usageMetadata.cachedContentTokenCount"
        ),
        reasoning_tokens=thoughts,
        web_searches=web_searches,
    )


def prompt_tokens(meta: Any, modality: str) -> int:
    """The prompt's tokens of one ``modality`` (``AUDIO``, ``IMAGE``), as
    ``usageMetadata.promptTokensDetails`` counts them; 0 when it does not."""
    if not isinstance(meta, Mapping):
        return 0
    return sum(
        int(d.get("tokenCount") or 0)
        for d in meta.get("promptTokensDetails") or ()
        if isinstance(d, Mapping) and d.get("modality") == modality
    )


def tool_call(fc: Mapping[str, Any], index: int) -> ToolCall:
    """A :class:`ToolCall` from a ``functionCall`` part, the ``index``-th of its response."""
    call_id = str(fc.get("id") or f"{SYNTHETIC_ID_PREFIX}{index}")
    name = str(fc.get("name") or "")
    args = fc.get("args")
    if args is None:
        return ToolCall(id=call_id, name=name)
    if isinstance(args, dict):
        return ToolCall(id=call_id, name=name, arguments=args)
    return ToolCall(id=call_id, name=name, raw_arguments=json.dumps(args))


def _citations(candidate: Mapping[str, Any], parts: Sequence[str | None]) -> tuple[Citation, ...]:
    """Grounding's citations, then the pages URL context read that none names."""
    cited = grounding.citations(candidate.get("groundingMetadata"), parts)
    read = grounding.read_pages(candidate.get("urlContextMetadata"))
    return (*cited, *grounding.uncited(read, cited)) if read else cited


def blocked_reason(data: Mapping[str, Any]) -> str | None:
    """Why Gemini refused the prompt itself (``promptFeedback.blockReason``), if it did."""
    feedback = data.get("promptFeedback") or {}
    reason = feedback.get("blockReason")
    return str(reason) if reason and reason != "BLOCK_REASON_UNSPECIFIED" else None


def require_generated(data: Any) -> None:
    """A ``ValueError`` when ``data``, a ``GenerateContentResponse``, has neither
    ``candidates`` nor ``promptFeedback`` (``{}``: no answer, the core's retryable
    malformed response); :class:`~relaykit.json_decode.ErrorInAnswer` when an
    error object (a proxy's) is in their place, which the core types as the error
    it describes. What is no object is left to the decoder's shape check."""
    if isinstance(data, Mapping) and not data.get("candidates") and not data.get("promptFeedback"):
        require_answer(data, "a GenerateContentResponse", "candidates")
        keys = ", ".join(sorted(map(str, data))[:8]) or "none"
        raise ValueError(
            "a GenerateContentResponse without 'candidates' or 'promptFeedback': no answer"
            f" (its keys: {keys})"
        )


def response(data: Mapping[str, Any], model: str = "") -> ChatResponse:
    """A :class:`ChatResponse` from a non-streamed ``GenerateContentResponse``
    to a request for ``model`` (which says how web searches are billed when the
    answer names no ``modelVersion``); a ``ValueError`` for one of the wrong shape,
    or with neither ``candidates`` nor ``promptFeedback`` (``{}``: no answer, not an
    empty one). Without candidates, Gemini's word on the prompt is its answer: a
    block reason's ``content_filter``, else (the model made nothing,
    ``BLOCK_REASON_UNSPECIFIED``) an empty answer that ends as ``other``."""
    require_generated(data)
    try:
        return _response(data, model)
    except SHAPE_ERRORS as e:
        raise wrong_shape("a GenerateContentResponse", e, data, _GENERATED) from e


#: the containers response() reads, to name the one that does not fit (json_decode.misfit)
_GENERATED: dict[str, Any] = {
    "candidates": [
        {
            "content": {"parts": [{"functionCall": {}}]},
            "groundingMetadata": {},
            "logprobsResult": {"chosenCandidates": [{}], "topCandidates": [{"candidates": [{}]}]},
        }
    ],
    "usageMetadata": {},
    "promptFeedback": {},
}


def _response(data: Mapping[str, Any], model: str) -> ChatResponse:
    candidates = data.get("candidates") or []
    candidate: Mapping[str, Any] = candidates[0] if candidates else {}
    text: list[str] = []
    reasoning: list[str] = []
    calls: list[ToolCall] = []
    signature: str | None = None
    parts = (candidate.get("content") or {}).get("parts") or ()
    for part in parts:
        # Only the first signature is kept: relaykit holds one per turn, and
        # two base64 blobs joined together would be neither.
        if part.get("thoughtSignature") and signature is None:
            signature = str(part["thoughtSignature"])
        if "functionCall" in part:
            calls.append(tool_call(part["functionCall"], len(calls)))
        elif part.get("thought"):
            reasoning.append(part.get("text") or "")
        elif "text" in part:
            text.append(part["text"] or "")
        else:
            text.append(code_text(part) or "")
    blocked = blocked_reason(data)
    if blocked and not candidates:
        finish: FinishReason = "content_filter"
    else:
        finish = finish_reason(candidate.get("finishReason"), has_calls=bool(calls))
    thought = "".join(reasoning)
    grounded = candidate.get("groundingMetadata")
    version = str(data.get("modelVersion") or "")
    searches = grounding.searches(grounded, version or model)
    return ChatResponse(
        text="".join(text),
        reasoning=thought,
        reasoning_signature=signature,
        reasoning_parts=(ReasoningPart(thought, signature, origin=ORIGIN),)
        if thought or signature
        else (),
        tool_calls=tuple(calls),
        finish_reason=finish,
        usage=usage(data.get("usageMetadata"), searches),
        model=version,
        id=text_or_none(data.get("responseId")),
        citations=_citations(candidate, grounding.answer_parts(parts)),
        search_queries=grounding.queries(grounded),
        search_suggestions=grounding.suggestions(grounded),
        logprobs=token_logprobs(candidate.get("logprobsResult")),
    )


def token_logprobs(result: Any) -> tuple[TokenLogprob, ...]:
    """A candidate's ``logprobsResult`` (sent when ``generationConfig`` asks:
    ``responseLogprobs``, ``logprobs``) as :class:`~relaykit.TokenLogprob` values:
    each of ``chosenCandidates`` with the ``topCandidates`` of its place. A log
    probability of 0 (certain) is left out of Google's JSON: read as 0."""
    if not result:
        return ()
    chosen = result.get("chosenCandidates") or ()
    tops = result.get("topCandidates") or ()
    scored = []
    for i, token in enumerate(chosen):
        top = tops[i].get("candidates") or () if i < len(tops) else ()
        alternatives = tuple([_token_logprob(t) for t in top])
        scored.append(_token_logprob(token, alternatives))
    return tuple(scored)


def _token_logprob(given: Mapping[str, Any], top: tuple[TokenLogprob, ...] = ()) -> TokenLogprob:
    token, logprob = str(given.get("token") or ""), float(given.get("logProbability") or 0.0)
    return TokenLogprob(token, logprob, top_logprobs=top)
