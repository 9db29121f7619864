"""Redact what goes to the provider, and restore what comes back.

Reversible redactors (those with ``restore``, e.g. relaykit-pii with
``[redactors.pii] outbound = true``) replace sensitive values in the prompt
with placeholders before the provider sees it; the answer's placeholders are
turned back into the originals before the caller sees it. In a stream a
placeholder can arrive split over two chunks, so :class:`StreamRestorer` holds
back a tail that could still become one.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import attrs

from .events import (
    Finish,
    LogprobsDelta,
    ReasoningDelta,
    SearchQuery,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
)
from .messages import (
    DocumentPart,
    Message,
    Part,
    ReasoningPart,
    TextPart,
    ToolCall,
    ToolResultPart,
)
from .protocols import Redactor
from .request import ChatRequest
from .response import ChatResponse
from .web_search import Citation


def moved_citation(citation: Citation, text: str, restore: Callable[[str], str]) -> Citation:
    """``citation`` with its offsets into the provider's ``text`` moved to where they
    fall in the caller's, restored, text: a placeholder before a cited span and the
    value it stands for differ in length. The restored prefix up to an offset is
    as long as the caller's text up to it (a placeholder is never cut by a cited
    span's edge, which falls between words)."""
    start, end = citation.start, citation.end
    if start is None and end is None:
        return citation
    return attrs.evolve(
        citation,
        start=None if start is None else len(restore(text[:start])),
        end=None if end is None else len(restore(text[:end])),
    )


def restored_queries(queries: tuple[str, ...], restore: Callable[[str], str]) -> tuple[str, ...]:
    """A web search's queries as the caller should read them: the model wrote them
    from the prompt it saw, placeholders and all, as it wrote its answer.

    Not Gemini's Search Suggestions: they are HTML, and a value put back into it
    unescaped could break it (or script it); they show what Google searched for.
    """
    return tuple([restore(q) for q in queries]) if queries else queries


def _restored(text: str | None, restore: Callable[[str], str]) -> str | None:
    return text if text is None else restore(text)


#: the signed reasoning blocks whose model-written text a client remembers
SIGNED_BLOCKS = 4096


class SignedReasoning:
    """The text a model wrote in each signed reasoning block, by its signature.

    A vendor checks a block sent back against its signature (Anthropic refuses
    it otherwise), so it must go back as the model wrote it. Redacting the
    caller's restored text again gives that back only where restoring and
    redacting undo each other; not where the model wrote a value itself, made
    up a placeholder, or echoed one in another case. Bounded (oldest out first);
    it holds what the vendor sent, which the vendor has already.
    """

    def __init__(self, size: int = SIGNED_BLOCKS) -> None:
        self._size = size
        self._blocks: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<signed reasoning: {len(self._blocks)} blocks>"

    def keep(self, signature: str, restored: str, written: str) -> None:
        """Remember that the block signed ``signature`` was ``written``, shown as ``restored``."""
        with self._lock:
            self._blocks[signature] = (restored, written)
            self._blocks.move_to_end(signature)
            while len(self._blocks) > self._size:
                self._blocks.popitem(last=False)

    def written(self, signature: str, text: str) -> str | None:
        """What the model wrote in the block signed ``signature``, if the caller's
        ``text`` is what it was shown (unchanged)."""
        kept = self._blocks.get(signature)
        return kept[1] if kept is not None and kept[0] == text else None


def reversible(redactors: Sequence[Redactor]) -> list[Any]:
    """The redactors that can restore what they redact."""
    return [r for r in redactors if callable(getattr(r, "restore", None))]


class StreamRestorer:
    """Restores placeholders in text that arrives in pieces.

    ``feed`` returns what can be passed on now; a tail that may be the start of
    a placeholder (each redactor's ``holdback``) waits for the next piece.
    ``flush`` returns whatever is left at the end of the stream.
    """

    def __init__(
        self, restore: Callable[[str], str], holdbacks: Sequence[Callable[[str], int]]
    ) -> None:
        self._restore = restore
        self._holdbacks = holdbacks
        self._pending = ""

    def feed(self, text: str) -> str:
        """Restore what is safe to restore of everything received so far."""
        text = self._pending + text
        hold = max((h(text) for h in self._holdbacks), default=0)
        if hold <= 0:
            self._pending = ""
            return self._restore(text)
        self._pending = text[-hold:]
        return self._restore(text[:-hold])

    def flush(self) -> str:
        """The held-back tail, restored as far as it can be."""
        text, self._pending = self._pending, ""
        return self._restore(text) if text else ""


