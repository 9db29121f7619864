"""OpenAI's Responses API (``POST /v1/responses``), for :class:`~relaykit.testing.OpenAIMock`.

Follows the public API reference, statelessly: ``response`` objects whose
``output`` holds ``reasoning``, ``message`` and ``function_call`` items; SSE
streams of typed events (``event:`` and ``data:`` lines, each with a
``sequence_number``) from ``response.created`` to ``response.completed`` or
``response.incomplete``; ``{"error": {...}}`` bodies for what the API refuses.

The mock's own checks, kept apart from any client's code: parameters that
moved from Chat Completions (``messages``, ``max_tokens``, ``response_format``)
or do not exist (``stop``, ``seed``); a body of the wrong shape (unknown item
and content types, Chat-Completions-shaped tools and tool choices, fields of
the wrong JSON type: :mod:`.openai_responses_shapes`); a tool output with no
call before it, ``include: ["reasoning.encrypted_content"]`` for a model
without reasoning, and encrypted reasoning that is not what the mock gave
(:func:`encrypted_reasoning`). Scripted reasoning is returned as summaries
whether or not the request asked for them (``reasoning.summary``).

Files (``input_file``, and Chat Completions' ``file`` parts, checked here for
both APIs): ``file_data`` must be a base64 ``data:`` URL of a type the API
reads (PDF only in Chat Completions), in OpenAI's words; a PDF must start with
``%PDF-``; a ``file_id`` names no file (the mock has no uploads) and a
``file_url`` must be ``http(s)``, both refused. Each file counts input tokens
(:func:`document_tokens`). Messages OpenAI does not publish are the mock's.

Web search (:mod:`.openai_web_search`): ``web_search_call`` output items (streamed
as ``response.web_search_call.in_progress`` / ``.searching`` / ``.completed``
between the item's added and done events) before the message, and
``url_citation`` annotations on its ``output_text`` (streamed as
``response.output_text.annotation.added`` after the text's deltas).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
import zlib
from collections.abc import Iterator
from typing import Any

from ..request import Reasoning
from .loopback import Drop, Pause, Reset
from .script import Reply, count_tokens

#: the models OpenAI serves only through /v1/responses (the mock's own list)
_RESPONSES_ONLY = re.compile(
    r"^(o1-pro|o3-pro|gpt-5(\.\d+)?-pro|codex-mini|gpt-5(\.\d+)?-codex|computer-use-preview"
    r"|o3-deep-research|o4-mini-deep-research)\b"
)
#: models with reasoning, the only ones that return encrypted reasoning
_REASONING = re.compile(r"^(o\d|codex-|gpt-5(?:\.\d+)?(?![.\d]|-chat))")

#: Chat Completions parameters the Responses API moved elsewhere
_MOVED = {
    "messages": "input",
    "max_tokens": "max_output_tokens",
    "max_completion_tokens": "max_output_tokens",
    "response_format": "text.format",
}
#: Chat Completions parameters the Responses API does not have (``stream_options`` it
#: has, with other members: see :mod:`.openai_responses_shapes`)
_UNKNOWN = ("stop", "seed", "n", "logit_bias", "functions")
ONLY_IN_RESPONSES = "This model is only supported in v1/responses and not in v1/chat/completions."

_ENCRYPTED_PREFIX = "gAAAAA-mock-"


def responses_only(model: str) -> bool:
    """Whether OpenAI refuses ``model`` on /v1/chat/completions."""
    return _RESPONSES_ONLY.match(model) is not None


def encrypted_reasoning(text: str) -> str:
    """The encrypted content the mock gives a reasoning item, and expects back with it.

    A deterministic function of the reasoning's text (its checksum and the text),
    so the mock can tell content it gave from content altered or made up.
    """
    raw = text.encode()
    return f"{_ENCRYPTED_PREFIX}{zlib.crc32(raw):08x}.{base64.urlsafe_b64encode(raw).decode()}"


def _verified(content: str) -> bool:
    if not content.startswith(_ENCRYPTED_PREFIX):
        return False
    payload = content[len(_ENCRYPTED_PREFIX) :].partition(".")[2]
    try:
        text = base64.urlsafe_b64decode(payload.encode()).decode()
    except (binascii.Error, ValueError):
        return False
    return encrypted_reasoning(text) == content  # the checksum, and nothing added


# -- what the API refuses --------------------------------------------------------


class Refusal(Exception):
    """A request the API refuses: status, message, the parameter at fault, the
    error's ``code``, where OpenAI gives one, and its ``type`` (``kind``)."""

    def __init__(
        self,
        message: str,
        param: str | None = None,
        status: int = 400,
        code: str | None = None,
        kind: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.status = status
        self.code = code
        self.kind = kind


def _missing(param: str) -> Refusal:
    """OpenAI's refusal of a required ``param`` left out (code and all, as its APIs send it)."""
    return Refusal(
        f"Missing required parameter: '{param}'.", param, code="missing_required_parameter"
    )


def _invalid(value: Any, param: str, supported: tuple[str, ...]) -> Refusal:
    """OpenAI's refusal of ``value``, not one of ``supported``, at ``param``."""
    quoted = [f"'{s}'" for s in supported]
    listed = (
        ", ".join(quoted[:-1]) + f", and {quoted[-1]}" if len(quoted) > 2 else " and ".join(quoted)
    )
    return Refusal(
        f"Invalid value: '{value}'. Supported values are: {listed}.", param, code="invalid_value"
    )


#: the reasoning efforts OpenAI's newest models take (older ones take fewer)
EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
#: models of compatible services that take ``reasoning_effort`` (the mock's own list)
_COMPATIBLE_REASONING = re.compile(r"gpt-oss|qwen3|grok-3-mini|deepseek-r1|magistral|reason")


def openai_reasoning(model: str) -> bool:
    """Whether ``model`` is one of OpenAI's reasoning models (o-series, GPT-5 but its
    ``-chat`` models, Codex), whose rules (:mod:`.openai_sampling`) are OpenAI's own."""
    return _REASONING.match(model) is not None


def takes_reasoning(model: str) -> bool:
    """Whether ``model`` takes a reasoning effort: OpenAI's reasoning models, and
    compatible services' thinking models (gpt-oss, Qwen3, Grok 3 Mini, ...)."""
    return openai_reasoning(model) or _COMPATIBLE_REASONING.search(model) is not None


def check_effort(effort: Any, param: str, model: str) -> None:
    """Refuse an effort the API does not know, or one sent to a model without reasoning,
    with OpenAI's messages."""
    if effort is None:
        return
    if not takes_reasoning(model):
        raise Refusal(f"Unsupported parameter: '{param}' is not supported with this model.", param)
    if effort not in EFFORTS:
        raise _invalid(effort, param, EFFORTS)


def sent_reasoning(body: dict[str, Any]) -> Reasoning | None:
    """The thinking setting in a Chat Completions or Responses body: ``reasoning_effort``,
    or a ``reasoning`` object (the Responses API's, or OpenRouter's with an
    ``effort``, a ``max_tokens`` budget or ``enabled``)."""
    effort = body.get("reasoning_effort")
    if effort is not None:
        return Reasoning(effort)
    obj = body.get("reasoning")
    if not isinstance(obj, dict):
        return None
    # a Responses summary asks for the reasoning's text; OpenRouter's exclude, not to
    summary = True if obj.get("summary") is not None else False if obj.get("exclude") else None
    if obj.get("effort") is not None:
        return Reasoning(obj["effort"], summary=summary)
    if obj.get("max_tokens") is not None:
        return Reasoning(budget_tokens=obj["max_tokens"], summary=summary)
    if "enabled" in obj:
        return Reasoning(summary=summary) if obj["enabled"] else Reasoning("none")
    return Reasoning(summary=summary) if summary is not None else None


def check_format_schema(fmt: dict[str, Any], where: str) -> None:
    """Refuse a ``json_schema`` format as OpenAI does: a name outside
    ``^[a-zA-Z0-9_-]{1,64}$``, or a strict schema breaking the strict rules
    (in OpenAI's words: "Invalid schema for response_format 'X': In context=(...), ...")."""
    from ..json_schemas import describe_problem, name_problem, strict_problems

    name = fmt.get("name")
    if name_problem(name) is not None:
        raise Refusal(
            f"Invalid '{where}.name': string does not match pattern. Expected a string that"
            " matches the pattern '^[a-zA-Z0-9_-]+$'.",
            f"{where}.name",
            code="invalid_value",
        )
    if fmt.get("strict"):
        problems = strict_problems(fmt.get("schema") or {})
        if problems:
            raise Refusal(
                f"Invalid schema for response_format '{name}': {describe_problem(problems[0])}",
                where,
                code="invalid_json_schema",
            )


def check_function_schema(fn: dict[str, Any], where: str, *, strict_default: bool) -> None:
    """Refuse a function tool as OpenAI does: a bad name, or strict parameters breaking
    the strict rules ("Invalid schema for function 'f': In context=(), ...")."""
    from ..json_schemas import describe_problem, name_problem, strict_problems

    name = fn.get("name")
    if name_problem(name) is not None:
        raise Refusal(
            f"Invalid '{where}.name': string does not match pattern. Expected a string that"
            " matches the pattern '^[a-zA-Z0-9_-]+$'.",
            f"{where}.name",
            code="invalid_value",
        )
    if fn.get("strict", strict_default):
        problems = strict_problems(fn.get("parameters") or {"type": "object", "properties": {}})
        if problems:
            raise Refusal(
                f"Invalid schema for function '{name}': {describe_problem(problems[0])}",
                f"{where}.parameters",
                code="invalid_function_parameters",
            )


def validate(body: Any) -> None:
    """Raise :class:`Refusal` for a request body the Responses API refuses: one of the
    wrong shape (:func:`.openai_responses_shapes.check_responses_shape`, first), or
    one whose well-shaped content it refuses."""
    from .openai_responses_shapes import check_responses_shape  # it builds on this module
    from .openai_sampling import check_sampling  # it builds on this module

    if isinstance(body, dict):
        for key, new in _MOVED.items():
            if key in body:
                raise Refusal(
                    f"Unsupported parameter: '{key}'. In the Responses API, this parameter has"
                    f" moved to '{new}'. Try again with the new parameter. See the API"
                    " documentation for more information:"
                    " https://platform.openai.com/docs/api-reference/responses/create.",
                    code="unsupported_parameter",
                )
        for key in _UNKNOWN:
            if key in body:  # for any model: no service the mock stands in for takes them
                raise Refusal(f"Unknown parameter: '{key}'.", key, code="unknown_parameter")
    check_responses_shape(body)
    _validate_input(body["input"], body)
    for i, tool in enumerate(body.get("tools") or ()):
        if tool["type"] == "function":
            check_function_schema(tool, f"tools[{i}]", strict_default=True)
    fmt = (body.get("text") or {}).get("format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        check_format_schema(fmt, "text.format")
    reasoning = body.get("reasoning")
    if reasoning is not None:
        check_effort(reasoning.get("effort"), "reasoning.effort", body["model"])
    check_sampling(body, "responses")
    if "reasoning.encrypted_content" in (body.get("include") or ()) and not _REASONING.match(
        body["model"]
    ):
        raise Refusal("Encrypted content is not supported with this model.", "include")


#: what ``POST /v1/responses/input_tokens`` takes: a response's prompt, nothing to sample
_COUNT_FIELDS = frozenset(
    {
        "model",
        "input",
        "instructions",
        "tools",
        "tool_choice",
        "text",
        "reasoning",
        "truncation",
        "conversation",
        "previous_response_id",
        "parallel_tool_calls",
    }
)


def count_input_tokens(body: Any) -> int:
    """The input tokens of a ``/v1/responses/input_tokens`` body (a word a token);
    :class:`Refusal` for a body the counter refuses."""
    if not isinstance(body, dict):
        raise Refusal("The request body must be a JSON object.")
    for key in sorted(set(body) - _COUNT_FIELDS):
        raise Refusal(f"Unknown parameter: '{key}'.", key, code="unknown_parameter")
    from .openai_responses_shapes import check_responses_shape  # it builds on this module

    check_responses_shape(body, counting=True)
    _validate_input(body.get("input") or [], body)
    prompt, _ = prompt_text(body.get("input") or [])
    instructions = body.get("instructions")
    if isinstance(instructions, str):
        prompt = f"{instructions} {prompt}"
    return count_tokens(prompt) + input_file_tokens(body.get("input"))


def _validate_input(items: Any, body: dict[str, Any]) -> None:
    """What the API refuses in well-shaped ``input`` (its shape checked already): a
    tool output answering no call before it or a call already answered (a
    ``call_id`` used again), images and files it cannot read, reasoning it cannot
    verify."""
    if isinstance(items, str):
        return
    calls: set[str] = set()
    answered: set[str] = set()  # the call ids a function_call_output answered
    for i, item in enumerate(items):
        where = f"input[{i}]"
        kind = item.get("type", "message")
        if kind == "message":
            content = item["content"]
            _validate_parts(content if isinstance(content, list) else [], f"{where}.content")
        elif kind == "function_call":
            calls.add(item["call_id"])
        elif kind == "function_call_output":
            output = item["output"]
            _validate_parts(output if isinstance(output, list) else [], f"{where}.output")
            if item["call_id"] not in calls:
                # The API's words and param (codex2api#414): a call earlier in the input.
                raise Refusal(
                    f"No tool call found for function call output with call_id {item['call_id']}.",
                    "input",
                )
            if item["call_id"] in answered:
                # The API's words (hermes-agent#102629, mnfst/llm-gateway#2858, which
                # quote the message only): a call_id a later turn used again.
                raise Refusal(
                    f"Duplicate function_call_output for call_id '{item['call_id']}'. Each"
                    " function_call must have exactly one matching function_call_output",
                    "input",
                )
            answered.add(item["call_id"])
        else:  # the only other item the shape check lets through
            _validate_reasoning(item, where, body)


def _validate_parts(parts: list[dict[str, Any]], where: str) -> None:
    for j, part in enumerate(parts):
        at = f"{where}[{j}]"
        if part["type"] == "input_image" and not (part.get("image_url") or part.get("file_id")):
            raise _missing(f"{at}.image_url")
        if part["type"] == "input_file":
            _validate_input_file(part, at)


def _validate_reasoning(item: dict[str, Any], where: str, body: dict[str, Any]) -> None:
    summary = item.get("summary")
    if not isinstance(summary, list):
        raise _missing(f"{where}.summary")
    for j, part in enumerate(summary):
        if not isinstance(part, dict) or part.get("type") != "summary_text":
            raise _invalid(
                part.get("type") if isinstance(part, dict) else part,
                f"{where}.summary[{j}].type",
                ("summary_text",),
            )
    content = item.get("encrypted_content")
    if isinstance(content, str):
        if not _verified(content):
            raise Refusal(
                f"The encrypted content for item {where} could not be verified.",
                f"{where}.encrypted_content",
            )
        return
    item_id = item.get("id")
    if not item_id:
        raise _missing(f"{where}.id")
    if body.get("store") is False:
        raise Refusal(
            f"Item with id '{item_id}' not found. Items are not persisted when `store` is set"
            " to false. Try again with `store` set to true, or remove this item from your input.",
            where,
            404,
        )


# -- files ---------------------------------------------------------------------------

#: input tokens the mock counts for a PDF page: a low-detail image's (OpenAI puts
#: each page's image before the model, with its text)
PDF_PAGE_TOKENS = 85
PDF = "application/pdf"
#: file types the Responses API reads besides PDFs and text/* (the mock's short list)
_FILE_TYPES = frozenset(
    {
        "application/json",
        "application/msword",
        "application/rtf",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    }
)
_PDF_PAGE = re.compile(rb"/Type\s*/Page(?![A-Za-z])")
_EXAMPLE = "SGVsbG8sIFdvcmxkIQ=="


def file_data(value: Any, param: str, *, pdf_only: bool) -> tuple[str, bytes]:
    """``(media type, bytes)`` of a ``file_data`` value, or :class:`Refusal` as
    OpenAI words it (``pdf_only``: Chat Completions' check, else the Responses API's)."""
    expected = (
        f"an application/pdf MIME type (e.g. 'data:{PDF};base64,{_EXAMPLE}')"
        if pdf_only
        else f"a valid file MIME type (e.g. 'data:text/plain;base64,{_EXAMPLE}')"
    )
    head, sep, payload = str(value).partition(";base64,")
    media_type = head.removeprefix("data:").lower()
    try:
        if not sep or not head.startswith("data:"):
            raise ValueError(value)
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        got = "an invalid base64-encoded value"
    else:
        if _reads(media_type, pdf_only):
            _check_pdf(media_type, raw, param)
            return media_type, raw
        got = f"unsupported MIME type '{media_type}'"
    raise Refusal(
        f"Invalid file data: '{param}'. Expected a base64-encoded data URL with {expected},"
        f" but got {got}.",
        param,
    )


def _reads(media_type: str, pdf_only: bool) -> bool:
    if media_type == PDF:
        return True
    return not pdf_only and (media_type.startswith("text/") or media_type in _FILE_TYPES)


def _check_pdf(media_type: str, raw: bytes, param: str) -> None:
    if media_type == PDF and not raw.startswith(b"%PDF-"):
        raise Refusal(
            f"Invalid file data: '{param}'. The file is not a valid PDF (it does not"
            " start with '%PDF-').",
            param,
        )


def no_such_file(file_id: Any, param: str) -> Refusal:
    """The refusal of a ``file_id``: the mock keeps no uploaded files."""
    return Refusal(f"Invalid '{param}': no uploaded file has the id '{file_id}'.", param)


def document_tokens(media_type: str, raw: bytes | None) -> int:
    """Input tokens of one file: ``PDF_PAGE_TOKENS`` a page of a PDF (``/Type/Page``
    objects), a token a word of text; a file by URL, which the mock does not
    fetch, counts as one page."""
    if raw is None:
        return PDF_PAGE_TOKENS
    if media_type == PDF:
        return PDF_PAGE_TOKENS * max(1, len(_PDF_PAGE.findall(raw)))
    return count_tokens(raw.decode("utf-8", "replace"))


def _validate_input_file(part: dict[str, Any], at: str) -> None:
    given = [key for key in ("file_data", "file_id", "file_url") if part.get(key)]
    if len(given) != 1:
        raise Refusal(
            f"Invalid '{at}': give exactly one of 'file_data', 'file_id' and 'file_url'.", at
        )
    if given == ["file_id"]:
        raise no_such_file(part["file_id"], f"{at}.file_id")
    if given == ["file_url"]:
        if not str(part["file_url"]).startswith(("https://", "http://")):
            raise Refusal("Failed to download file.", f"{at}.file_url")
        return
    file_data(part["file_data"], f"{at}.file_data", pdf_only=False)


def input_file_tokens(items: Any) -> int:
    """Input tokens of the ``input_file`` parts in ``input`` (already validated)."""
    tokens = 0
    for item in items if isinstance(items, list) else ():
        content = item.get("content") if isinstance(item, dict) else None
        for part in content if isinstance(content, list) else ():
            if part.get("type") != "input_file":
                continue
            if part.get("file_data"):
                media_type, raw = file_data(part["file_data"], "", pdf_only=False)
                tokens += document_tokens(media_type, raw)
            else:
                tokens += document_tokens(PDF, None)
    return tokens


# -- what the API answers ----------------------------------------------------------


def prompt_text(items: Any) -> tuple[str, str]:
    """``(all text, the last user message's text)`` of ``input``."""
    if isinstance(items, str):
        return items, items
    texts: list[str] = []
    last_user = ""
    for item in items if isinstance(items, list) else ():
        content = item.get("content")
        if isinstance(content, str):
            said = content
        elif isinstance(content, list):
            said = " ".join(
                p.get("text") or ""
                for p in content
                if p.get("type") in ("input_text", "output_text")
            )
        else:
            said = item.get("output") if isinstance(item.get("output"), str) else ""
        texts.append(said)
        if item.get("role") == "user":
            last_user = said
    return " ".join(texts), last_user


class Rendering:
    """One scripted reply as a Responses ``response`` object, whole or as stream events."""

    def __init__(
        self,
        reply: Reply,
        serial: int,
        body: dict[str, Any],
        usage: tuple[int, int],
        *,
        search_calls: list[dict[str, Any]] | None = None,
        annotations: list[dict[str, Any]] | None = None,
    ) -> None:
        self.reply = reply
        #: ``web_search_call`` output items, before the message (:mod:`.openai_web_search`)
        self.search_calls = search_calls or []
        #: the ``output_text``'s ``url_citation`` annotations
        self.annotations = annotations or []
        self.serial = serial
        self.body = body
        self.rid = f"resp_mock{serial:06d}"
        self.model = body["model"]
        self.created = int(time.time())
        self.encrypted = "reasoning.encrypted_content" in (body.get("include") or ())
        finish = reply.finish_reason
        self.incomplete: dict[str, str] | None
        if reply.vendor_finish is not None:  # a reason of the API's own, as it is
            self.status, self.incomplete = "incomplete", {"reason": reply.vendor_finish}
        elif finish == "length":
            self.status, self.incomplete = "incomplete", {"reason": "max_output_tokens"}
        elif finish == "content_filter":
            self.status, self.incomplete = "incomplete", {"reason": "content_filter"}
        else:
            self.status, self.incomplete = "completed", None
        inp, out = usage
        self.usage = {
            "input_tokens": inp,
            "input_tokens_details": {"cached_tokens": reply.cached_input_tokens},
            "output_tokens": out,
            "output_tokens_details": {"reasoning_tokens": reply.reasoning_tokens},
            "total_tokens": inp + out,
        }

    # items ------------------------------------------------------------------

    def _reasoning_items(self) -> list[tuple[dict[str, Any], str]]:
        """Each reasoning item and its summary text."""
        out = []
        for i, thought in enumerate(self.reply.thoughts()):
            text = thought.text
            item: dict[str, Any] = {
                "id": f"rs_mock{self.serial:06d}{i:02d}",
                "type": "reasoning",
                "summary": [{"type": "summary_text", "text": text}] if text else [],
            }
            if self.encrypted:
                # a redacted scripted block: reasoning with no summary to show
                item["encrypted_content"] = encrypted_reasoning(
                    thought.redacted if thought.redacted is not None else text
                )
            out.append((item, text))
        return out

    def _message_item(self, status: str) -> dict[str, Any] | None:
        reply = self.reply
        if not reply.text and not reply.refusal:
            return None
        content: list[dict[str, Any]] = []
        if reply.text:
            content.append(
                {
                    "type": "output_text",
                    "text": reply.text,
                    "annotations": list(self.annotations),
                    "logprobs": [],
                }
            )
        if reply.refusal:
            content.append({"type": "refusal", "refusal": reply.refusal})
        return {
            "id": f"msg_mock{self.serial:06d}",
            "type": "message",
            "status": status,
            "role": "assistant",
            "content": content,
        }

    def _future_item(self) -> dict[str, Any]:
        """An output item of a type the API may add (``Reply.future_events``)."""
        return {"id": f"fi_mock{self.serial:06d}", "type": "future_item", "status": "completed"}

    def _call_items(self) -> list[dict[str, Any]]:
        return [
            {
                "id": f"fc_mock{self.serial:06d}{i:02d}",
                "type": "function_call",
                "status": "completed",
                "call_id": f"call_{i}_{self.serial}",
                "name": name,
                "arguments": json.dumps(args),
            }
            for i, (name, args) in enumerate(self.reply.tool_calls)
        ]

    def output(self) -> list[dict[str, Any]]:
        """The ``output`` items, in the order the API gives them."""
        items = [self._future_item()] if self.reply.future_events else []
        items += [item for item, _ in self._reasoning_items()] + self.search_calls
        message = self._message_item(self.status)
        if message is not None:
            items.append(message)
        return items + self._call_items()

    def response(
        self, status: str | None = None, output: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """The ``response`` object (``status`` and ``output`` as given, for stream events)."""
        body = self.body
        status = status or self.status
        final = status in ("completed", "incomplete")
        return {
            "id": self.rid,
            "object": "response",
            "created_at": self.created,
            "status": status,
            "error": None,
            "incomplete_details": self.incomplete if status == "incomplete" else None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "model": self.model,
            "output": self.output() if output is None else output,
            "parallel_tool_calls": True,
            "previous_response_id": None,
            "reasoning": body.get("reasoning") or {"effort": None, "summary": None},
            "store": body.get("store", True),
            "temperature": body.get("temperature", 1.0),
            "text": body.get("text") or {"format": {"type": "text"}},
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": body.get("tools") or [],
            "top_p": body.get("top_p", 1.0),
            "truncation": "disabled",
            "usage": self.usage if final else None,
            "metadata": {},
        }

    def error(self) -> dict[str, str]:
        """The error of a failed response: ``Reply.error_code`` (``server_error``) and
        ``Reply.error``."""
        reply = self.reply
        message = reply.error or "The server had an error while processing your request."
        return {"code": reply.error_code or "server_error", "message": message}

    def failed(self, output: list[dict[str, Any]]) -> dict[str, Any]:
        """The ``response`` object of a response that failed after ``output``."""
        return {**self.response("failed", output), "error": self.error()}

    # stream -------------------------------------------------------------------

    def events(self, failure_event: str) -> Iterator[bytes | Pause | Drop | Reset]:
        """The SSE stream: numbered events in the order the API sends them."""
        reply = self.reply
        seq = 0

        def event(kind: str, **fields: Any) -> bytes:
            nonlocal seq
            data = {"type": kind, "sequence_number": seq, **fields}
            seq += 1
            return f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode()

        yield event("response.created", response=self.response("in_progress", []))
        yield event("response.in_progress", response=self.response("in_progress", []))
        if reply.first_token_delay:
            yield Pause(reply.first_token_delay)
        done: list[dict[str, Any]] = []
        index = 0
        if reply.future_events:  # an event, and an output item, of types to come
            yield event("response.future_event", detail={"kind": "mock"})
            future = self._future_item()
            yield event("response.output_item.added", output_index=index, item=future)
            yield event("response.output_item.done", output_index=index, item=future)
            done.append(future)
            index += 1
        for item, text in self._reasoning_items():
            where = {"item_id": item["id"], "output_index": index}
            yield event(
                "response.output_item.added", output_index=index, item={**item, "summary": []}
            )
            if text:
                at = {**where, "summary_index": 0}
                yield event(
                    "response.reasoning_summary_part.added",
                    **at,
                    part={"type": "summary_text", "text": ""},
                )
                for i in range(0, len(text), 8):
                    yield event(
                        "response.reasoning_summary_text.delta", **at, delta=text[i : i + 8]
                    )
                yield event("response.reasoning_summary_text.done", **at, text=text)
                yield event(
                    "response.reasoning_summary_part.done",
                    **at,
                    part={"type": "summary_text", "text": text},
                )
            yield event("response.output_item.done", output_index=index, item=item)
            done.append(item)
            index += 1
        for call in self.search_calls:
            at = {"output_index": index, "item_id": call["id"]}
            in_progress = {k: v for k, v in call.items() if k != "action"}
            yield event(
                "response.output_item.added",
                output_index=index,
                item={**in_progress, "status": "in_progress"},
            )
            for step in ("in_progress", "searching", "completed"):
                yield event(f"response.web_search_call.{step}", **at)
            yield event("response.output_item.done", output_index=index, item=call)
            done.append(call)
            index += 1
        message = self._message_item(self.status)
        if message is not None:
            yield event(
                "response.output_item.added",
                output_index=index,
                item={**message, "status": "in_progress", "content": []},
            )
            for c, part in enumerate(message["content"]):
                at = {"item_id": message["id"], "output_index": index, "content_index": c}
                if part["type"] == "output_text":
                    empty = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
                    yield event("response.content_part.added", **at, part=empty)
                    for i, piece in enumerate(reply.chunks()):
                        if reply.chunk_delay and i:
                            yield Pause(reply.chunk_delay)
                        yield event("response.output_text.delta", **at, delta=piece, logprobs=[])
                    for a, annotation in enumerate(self.annotations):
                        yield event(
                            "response.output_text.annotation.added",
                            **at,
                            annotation_index=a,
                            annotation=annotation,
                        )
                    yield event("response.output_text.done", **at, text=reply.text, logprobs=[])
                else:
                    yield event(
                        "response.content_part.added", **at, part={"type": "refusal", "refusal": ""}
                    )
                    for i in range(0, len(reply.refusal), 8):
                        yield event("response.refusal.delta", **at, delta=reply.refusal[i : i + 8])
                    yield event("response.refusal.done", **at, refusal=reply.refusal)
                yield event("response.content_part.done", **at, part=part)
            yield event("response.output_item.done", output_index=index, item=message)
            done.append(message)
            index += 1
        for call in self._call_items():
            yield event(
                "response.output_item.added",
                output_index=index,
                item={**call, "status": "in_progress", "arguments": ""},
            )
            at = {"item_id": call["id"], "output_index": index}
            text = call["arguments"]
            for i in range(0, len(text), 5):
                yield event("response.function_call_arguments.delta", **at, delta=text[i : i + 5])
            yield event("response.function_call_arguments.done", **at, arguments=text)
            yield event("response.output_item.done", output_index=index, item=call)
            done.append(call)
            index += 1
        fault = reply.stream_fault
        if fault == "error":
            if failure_event == "response.failed":
                yield event("response.failed", response=self.failed(done))
            else:
                error = self.error()
                yield event("error", code=error["code"], message=error["message"], param=None)
            return
        if fault == "drop":
            yield Drop()
            return
        if fault == "reset":
            yield Reset()
            return
        if fault == "truncate":
            return
        if fault == "garbage":
            yield b"event: response.completed\ndata: {this is not json\n\n"
            return
        terminal = "response.completed" if self.status == "completed" else "response.incomplete"
        yield event(terminal, response=self.response())
