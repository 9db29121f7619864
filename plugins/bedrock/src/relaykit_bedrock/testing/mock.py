"""The Bedrock mock server: Converse, ConverseStream, CountTokens, InvokeModel for
embedding, reranker and image models, ListFoundationModels and ListInferenceProfiles
over loopback.

:func:`validate` refuses, with a 400 ``ValidationException``, the request shapes
Converse refuses: conversations that do not start with the user or alternate,
empty content, blank text (in a ``toolResult`` or ``system`` too; and for Claude,
a prefill ending in whitespace, or any prefill from Claude 4.6 on:
:func:`claude_problem`; the Messages route refuses that prefill too), a ``toolUse.input`` that
is not an object, tool blocks without a ``toolConfig``, reasoning it did not
sign, ``document`` blocks as :mod:`relaykit_bedrock.testing.documents`
describes, tool names and (for Claude) structured-output schemas as
:mod:`relaykit_bedrock.testing.schemas` does. Converse calls also have the
thinking fields in ``additionalModelRequestFields`` checked by the model's family, as
:mod:`relaykit_bedrock.testing.reasoning` describes, and
:meth:`BedrockMock.sent_reasoning` reads them back. For Claude, Converse hands
``additionalModelRequestFields`` to the model's own request: a ``tool_choice``,
``temperature`` or ``top_p`` there is read by those rules where Converse's own
would be, and it (or a ``max_tokens``) is refused beside Converse's own field for
it, as Bedrock refuses the pair (:func:`claude_fields_problem`), and a
``tool_choice`` not in Claude's shape is refused in Claude's words. A
``toolConfig.toolChoice`` that is no object is refused as the API's model
refuses it.

It checks ``cachePoint`` blocks (in ``toolConfig.tools``, ``system`` or a
message's ``content``) too: ``type`` must be ``"default"`` and ``ttl``, if
present, ``"5m"`` or ``"1h"`` (CachePointBlock in the API reference, with AWS's
constraint messages); and, as Bedrock's prompt-caching guide and its observed
refusals have it, at most four in a request, none right after a reasoning
block or as all of a message's content, and, in prompt order (tools, system,
messages), no ``1h`` one after a ``5m`` (or default) one. Those last messages
are worded by the mock: AWS does not publish them all. The mock keeps its own
idea of a valid cache point, so that it catches the client's mistakes rather
than sharing them.

CountTokens (``POST /model/{modelId}/count-tokens``) takes ``{"input":
{"converse": {...}}}``, or for Claude ``{"input": {"invokeModel": {"body":
"<base64>"}}}`` with the Messages API's body (no ``model``, no ``stream``), each
checked by :func:`validate_count_tokens`, and answers ``{"inputTokens": N}``:
one token per word of the system and text blocks (plus, for Converse input, the
documents' estimate), as each route's input tokens are counted here.

InvokeModel (``POST /model/{modelId}/invoke``) serves the embedding models,
as :mod:`relaykit_bedrock.testing.invoke` describes, the reranker models
(Cohere Rerank 3.5, Amazon Rerank 1.0), as :mod:`relaykit_bedrock.testing.rerank`
does, and the image models (Amazon Nova Canvas, Titan Image Generator v2,
Stability AI's), as :mod:`relaykit_bedrock.testing.images` does; each request
whose body the model takes is answered with the script's next reply (a
failure, a delay, a connection fault, ``input_tokens``, ``finish="content_filter"``).
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from itertools import pairwise
from typing import Any
from urllib.parse import unquote

from relaykit import Reasoning
from relaykit.messages import ReasoningPart
from relaykit.testing.loopback import Drop, Pause, Request, Reset, Response
from relaykit.testing.script import Reply, count_tokens
from relaykit.testing.vendor_mock import VendorMock, scripted_fault
from relaykit_claude_models import missing_thinking_refusal

from . import messages as messages_api
from .checks import malformed
from .documents import document_tokens, documents_problem
from .errors import constraint, error, scripted_failure
from .frames import (
    STOP_REASONS,
    additional_response_fields,
    converse_frames,
    reasoning_signature,
    rechunk,
    stop_word,
    text_blocks,
)
from .invoke import answer, validate_invoke
from .profiles import list_profiles, profile_summary
from .reasoning import reasoning_problem, sent_reasoning
from .schemas import converse_schema_problem, messages_schema_problem
from .sigv4 import SigV4Verifier

#: AWS's documented example credentials, which the mock accepts by default.
ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
REGION = "us-east-1"


def _summary(
    model_id: str,
    provider: str,
    name: str,
    inputs: tuple[str, ...] = ("TEXT",),
    outputs: tuple[str, ...] = ("TEXT",),
    inference: tuple[str, ...] = ("ON_DEMAND",),
) -> dict[str, Any]:
    return {
        "modelArn": f"arn:aws:bedrock:{REGION}::foundation-model/{model_id}",
        "modelId": model_id,
        "modelName": name,
        "providerName": provider,
        "inputModalities": list(inputs),
        "outputModalities": list(outputs),
        "responseStreamingSupported": "TEXT" in outputs,
        "customizationsSupported": [],
        "inferenceTypesSupported": list(inference),
        "modelLifecycle": {"status": "ACTIVE"},
    }


_PROFILE_ONLY = ("INFERENCE_PROFILE",)
#: ListFoundationModels summaries the mock serves (one embedding model, which a TEXT filter drops).
MODELS = (
    _summary("anthropic.claude-sonnet-4-5-20250929-v1:0", "Anthropic", "Claude Sonnet 4.5",
             ("TEXT", "IMAGE"), inference=_PROFILE_ONLY),
    _summary("anthropic.claude-haiku-4-5-20251001-v1:0", "Anthropic", "Claude Haiku 4.5",
             ("TEXT", "IMAGE"), inference=_PROFILE_ONLY),
    _summary("amazon.nova-pro-v1:0", "Amazon", "Nova Pro", ("TEXT", "IMAGE", "VIDEO")),
    _summary("amazon.nova-lite-v1:0", "Amazon", "Nova Lite", ("TEXT", "IMAGE", "VIDEO")),
    _summary("amazon.nova-micro-v1:0", "Amazon", "Nova Micro"),
    _summary("meta.llama3-3-70b-instruct-v1:0", "Meta", "Llama 3.3 70B Instruct"),
    # a context-length variant served to Provisioned Throughput alone, as AWS lists them
    _summary("amazon.nova-pro-v1:0:300k", "Amazon", "Nova Pro", ("TEXT", "IMAGE", "VIDEO"),
             inference=("PROVISIONED",)),
    _summary("amazon.titan-embed-text-v2:0", "Amazon", "Titan Text Embeddings V2",
             outputs=("EMBEDDING",)),
)  # fmt: skip

#: ListInferenceProfiles summaries the mock serves: system-defined cross-region
#: profiles (one of an embedding model, which a text listing leaves out) and one
#: application profile, which the service lists only when asked for that type.
PROFILES = (
    profile_summary("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "US Claude Sonnet 4.5", REGION),
    profile_summary("us.anthropic.claude-haiku-4-5-20251001-v1:0", "US Claude Haiku 4.5", REGION),
    profile_summary("global.anthropic.claude-haiku-4-5-20251001-v1:0", "Global Claude Haiku 4.5",
                    REGION, regions=("us-east-1", "eu-west-1", "ap-northeast-1")),
    profile_summary("us.amazon.nova-pro-v1:0", "US Nova Pro", REGION),
    profile_summary("us.cohere.embed-v4:0", "US Cohere Embed v4", REGION),
    {
        **profile_summary("us.amazon.nova-lite-v1:0", "my-app-nova", REGION),
        "inferenceProfileId": "a1b2c3d4e5f6",
        "inferenceProfileArn":
            f"arn:aws:bedrock:{REGION}:123456789012:application-inference-profile/a1b2c3d4e5f6",
        "type": "APPLICATION",
    },
)  # fmt: skip


class BedrockMock(VendorMock):
    """Bedrock Runtime and its control plane (ListFoundationModels, ListInferenceProfiles:
    see :mod:`.profiles`) on one loopback server.

    Configure the plugin with ``base_url`` and ``control_plane_url`` set to
    :attr:`base_url`, ``region`` set to :attr:`region`, and either the SigV4
    test credentials (:data:`ACCESS_KEY`/:data:`SECRET_KEY`, plus
    ``session_token`` when given) or ``bearer_token`` as a Bedrock API key.
    ``chunk_size`` re-cuts streamed bytes so frames straddle HTTP chunks.
    :attr:`blocked_images` has AWS's content filters block images of every
    image generation (see :mod:`relaykit_bedrock.testing.images`).
    """

    def __init__(
        self,
        *,
        access_key: str = ACCESS_KEY,
        secret_key: str = SECRET_KEY,
        session_token: str | None = None,
        region: str = REGION,
        bearer_token: str | None = None,
        models: tuple[dict[str, Any], ...] = MODELS,
        profiles: tuple[dict[str, Any], ...] = PROFILES,
        chunk_size: int | None = None,
    ) -> None:
        super().__init__(bearer_token)
        self.region = region
        self.models = models
        self.profiles = profiles
        #: the most inference profiles a ListInferenceProfiles page holds (AWS: maxResults)
        self.profile_page_size = 1000
        self.chunk_size = chunk_size
        self.verifier = SigV4Verifier(access_key, secret_key, session_token, region, "bedrock")
        self._n = 0
        #: InvokeModel calls being answered now, and the most there were at once
        self.invocations_in_flight = 0
        self.peak_invocations_in_flight = 0
        #: the indexes of the images AWS's content filters block in each image generation
        self.blocked_images: set[int] = set()

    async def route(self, request: Request) -> Response:
        """Check authentication, then dispatch by path."""
        denied = self._check_auth(request)
        if denied is not None:
            return denied
        path = request.path
        if request.method == "POST" and path == messages_api.PATH:
            return await self._messages(request)
        if request.method == "GET" and path == "/foundation-models":
            wanted = request.query.get("byOutputModality")
            summaries = [m for m in self.models if not wanted or wanted in m["outputModalities"]]
            return Response.json({"modelSummaries": summaries})
        if request.method == "GET" and path == "/inference-profiles":
            return list_profiles(self.profiles, request.query, self.profile_page_size)
        m = re.fullmatch(r"/model/([^/]+)/(converse|converse-stream|count-tokens|invoke)", path)
        if request.method == "POST" and m and m.group(2) == "count-tokens":
            return self._count_tokens(unquote(m.group(1)), request)
        if request.method == "POST" and m and m.group(2) == "invoke":
            return await self._invoke(unquote(m.group(1)), request)
        if request.method == "POST" and m:
            stream = m.group(2) == "converse-stream"
            return await self._converse(unquote(m.group(1)), request, stream=stream)
        return error(404, f"Unknown operation {request.method} {path}", "UnknownOperationException")

    def sent_reasoning(self, request: Request) -> Reasoning | None:
        """The thinking setting of a Converse request, read by the model's family
        (see :mod:`relaykit_bedrock.testing.reasoning`); ``None`` for other operations."""
        if request.path == messages_api.PATH:
            body = request.json()
            return sent_reasoning(body["model"], messages_api.as_converse_fields(body))
        m = re.fullmatch(r"/model/([^/]+)/(converse|converse-stream)", request.path)
        return None if m is None else sent_reasoning(unquote(m.group(1)), request.json())

    def _check_auth(self, request: Request) -> Response | None:
        key = request.headers.get("x-api-key")
        if key is not None and request.path == messages_api.PATH:
            # The Messages route takes a Bedrock API key as the Anthropic SDKs send one.
            if self.api_key is not None and key == self.api_key:
                return None
            invalid = "The security token included in the request is invalid."
            return error(403, invalid, "UnrecognizedClientException")
        auth = request.headers.get("authorization", "")
        if auth.startswith("Bearer "):
            if self.api_key is not None and auth == f"Bearer {self.api_key}":
                return None
            invalid = "The security token included in the request is invalid."
            return error(403, invalid, "UnrecognizedClientException")
        if not auth:
            return error(403, "Missing Authentication Token", "MissingAuthenticationTokenException")
        denial = self.verifier.check(request, auth)
        return None if denial is None else error(403, denial.message, denial.kind)

    def _count_tokens(self, model_id: str, request: Request) -> Response:
        if not request.headers.get("content-type", "").startswith("application/json"):
            return error(400, "Content-Type must be application/json", "ValidationException")
        try:
            body = request.json()
        except ValueError:
            body = None  # refused below, as a body without input
        invalid = validate_count_tokens(body, model_id)
        if invalid:
            return error(400, invalid, "ValidationException")
        if "invokeModel" in body["input"]:
            # Claude's InvokeModel body, counted as the Messages route counts its input
            invoked = messages_api.invoke_model_body(body["input"]["invokeModel"]["body"])
            tokens = count_tokens(messages_api.prompt_text(invoked))
        else:
            converse = body["input"]["converse"]
            tokens = count_tokens(_prompt_text(converse)) + document_tokens(converse["messages"])
        return Response.json(
            {"inputTokens": tokens}, headers={"x-amzn-requestid": str(uuid.uuid4())}
        )

    async def _invoke(self, model_id: str, request: Request) -> Response:
        if not request.headers.get("content-type", "").startswith("application/json"):
            return error(400, "Content-Type must be application/json", "ValidationException")
        try:
            body = request.json()
        except ValueError:
            body = None  # refused below, as a body that is not an object
        invalid = validate_invoke(model_id, body)
        if invalid:
            return error(400, invalid, "ValidationException")
        self.invocations_in_flight += 1  # one event loop serves the mock: no lock needed
        self.peak_invocations_in_flight = max(
            self.peak_invocations_in_flight, self.invocations_in_flight
        )
        try:
            reply = self.script.next(Reply())
            failed = await scripted_fault(reply, scripted_failure)
        finally:
            self.invocations_in_flight -= 1
        if failed is not None:
            return failed
        return answer(model_id, body, reply, self.blocked_images)

    async def _converse(self, model_id: str, request: Request, *, stream: bool) -> Response:
        if not request.headers.get("content-type", "").startswith("application/json"):
            return error(400, "Content-Type must be application/json", "ValidationException")
        try:
            body = request.json()
        except ValueError:
            # worded by the mock, as its other routes word their refusal of such a body
            return error(400, "The request body is not a JSON object.", "ValidationException")
        invalid = (
            validate(body)
            or claude_problem(model_id, body)
            or converse_schema_problem(model_id, body)
            or claude_fields_problem(model_id, body)
            or reasoning_problem(model_id, as_claude_reads(model_id, body))
        )
        if invalid:
            return error(400, invalid, "ValidationException")
        reply = self.script.next(self.default_reply(_last_user_text(body["messages"])))
        failed = await scripted_fault(reply, scripted_failure)
        if failed is not None:
            return failed
        self._n += 1
        inp, out = self.usage_of(reply, _prompt_text(body))
        if reply.input_tokens is None:  # a scripted count is the whole prompt's
            inp += document_tokens(body["messages"])
        # Bedrock counts cache reads (and writes) apart from inputTokens.
        written = reply.cache_write_input_tokens
        usage: dict[str, Any] = {
            "inputTokens": inp - reply.cached_input_tokens - written,
            "outputTokens": out,
            "totalTokens": inp + out,
        }
        if reply.cached_input_tokens or written:
            usage["cacheReadInputTokens"] = reply.cached_input_tokens
            usage["cacheWriteInputTokens"] = written
        if written:
            # The writes by TTL, one-hour first, as Converse sorts them.
            one_hour = reply.cache_write_1h_input_tokens
            details = [("1h", one_hour), ("5m", written - one_hour)]
            usage["cacheDetails"] = [{"ttl": t, "inputTokens": n} for t, n in details if n]
        headers = {"x-amzn-requestid": str(uuid.uuid4()), **reply.headers}
        tool_id = f"tooluse_{self._n}_"
        if stream:
            frames: Iterable[bytes | Pause | Drop | Reset] = converse_frames(
                reply, usage, tool_id, additional_response_fields(reply, body)
            )
            if self.chunk_size:
                frames = rechunk(frames, self.chunk_size)
            headers["content-type"] = "application/vnd.amazon.eventstream"
            return Response(200, headers, frames)
        content: list[dict[str, Any]] = [_reasoning_content(t) for t in reply.thoughts()]
        if reply.future_events:  # a block of a kind the API may add
            content.insert(0, {"futureBlock": {"detail": "a block of a kind added later"}})
        content += text_blocks(reply)
        for n, (name, args) in enumerate(reply.tool_calls):
            content.append(
                {"toolUse": {"toolUseId": f"{tool_id}{n}", "name": name, "input": dict(args)}}
            )
        data = {
            "output": {"message": {"role": "assistant", "content": content}},
            "stopReason": stop_word(reply, STOP_REASONS),
            "usage": usage,
            "metrics": {"latencyMs": 321},
        }
        additional = additional_response_fields(reply, body)
        if additional is not None:
            data["additionalModelResponseFields"] = additional
        return Response.json(data, headers=headers)

    async def _messages(self, request: Request) -> Response:
        """``POST /anthropic/v1/messages``: see :mod:`relaykit_bedrock.testing.messages`."""
        try:
            body = request.json()
        except ValueError:
            body = None  # refused below
        invalid = messages_api.validate_messages(body)
        if invalid is None and body["messages"][-1].get("role") == "assistant":
            invalid = PREFILL_REFUSED if refuses_prefill(body["model"]) else None
        if invalid is None:
            invalid = messages_schema_problem(body)
        if invalid is None:
            converse = messages_api.as_converse_fields(body)
            invalid = reasoning_problem(body["model"], converse)
        if invalid:
            return messages_api.anthropic_error(400, "invalid_request_error", invalid)
        reply = self.script.next(self.default_reply(messages_api.last_user_text(body)))
        failed = await scripted_fault(reply, scripted_failure)
        if failed is not None:
            return failed
        self._n += 1
        inp, out = self.usage_of(reply, messages_api.prompt_text(body))
        use = messages_api.usage(reply, inp, out)
        message_id = f"msg_bdrk_{self._n:04d}"
        tool_id = f"toolu_bdrk_{self._n}_"
        headers = {"x-amzn-requestid": str(uuid.uuid4()), **reply.headers}
        met = messages_api.met_stop_sequence(reply, body)
        if body.get("stream"):
            events: Iterable[bytes | Pause | Drop | Reset] = messages_api.sse_events(
                reply, body["model"], message_id, tool_id, use, met
            )
            if self.chunk_size:
                events = rechunk(events, self.chunk_size)
            headers["content-type"] = "text/event-stream"
            return Response(200, headers, events)
        data = messages_api.message(reply, body["model"], message_id, tool_id, use, met)
        return Response.json(data, headers=headers)


def _reasoning_content(thought: ReasoningPart) -> dict[str, Any]:
    if thought.redacted is not None:
        return {"reasoningContent": {"redactedContent": thought.redacted}}
    signature = reasoning_signature(thought.text)
    return {"reasoningContent": {"reasoningText": {"text": thought.text, "signature": signature}}}


def _reasoning_problem(content: Any, where: str) -> str | None:
    # Claude checks what comes back: the signature its text was given, redacted
    # data as the base64 it sent.
    if "redactedContent" in content:
        try:
            base64.b64decode(content["redactedContent"], validate=True)
        except (binascii.Error, TypeError, ValueError):
            return f"The value at {where}.redactedContent is not valid base64."
        return None
    rt = content.get("reasoningText") or {}
    if rt.get("signature") != reasoning_signature(str(rt.get("text"))):
        return f"The model returned the following errors: {where}: Invalid signature."
    return None


def _prompt_text(body: Mapping[str, Any]) -> str:
    system = [s.get("text", "") for s in body.get("system") or ()]
    texts = [b["text"] for m in body["messages"] for b in m["content"] if "text" in b]
    return " ".join(system + texts)


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for m in reversed(messages):
        texts = [b["text"] for b in m["content"] if "text" in b]
        if m["role"] == "user" and texts:
            return " ".join(texts)
    return ""


_MUST_START = "A conversation must start with a user message."
_MUST_ALTERNATE = "A conversation must alternate between user and assistant roles."


def _tool_use_id_problem(block: Any, i: int, j: int, kind: str) -> str | None:
    """The API model's rule for a ``toolUseId`` (1 to 64 of ``[a-zA-Z0-9_-]``), in
    AWS's words, for a call's or a result's id."""
    value = block.get("toolUseId") if isinstance(block, dict) else None
    if isinstance(value, str) and re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", value):
        return None
    at = f"'messages.{i + 1}.member.content.{j + 1}.member.{kind}.toolUseId'"
    rule = "Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+"
    if isinstance(value, str) and len(value) > 64:
        rule = "Member must have length less than or equal to 64"
    return constraint(f"Value {value!r} at {at}", rule)