class OutboundRedaction:
    """The redact-outbound and restore-inbound steps of the pipeline."""

    def __init__(self, redactors: Sequence[Any], signed: SignedReasoning | None = None) -> None:
        self._redactors = tuple(redactors)
        #: shared by a client's calls: a block comes back on a later call
        self._signed = signed if signed is not None else SignedReasoning()
        self._holdbacks = [r.holdback for r in redactors if callable(getattr(r, "holdback", None))]
        # A name goes where a vendor takes only some characters (OpenAI:
        # ^[a-zA-Z0-9_-]+$): a redactor may have placeholders that fit there.
        self._name_redacts = [getattr(r, "redact_name", r.redact) for r in redactors]

    def for_call(self) -> OutboundRedaction:
        """The steps for one call: a redactor with ``session()`` gives each call its
        own placeholders, so that its answer gets back only its own prompt's values
        (never those of another call a model or a user names), and fallbacks and
        retries, which resend the request redacted once, restore the same ones."""
        if not any(callable(getattr(r, "session", None)) for r in self._redactors):
            return self
        return OutboundRedaction(
            [r.session() if callable(getattr(r, "session", None)) else r for r in self._redactors],
            self._signed,
        )

    @classmethod
    def create(cls, redactors: Sequence[Redactor]) -> OutboundRedaction | None:
        """The step for the reversible ``redactors``, or ``None`` when there is none."""
        found = reversible(redactors)
        return cls(found) if found else None

    # -- text ---------------------------------------------------------------

    def redact(self, text: str) -> str:
        """``text`` with every reversible redactor's placeholders in."""
        for r in self._redactors:
            text = r.redact(text)
        return text

    def restore(self, text: str) -> str:
        """``text`` with placeholders turned back into the originals (last redactor first)."""
        for r in reversed(self._redactors):
            text = r.restore(text)
        return text

    def _value(self, value: Any, fix: Callable[[str], str]) -> Any:
        if isinstance(value, str):
            return fix(value)
        if isinstance(value, dict):
            # names too (a map keyed by address); relaykit-pii gives one call's
            # different values different placeholders, so no two names become one
            return {
                fix(k) if isinstance(k, str) else k: self._value(v, fix) for k, v in value.items()
            }
        if isinstance(value, list):
            return [self._value(v, fix) for v in value]
        return value

    def _tool_call(self, call: ToolCall, fix: Callable[[str], str]) -> ToolCall:
        # raw_arguments: what a model wrote that was no JSON, as it wrote it
        raw = call.raw_arguments
        return attrs.evolve(
            call,
            arguments=self._value(call.arguments, fix),
            raw_arguments=raw if raw is None else fix(raw),
        )

    def _document(self, part: DocumentPart) -> DocumentPart:
        # A text file is the caller's text as a message is, and a file's name is
        # sent with it (a filename, a quoted document's name: placeholders that
        # fit in one, as in a participant's name). Bytes that are no
        # UTF-8 go back as they came (surrogateescape); PDFs, like images, are
        # sent as they are: no redactor reads them.
        name = part.name if part.name is None else self._name(part.name)
        data = part.data
        if part.media_type == "text/plain" and data:
            text = data.decode("utf-8", "surrogateescape")
            redacted = self.redact(text)
            if redacted != text:
                data = redacted.encode("utf-8", "surrogateescape")
        if name == part.name and data is part.data:
            return part
        return attrs.evolve(part, name=name, data=data)

    def _part(self, part: Part, fix: Callable[[str], str]) -> Part:
        if isinstance(part, TextPart):
            return TextPart(fix(part.text))
        if isinstance(part, ToolResultPart):
            attachments = tuple(
                [self._document(a) if isinstance(a, DocumentPart) else a for a in part.attachments]
            )
            return attrs.evolve(part, content=fix(part.content), attachments=attachments)
        if isinstance(part, DocumentPart):
            return self._document(part)
        if isinstance(part, ToolCall):
            return self._tool_call(part, fix)
        if isinstance(part, ReasoningPart) and part.text:
            # Only the text: the signature and redacted data are opaque and go back
            # unchanged. A signed block the caller did not change goes back as the
            # model wrote it (SignedReasoning); any other is redacted as text is.
            if part.signature is not None:
                written = self._signed.written(part.signature, part.text)
                if written is not None:
                    return attrs.evolve(part, text=written)
            return attrs.evolve(part, text=fix(part.text))
        return part

    # -- pipeline steps -----------------------------------------------------

    def request(self, request: ChatRequest) -> ChatRequest:
        """The request as the provider may see it.

        Stop sequences too: the model writes placeholders where the prompt has
        them, so a stop sequence holding a redacted value can only match as the
        model will write it (and the vendor then names it so: :meth:`response`
        restores it).
        """
        messages = tuple(self._message(m) for m in request.messages)
        if not request.stop:
            return attrs.evolve(request, messages=messages)
        stop = tuple([self.redact(s) for s in request.stop])
        return attrs.evolve(request, messages=messages, stop=stop)

    def _message(self, message: Message) -> Message:
        parts: tuple[Part, ...] = tuple(self._part(p, self.redact) for p in message.content)
        # A participant name is content too: the provider sees it redacted, with
        # placeholders a name may hold (a vendor refuses "<" in one).
        name = message.name if message.name is None else self._name(message.name)
        return Message(message.role, parts, name=name)

    def _name(self, name: str) -> str:
        # bracket-free placeholders where a redactor has them (redact_name)
        for redact in self._name_redacts:
            name = redact(name)
        return name

    def response(self, response: ChatResponse) -> ChatResponse:
        """The response as the caller should see it (the fields it restores are the
        ones :func:`as_written` takes back: change the two together)."""
        calls = tuple([self._tool_call(c, self.restore) for c in response.tool_calls])
        parts = response.reasoning_parts
        if parts:
            parts = tuple([self._reasoning_part(p) for p in parts])
        citations = response.citations
        if citations:
            text, restore = response.text, self.restore
            citations = tuple([moved_citation(c, text, restore) for c in citations])
        return attrs.evolve(
            response,
            text=self.restore(response.text),
            reasoning=self.restore(response.reasoning),
            reasoning_parts=parts,
            tool_calls=calls,
            citations=citations,
            search_queries=restored_queries(response.search_queries, self.restore),
            stop_sequence=_restored(response.stop_sequence, self.restore),
        )

    def _reasoning_part(self, part: ReasoningPart) -> ReasoningPart:
        if not part.text:
            return part
        text = self.restore(part.text)
        if part.signature is not None:
            self._signed.keep(part.signature, text, part.text)
        return attrs.evolve(part, text=text)

    def restorer(self) -> StreamEventRestorer:
        """A fresh restorer for one stream's events (see :class:`StreamEventRestorer`)."""
        return StreamEventRestorer(self.restore, self._holdbacks, self._signed)

    def events(self, events: AsyncIterator[StreamEvent]) -> AsyncIterator[StreamEvent]:
        """``events`` with placeholders restored, even when split across chunks."""
        return self.restorer().events(events)


