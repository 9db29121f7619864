"""OpenTelemetry tracing of calls, through ``opentelemetry-api`` only.

One ``CLIENT`` span per call, named ``{operation} {model}`` (``chat gpt-4o-mini``),
with the GenAI semantic-convention attributes; retries and fallbacks are span
events; the W3C ``traceparent`` of the span goes out in the provider's HTTP
request headers, so a provider (or gateway) that traces joins the same trace.

Nothing here runs unless a tracer provider is configured: by an exporter
plugin that exposes ``tracer_provider`` (relaykit-otlp), or by the application
setting the global one before it creates the client. Without one the client
keeps ``None`` instead of a tracer and pays one ``is None`` check per step.
OpenTelemetry itself is imported only then, so ``import relaykit`` stays cheap.

Message content goes on spans only with ``[telemetry] capture_content = true``,
and then through the client's redactors (secrets always, PII when enabled).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

from .cancellation import is_cancellation
from .errors import ConfigError, RelayError
from .messages import CachePoint, Message, TextPart, ToolCall, ToolResultPart
from .metrics import MAX_VALUE_LENGTH, provider_attributes, provider_part, server_part

if TYPE_CHECKING:
    from .client import _Call
    from .config import Config
    from .embeddings import EmbeddingResponse
    from .image_generation import ImageResponse
    from .moderation import ModerationResponse
    from .provider_registry import ProviderRegistry
    from .redaction import RedactionChain
    from .rerank import RerankResponse
    from .response import ChatResponse, Usage
    from .routing import Target
    from .speech import SpeechResponse
    from .transcription import TranscriptionResponse

# One encoder for every span: json.dumps with options builds a new one each time.
_dumps = json.JSONEncoder(ensure_ascii=False).encode


def span_name(operation: str, model: str) -> str:
    """``{operation} {model}``, the model cut to 256 characters as metric labels are.

    Model names come from callers (a gateway passes on what its clients send):
    a 1 MB one made every span of it 1 MB in the trace backend, which refuses
    or truncates names far shorter.
    """
    if len(model) > MAX_VALUE_LENGTH:
        model = model[: MAX_VALUE_LENGTH - 1] + "…"
    return f"{operation} {model}"


def configured_tracer_provider(exporters: Sequence[object]) -> Any | None:
    """The tracer provider to use: an exporter's own, else a configured global one, else None."""
    for exporter in exporters:
        provider = getattr(exporter, "tracer_provider", None)
        if provider is not None:
            return provider
    # If nothing imported the OpenTelemetry API, nobody can have configured it;
    # skipping the import keeps clients of untraced apps cheap to build.
    if "opentelemetry.trace" not in sys.modules and not os.environ.get(
        "OTEL_PYTHON_TRACER_PROVIDER"
    ):
        return None
    from opentelemetry import trace

    try:
        provider = trace.get_tracer_provider()
    except Exception as e:
        # The API loads the provider OTEL_PYTHON_TRACER_PROVIDER names, logs when it
        # cannot and re-raises what it got (a bare StopIteration for a name no
        # installed package provides, as "sdk" without opentelemetry-sdk).
        name = os.environ.get("OTEL_PYTHON_TRACER_PROVIDER", "")
        raise ConfigError(
            f"OTEL_PYTHON_TRACER_PROVIDER={name!r} names a tracer provider that cannot be"
            f" loaded ({type(e).__name__})",
            hint="install the package that provides it (opentelemetry-sdk for 'sdk'),"
            " unset the variable, or set [telemetry] tracing = false",
        ) from None
    if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
        return None
    return provider


