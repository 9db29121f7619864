"""Apply every configured redactor to what leaves the client (records, logs)."""

from __future__ import annotations

import hashlib
import operator
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import attrs

from .messages import (
    DocumentPart,
    Message,
    ReasoningPart,
    Role,
    TextPart,
    ToolCall,
    ToolResultPart,
)
from .plugin_faults import checked_redact
from .protocols import CallRecord, Redactor
from .web_search import Citation

#: the characters a chain's memo holds by default (``[redaction] memo_mb``; texts
#: and results, about bytes for ASCII text): enough for a server holding ~200
#: chats of ten exchanges each, which resend their history every turn
MEMO_CHARS = 8 * 2**20  # RedactionConfig.memo_mb's default
#: shorter texts cost about as much to redact as to look up; a longer one
#: (a pasted document) would push out everything else
MEMO_MIN_TEXT = 128
MEMO_MAX_TEXT = 65_536


class MemoSize(NamedTuple):
    """How much a :class:`RedactionChain` remembers: results, and the characters it holds."""

    entries: int
    chars: int


#: what the recent results hold for a text the redactors left as it was (not
#: the text itself, which the caller has in hand when it comes again): a string
#: made at run time, so that no redactor's result is this very object (results
#: are told from it by identity, and a redactor may well return "")
_UNCHANGED = "".join(["<unchanged", ">"])


#: whether ``hash()`` of a str is SipHash under a key of this process's own, random
#: and secret (CPython's default): then two of them make the memo's keys, else
#: SHA-256 does. A PYTHONHASHSEED set to a number (reproducible builds, some test
#: runners) makes the key known to anyone who reads the environment.
_KEYED_HASH = sys.hash_info.algorithm.startswith("siphash") and os.environ.get(
    "PYTHONHASHSEED", "random"
) in ("random", "")
_LOW_64 = 2**64 - 1


def _digest(text: str) -> int | bytes:
    """The key of ``text``'s result among the recent ones: no two texts share one
    (short of chance at 2**-128), and the text cannot be read back from it, so a
    text seen once is not held."""
    if _KEYED_HASH:
        # Two 64-bit SipHash values under the process's key: the text's own (which
        # the memo's look-up by text computed already: a str keeps it) and that of
        # the text after a NUL, another input. ~5 k instructions a KB against
        # SHA-256's ~33 k (OpenSSL's portable code, as valgrind counts it); timed on
        # a CPU with SHA instructions, ~0.5 us a KB against ~1.2. Someone who knows
        # the key (PYTHONHASHSEED set) could make two texts share a key, and so have
        # one recorded as the other was redacted: nothing the redactors could not
        # be led past anyway (a secret spelled with a space in it is not found);
        # with PYTHONHASHSEED set to a number, SHA-256 is used (above).
        return (hash(text) << 64) | (hash("\0" + text) & _LOW_64)
    # ("surrogatepass": a str may hold a lone surrogate, which strict UTF-8 refuses)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