def validate(body: Any) -> str | None:
    """The ValidationException message Converse would give ``body``, or ``None``."""
    if problem := _system_problem(body.get("system") if isinstance(body, dict) else None):
        return problem
    messages = body.get("messages") if isinstance(body, dict) else None
    if not messages or messages[0].get("role") != "user":
        return f"{_MUST_START} Try again with a conversation that starts with a user message."
    if any(a.get("role") == b.get("role") for a, b in pairwise(messages)):
        return f"{_MUST_ALTERNATE} Make sure the conversation alternates and try again."
    has_tool_blocks = False
    used: set[Any] = set()  # the toolUse ids so far
    for i, m in enumerate(messages):
        uses = [b["toolUse"].get("toolUseId") for b in m.get("content") or () if "toolUse" in b]
        if repeated := [u for u in uses if u in used or uses.count(u) > 1]:
            # Bedrock's words for a turn's (agno#2336); one used in two turns Claude
            # refuses too ("`tool_use` ids must be unique"), said here the same way
            return (
                f"The toolUse blocks at messages.{i}.content contain duplicate Ids: {repeated[0]}"
            )
        used.update(uses)
        results = sum(1 for b in m.get("content") or () if "toolResult" in b)
        before = messages[i - 1].get("content") or () if i else ()
        if results > sum(1 for b in before if "toolUse" in b):
            # Bedrock's words (langgenius/dify-official-plugins#765, pydantic-ai#2327)
            return (
                f"The number of toolResult blocks at messages.{i}.content exceeds the "
                "number of toolUse blocks of previous turn."
            )
        if not m.get("content"):
            return f"The content field in the Message object at messages.{i} is empty."
        for j, block in enumerate(m["content"]):
            if "text" in block and not block["text"].strip():
                return (
                    f"The text field in the ContentBlock object at messages.{i}.content is blank."
                )
            for kind in ("toolUse", "toolResult"):
                if kind in block and (problem := _tool_use_id_problem(block[kind], i, j, kind)):
                    return problem
            if "toolUse" in block and not isinstance(block["toolUse"].get("input"), dict):
                return (
                    f"The format of the value at messages.{i}.content.{j}.toolUse.input is "
                    "invalid. Provide a json object for the field and try again."
                )
            if "reasoningContent" in block:
                where = f"messages.{i}.content.{j}.reasoningContent"
                if problem := _reasoning_problem(block["reasoningContent"], where):
                    return problem
            if "toolResult" in block:
                where = f"messages.{i}.content.{j}.toolResult"
                if problem := _tool_result_problem(block["toolResult"], where):
                    return problem
            has_tool_blocks = has_tool_blocks or "toolUse" in block or "toolResult" in block
    tool_config = body.get("toolConfig")
    choice = tool_config.get("toolChoice") if isinstance(tool_config, dict) else None
    if choice is not None and not isinstance(choice, dict):
        # ToolChoice is a union of objects (auto, any, tool): "any" alone breaks the
        # API's model, as Bedrock words a schema's refusal (the wording is the mock's)
        return malformed("#/toolConfig/toolChoice", "expected type: JSONObject")
    if has_tool_blocks and "toolConfig" not in body:
        return (
            "The toolConfig field must be defined when using toolUse and toolResult content blocks."
        )
    return documents_problem(messages) or _cache_point_problem(body)