#: the submitted batches whose placeholders a client remembers, for their results
BATCH_SESSIONS = 1024


class BatchSessions:
    """Each batch's outbound redaction (its own placeholders), by batch id.

    A batch is redacted once, at submit, and its results are read later (minutes
    to a day), maybe more than once. Restoring them from a redactor's map of
    every value the process replaced would hand a batch another caller's value
    for a placeholder its prompt or model wrote, and lose values that map has
    dropped (``max_values``). So each batch keeps its own session, in this
    client's memory only: the originals are personal data, and kept next to the
    batch id at rest they would be that data at rest. A client that did not
    submit the batch (another process: ``relaykit batch results``) restores
    none of a session redactor's placeholders; the answer keeps them as written.

    Bounded (the oldest batch out first); a batch forgotten restores as one
    read by another client does.
    """

    def __init__(self, outbound: OutboundRedaction, size: int = BATCH_SESSIONS) -> None:
        self._outbound = outbound
        self._size = size
        self._batches: OrderedDict[str, OutboundRedaction] = OrderedDict()
        self._lock = threading.Lock()
        # What restores a batch this client has no session for: the redactors
        # that keep no sessions (theirs is the redactor's own map), if any.
        shared = [r for r in outbound._redactors if not callable(getattr(r, "session", None))]
        self._unknown = OutboundRedaction(shared, outbound._signed) if shared else None

    def __repr__(self) -> str:
        return f"<batch sessions: {len(self._batches)} batches>"

    def start(self) -> OutboundRedaction:
        """The redaction of a batch about to be submitted (one session for its items)."""
        return self._outbound.for_call()

    def keep(self, batch_id: str, outbound: OutboundRedaction) -> None:
        """Remember the redaction of the submitted batch ``batch_id``."""
        with self._lock:
            self._batches[batch_id] = outbound
            while len(self._batches) > self._size:
                self._batches.popitem(last=False)

    def get(self, batch_id: str) -> OutboundRedaction | None:
        """What restores ``batch_id``'s results: its own session when this client
        submitted it, else only redactors without sessions (``None``: nothing)."""
        with self._lock:
            return self._batches.get(batch_id, self._unknown)