class _Memo:
    """What a run of pure redactors made of the texts it has seen.

    A text's result is kept from its first sight, among the *recent* ones,
    keyed by a digest of the text (:func:`_digest`): a one-off prompt is not held, only
    what the redactors made of it, or a mark that they left it as it was. On
    its second sight the text moves to the *remembered* ones, keyed by the
    text itself, so later sights cost a dictionary look-up and no digest. A
    chat's last user message and answer, resent on its next turn, are
    redacted once, and one-off texts do not push a system prompt out. The
    recent results take an eighth of ``chars`` (characters of results), the
    remembered ones the rest (characters of texts and results), each oldest
    out first.

    It holds text only in memory, never in a repr, a log line or an error.
    Look-ups take no lock (a dict's ``get`` is atomic); changes do, for the
    threads of a ``SyncClient`` or an exporter sharing a client.
    """

    __slots__ = (
        "_budget",
        "_chars",
        "_done",
        "_generation",
        "_lock",
        "_recent",
        "_recent_budget",
        "_recent_chars",
        "_redacts",
    )

    def __init__(self, redacts: Sequence[Callable[[str], str]], chars: int) -> None:
        self._redacts = tuple(redacts)
        self._recent_budget = chars // 8
        self._budget = chars - self._recent_budget
        # OrderedDict: popping the oldest is O(1); a dict's next(iter()) walks
        # the slots its earlier pops left empty, up to a third of the table
        self._done: OrderedDict[str, str] = OrderedDict()
        self._recent: OrderedDict[int | bytes, str] = OrderedDict()
        self._chars = self._recent_chars = 0
        self._lock = threading.Lock()
        #: counts :meth:`forget` calls: a result worked out across one is not kept
        self._generation = 0

    def __repr__(self) -> str:
        return f"<redaction memo: {len(self._done)} + {len(self._recent)} texts>"

    def size(self) -> MemoSize:
        return MemoSize(len(self._done) + len(self._recent), self._chars + self._recent_chars)

    def forget(self) -> None:
        """Forget every result (a redactor's values changed: see ``KnownSecrets.on_change``)."""
        with self._lock:
            self._done.clear()
            self._recent.clear()
            self._chars = self._recent_chars = 0
            self._generation += 1

    def __call__(self, text: str) -> str:
        if not MEMO_MIN_TEXT <= len(text) <= MEMO_MAX_TEXT:
            for redact in self._redacts:
                text = redact(text)
            return text
        done = self._done.get(text)
        if done is not None:
            return done
        return self.unremembered(text)

    def unremembered(self, text: str) -> str:
        """:meth:`__call__` of a text of a size it remembers, not among the remembered
        ones (its caller looked: :meth:`RedactionChain.text`, a look-up less)."""
        generation = self._generation
        # _digest's keyed branch written out: a Python call costs as much as the
        # text's second hash (~1.5 k instructions), and every new text pays it
        key = (hash(text) << 64) | (hash("\0" + text) & _LOW_64) if _KEYED_HASH else _digest(text)
        done = self._recent.get(key)
        if done is not None:
            if done is _UNCHANGED:
                done = text
            self._keep(key, text, done, generation)
            return done
        done = text
        for redact in self._redacts:
            done = redact(done)
        self._keep_recent(key, _UNCHANGED if done == text else done, generation)
        return done

    def _keep_recent(self, key: int | bytes, done: str, generation: int) -> None:
        with self._lock:
            recent = self._recent
            if generation != self._generation:
                return  # forgotten meanwhile (another thread): it may be stale
            if key in recent or len(done) > self._recent_budget:
                return  # another thread redacted the same text meanwhile, or no room
            while recent and self._recent_chars + len(done) > self._recent_budget:
                self._recent_chars -= len(recent.popitem(last=False)[1])
            recent[key] = done
            self._recent_chars += len(done)

    def _keep(self, key: int | bytes, text: str, done: str, generation: int) -> None:
        # an unchanged text is one string, held once
        if done == text:
            done = text
        size = len(text) if done is text else len(text) + len(done)
        with self._lock:
            if generation != self._generation:
                return  # forgotten meanwhile (another thread): it may be stale
            recent = self._recent.pop(key, None)
            if recent is not None:
                self._recent_chars -= len(recent)
            kept = self._done
            if text in kept or size > self._budget:
                return
            while kept and self._chars + size > self._budget:
                old, result = kept.popitem(last=False)
                self._chars -= len(old) if result is old else len(old) + len(result)
            kept[text] = done
            self._chars += size


class _MessageCache:
    """Redacted one-text messages by role and redacted text.

    A chat resends its history every turn; the memo gives back the same
    redacted text each time, and a message built around it once is reused
    rather than built again (~1 µs each). It holds redacted text only, at
    most ``chars`` characters of it (0: none), and starts over when full.
    """

    __slots__ = ("_budget", "_built", "_chars")

    def __init__(self, chars: int) -> None:
        self._budget = chars
        self._built: dict[tuple[str, str], Message] = {}
        self._chars = 0

    def build(self, role: Role, text: str) -> Message:
        """``Message(role, (TextPart(text),))``, the one built before if there is one."""
        if len(text) < MEMO_MIN_TEXT or len(text) > self._budget:
            return Message(role, (TextPart(text),))
        key = (role, text)
        built = self._built.get(key)
        if built is None:
            if self._chars + len(text) > self._budget:
                self._built, self._chars = {}, 0  # a new dict: a reader may hold the old
            built = self._built[key] = Message(role, (TextPart(text),))
            self._chars += len(text)
        return built


