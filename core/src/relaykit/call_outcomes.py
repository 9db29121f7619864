"""How a call ends: its span, its ``relaykit.calls`` log line and its call record.

A :class:`CallOutcomes` turns a finished call (:meth:`~CallOutcomes.finish`), a
failed one (:meth:`~CallOutcomes.fail`), one its caller cancelled
(:meth:`~CallOutcomes.cancelled`) or a stream its caller left early
(:meth:`~CallOutcomes.left_early`) into the end of its span, one INFO line on
``relaykit.calls`` and a :class:`~relaykit.protocols.CallRecord`, redacted, which
it hands to the exporters that take records and queues for the call log. A
hedged call's losing attempt gets a record of its own
(:meth:`~CallOutcomes.record_hedge_loser`).

The client holds one (``Client._outcomes``), built from its redaction, exporters,
call log, tracer and prices. A successful chat is the hot path: its record is
built in one positional call (:mod:`relaykit.record_builder`), redacted as it is
built, and handed over without a coroutine unless the call log takes it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from math import inf
from typing import TYPE_CHECKING, Any

import attrs

from .billed_usage import prompt_only
from .call_limits import prompt_tokens
from .call_log import CallLog
from .errors import RelayError
from .gauge_events import QueueDepth
from .known_secrets import KnownSecrets
from .log_format import CALLS_LOGGER, add_response_fields, call_fields
from .messages import Message, ReasoningPart, ToolCall
from .outbound_redaction import OutboundRedaction
from .protocols import NO_ANSWER_CONTENT, CallRecord, Exporter
from .record_builder import positional_builder
from .record_params import ID_KEYS, add_content_params, tool_choice_param
from .redaction import RedactionChain
from .request import ChatRequest
from .response import ChatResponse, Usage, with_call_fields
from .response_cache import as_cached
from .routing import Target
from .tls import name_ca_file
from .web_search import Citation

if TYPE_CHECKING:
    from decimal import Decimal

    from .client import _Call
    from .log_format import AnyAnswer
    from .tracing import CallTracer

calls_log = logging.getLogger(CALLS_LOGGER)


class CallOutcomes:
    """Traces, logs and records how each call of one client ended.

    :param redaction: the client's redaction chain: records, log lines and the
        parameters a record keeps are redacted with it.
    :param known: the keys the client holds, masked in a failed call's error.
    :param exporters: every exporter (the call log's queue depth goes to all);
        records go to those that take them (not ``needs_records = False``).
    :param call_log: where records are queued for storage (``None``: not stored).
    :param tracer: the client's tracer (``None``: untraced).
    :param outbound: the outbound redaction whose placeholders an answer gets back.
    :param price: the price of a deployment, as the model a provider named
        (``""``: the deployment's own), or ``None`` when unknown.
    :param log_metadata: the metadata names each log line carries.
    :param ca_file: ``[http] ca_file``, named in a TLS error's hint.
    """

    def __init__(
        self,
        *,
        redaction: RedactionChain,
        known: KnownSecrets,
        exporters: list[Exporter],
        call_log: CallLog | None,
        tracer: CallTracer | None,
        outbound: OutboundRedaction | None,
        price: Callable[[Target, str], Any],
        log_metadata: tuple[str, ...],
        ca_file: str | None,
    ) -> None:
        #: the client's redaction chain (the operations' record fields use it too)
        self.redaction = redaction
        self._known = known
        self._exporters = exporters
        self._call_log = call_log
        self._tracer = tracer
        self._outbound = outbound
        self._price = price
        self._log_metadata = log_metadata
        self._ca_file = ca_file
        # The exporters that take call records: all but those that say otherwise
        # (``needs_records = False``: relaykit-otlp with traces only). With none of
        # them and nothing stored, no record is built at all.
        self._record_exporters = [
            exporter
            for exporter in exporters
            if getattr(exporter, "needs_records", True) is not False
        ]
        #: whether any call record is built: something takes them
        self.recording = bool(self._record_exporters or call_log)
        # Whether anything reads a record's messages and answer: storage does, and
        # exporters unless they say otherwise (metrics-only ones set
        # ``needs_content = False``). Without a reader, records carry no content
        # and no time goes into redacting it.
        #: whether records carry the messages and the answer (redacted)
        self.content = call_log is not None or any(
            getattr(exporter, "needs_content", True) for exporter in self._record_exporters
        )
        self._route_name_cache: dict[tuple[Target, ...], tuple[str, ...]] = {}

    async def finish(
        self, call: _Call, target: Target, response: ChatResponse, *, parse: bool = True
    ) -> ChatResponse:
        """Price, trace, log and record a successful call; then, when it asked for
        a class (``response_format=Invoice``), parse the answer into it (``parsed``).

        An answer that does not parse raises :class:`~relaykit.OutputValidationError`
        after the call is recorded: the provider answered, and billed for it.
        ``parse=False``: a stream its caller left early, whose text is partial.
        """
        call.ended = True
        if call.cache_hit:
            ttft = response.time_to_first_token if call.streamed else None  # the replay's
            response = as_cached(response, time.monotonic() - call.started, ttft)
        else:
            priced = call.priced
            if priced is not None and priced[0] is response.usage and priced[1] == target:
                cost = priced[2]  # worked out already, to settle a budget
            else:
                price = self._price(target, response.model)
                cost = price.cost(response.usage) if price is not None else None
            response = with_call_fields(
                response,
                provider=target.provider,
                model=response.model or target.model,
                latency=time.monotonic() - call.started,
                cost=cost,
                attempts=call.attempts,
            )
        # Streams restore event by event. A cached answer is restored as a fresh
        # one is: the cache keeps answers as the provider wrote them, keyed by the
        # prompt as it saw it (Client._start), and the placeholders are this call's.
        if self._outbound is not None and not call.streamed:
            outbound = call.outbound if call.outbound is not None else self._outbound
            if call.cache_key is not None and not call.cache_hit:
                call.unrestored = response
            response = outbound.response(response)
        if call.span is not None:
            self._tracer.finish(call, response)  # type: ignore[union-attr]
        if calls_log.isEnabledFor(logging.INFO):
            self.log_call(call, target, response.latency or 0.0, response=response)
        if self.recording:
            record = self.success_record(call, target, response)
            # what emit does, but redacted already (as it was built), and without
            # a coroutine
            for exporter in self._record_exporters:
                exporter.record(record)
            if self._call_log is not None:
                await self.store(record)
        output = call.request.response_format
        if output is not None and output.output_type is not None and parse:
            from .output_types import parse_output

            response = attrs.evolve(response, parsed=parse_output(output.output_type, response))
        return response

    def success_record(self, call: _Call, target: Target, response: ChatResponse) -> CallRecord:
        """The record of a successful call, its content already redacted (if it has any).

        Redacted as it is built: redacting a finished record would mean building it twice.
        The fields are those of ``CallRecord.from_response(response, **record_fields())``
        (a test holds the two alike), passed in one call: the two dicts that way
        cost as much as the record itself. Passed by position (see
        :mod:`relaykit.record_builder`): 30 keywords cost as much again.
        """
        request = call.request
        messages: tuple[Message, ...] = ()
        text = reasoning = ""
        tool_calls: tuple[ToolCall, ...] = ()
        reasoning_parts: tuple[ReasoningPart, ...] = ()
        citations: tuple[Citation, ...] = ()
        queries: tuple[str, ...] = ()
        stop_sequence: str | None = None
        if self.content:
            redaction = call.redaction or self.redaction
            messages = tuple([redaction.message(m) for m in request.messages])
            if response.text:
                text = redaction.text(response.text)
            if response.reasoning_parts:
                reasoning_parts = tuple(
                    [redaction.reasoning_part(p) for p in response.reasoning_parts]
                )
            if response.reasoning:
                reasoning = redaction.text(response.reasoning)
            if response.tool_calls:
                tool_calls = tuple([redaction.tool_call(c) for c in response.tool_calls])
            if response.citations:
                citations = tuple([redaction.citation(c) for c in response.citations])
            if response.search_queries:
                queries = redaction.texts(response.search_queries)
            if response.stop_sequence is not None:  # one of the caller's stop=: their text
                stop_sequence = redaction.text(response.stop_sequence)
        metadata = request.metadata
        # In _SUCCESS_FIELDS' order, one value a line
        return _new_success_record(
            call.id,
            call.started_wall,
            "chat",
            target.provider,
            call.model_requested,
            target.model,
            call.streamed,
            call.fallbacks,
            messages,
            self.record_params(request),
            self._known.mask(metadata.get("correlation_id")),
            self._known.mask(metadata.get("conversation_id")),
            time.time(),
            self.route_names(call),
            self.route_errors(call),
            text,
            reasoning,
            reasoning_parts,
            tool_calls,
            response.usage,
            response.cost,
            response.latency,
            response.time_to_first_token,
            response.finish_reason,
            response.attempts,
            response.cache_hit,
            response.model or None,
            response.id,
            citations,
            queries,
            None,  # error_type
            None,  # error_message
            None,  # status
            response.usage_estimated,
            stop_sequence,
            call.chunk_gaps,
        )

    async def fail(
        self,
        call: _Call,
        error: RelayError,
        target: Target | None = None,
        partial: ChatResponse | None = None,
        *,
        billed: tuple[Usage, Decimal | None, bool] | None = None,
    ) -> None:
        """Trace, log and record a failed call; ``partial``: what a broken stream had
        sent; ``billed``: the usage and cost of what a call split into several requests
        had answered before it failed (and whether they are estimates), which its
        limits were settled with."""
        call.ended = True
        # Attempts masked their errors already (see attempts.py); this catches the rest
        # before the error reaches the span, the log line, the record and the caller.
        self._known.mask_error(error)
        name_ca_file(error, self._ca_file)
        # What a broken stream had sent, priced: the span, the log line and the
        # record all carry its usage and cost (an Anthropic stream reports the
        # prompt's tokens, cache writes included, in its first event).
        priced = (
            self.priced(call, target, partial)
            if partial is not None and target is not None
            else None
        )
        # An attempt the total timeout cut off: the span and the log line carry
        # the prompt's estimate its record and budget carry, marked as estimated;
        # what a split call's answered requests billed; what the vendor reported
        # for attempts recorded apart (all that the call was charged).
        cut, estimated = _charged(call, billed) if priced is None else (None, False)
        if call.span is not None:
            self._tracer.fail(  # type: ignore[union-attr]
                call, error, priced or cut, estimated=estimated
            )
        if calls_log.isEnabledFor(logging.INFO):
            where = target or Target(error.provider or "", error.model or "")
            self.log_call(
                call,
                where,
                time.monotonic() - call.started,
                response=priced or cut,
                error=error,
                estimated=estimated,
            )
        if not self.recording:
            return
        if priced is not None and target is not None:
            record = self.partial_record(
                call,
                target,
                priced,
                type(error).__name__,
                str(error),
                error.status,
            )
            await self.emit(record)
            return
        fields = self.record_fields(call, target or Target(error.provider or "", error.model or ""))
        if call.cut is not None:  # an attempt the total timeout cut off: its prompt billed
            fields["usage"], fields["cost"], _ = call.cut
            fields["usage_estimated"] = True
        elif billed is not None:  # the requests answered before one failed: billed
            fields["usage"], fields["cost"], fields["usage_estimated"] = billed
        record = CallRecord(
            **fields,
            latency=time.monotonic() - call.started,
            attempts=call.attempts,
            error_type=type(error).__name__,
            error_message=str(error),
            status=error.status,
        )
        await self.emit(record)

    async def cancelled(
        self,
        call: _Call,
        message: str = "cancelled before the answer arrived",
        error_type: str = "Cancelled",
        *,
        billed: tuple[Usage, Decimal | None, bool] | None = None,
    ) -> None:
        """A non-streamed call its caller cancelled: traced, logged and recorded as a
        failed call (``Cancelled``), as a cancelled stream is. Nothing of the answer
        had arrived; a chat cut off with its request sent carries its prompt's
        estimated usage and cost, which its budget kept (``call.cut``: the vendor
        bills a prompt it received). ``billed``: what a call split into several
        requests had answered before the cancellation (and whether they are
        estimates), which its limits were settled with, as :meth:`fail` takes. A
        streamed speech or transcription
        the caller left by a cancellation or an exception (``error_type``
        ``CallerError``) is recorded so too, with ``message`` saying which."""
        call.ended = True
        target = call.served or call.span_target or call.targets[0]
        # the span and the log line carry what the call was charged (see fail)
        cut, estimated = _charged(call, billed)
        if call.span is not None:
            self._tracer.cancelled(  # type: ignore[union-attr]
                call, message, error_type, cut, estimated=estimated
            )
        latency = time.monotonic() - call.started
        if calls_log.isEnabledFor(logging.INFO):
            self.log_call(
                call, target, latency, response=cut, failed=error_type, estimated=estimated
            )
        if self.recording:
            fields = self.record_fields(call, target)
            if call.cut is not None:
                fields["usage"], fields["cost"], _ = call.cut
                fields["usage_estimated"] = True
            elif billed is not None:  # the requests answered before the cancellation
                fields["usage"], fields["cost"], fields["usage_estimated"] = billed
            record = CallRecord(
                **fields,
                latency=latency,
                attempts=call.attempts,
                error_type=error_type,
                error_message=message,
            )
            await self.emit(record)

    async def left_early(
        self, call: _Call, target: Target, partial: ChatResponse, error_type: str, message: str
    ) -> ChatResponse:
        """A stream the caller left by an exception or a cancellation: a failed call.

        Its record, span and log line say why (``error_type``: ``CallerError`` or
        ``Cancelled``) and keep what had arrived, with its usage and cost; the
        span and log line mark that usage estimated when it is relaykit's
        estimate (``partial.usage_estimated``: the vendor's usage had not come).
        """
        response = self.priced(call, target, partial)
        if call.span is not None:
            self._tracer.left_early(call, response, error_type, message)  # type: ignore[union-attr]
        if calls_log.isEnabledFor(logging.INFO):
            self.log_call(
                call,
                target,
                response.latency or 0.0,
                response=response,
                failed=error_type,
                estimated=response.usage_estimated,
            )
        if self.recording:
            await self.emit(self.partial_record(call, target, response, error_type, message))
        return response

    def priced(self, call: _Call, target: Target, partial: ChatResponse) -> ChatResponse:
        """``partial`` with the call's latency, attempts and the cost of its usage so far."""
        price = self._price(target, partial.model)
        return with_call_fields(
            partial,
            provider=target.provider,
            model=partial.model or target.model,
            latency=time.monotonic() - call.started,
            cost=price.cost(partial.usage) if price is not None else None,
            attempts=call.attempts,
        )

    def partial_record(
        self,
        call: _Call,
        target: Target,
        partial: ChatResponse,
        error_type: str,
        message: str,
        status: int | None = None,
    ) -> CallRecord:
        """The record of a stream that failed after it started, with what had arrived
        (content not redacted yet: ``emit`` redacts it, with the message)."""
        fields = self.record_fields(call, target)
        if not self.content:
            fields.update(NO_ANSWER_CONTENT)
        # ``partial.usage_estimated``: the vendor's usage had not come (billed_usage.so_far)
        return CallRecord.from_response(
            partial,
            **fields,
            error_type=error_type,
            error_message=message,
            status=status,
            chunk_gaps=call.chunk_gaps,
        )

    def record_fields(self, call: _Call, target: Target) -> dict[str, Any]:
        """The fields of ``call``'s record that do not come from its answer, as served
        by ``target``; a call that is not a chat gets its kind's
        (:attr:`relaykit.single_calls.Operation.record_fields`)."""
        if call.kind is not None:
            return call.kind.record_fields(self, call, target)
        request = call.request
        return {
            "id": call.id,
            "started_at": call.started_wall,
            "operation": "chat",
            "provider": target.provider,
            "model_requested": call.model_requested,
            "model": target.model,
            "streamed": call.streamed,
            "fallbacks": call.fallbacks,
            "messages": request.messages if self.content else (),
            "params": self.record_params(request),
            "correlation_id": self.mask_id(request.metadata.get("correlation_id")),
            "conversation_id": self.mask_id(request.metadata.get("conversation_id")),
            "finished_at": time.time(),
            "route": self.route_names(call),
            "route_errors": self.route_errors(call),
        }

    def mask_id(self, value: str | None) -> str | None:
        """``value`` (a record's ``correlation_id`` or ``conversation_id``: the caller's
        to choose) with every secret the client knows or recognises masked."""
        return self._known.mask(value)

    def record_params(self, request: ChatRequest) -> dict[str, Any]:
        """What the caller asked for besides the messages, as plain JSON values.

        This runs on every recorded call: the usual one (numbers, no tools) costs a
        few attribute checks; the structured parameters are rarer and built apart,
        already redacted when something reads the record's content.
        """
        params: dict[str, Any] = {}
        if request.max_tokens is not None:
            params["max_tokens"] = request.max_tokens
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.top_p is not None:
            params["top_p"] = request.top_p
        if request.seed is not None:
            params["seed"] = request.seed
        if request.stop:
            # The caller's text, as a prompt is (a record's stop_sequence is one of them)
            params["stop"] = [self.redaction.text(stop) for stop in request.stop]
        if request.timeout is not None:
            params["timeout"] = request.timeout if request.timeout != inf else None
        if request.tool_choice is not None:
            params["tool_choice"] = tool_choice_param(request.tool_choice)
        if request.reasoning is not None:
            params["reasoning"] = request.reasoning.to_param()
        search = request.web_search
        if search is not None:
            params["web_search"] = search.to_param()
        if self.content and (
            request.tools
            or request.response_format is not None
            or request.extra
            or (request.metadata and not request.metadata.keys() <= ID_KEYS)
            or (search is not None and search.location is not None)
        ):
            # Redacted here, so every record (success, failure, hedge) has it redacted once.
            add_content_params(request, params, self.redaction.value)
        return params

    def route_names(self, call: _Call) -> tuple[str, ...]:
        """The deployments ``call`` asked, one per attempt in the order started, as
        ``provider/model`` names; those its route planned if it asked none yet."""
        # The same few paths every call: their names are built once.
        targets = call.tried or call.targets
        names = self._route_name_cache.get(targets)
        if names is None:
            names = tuple(map(str, targets))
            if len(self._route_name_cache) >= 1024:
                self._route_name_cache.clear()
            self._route_name_cache[targets] = names
        return names

    @staticmethod
    def route_errors(call: _Call) -> tuple[str, ...]:
        """What each of ``call``'s attempts failed with, in the order of
        :meth:`route_names` (``""`` for one that did not); empty when none failed."""
        errors = call.tried_errors
        if errors is None:
            return ()
        return tuple([errors.get(i, "") for i in range(len(call.tried))])

    @staticmethod
    def route_errors_with(
        call: _Call, target: Target, error_type: str, status: int | None
    ) -> tuple[str, ...]:
        """:meth:`route_errors` for the record of ``call``'s latest attempt on
        ``target``, which ended with ``error_type`` (and ``status``): that attempt's
        own entry included, which the call notes only once its error is raised
        (after this record is written), so that the record says why it was left."""
        tried = call.tried
        if target not in tried:
            return CallOutcomes.route_errors(call)
        index = len(tried) - 1 - tried[::-1].index(target)
        errors = call.tried_errors or {}
        own = error_type if status is None else f"{error_type} {status}"
        return tuple([own if i == index else errors.get(i, "") for i in range(len(tried))])

    async def record_hedge_loser(
        self,
        call: _Call,
        target: Target,
        answer: ChatResponse | None = None,
        message: str = "answered after another target had: billed, not used",
    ) -> None:
        """Record the hedged attempt that lost the race (error type ``HedgeCancelled``).

        Cancelled mid-call, it carries the prompt cost it likely ran up (an
        estimate). With ``answer``, it answered after the race was won: it
        carries that answer's usage and cost, which the provider billed and the
        budget charged (see hedging.py); ``message`` says why it went unused.
        The call's span notes either as a ``relaykit.hedge_loser`` event.
        """
        # An id of its own: storage keeps one record per id and ignores a second
        # (relaykit-sqlite's INSERT OR IGNORE, relaykit-postgres's ON CONFLICT), and
        # this record is written before the winner's, which was then lost. Derived
        # from the call's id, so the two still read as one call's.
        ident = f"{call.id}-hedge-{target}"
        if answer is not None:
            priced = self.priced(call, target, answer)
            if call.span is not None:
                self._tracer.hedge_loser(  # type: ignore[union-attr]
                    call, target, priced, estimated=priced.usage_estimated
                )
            if not self.recording:
                return
            record = self.partial_record(call, target, priced, "HedgeCancelled", message)
            await self.emit(attrs.evolve(record, id=ident))
            return
        # What its attempt's hold was settled with (``Client._cut_off``): the records of a
        # hedged call add up to what the budget charged.
        cut = self._cut_off(call, target)
        if call.span is not None:
            self._tracer.hedge_loser(call, target, cut, estimated=True)  # type: ignore[union-attr]
        await self._record_cut_off(
            call, target, cut, ident, "HedgeCancelled", "cancelled: another target answered first"
        )

    async def record_timed_out_attempt(
        self, call: _Call, target: Target, which: str = "first_token"
    ) -> ChatResponse:
        """Record an attempt on ``target`` that ``[timeouts] which`` cut off (a stream's
        with no first piece within ``first_token``, a chat's with no answer within
        ``attempt``; error type ``RequestTimeoutError``), before the call tries
        again: the vendor had its request and bills the prompt, which the attempt's
        hold is settled with (the answer returned: its estimate). A record of its
        own (id ``<call id>-attempt-<n>``), so a call's records add up to what its
        budget charged however its later attempts end."""
        what = "first piece" if which == "first_token" else "answer"
        return await self.record_unreported_attempt(
            call, target, "RequestTimeoutError", f"no {what} within timeouts.{which}: tried again"
        )

    async def record_unreported_attempt(
        self,
        call: _Call,
        target: Target,
        error_type: str,
        message: str,
        status: int | None = None,
    ) -> ChatResponse:
        """Record an attempt on ``target`` the call gave up on (``error_type``,
        ``message``) before the vendor reported any usage: it had the request and
        bills the prompt, so the attempt's hold settles with the prompt's estimate
        (returned) and a record of its own carries it (id ``<call id>-attempt-<n>``,
        marked estimated), as :meth:`record_reported_attempt`'s carries the usage
        the vendor reported."""
        cut = self._cut_off(call, target)
        await self._record_cut_off(
            call,
            target,
            cut,
            f"{call.id}-attempt-{call.attempts}",
            error_type,
            message,
            status,
        )
        return cut

    async def record_broken_attempt(
        self, call: _Call, target: Target, reported: ChatResponse, error: RelayError
    ) -> ChatResponse:
        """Record a stream's attempt on ``target`` that broke (``error``) before its
        first piece, after the vendor had reported usage (Anthropic's
        ``message_start`` counts the prompt; some compatible servers send usage
        early): the vendor counted it, so the attempt's hold settles with it (the
        answer returned: ``reported``, priced) and a record of its own carries it
        (id ``<call id>-attempt-<n>``, as :meth:`record_timed_out_attempt`'s), so a
        call's records add up to what its budget charged however its later
        attempts end. The vendor's counts: not marked estimated."""
        self._known.mask_error(error)
        return await self.record_reported_attempt(
            call,
            target,
            reported,
            type(error).__name__,
            f"the stream broke before its first piece: {error}",
            error.status,
        )

    async def record_reported_attempt(
        self,
        call: _Call,
        target: Target,
        reported: ChatResponse,
        error_type: str,
        message: str,
        status: int | None = None,
    ) -> ChatResponse:
        """Record a stream's attempt on ``target`` that ended before its first piece
        (``error_type``, ``message``: a break, the first-token or total timeout, the
        caller's cancellation), or a chat's whose answer the call fell back from (a
        content filter's: attempts.filtered_answer), after the vendor had reported
        usage: the attempt's
        hold settles with that usage (the answer returned: ``reported``, priced) and a
        record of its own carries it (id ``<call id>-attempt-<n>``), not marked
        estimated, as :meth:`record_broken_attempt` says."""
        priced = self.priced(call, target, reported)
        # For the call's span and log line, should it end without an answer
        # (see _charged): this record, not the call's, charges it.
        before = call.reported
        if before is None:
            call.reported = (priced.usage, priced.cost)
        else:
            costs = [c for c in (before[1], priced.cost) if c is not None]
            call.reported = (before[0] + priced.usage, sum(costs[1:], costs[0]) if costs else None)
        if self.recording:
            fields = self.record_fields(call, target)
            fields["id"] = f"{call.id}-attempt-{call.attempts}"
            fields["route_errors"] = self.route_errors_with(call, target, error_type, status)
            record = CallRecord(
                **fields,
                latency=priced.latency,
                attempts=call.attempts,
                usage=priced.usage,
                cost=priced.cost,
                model_served=reported.model or None,
                response_id=reported.id,
                error_type=error_type,
                error_message=message,
                status=status,
            )
            await self.emit(record)
        return priced

    def _cut_off(self, call: _Call, target: Target) -> ChatResponse:
        """What an attempt cut off before its answer ran up: its prompt, estimated."""
        price = self._price(target, "")
        usage = cut_off_usage(call)
        return ChatResponse(usage=usage, cost=price.cost(usage) if price is not None else None)

    async def _record_cut_off(
        self,
        call: _Call,
        target: Target,
        cut: ChatResponse,
        ident: str,
        error_type: str,
        message: str,
        status: int | None = None,
    ) -> None:
        """The record (id ``ident``) of an attempt on ``target`` cut off with ``cut``."""
        if not self.recording:
            return
        fields = self.record_fields(call, target)
        fields["id"] = ident
        fields["route_errors"] = self.route_errors_with(call, target, error_type, status)
        record = CallRecord(
            **fields,
            latency=time.monotonic() - call.started,
            attempts=call.attempts,
            usage=cut.usage,
            cost=cut.cost,
            usage_estimated=True,  # its prompt, as estimated: the vendor never said
            error_type=error_type,
            error_message=message,
            status=status,
        )
        await self.emit(record)

    async def emit(self, record: CallRecord) -> None:
        """Redact ``record``; hand it to the exporters and storage."""
        record = self.redaction.record(record)
        for exporter in self._record_exporters:
            exporter.record(record)
        if self._call_log is not None:
            await self.store(record)

    async def store(self, record: CallRecord) -> None:
        """Queue ``record`` for storage; tell the exporters how deep the queue is."""
        assert self._call_log is not None
        await self._call_log.put(record)
        if self._exporters:
            depth = QueueDepth(self._call_log.depth)
            for exporter in self._exporters:
                exporter.record(depth)

    def log_call(
        self,
        call: _Call,
        target: Target,
        latency: float,
        *,
        response: AnyAnswer | None = None,
        error: RelayError | None = None,
        failed: str | None = None,
        estimated: bool = False,
    ) -> None:
        """One INFO line on ``relaykit.calls`` (see :mod:`relaykit.log_format`).

        ``failed``: the error type of a stream the caller left early (with ``response``);
        ``error`` with ``response``: a broken stream and what it had sent (priced).
        ``estimated``: ``response``'s usage and cost are relaykit's estimate of what
        a call cut off mid-call was billed (``usage_estimated``), not the vendor's;
        so are those of an answer marked ``usage_estimated`` itself (a stream that
        ended before the vendor's usage came, an answer without usage).
        """
        fields = call_fields(
            request_id=call.id,
            correlation_id=self._known.mask(call.request.metadata.get("correlation_id")),
            provider=target.provider,
            model=target.model,
            stage="completed" if error is None and failed is None else "failed",
            latency=latency,
            attempts=call.attempts,
            streamed=call.streamed,
        )
        if call.operation != "chat":
            fields["operation"] = call.operation
        if self._log_metadata:
            metadata = call.request.metadata
            shown = {k: self._known.mask(metadata[k]) for k in self._log_metadata if k in metadata}
            if shown:
                fields["metadata"] = shown
        if response is not None:
            add_response_fields(fields, response)
            if estimated or getattr(response, "usage_estimated", False):  # a chat's
                fields["usage_estimated"] = True
        if error is not None:
            fields["error_type"] = type(error).__name__
            if error.status is not None:
                fields["status"] = error.status
            calls_log.info("%s failed: %s", target, self.redaction.text(str(error)), extra=fields)
        elif failed is not None:
            fields["error_type"] = failed
            calls_log.info("%s failed: %s", target, failed, extra=fields)
        else:
            calls_log.info("%s completed in %.3fs", target, latency, extra=fields)


#: the order in which CallOutcomes.success_record passes a record's fields
_SUCCESS_FIELDS = (
    "id",
    "started_at",
    "operation",
    "provider",
    "model_requested",
    "model",
    "streamed",
    "fallbacks",
    "messages",
    "params",
    "correlation_id",
    "conversation_id",
    "finished_at",
    "route",
    "route_errors",
    "text",
    "reasoning",
    "reasoning_parts",
    "tool_calls",
    "usage",
    "cost",
    "latency",
    "time_to_first_token",
    "finish_reason",
    "attempts",
    "cache_hit",
    "model_served",
    "response_id",
    "citations",
    "search_queries",
    "error_type",
    "error_message",
    "status",
    "usage_estimated",
    "stop_sequence",
    "chunk_gaps",
)
_new_success_record = positional_builder(CallRecord, _SUCCESS_FIELDS)


def _charged(
    call: _Call, billed: tuple[Usage, Decimal | None, bool] | None = None
) -> tuple[ChatResponse | None, bool]:
    """What a call that ends failed or cancelled, with no answer, was charged, as an
    answer for its span and log line, and whether any of it is relaykit's estimate;
    ``None`` if nothing was.

    The prompts of attempts cut off mid-call (``call.cut``, estimated), else what
    the answered requests of a split call billed (``billed``), both on the call's
    own record; and what the vendor reported for attempts recorded apart
    (``call.reported``), so the span and line add up to all of its records.
    """
    parts: list[tuple[Usage, Decimal | None, bool]] = []
    if call.cut is not None:
        parts.append((call.cut[0], call.cut[1], True))
    elif billed is not None:
        parts.append(billed)
    if call.reported is not None:
        parts.append((*call.reported, False))
    if not parts:
        return None, False
    usage = Usage()
    cost: Decimal | None = None
    for part_usage, part_cost, _ in parts:
        usage += part_usage
        if part_cost is not None:
            cost = part_cost if cost is None else cost + part_cost
    return ChatResponse(usage=usage, cost=cost), any(part[2] for part in parts)


def cut_off_usage(call: _Call) -> Usage:
    """The usage an attempt cut off mid-call is charged and recorded with: the
    prompt's estimated tokens (:func:`~relaykit.call_limits.prompt_tokens`), no output."""
    return prompt_only(prompt_tokens(call))