class CallTracer:
    """Creates and completes the span of each call; built only when tracing is on."""

    def __init__(
        self,
        tracer_provider: Any,
        config: Config,
        redaction: RedactionChain,
        registry: ProviderRegistry,
    ) -> None:
        from opentelemetry import context, propagate, trace
        from opentelemetry.baggage.propagation import W3CBaggagePropagator

        from . import __version__

        self._trace = trace
        self._propagate = propagate
        self._tracer = tracer_provider.get_tracer("relaykit", __version__)
        self._capture = config.telemetry.capture_content
        self._redaction = redaction
        self._registry = registry
        #: provider name -> its server's attributes (see _server), looked up once
        self._servers: dict[str, dict[str, Any]] = {}
        #: how the client's providers are named on spans (as in its metrics)
        self._provider_names = registry.telemetry_names()
        #: provider name -> the attributes naming it, as a dict to spread into a span's
        self._providers: dict[str, dict[str, str]] = {}
        #: target -> its span name and the attributes every span of it starts with
        self._per_target: dict[Target, tuple[str, dict[str, Any]]] = {}
        self._client_kind = trace.SpanKind.CLIENT
        self._internal_kind = trace.SpanKind.INTERNAL
        # Bound once: making a span current runs on every call (see _Active).
        self._attach = context.attach
        self._detach = context.detach
        self._in_context = trace.set_span_in_context
        # inject_headers' own path for the default propagator (None: always the global's)
        self._w3c = _default_w3c_textmap(propagate)
        self._span_key, self._baggage_key = _context_keys() if self._w3c else ("", "")
        self._current_context = context.get_current
        self._span_types: set[type] = set()  # those isinstance found to be spans
        self._invalid = trace.INVALID_SPAN_CONTEXT
        self._empty_state = trace.INVALID_SPAN_CONTEXT.trace_state  # the API's default
        self._w3c_baggage = W3CBaggagePropagator()

    @classmethod
    def create(
        cls,
        config: Config,
        exporters: Sequence[object],
        redaction: RedactionChain,
        registry: ProviderRegistry,
    ) -> CallTracer | None:
        """A tracer when ``[telemetry] tracing`` is on and a tracer provider is configured."""
        if not config.telemetry.tracing:
            return None
        provider = configured_tracer_provider(exporters)
        return None if provider is None else cls(provider, config, redaction, registry)

    # -- span lifecycle ------------------------------------------------------

    def start(self, call: _Call) -> Any:
        """Start the span of ``call`` (not yet current: see :meth:`activate`)."""
        target = call.targets[0]
        request = call.request
        found = self._per_target.get(target)
        name, base = found if found is not None else self._target_attributes(target)
        attributes = base.copy()
        if request.max_tokens is not None:
            attributes["gen_ai.request.max_tokens"] = request.max_tokens
        if request.temperature is not None:
            attributes["gen_ai.request.temperature"] = request.temperature
        if request.top_p is not None:
            attributes["gen_ai.request.top_p"] = request.top_p
        if request.seed is not None:
            attributes["gen_ai.request.seed"] = request.seed
        if (conversation := request.metadata.get("conversation_id")) is not None:
            # the caller's to choose: a key sent there is masked, as in the record
            attributes["gen_ai.conversation.id"] = self._registry.known_secrets.mask(conversation)
        if request.stop:
            # the caller's text, as a prompt is: redacted as the record's are
            text = self._redaction.text
            attributes["gen_ai.request.stop_sequences"] = [text(stop) for stop in request.stop]
        if call.streamed:
            attributes["gen_ai.request.stream"] = True
        if (output := request.response_format) is not None:
            # the conventions' modality asked for, not the format: a schema is "json"
            attributes["gen_ai.output.type"] = "text" if output.type == "text" else "json"
        if request.extra:
            _add_extra_sampling(attributes, request.extra)
        if self._capture:
            # The record redacts the same texts: it reuses this call's chain (see _Call).
            call.redaction = redaction = self._redaction.for_call()
            attributes["gen_ai.input.messages"] = self._messages_json(request.messages, redaction)
        call.span_target = target
        # by position (name, context, kind, attributes: the API's order): keywords
        # cost a Python tracer's call ~1 k instructions more
        return self._tracer.start_span(name, None, self._client_kind, attributes)

    def start_embeddings(self, call: _Call) -> Any:
        """Start the span of an embeddings call: ``embeddings {model}``.

        No content goes on it, even with ``capture_content``: the conventions
        define no attribute for the texts, and a batch may hold thousands.
        """
        request: Any = call.request  # an EmbeddingRequest (see _Call.request)
        attributes: dict[str, Any] = {"relaykit.embeddings.inputs": len(request.inputs)}
        if request.dimensions is not None:
            attributes["gen_ai.embeddings.dimension.count"] = request.dimensions
        return self._start_single(call, attributes)

    def finish_embeddings(self, call: _Call, response: EmbeddingResponse) -> None:
        """Record an embeddings call's answer (model, tokens, cost) and end its span."""
        attributes: dict[str, Any] = {"gen_ai.embeddings.dimension.count": response.dimensions}
        if response.cache_hit:
            attributes["relaykit.cache_hit"] = True
        self._end_single(call, response, attributes)

    def start_rerank(self, call: _Call) -> Any:
        """Start the span of a rerank call: ``rerank {model}`` (no content on it: the
        conventions define no attribute for a query and its documents)."""
        request: Any = call.request  # a RerankRequest (see _Call.request)
        attributes: dict[str, Any] = {"relaykit.rerank.documents": len(request.documents)}
        if request.top_n is not None:
            attributes["relaykit.rerank.top_n"] = request.top_n
        return self._start_single(call, attributes)

    def finish_rerank(self, call: _Call, response: RerankResponse) -> None:
        """Record a rerank call's answer (model, tokens or searches, cost) and end its span."""
        attributes: dict[str, Any] = {}
        if response.id:
            attributes["gen_ai.response.id"] = response.id
        if response.search_units:
            attributes["relaykit.rerank.search_units"] = response.search_units
        self._end_single(call, response, attributes)

    def start_transcribe(self, call: _Call) -> Any:
        """Start the span of a transcription: ``transcribe {model}``.

        The conventions name no operation for speech to text: ``transcribe`` is
        relaykit's (as ``rerank`` is). The audio's size, media type and length
        (when its header says) go on it; no content, even with
        ``capture_content``: neither the audio nor the prompt has an attribute.
        """
        from .audio import media_type

        request: Any = call.request  # a TranscriptionRequest (see _Call.request)
        attributes: dict[str, Any] = {
            "relaykit.audio.bytes": len(request.audio.data),
            "relaykit.audio.media_type": media_type(request.audio),
        }
        if request.audio_seconds is not None:
            attributes["relaykit.audio.seconds"] = request.audio_seconds
        if request.language is not None:
            attributes["relaykit.transcription.language"] = request.language
        return self._start_single(call, attributes)

    def finish_transcribe(self, call: _Call, response: TranscriptionResponse) -> None:
        """Record a transcription's answer (model, length, tokens, cost) and end its span."""
        attributes: dict[str, Any] = {}
        if response.id:
            attributes["gen_ai.response.id"] = response.id
        if response.duration is not None:
            attributes["relaykit.audio.seconds"] = response.duration
        if response.usage.output_tokens:
            attributes["gen_ai.usage.output_tokens"] = response.usage.output_tokens
        if response.time_to_first_chunk is not None:
            attributes["gen_ai.response.time_to_first_chunk"] = response.time_to_first_chunk
        self._end_single(call, response, attributes)

    def start_image(self, call: _Call) -> Any:
        """Start the span of an image generation: ``generate_image {model}``.

        The conventions name no operation for image generation (``generate_content``
        is Gemini's multimodal call): ``generate_image`` is relaykit's, as
        ``transcribe`` is; ``gen_ai.output.type`` is the conventions' ``image``.
        The images asked for (``gen_ai.request.choice.count``), their size,
        quality and format go on it; no content, even with ``capture_content``
        (the conventions give a prompt that is no message no attribute). An edit's
        span is ``edit_image {model}``, with the count of images sent
        (``relaykit.image.inputs``) and whether a mask was (``relaykit.image.mask``).
        """
        request: Any = call.request  # an ImageRequest or ImageEditRequest (see _Call.request)
        attributes: dict[str, Any] = {
            "gen_ai.output.type": "image",
            "gen_ai.request.choice.count": request.n,
        }
        images = getattr(request, "images", None)
        if images is not None:
            attributes["relaykit.image.inputs"] = len(images)
            attributes["relaykit.image.mask"] = request.mask is not None
        for key in ("size", "quality", "output_format"):
            value = getattr(request, key)
            if value is not None:
                attributes[f"relaykit.image.{key}"] = value
        return self._start_single(call, attributes)

    def finish_image(self, call: _Call, response: ImageResponse) -> None:
        """Record an image generation's answer (model, images, tokens, cost) and end its span."""
        attributes: dict[str, Any] = {"relaykit.image.count": len(response.images)}
        if response.id:
            attributes["gen_ai.response.id"] = response.id
        if response.size is not None:
            attributes["relaykit.image.size"] = response.size
        if response.usage.output_tokens:
            attributes["gen_ai.usage.output_tokens"] = response.usage.output_tokens
        self._end_single(call, response, attributes)

    def start_speak(self, call: _Call) -> Any:
        """Start the span of a text to speech: ``speak {model}``.

        The conventions name no operation for text to speech: ``speak`` is
        relaykit's, as ``transcribe`` is; ``gen_ai.output.type`` is ``speech``
        (the conventions' own value for audio output). The voice, format, speed
        and the text's length go on it; no content, even with
        ``capture_content`` (the conventions give a text that is no message no
        attribute).
        """
        request: Any = call.request  # a SpeechRequest (see _Call.request)
        attributes: dict[str, Any] = {
            "gen_ai.output.type": "speech",
            "relaykit.speech.voice": request.voice,
            "relaykit.speech.format": request.format,
            "relaykit.speech.characters": len(request.text),
        }
        if request.speed is not None:
            attributes["relaykit.speech.speed"] = request.speed
        return self._start_single(call, attributes)

    def finish_speak(self, call: _Call, response: SpeechResponse) -> None:
        """Record a speech's answer (model, audio size, cost) and end its span."""
        attributes: dict[str, Any] = {
            "relaykit.audio.bytes": response.size,
            "relaykit.audio.media_type": response.media_type,
        }
        if response.id:
            attributes["gen_ai.response.id"] = response.id
        seconds = response.duration
        if seconds is not None:
            attributes["relaykit.audio.seconds"] = seconds
        if response.time_to_first_chunk is not None:
            attributes["gen_ai.response.time_to_first_chunk"] = response.time_to_first_chunk
        self._end_single(call, response, attributes)

    def start_moderate(self, call: _Call) -> Any:
        """Start the span of a moderation call: ``moderate {model}``.

        The conventions name no operation for moderation: ``moderate`` is
        relaykit's, as ``rerank`` is. How many texts go on it; no content, even
        with ``capture_content`` (the conventions give texts that are no
        messages no attribute).
        """
        request: Any = call.request  # a ModerationRequest (see _Call.request)
        return self._start_single(call, {"relaykit.moderation.inputs": len(request.inputs)})

    def finish_moderate(self, call: _Call, response: ModerationResponse) -> None:
        """Record a moderation call's answer (model, how many inputs were flagged and for
        which categories, cost) and end its span."""
        attributes: dict[str, Any] = {
            "relaykit.moderation.flagged": sum(1 for r in response.results if r.flagged),
        }
        categories = response.flagged_categories
        if categories:
            attributes["relaykit.moderation.flagged_categories"] = list(categories)
        if response.id:
            attributes["gen_ai.response.id"] = response.id
        self._end_single(call, response, attributes)

    def _start_single(self, call: _Call, attributes: dict[str, Any]) -> Any:
        """Start the span of a call that is not a chat, ``{operation} {model}`` on its
        first deployment, with the conventions' attributes and ``attributes``."""
        target = call.targets[0]
        attributes.update(
            {
                "gen_ai.operation.name": call.operation,
                **self._provider(target.provider),
                "gen_ai.request.model": target.model,
                **self._server(target.provider),
            }
        )
        if call.streamed:
            attributes["gen_ai.request.stream"] = True
        call.span_target = target
        return self._tracer.start_span(
            span_name(call.operation, target.model), kind=self._client_kind, attributes=attributes
        )

    def _end_single(
        self,
        call: _Call,
        response: EmbeddingResponse
        | RerankResponse
        | TranscriptionResponse
        | ImageResponse
        | SpeechResponse
        | ModerationResponse,
        attributes: dict[str, Any],
    ) -> None:
        """Record what every answer has (model, input tokens, attempts, cost) and
        ``attributes`` on a call's span that is not a chat's, and end it."""
        span = call.span
        if not span.is_recording():
            return
        attributes["gen_ai.response.model"] = response.model
        attributes["gen_ai.usage.input_tokens"] = response.usage.input_tokens
        attributes["relaykit.attempts"] = call.attempts
        if response.cost is not None:
            attributes["relaykit.cost_usd"] = float(response.cost)
        span.set_attributes(attributes)
        span.end()

    def _provider(self, provider: str) -> dict[str, str]:
        """``gen_ai.provider.name`` of ``provider``, and ``relaykit.provider`` when it is
        a ``[providers.NAME]`` table not named after its type (looked up once)."""
        found = self._providers.get(provider)
        if found is None:
            # the server is set apart (_server): as the deployment that answered has it
            found = dict(provider_part(provider_attributes(provider, self._provider_names)))
            if len(self._providers) >= 1024:  # provider names come from callers
                self._providers.clear()
            self._providers[provider] = found
        return found

    def _target_attributes(self, target: Target) -> tuple[str, dict[str, Any]]:
        # What every span of a deployment starts with: worked out once per target.
        found = (
            span_name("chat", target.model),
            {
                "gen_ai.operation.name": "chat",
                **self._provider(target.provider),
                "gen_ai.request.model": target.model,
                **self._server(target.provider),
            },
        )
        if len(self._per_target) >= 1024:  # targets come from callers: stay bounded
            self._per_target.clear()
        self._per_target[target] = found
        return found

    def attempt(self, call: _Call, target: Target) -> None:
        """Note an attempt beyond the first as a ``retry`` or ``fallback`` span event."""
        if call.attempts <= 1:
            return
        attributes: dict[str, Any] = {
            "relaykit.attempt": call.attempts,
            **self._provider(target.provider),
            "gen_ai.request.model": target.model,
        }
        if call.last_error is not None:
            attributes["error.type"] = type(call.last_error).__name__
        previous = call.span_target
        if previous is not None and previous != target:
            attributes["relaykit.fallback.from"] = str(previous)
            call.span.add_event("relaykit.fallback", attributes)
            call.span.set_attributes(self._now_on(previous, target))
        else:
            call.span.add_event("relaykit.retry", attributes)
        call.span_target = target

    def _now_on(self, previous: Target, target: Target) -> dict[str, Any]:
        """The span attributes naming ``target``, a fallback from ``previous``.

        The span describes the logical call (the conventions: one span for the
        operation, retries included), and its provider, model and server are the
        deployment that answered, or the last one asked: what the call's record,
        and so its metrics, name (a span naming the first target while its metrics
        named the fallback told two stories of one call). The first target stays
        in the span's name (set at start, which sampling saw) and in the
        ``relaykit.fallback`` event's ``relaykit.fallback.from``. An attribute of the
        first target's that ``target`` has none of is overwritten with one that says
        so (``relaykit.provider``: the table's own name; the server: ``""`` and 0).
        """
        attributes: dict[str, Any] = {
            **self._provider(target.provider),
            "gen_ai.request.model": target.model,
            **self._server(target.provider),
        }
        if "relaykit.provider" not in attributes and "relaykit.provider" in self._provider(
            previous.provider
        ):
            # An attribute cannot be taken off a span: the one naming the first
            # target's table is overwritten with the table that answered.
            attributes["relaykit.provider"] = target.provider
        if "server.address" not in attributes and self._server(previous.provider):
            # The same for a target with no known server (no base URL): the first
            # target's server is overwritten with "" and port 0, which name none.
            attributes["server.address"] = ""
            attributes["server.port"] = 0
        return attributes

    def hedge_loser(
        self, call: _Call, target: Target, billed: ChatResponse, *, estimated: bool
    ) -> None:
        """Note a hedge's loser on the winning call's span, as a ``relaykit.hedge_loser``
        event: the deployment, and what it was billed (its ``HedgeCancelled``
        record's usage and cost). ``estimated``: cut off mid-call, its prompt's
        estimate (marked ``relaykit.usage.estimated``); otherwise an answer that came
        after the race was won, as the vendor counted it."""
        span = call.span
        if not span.is_recording():
            return
        attributes: dict[str, Any] = {
            **self._provider(target.provider),
            "gen_ai.request.model": target.model,
            "error.type": "HedgeCancelled",  # as its record names it
        }
        if estimated:
            _add_estimate(attributes, billed)
        else:
            _add_usage(attributes, billed)
        span.add_event("relaykit.hedge_loser", attributes)

    def finish(self, call: _Call, response: ChatResponse) -> None:
        """Record what came back and end the span."""
        span = call.span
        if not span.is_recording():
            return  # ended already: the call was cancelled while the answer was settled
        usage = response.usage
        attributes: dict[str, Any] = {
            "gen_ai.response.model": response.model,
            "gen_ai.response.finish_reasons": [response.finish_reason],
            "gen_ai.usage.input_tokens": usage.input_tokens,
            "gen_ai.usage.output_tokens": usage.output_tokens,
            "relaykit.attempts": call.attempts,
        }
        if (
            usage.cached_input_tokens
            or usage.cache_write_input_tokens
            or usage.reasoning_tokens
            or usage.web_searches
        ):
            _add_usage_details(attributes, usage)  # a call fewer for the usual usage
        if response.citations:
            # how many, never the pages (content, which only capture_content puts on spans)
            attributes["relaykit.response.citations"] = len(response.citations)
        if response.id:
            attributes["gen_ai.response.id"] = response.id
        if response.cost is not None:
            attributes["relaykit.cost_usd"] = float(response.cost)
        if response.time_to_first_token is not None:
            attributes["gen_ai.response.time_to_first_chunk"] = response.time_to_first_token
        if response.usage_estimated:  # no usage, or a stream left before the vendor's came
            attributes["relaykit.usage.estimated"] = True
        if self._capture:
            attributes["gen_ai.output.messages"] = self._output_json(
                response, call.redaction or self._redaction
            )
        served = call.served
        if served is not None and served is not call.span_target:
            on = call.span_target
            if on is not None and served != on:
                # a hedge's first target won after the backup moved the span on
                attributes.update(self._now_on(on, served))
        span.set_attributes(attributes)
        span.end()

    def left_early(
        self, call: _Call, response: ChatResponse, error_type: str, description: str
    ) -> None:
        """End the span of a stream the caller left by an exception or a cancellation:
        failed (``error_type``), with the usage of what had arrived, marked
        ``relaykit.usage.estimated`` when relaykit estimated it (``response.usage_estimated``)."""
        span = call.span
        if not span.is_recording():
            return
        attributes: dict[str, Any] = {"error.type": error_type, "relaykit.attempts": call.attempts}
        if response.usage_estimated:
            _add_estimate(attributes, response)
        else:
            _add_usage(attributes, response)
        span.set_attributes(attributes)
        span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, description))
        span.end()

    def cancelled(
        self,
        call: _Call,
        description: str,
        error_type: str = "Cancelled",
        cut: ChatResponse | None = None,
        *,
        estimated: bool = True,
    ) -> None:
        """End the span of a non-streamed call its caller cancelled: failed
        (``Cancelled``, whichever async library raised it); or of a streamed
        speech or transcription its caller left by an exception (``error_type``
        ``CallerError``). ``cut``: what the call was charged, put on the span as
        usage and cost: what the attempts cut off mid-call were likely billed
        (their prompts), marked ``relaykit.usage.estimated``, or (not
        ``estimated``) the vendor's counts of the requests of a split call it
        answered; without it, no usage."""
        span = call.span
        if not span.is_recording():
            return
        attributes: dict[str, Any] = {"error.type": error_type, "relaykit.attempts": call.attempts}
        if cut is not None:
            if estimated:
                _add_estimate(attributes, cut)
            else:
                _add_usage(attributes, cut)
        span.set_attributes(attributes)
        span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, description))
        span.end()

    def fail(
        self,
        call: _Call,
        error: RelayError,
        partial: ChatResponse | None = None,
        *,
        estimated: bool = False,
    ) -> None:
        """Mark the span failed with ``error`` (message already scrubbed) and end it;
        ``partial``: what a broken stream had sent, priced (its usage and cost go on the
        span, marked ``relaykit.usage.estimated`` when relaykit estimated them:
        ``partial.usage_estimated``); with ``estimated``, what attempts the total
        timeout cut off were likely billed (``call.cut``), marked so too.
        """
        span = call.span
        if not span.is_recording():
            return
        # One call: the SDK takes its lock and cleans the values once per call.
        attributes: dict[str, Any] = {
            "error.type": type(error).__name__,
            "relaykit.attempts": call.attempts,
        }
        if partial is not None:
            if estimated or partial.usage_estimated:
                _add_estimate(attributes, partial)
            else:
                _add_usage(attributes, partial)
        if error.status is not None:
            attributes["http.response.status_code"] = error.status
        span.set_attributes(attributes)
        description = self._redaction.text(f"{type(error).__name__}: {error.message}")
        span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, description))
        span.end()

    # -- tool runs (run_tools, stream_tools) ---------------------------------

    def start_tool(self, call: ToolCall, description: str | None) -> Any:
        """Start the span of running ``call``'s tool: the conventions' execute tool span,
        ``execute_tool {tool name}``, ``INTERNAL`` (the tool runs in this process).

        With ``capture_content`` its arguments go on it (redacted), as
        ``gen_ai.tool.call.arguments``.
        """
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": call.name,
            "gen_ai.tool.call.id": call.id,
            "gen_ai.tool.type": "function",  # relaykit runs functions only
        }
        if description:
            attributes["gen_ai.tool.description"] = description
        if self._capture:
            raw = call.raw_arguments  # what the model sent, when it was no JSON object
            text = raw if raw is not None else _dumps(call.arguments)
            attributes["gen_ai.tool.call.arguments"] = self._redaction.text(text)
        name = span_name("execute_tool", call.name)
        return self._tracer.start_span(name, None, self._internal_kind, attributes)

    def end_tool(self, span: Any, result: str | None, error_type: str | None) -> None:
        """End a tool's span: ``result`` is the text sent to the model (on the span,
        redacted, with ``capture_content``); ``error_type`` marks it failed, the
        result (scrubbed already) its status description."""
        if not span.is_recording():
            return
        attributes: dict[str, Any] = {}
        if self._capture and result is not None:
            attributes["gen_ai.tool.call.result"] = self._redaction.text(result)
        if error_type is not None:
            attributes["error.type"] = error_type
            description = self._redaction.text(result) if result is not None else None
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, description))
        if attributes:
            span.set_attributes(attributes)
        span.end()

    def tool_context(self, span: Any) -> _Active:
        """Makes a tool's span current while the tool runs (a call it makes is its
        child); a cancellation leaving the block ends it, failed."""
        return _Active(self, span)

    def activate(self, call: _Call) -> _Active:
        """A context manager making the call's span current (for child spans and propagation).

        An exception leaving the block ends the span, if nothing else did.
        """
        return _Active(self, call.span)

    # -- propagation ---------------------------------------------------------

    def inject_headers(self, headers: MutableMapping[str, str]) -> None:
        """Header hook: add ``traceparent`` (and ``tracestate``, ``baggage``) of the current
        context, as the global propagator does (``propagate.inject``)."""
        textmap = self._propagate.get_global_textmap()
        if textmap is not self._w3c:
            textmap.inject(headers)
            return
        # The API's default propagator (W3C trace context, then W3C baggage), its
        # work done here: ~28 k instructions a request through its generic path
        # (context look-ups, an ABC check, three format specs), ~10 k this way.
        context = self._current_context()
        span: Any = context.get(self._span_key)
        if span is not None and (type(span) in self._span_types or self._is_span(span)):
            span_context = span.get_span_context()
            if span_context != self._invalid:
                trace_id, span_id, _, flags, trace_state, _ = span_context
                try:
                    headers["traceparent"] = (
                        f"00-{trace_id.to_bytes(16, 'big').hex()}"
                        f"-{span_id.to_bytes(8, 'big').hex()}-{flags.to_bytes(1, 'big').hex()}"
                    )
                except OverflowError:  # ids or flags out of range: as W3C's propagator spells them
                    headers["traceparent"] = f"00-{trace_id:032x}-{span_id:016x}-{flags:02x}"
                if trace_state is not self._empty_state and trace_state:
                    headers["tracestate"] = trace_state.to_header()
        if context.get(self._baggage_key):
            self._w3c_baggage.inject(headers, context)

    def _is_span(self, value: object) -> bool:
        """Whether ``value`` is an OpenTelemetry span (its type remembered if so)."""
        if not isinstance(value, self._trace.Span):
            return False
        if len(self._span_types) < 64:
            self._span_types.add(type(value))
        return True

    # -- helpers -------------------------------------------------------------

    def _server(self, provider: str) -> dict[str, Any]:
        """``server.address`` and ``server.port`` of ``provider``: its metrics' (one
        computation, :func:`relaykit.metrics.server_part`), the port an int."""
        found = self._servers.get(provider)
        if found is None:
            pairs = dict(server_part(provider_attributes(provider, self._provider_names)))
            found = {}
            if pairs:
                found["server.address"] = pairs["server.address"]
                found["server.port"] = int(pairs["server.port"])
            if len(self._servers) >= 1024:  # provider names come from callers
                self._servers.clear()
            self._servers[provider] = found
        return found

    def _messages_json(self, messages: Sequence[Message], redaction: RedactionChain) -> str:
        return _dumps([self._message(m, redaction) for m in messages])

    def _output_json(self, response: ChatResponse, redaction: RedactionChain) -> str:
        message = self._message(response.to_message(), redaction)
        reason = response.finish_reason
        # the output schema's FinishReason names it "tool_call" (OpenAI's "tool_calls"
        # stays on gen_ai.response.finish_reasons, whose values are the vendors')
        message["finish_reason"] = "tool_call" if reason == "tool_calls" else reason
        return _dumps([message])

    @staticmethod
    def _message(message: Message, redaction: RedactionChain) -> dict[str, Any]:
        text = redaction.text
        parts: list[dict[str, Any]] = []
        for p in message.content:
            if isinstance(p, TextPart):
                parts.append({"type": "text", "content": text(p.text)})
            elif isinstance(p, ToolCall):
                args = _redacted_arguments(p.arguments, text)
                parts.append({"type": "tool_call", "id": p.id, "name": p.name, "arguments": args})
            elif isinstance(p, ToolResultPart):
                parts.append(
                    {
                        "type": "tool_call_response",
                        "id": p.tool_call_id,
                        "response": text(p.content),
                    }
                )
            elif not isinstance(p, CachePoint):  # a caching hint is not content
                parts.append({"type": p.type})  # images and reasoning: the kind only
        return {"role": message.role, "parts": parts}