def _is_pure(redactor: Redactor) -> bool:
    # ``pure``: its result depends on the text alone and it keeps nothing (or on
    # values that only change through ``on_change``), so a result may be reused. A
    # reversible redactor records what it replaced for ``restore``: it sees every
    # text, whatever it declares.
    return getattr(redactor, "pure", False) is True and not callable(
        getattr(redactor, "restore", None)
    )


def _steps(redactors: Sequence[Redactor], memo_chars: int) -> tuple[Callable[[str], str], ...]:
    """Each redactor's ``redact``, with each run of pure ones behind one memo (sharing
    ``memo_chars`` out; none with 0), which forgets what it remembered whenever
    one of them says its values changed (``on_change``)."""
    steps: list[Redactor | list[Redactor]] = []
    for redactor in redactors:
        if not _is_pure(redactor) or not memo_chars:
            steps.append(redactor)
        elif steps and isinstance(steps[-1], list):
            steps[-1].append(redactor)
        else:
            steps.append([redactor])
    share = memo_chars // max(1, sum(isinstance(step, list) for step in steps))
    made: list[Callable[[str], str]] = []
    for step in steps:
        if not isinstance(step, list):
            made.append(checked_redact(step))
            continue
        memo = _Memo([checked_redact(r) for r in step], share)
        for redactor in step:
            on_change = getattr(redactor, "on_change", None)
            if callable(on_change):
                on_change(memo.forget)
        made.append(memo)
    return tuple(made)


def _only_memo(steps: Sequence[Callable[[str], str]]) -> dict[str, str] | None:
    """The remembered results of the one memo ``steps`` are, if that is what they are."""
    if len(steps) == 1 and isinstance(steps[0], _Memo):
        return steps[0]._done  # cleared in place when it forgets: this stays its own
    return None