def _system_problem(system: Any) -> str | None:
    # An empty system text breaks the API model's length constraint (spring-ai#6209);
    # a whitespace-only one is Claude's refusal, passed on by Converse (hermes-agent#60628).
    for i, block in enumerate(system if isinstance(system, list) else ()):
        text = block.get("text") if isinstance(block, dict) else None
        if text == "":
            return constraint(
                f"Value at 'system.{i + 1}.member.text'",
                "Member must have length greater than or equal to 1",
            )
        if isinstance(text, str) and text.isspace():
            return f"{_MODEL_ERRORS}system: text content blocks must contain non-whitespace text"
    return None


#: how Converse passes on a refusal by the model's own API (hermes-agent#60628)
_MODEL_ERRORS = "The model returned the following errors: "


#: Claude's words for a prefill it refuses, as Bedrock relays them (strands-agents#1694,
#: bedrock-access-gateway#219), on Converse and on the Messages API
PREFILL_REFUSED = (
    "This model does not support assistant message prefill. "
    "The conversation must end with a user message."
)


def refuses_prefill(model_id: str) -> bool:
    """Whether Claude model ``model_id`` refuses a conversation ending in an assistant
    turn: every Claude from 4.6 on, Fable and Mythos (the mock's own table, kept apart
    from the plugin's so that it catches the plugin's mistakes)."""
    name = unquote(model_id).lower()
    if "anthropic.claude" not in name:
        return False
    if re.search(r"claude-(fable|mythos)(?![a-z])", name):
        return True
    found = re.search(r"claude-[a-z]+-(\d+)(?:-(\d{1,2}))?(?!\d)", name)
    return found is not None and (int(found.group(1)), int(found.group(2) or 0)) >= (4, 6)