#: sampling settings the conventions name that relaykit's request has no field for:
#: a caller sends them in ``extra``, which goes to the vendor as it is
_EXTRA_SAMPLING = (
    ("top_k", "gen_ai.request.top_k"),
    ("frequency_penalty", "gen_ai.request.frequency_penalty"),
    ("presence_penalty", "gen_ai.request.presence_penalty"),
)


def _add_extra_sampling(attributes: dict[str, Any], extra: Mapping[str, Any]) -> None:
    """``gen_ai.request.top_k`` and the penalties, when ``extra`` sends them as numbers
    (anything else there is the vendor's to refuse, and no attribute's value)."""
    for key, attribute in _EXTRA_SAMPLING:
        value = extra.get(key)
        if type(value) is int or type(value) is float:  # not bool, which is an int
            attributes[attribute] = value


def _redacted_arguments(arguments: dict[str, Any], text: Callable[[str], str]) -> Any:
    """A tool call's arguments, redacted, as the message schemas' ``arguments``: the
    object itself. Redacted as one JSON text (as the record's are); a redactor whose
    mask made that text no JSON leaves it a string, which the schemas allow too."""
    redacted = text(_dumps(arguments))
    try:
        return json.loads(redacted)
    except ValueError:
        return redacted


def _add_usage(attributes: dict[str, Any], response: ChatResponse) -> None:
    """The token counts and cost of a stream that ended early (what had arrived), or
    of a hedge's loser."""
    usage = response.usage
    attributes["gen_ai.usage.input_tokens"] = usage.input_tokens
    attributes["gen_ai.usage.output_tokens"] = usage.output_tokens
    _add_usage_details(attributes, usage)
    if response.cost is not None:
        attributes["relaykit.cost_usd"] = float(response.cost)