class StreamEventRestorer:
    """Restores one stream's text, reasoning and tool arguments, each held back apart.

    :meth:`events` passes events on restored; :meth:`held` hands over what is
    still held back when the stream cannot go on (it broke, or the caller left),
    so the partial response has it too.
    """

    def __init__(
        self,
        restore: Callable[[str], str],
        holdbacks: Sequence[Callable[[str], int]],
        signed: SignedReasoning | None = None,
    ) -> None:
        self._restore = restore
        self._holdbacks = holdbacks
        self._signed = signed
        #: the current reasoning block as the model wrote it, and as restored
        self._block_written: list[str] = []
        self._block_shown: list[str] = []
        self._text = StreamRestorer(restore, holdbacks)
        self._reasoning = StreamRestorer(restore, holdbacks)
        self._tools: dict[int, StreamRestorer] = {}
        #: the provider's text so far: a citation's offsets index it (moved_citation)
        self._raw: list[str] = []

    def held(self) -> list[StreamEvent]:
        """The held-back pieces as events (restored as far as they can be), released."""
        out: list[StreamEvent] = []
        if rest := self._text.flush():
            out.append(TextDelta(rest))
        if rest := self._reasoning.flush():
            self._block_shown.append(rest)
            out.append(ReasoningDelta(rest))
        for index, restorer in self._tools.items():
            if rest := restorer.flush():
                out.append(ToolCallDelta(index, arguments=rest))
        return out

    def _signed_block(self, event: ReasoningDelta) -> None:
        # The signature comes with the block's last delta (or after it): the
        # block as written and as shown is whole then.
        if event.signature is not None and self._signed is not None and self._block_written:
            written, shown = "".join(self._block_written), "".join(self._block_shown)
            self._signed.keep(event.signature, shown, written)

    async def events(self, events: AsyncIterator[StreamEvent]) -> AsyncIterator[StreamEvent]:
        """``events`` with placeholders restored; at their end, whatever was held back."""
        text, reasoning, tools = self._text, self._reasoning, self._tools
        try:
            async for event in events:
                if isinstance(event, TextDelta):
                    self._raw.append(event.text)
                    if out := text.feed(event.text):
                        yield TextDelta(out)
                    continue
                if isinstance(event, ReasoningDelta) and event.text:
                    if event.new_block:
                        if rest := reasoning.flush():
                            yield ReasoningDelta(rest)  # the end of the block before
                        self._block_written.clear()
                        self._block_shown.clear()
                    self._block_written.append(event.text)
                    shown = reasoning.feed(event.text)
                    if event.signature is not None:  # the block ends here
                        shown += reasoning.flush()
                    self._block_shown.append(shown)
                    event = attrs.evolve(event, text=shown)
                    self._signed_block(event)
                elif isinstance(event, ToolCallDelta) and event.arguments:
                    restorer = tools.get(event.index)
                    if restorer is None:
                        restorer = tools[event.index] = StreamRestorer(
                            self._restore, self._holdbacks
                        )
                    event = attrs.evolve(event, arguments=restorer.feed(event.arguments))
                elif isinstance(event, LogprobsDelta):
                    # Each chunk's follows its text: no end of a run of text, or a
                    # placeholder split across chunks would be released half written.
                    # (Its tokens are the model's, placeholders and all.)
                    pass
                else:
                    # Anything else (usage, finish) ends a run of text: release what is held.
                    for held in self.held():
                        yield held
                    if isinstance(event, ReasoningDelta):
                        if event.new_block:
                            self._block_written.clear()
                            self._block_shown.clear()
                        self._signed_block(event)
                    if isinstance(event, Citation):
                        event = moved_citation(event, "".join(self._raw), self._restore)
                    elif isinstance(event, SearchQuery):
                        event = SearchQuery(self._restore(event.query))
                    elif isinstance(event, Finish) and (
                        event.search_queries or event.stop_sequence
                    ):
                        event = attrs.evolve(
                            event,
                            search_queries=restored_queries(event.search_queries, self._restore),
                            stop_sequence=_restored(event.stop_sequence, self._restore),
                        )
                yield event
            # The end, with or without the vendor's finish event: nothing may stay held.
            for held in self.held():
                yield held
        finally:
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                await aclose()


def as_written(response: ChatResponse, written: ChatResponse) -> ChatResponse:
    """``response`` with what :meth:`OutboundRedaction.response` restores in it as the
    provider wrote it, in ``written``: placeholders, not the caller's values (what
    the response cache keeps)."""
    return attrs.evolve(
        response,
        text=written.text,
        reasoning=written.reasoning,
        reasoning_parts=written.reasoning_parts,
        tool_calls=written.tool_calls,
        citations=written.citations,
        search_queries=written.search_queries,
        stop_sequence=written.stop_sequence,
    )