def claude_problem(model_id: str, body: dict[str, Any]) -> str | None:
    """What Claude refuses that Converse passes: reasoning that does not open its
    turn, or with thinking on a final turn calling tools without its reasoning; a
    prefill (a final assistant turn)
    from Claude 4.6 on (:func:`refuses_prefill`), or one ending in whitespace, in the
    words Converse gives (as reported from Bedrock for a Claude Sonnet 4.6 prefill),
    as Anthropic's own API does."""
    if "anthropic.claude" not in model_id:
        return None
    if problem := _thinking_not_first(body["messages"]) or _thinking_missing(body):
        return problem
    final = body["messages"][-1]
    if final["role"] == "assistant" and refuses_prefill(model_id):
        return PREFILL_REFUSED
    last = final["content"][-1] if final["role"] == "assistant" else {}
    text = last.get("text")
    if isinstance(text, str) and text != text.rstrip():
        return (
            f"{_MODEL_ERRORS}messages: final assistant content cannot end with trailing whitespace"
        )
    return None


#: Claude's fields that Converse makes from one of its own (where that one is)
_CONVERSE_OWN = {
    "tool_choice": ("toolConfig", "toolChoice"),
    "temperature": ("inferenceConfig", "temperature"),
    "top_p": ("inferenceConfig", "topP"),
    "max_tokens": ("inferenceConfig", "maxTokens"),
}
#: how Bedrock names Converse's own field in the refusal, where it is known to differ
#: from its path (BerriAI/litellm#13841: "...conflicts with the existing field maxTokens.")
_CONVERSE_OWN_NAMES = {"max_tokens": "maxTokens"}