def _add_estimate(attributes: dict[str, Any], response: ChatResponse) -> None:
    """The token counts and cost relaykit estimated a call cut off mid-call, or a
    stream that ended before the vendor's usage came, was billed, marked so: the
    vendor never said, or not all (see :mod:`relaykit.billed_usage`)."""
    _add_usage(attributes, response)
    attributes["relaykit.usage.estimated"] = True


def _add_usage_details(attributes: dict[str, Any], usage: Usage) -> None:
    """The conventions' prompt-cache and reasoning counts, and the web searches, each
    when not zero.

    Each is part of ``gen_ai.usage.input_tokens`` (cache reads and writes) or
    ``gen_ai.usage.output_tokens`` (reasoning), as in :class:`~relaykit.Usage`.
    """
    if usage.cached_input_tokens:
        attributes["gen_ai.usage.cache_read.input_tokens"] = usage.cached_input_tokens
    if usage.cache_write_input_tokens:
        attributes["gen_ai.usage.cache_creation.input_tokens"] = usage.cache_write_input_tokens
        if usage.cache_write_1h_input_tokens:
            # No convention for it: the part of those writes that went to a one-hour cache.
            attributes["relaykit.usage.cache_creation_1h.input_tokens"] = (
                usage.cache_write_1h_input_tokens
            )
    if usage.reasoning_tokens:
        attributes["gen_ai.usage.reasoning.output_tokens"] = usage.reasoning_tokens
    if usage.web_searches:
        # No GenAI convention counts server-side tool uses yet: relaykit's own name.
        attributes["relaykit.usage.web_searches"] = usage.web_searches