class RedactionChain:
    """Runs redactors in order; the built-in secret redactor is always among them.

    What a run of *pure* redactors (``pure = True``: the result depends on the
    text alone; the built-in secret redactor and relaykit-pii's masking one)
    made of a text is remembered, so a system prompt sent on every turn, and a
    chat's history resent on every turn, are redacted once, not on every call
    (see :class:`_Memo` for what is kept), and so is the message built around
    a remembered text. ``memo_chars`` bounds what both hold, in characters of
    texts and results (0: nothing is remembered; a client takes it from
    ``[redaction] memo_mb``).
    """

    def __init__(self, redactors: Sequence[Redactor], *, memo_chars: int = MEMO_CHARS) -> None:
        self.redactors = tuple(redactors)
        # Bound once: this runs on every text of every record, span and log line.
        # memo_chars in all: an eighth for the messages built around remembered
        # texts (mostly the memo's own strings), the rest for the memo
        self._messages = _MessageCache(memo_chars // 8)
        self._redacts = _steps(self.redactors, memo_chars - memo_chars // 8)
        # for texts too short to remember: no memo's call in between
        self._direct: tuple[Callable[[str], str], ...] = tuple(
            [checked_redact(r) for r in self.redactors]
        )
        #: the usual chain is one run of pure redactors behind one memo: then a
        #: remembered text (a chat's resent history) is one look-up in its results
        self._remembered = _only_memo(self._redacts)
        #: that one memo (see text), when the chain is one
        self._memo: _Memo = self._redacts[0] if self._remembered is not None else None  # type: ignore[assignment]
        #: counts the changes any redactor told of (``on_change``): what a call's
        #: chain (:meth:`for_call`) remembered at one count is stale at another
        self._changes = 0
        for redactor in self.redactors:
            on_change = getattr(redactor, "on_change", None)
            if callable(on_change):
                on_change(self._changed)

    def _changed(self) -> None:
        self._changes += 1

    def text(self, text: str) -> str:
        """``text`` after every redactor."""
        if len(text) < MEMO_MIN_TEXT:
            for redact in self._direct:
                text = redact(text)
            return text
        remembered = self._remembered
        if remembered is not None and len(text) <= MEMO_MAX_TEXT:
            done = remembered.get(text)
            if done is not None:
                return done
            # straight to the memo's work on a new text: its own look-up was this one
            return self._memo.unremembered(text)
        for redact in self._redacts:
            text = redact(text)
        return text

    def memo_size(self) -> MemoSize:
        """How much this chain remembers, over all its runs of pure redactors."""
        sizes = [step.size() for step in self._redacts if isinstance(step, _Memo)]
        return MemoSize(sum(s.entries for s in sizes), sum(s.chars for s in sizes))

    def for_call(self) -> RedactionChain:
        """A chain for one call's content: each distinct text is redacted once.

        With ``capture_content`` a call's prompt and answer go on its span and
        into its record, and detecting personal data is the costly part of both.
        """
        return _CallRedaction(self)

    def message(self, message: Message) -> Message:
        """``message`` with its text, reasoning text and tool results redacted (itself when
        nothing changed)."""
        if message.name is not None:
            # A participant name is content: redacted as the text is.
            unnamed = self.message(attrs.evolve(message, name=None))
            return attrs.evolve(unnamed, name=self.text(message.name))
        given = message.content
        if len(given) == 1 and type(given[0]) is TextPart:  # most turns: one text
            original = given[0].text
            text = self.text(original)
            return message if text == original else self._messages.build(message.role, text)
        parts = []
        changed = False
        for p in message.content:
            if isinstance(p, TextPart):
                text = self.text(p.text)
                if text != p.text:
                    p, changed = TextPart(text), True
            elif isinstance(p, ToolResultPart):
                result = self._tool_result(p)
                changed = changed or result is not p
                p = result
            elif isinstance(p, ToolCall):
                redacted = self.tool_call(p)
                changed = changed or redacted != p
                p = redacted
            elif isinstance(p, ReasoningPart) and p.text:
                reasoning = self.reasoning_part(p)
                changed = changed or reasoning is not p
                p = reasoning
            elif isinstance(p, DocumentPart):
                document = self._document(p)
                changed = changed or document is not p
                p = document
            parts.append(p)
        return Message(message.role, tuple(parts), name=message.name) if changed else message

    def _document(self, part: DocumentPart) -> DocumentPart:
        # A text document is text the caller handed us, as a message is.
        # (PDFs, like images, are kept as they came: no redactor reads them.)
        if part.media_type != "text/plain" or not part.data:
            return part
        original = part.data.decode("utf-8", "replace")
        text = self.text(original)
        return part if text == original else attrs.evolve(part, data=text.encode())

    def _tool_result(self, part: ToolResultPart) -> ToolResultPart:
        content = self.text(part.content)
        attachments = tuple(
            [self._document(a) if isinstance(a, DocumentPart) else a for a in part.attachments]
        )
        if content == part.content and all(map(operator.is_, attachments, part.attachments)):
            return part
        return attrs.evolve(part, content=content, attachments=attachments)

    def reasoning_part(self, part: ReasoningPart) -> ReasoningPart:
        """``part`` with its text redacted (itself when nothing changed).

        Its signature and redacted data are opaque provider data, never text a
        redactor should read, and are kept as they are.
        """
        text = self.text(part.text) if part.text else part.text
        return part if text == part.text else attrs.evolve(part, text=text)

    def tool_call(self, call: ToolCall) -> ToolCall:
        """``call`` with every string in its arguments redacted (models echo prompts into them)."""
        if not call.arguments and not call.raw_arguments:
            return call
        return attrs.evolve(
            call,
            arguments=self.value(call.arguments),
            raw_arguments=self.text(call.raw_arguments)
            if call.raw_arguments
            else call.raw_arguments,
        )

    def citation(self, citation: Citation) -> Citation:
        """``citation`` with its title, quoted text and URL redacted (itself when nothing
        changed): what the model read on the web may carry personal data, and a URL
        a key in its query."""
        url = self.text(citation.url)
        title = self.text(citation.title) if citation.title else citation.title
        quoted = self.text(citation.cited_text) if citation.cited_text else citation.cited_text
        if url == citation.url and title == citation.title and quoted == citation.cited_text:
            return citation
        return attrs.evolve(citation, url=url, title=title, cited_text=quoted)

    def texts(self, texts: tuple[str, ...]) -> tuple[str, ...]:
        """Each of ``texts`` redacted (a web search's queries); ``texts`` itself when empty."""
        return tuple([self.text(t) for t in texts]) if texts else texts

    def value(self, value: Any) -> Any:
        """``value`` (plain JSON: dicts, lists, strings, ...) with every string redacted,
        names included (a metadata name, a tool call's argument name can be a key)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            out: dict[Any, Any] = {}
            for k, v in value.items():
                name = self.text(k) if isinstance(k, str) else k
                if name != k:
                    # Two names redacted alike keep both values: a second one is numbered.
                    taken, n = name, 1
                    while taken in out or taken in value:
                        n += 1
                        taken = f"{name} ({n})"
                    name = taken
                out[name] = self.value(v)
            return out
        if isinstance(value, list):
            return [self.value(v) for v in value]
        return value

    def record(self, record: CallRecord) -> CallRecord:
        """``record`` as it may be stored or exported (itself when nothing changed).

        Its ``params`` are left alone: the client redacts their content (stop
        sequences, tools, schemas, ``extra``, ``metadata``) as it builds them.
        """
        messages = tuple([self.message(m) for m in record.messages])
        text = self.text(record.text) if record.text else record.text
        tool_calls = (
            tuple([self.tool_call(c) for c in record.tool_calls])
            if record.tool_calls
            else record.tool_calls
        )
        error = self.text(record.error_message) if record.error_message else record.error_message
        reasoning = self.text(record.reasoning) if record.reasoning else record.reasoning
        reasoning_parts = (
            tuple([self.reasoning_part(p) for p in record.reasoning_parts])
            if record.reasoning_parts
            else record.reasoning_parts
        )
        citations = (
            tuple([self.citation(c) for c in record.citations])
            if record.citations
            else record.citations
        )
        queries = self.texts(record.search_queries)
        stop = record.stop_sequence
        if stop:  # one of the caller's stop=: their text
            stop = self.text(stop)
        if (
            text == record.text
            and error == record.error_message
            and reasoning == record.reasoning
            and reasoning_parts == record.reasoning_parts
            and all(a is b for a, b in zip(messages, record.messages, strict=True))
            and tool_calls == record.tool_calls
            and all(a is b for a, b in zip(citations, record.citations, strict=True))
            and queries == record.search_queries
            and stop == record.stop_sequence
        ):
            return record  # attrs.evolve costs more than the redaction when nothing matched
        return attrs.evolve(
            record,
            messages=messages,
            text=text,
            reasoning=reasoning,
            reasoning_parts=reasoning_parts,
            tool_calls=tool_calls,
            citations=citations,
            search_queries=queries,
            error_message=error,
            stop_sequence=stop,
        )


class _CallRedaction(RedactionChain):
    """The same redactors, remembering what they made of each text of one call.

    Until one of them says its values changed (``on_change``): the client's
    known secrets grow while a call runs (each provider adds the key it
    resolved when the call first builds it, after the span has started), a
    plugin's word list may be loaded again, and what was remembered before is
    forgotten then, as the chain's memo forgets it.
    """

    def __init__(self, chain: RedactionChain) -> None:
        self.redactors = chain.redactors
        self._redacts, self._direct = chain._redacts, chain._direct
        self._remembered = chain._remembered
        self._memo = chain._memo
        self._messages = chain._messages
        self._chain = chain
        self._version = chain._changes
        self._seen: dict[str, str] = {}

    def text(self, text: str) -> str:
        """``text`` after every redactor; worked out once per distinct text."""
        changes = self._chain._changes
        if changes != self._version:
            self._seen.clear()
            self._version = changes
        done = self._seen.get(text)
        if done is None:
            done = self._seen[text] = super().text(text)
        return done