def claude_fields_problem(model_id: str, body: dict[str, Any]) -> str | None:
    """What Converse refuses of Claude's own fields in ``additionalModelRequestFields``
    (which it hands to Claude's request): one that its own field gives too, in
    Bedrock's words (BerriAI/litellm#36536: "The additional field tool_choice/type
    conflicts with the existing field toolConfig.toolChoice.tool. Remove
    tool_choice/type and try again."; BerriAI/litellm#13841: "The additional field
    max_tokens conflicts with the existing field maxTokens. Remove max_tokens and try
    again."; the same sentence for the sampling fields is the mock's reading of that
    rule), or a ``tool_choice`` not in Claude's shape, in Claude's words."""
    fields = body.get("additionalModelRequestFields")
    if "anthropic.claude" not in model_id or not isinstance(fields, dict):
        return None
    for name, (group, key) in _CONVERSE_OWN.items():
        own = body.get(group)
        if name not in fields or not isinstance(own, dict) or key not in own:
            continue
        theirs, existing = fields[name], own[key]
        path = f"{name}/{next(iter(theirs))}" if isinstance(theirs, dict) and theirs else name
        member = f".{next(iter(existing))}" if isinstance(existing, dict) and existing else ""
        shown = _CONVERSE_OWN_NAMES.get(name, f"{group}.{key}")
        return (
            f"The additional field {path} conflicts with the existing field {shown}"
            f"{member}. Remove {path} and try again."
        )
    if problem := messages_api.tool_choice_problem(fields.get("tool_choice")):
        return _MODEL_ERRORS + problem
    return None