def _context_keys() -> tuple[str, str]:
    """The keys the API keeps the current span and the baggage under in a context."""
    from opentelemetry import baggage
    from opentelemetry.trace import propagation

    return propagation._SPAN_KEY, baggage._BAGGAGE_KEY


def _default_w3c_textmap(propagate: Any) -> Any | None:
    """The global propagator if it is the API's default (W3C trace context, then W3C
    baggage, as ``OTEL_PROPAGATORS`` unset makes it), else None."""
    from opentelemetry.baggage.propagation import W3CBaggagePropagator
    from opentelemetry.propagators.composite import CompositePropagator
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    textmap = propagate.get_global_textmap()
    if type(textmap) is not CompositePropagator:
        return None
    kinds = [type(p) for p in getattr(textmap, "_propagators", ())]
    if kinds != [TraceContextTextMapPropagator, W3CBaggagePropagator]:
        return None
    try:  # what that path reads: private names of the API, and a context's six fields
        _context_keys()
    except AttributeError:
        return None
    from opentelemetry.trace import INVALID_SPAN_CONTEXT

    return textmap if len(INVALID_SPAN_CONTEXT) == 6 else None


class _Active:
    """Makes a span current for a block, like ``trace.use_span`` without its generator."""

    __slots__ = ("_span", "_token", "_tracer")

    def __init__(self, tracer: CallTracer, span: Any) -> None:
        self._tracer = tracer
        self._span = span
        self._token: Any = None

    def __enter__(self) -> None:
        tracer = self._tracer
        self._token = tracer._attach(tracer._in_context(self._span))

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        tracer = self._tracer
        tracer._detach(self._token)
        # The client's failure path records its own errors and ends the span;
        # anything else (a cancellation, a config error found late) ends it here.
        if exc is not None and self._span.is_recording():
            # A cancellation is "Cancelled", as the call's records name it: not the
            # library's class (asyncio's CancelledError) nor the group trio may raise.
            name = "Cancelled" if is_cancellation(exc) else type(exc).__name__
            self._span.set_attribute("error.type", name)
            self._span.set_status(tracer._trace.Status(tracer._trace.StatusCode.ERROR))
            self._span.end()


def current(tracer: CallTracer | None, call: _Call) -> Any:
    """``tracer.activate(call)``, or a no-op context when the call is not traced."""
    if tracer is None or call.span is None:
        return nullcontext()
    return _Active(tracer, call.span)  # what activate() returns, one call fewer