def as_claude_reads(model_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """A Converse ``body`` to Claude as the mock's thinking rules read it: Claude's own
    ``temperature``, ``top_p`` and ``tool_choice`` in ``additionalModelRequestFields``
    (Messages API fields, which Claude gets as they are) where Converse's own would be
    (:func:`claude_fields_problem` refused the two together)."""
    fields = body.get("additionalModelRequestFields")
    if "anthropic.claude" not in model_id or not isinstance(fields, dict):
        return body
    native = messages_api.as_converse_fields(fields)
    out = dict(body)
    for group in ("inferenceConfig", "toolConfig"):
        if group in native:
            out[group] = {**(body.get(group) or {}), **native[group]}
    return out


def _thinking_not_first(messages: list[dict[str, Any]]) -> str | None:
    """Claude's refusal of an assistant turn holding reasoning that does not open
    with it, in the words Converse passes on (strands-agents/harness-sdk#1848)."""
    for m in messages:
        blocks = m["content"]
        if m["role"] != "assistant" or "reasoningContent" in blocks[0]:
            continue
        if any("reasoningContent" in b for b in blocks):
            found = next(iter(blocks[0]))
            return (
                "If an assistant message contains any thinking blocks, the first block must"
                f" be thinking. Found {_CLAUDE_BLOCK_NAMES.get(found, found)}"
            )
    return None


def _thinking_missing(body: dict[str, Any]) -> str | None:
    """Claude's refusal, with thinking on, of a final assistant turn that calls tools
    without the reasoning it began with (a tool loop in progress needs it back), as
    Converse passes it on (Claude's words: claude-code#20705)."""
    thinking = (body.get("additionalModelRequestFields") or {}).get("thinking")
    if not isinstance(thinking, dict) or thinking.get("type") == "disabled":
        return None
    turns = [(i, m) for i, m in enumerate(body["messages"]) if m["role"] == "assistant"]
    if not turns:
        return None
    i, final = turns[-1]
    first = next(iter(final["content"][0]))
    if first == "reasoningContent" or not any("toolUse" in b for b in final["content"]):
        return None
    return _MODEL_ERRORS + missing_thinking_refusal(i, _CLAUDE_BLOCK_NAMES.get(first, first))


#: Claude's name for a Converse content block, where the two differ
_CLAUDE_BLOCK_NAMES = {"toolUse": "tool_use", "toolResult": "tool_result"}


#: what a ToolResultContentBlock may be (a union: one key each)
_TOOL_RESULT_BLOCKS = frozenset({"text", "json", "image", "document", "video"})


def _tool_result_problem(result: Any, where: str) -> str | None:
    # Reported refusals (worded by the mock where AWS's words are not published): an
    # empty content list, a blank text block in it, and (Claude, as Anthropic's own
    # API) an error result with nothing in it.
    content = result.get("content") if isinstance(result, dict) else None
    if not isinstance(content, list) or not content:
        if isinstance(result, dict) and result.get("status") == "error":
            return f"The content field at {where} cannot be empty when status value is error."
        return f"The content field at {where} is empty."
    for k, block in enumerate(content):
        if not isinstance(block, dict) or len(block) != 1 or set(block) - _TOOL_RESULT_BLOCKS:
            return (
                f"The value at {where}.content.{k} is not a valid ToolResultContentBlock:"
                f" use one of {', '.join(sorted(_TOOL_RESULT_BLOCKS))}."
            )
        if "text" in block and not str(block["text"]).strip():
            return (
                f"The text field in the ToolResultContentBlock object at {where}.content.{k}"
                " is blank. Add text to the text field, and try again."
            )
    return None


#: What ``input.converse`` holds (ConverseTokensRequest in the API reference).
_CONVERSE_TOKENS_FIELDS = ("messages", "system", "toolConfig", "additionalModelRequestFields")


def validate_count_tokens(body: Any, model_id: str = "") -> str | None:
    """The ValidationException message CountTokens for ``model_id`` would give
    ``body``, or ``None``.

    ``input`` is a union of ``converse`` and ``invokeModel``. In ``converse``,
    ``messages`` is required here (the reference marks it optional, but a count
    of no conversation is no use) and checked as Converse checks it; fields
    Converse has and ConverseTokensRequest lacks (``inferenceConfig``) are
    refused. ``invokeModel.body`` is base64 of an InvokeModel body (an
    InvokeModelTokensRequest), which the mock reads for Claude models only: the
    Messages API's body without ``model`` and ``stream``
    (:func:`relaykit_bedrock.testing.messages.validate_invoke_model`). Those
    messages are worded by the mock.
    """
    inp = body.get("input") if isinstance(body, dict) else None
    if not isinstance(inp, dict):
        return constraint("Value null at 'input'", "Member must not be null")
    if len(inp) != 1:
        return "input must set exactly one of converse or invokeModel."
    if "invokeModel" in inp:
        return _invoke_model_tokens_problem(inp["invokeModel"], model_id)
    converse = inp.get("converse")
    if not isinstance(converse, dict):
        return constraint("Value null at 'input.converse'", "Member must not be null")
    extra = sorted(set(converse) - set(_CONVERSE_TOKENS_FIELDS))
    if extra:
        return f"input.converse.{extra[0]} is not a ConverseTokensRequest field."
    if not converse.get("messages"):
        return constraint("Value null at 'input.converse.messages'", "Member must not be null")
    return validate(converse)


def _invoke_model_tokens_problem(invoke: Any, model_id: str) -> str | None:
    encoded = invoke.get("body") if isinstance(invoke, dict) else None
    if encoded is None:
        return constraint("Value null at 'input.invokeModel.body'", "Member must not be null")
    if "anthropic.claude" not in model_id:
        return "The mock counts input.invokeModel for Anthropic Claude models only."
    try:
        invoked = messages_api.invoke_model_body(encoded)
    except ValueError:
        return "input.invokeModel.body is not base64 of a JSON body."
    return messages_api.validate_invoke_model(invoked, model_id)


# -- cache points, as the mock itself understands them (not borrowed from the client) --

#: the ``cachePoint.ttl`` values Converse takes (CachePointBlock in the API reference)
_CACHE_TTLS = ("5m", "1h")
#: cache points Bedrock takes in one request, over tools, system and messages together
MAX_CACHE_POINTS = 4
_AFTER_REASONING = (
    "Cache point cannot be inserted after reasoning block. "
    "Please remove the invalid cache point and try again."
)


def _block_lists(body: dict[str, Any]) -> Iterator[tuple[str, list[Any], int | None]]:
    """The block lists a cache point may sit in, in the order Bedrock reads the prompt:
    each with its path in validation messages and, for a message, its index."""
    tool_config = body.get("toolConfig")
    if isinstance(tool_config, dict) and isinstance(tool_config.get("tools"), list):
        yield "toolConfig.tools", tool_config["tools"], None
    if isinstance(body.get("system"), list):
        yield "system", body["system"], None
    for i, m in enumerate(body["messages"]):
        yield f"messages.{i}.member.content", m["content"], i


def _cache_point_problem(body: dict[str, Any]) -> str | None:
    ttls: list[str] = []  # of every cache point, in prompt order
    for where, blocks, message in _block_lists(body):
        for j, block in enumerate(blocks):
            if not isinstance(block, dict) or "cachePoint" not in block:
                continue
            if problem := _cache_point_spec_problem(block["cachePoint"], f"{where}.{j}.member"):
                return problem
            if j and isinstance(blocks[j - 1], dict) and "reasoningContent" in blocks[j - 1]:
                return _AFTER_REASONING
            ttls.append(block["cachePoint"].get("ttl") or "5m")
        if message is not None and all(isinstance(b, dict) and "cachePoint" in b for b in blocks):
            return (
                f"The content field in the Message object at messages.{message} holds only "
                "cache points. Add a content block before the cachePoint and try again."
            )
    if len(ttls) > MAX_CACHE_POINTS:
        return (
            f"A maximum of {MAX_CACHE_POINTS} cache points may be provided in a request; "
            f"found {len(ttls)}. Remove cache points and try again."
        )
    if ("5m", "1h") in pairwise(ttls):
        return (
            "A cache point with ttl 1h cannot come after one with ttl 5m: cache points are "
            "read in the order toolConfig, system, messages, and longer TTLs must come first."
        )
    return None


def _cache_point_spec_problem(spec: Any, where: str) -> str | None:
    at = f"{where}.cachePoint"
    if not isinstance(spec, dict) or spec.get("type") is None:
        return constraint(f"Value null at '{at}.type'", "Member must not be null")
    if spec["type"] != "default":
        return constraint(
            f"Value '{spec['type']}' at '{at}.type'",
            "Member must satisfy enum value set: [default]",
        )
    ttl = spec.get("ttl")
    if ttl is not None and ttl not in _CACHE_TTLS:
        return constraint(
            f"Value '{ttl}' at '{at}.ttl'", "Member must satisfy enum value set: [5m, 1h]"
        )
    return None
