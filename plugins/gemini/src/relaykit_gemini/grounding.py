"""Grounding with Google Search: ``web_search=`` on a Gemini (or Vertex AI) chat.

Request: the search is a tool of its own, ``{"googleSearch": {}}`` beside the
function declarations (the JSON name of the ``google_search`` field; Google's
REST samples spell it in snake case, and the API reads both). What it can be
told:

- Vertex AI's ``googleSearch`` takes ``excludeDomains``: ``blocked_domains`` goes
  there. The Gemini API's has no such field (only ``timeRangeFilter``), so
  ``blocked_domains`` is refused there, unsent;
- neither has an allow list or a cap on searches: ``allowed_domains`` and
  ``max_uses`` are refused, unsent, so a route falls back to a provider that can;
- ``context_size`` and ``location`` are hints it has no field for, left out
  (Vertex's ``toolConfig.retrievalConfig.latLng`` wants coordinates, which
  :class:`~relaykit.SearchLocation` does not hold);
- Gemini 1.x searched with the older ``googleSearchRetrieval`` tool, and Google
  has shut those models down: refused, unsent;
- searching and calling functions in one request is refused, unsent: Gemini 2.x
  answers it "Tool use with function calling is unsupported", and Gemini 3
  takes it only with ``toolConfig.includeServerSideToolInvocations``, whose
  ``toolCall``/``toolResponse`` parts must go back verbatim in the next turn,
  which a relaykit message does not carry.

Answer: ``candidates[0].groundingMetadata``. Each ``groundingSupports`` entry
names a span of the answer (``segment``: UTF-8 *byte* offsets into the part
``partIndex`` names) and the ``groundingChunks`` (``web.uri``, ``web.title``)
that support it: one :class:`~relaykit.Citation` per support and chunk, its
``start``/``end`` turned into character offsets of the whole
``ChatResponse.text``. ``cited_text`` stays empty: ``segment.text`` is the
answer's own words (``text[start:end]``), not a passage of the source. A chunk
no support names is still a source: it comes last, without offsets. The
``uri`` is Google's redirect (``vertexaisearch.cloud.google.com/grounding-api-
redirect/...``), kept as it is: it leads to the page, and it is what Google's
terms ask apps to show.

The queries the model searched for (``webSearchQueries``, each once, empty
ones left out) are ``ChatResponse.search_queries``; Google's Search Suggestions
(``searchEntryPoint.renderedContent``: HTML and CSS that link those queries to
Google Search, which Google's terms ask an app to show with the grounded
answer) are ``ChatResponse.search_suggestions``. A stream gathers both from its
metadata pieces and hands them over with its finish.

Billing (ai.google.dev/gemini-api/docs/pricing): Gemini 3 bills each search
query the model ran (``webSearchQueries``, empty ones ignored, as Google counts
them); Gemini 2.x and earlier bill a *grounded prompt*, one per answer that came
back grounded, however many queries it ran. ``Usage.web_searches`` counts what
is billed; :mod:`relaykit_gemini.prices` holds the price of one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from relaykit import ChatRequest, Citation, InvalidRequestError, WebSearch
from relaykit.web_search import unsupported

from .code_execution import code_text

#: ``gemini-2.5-flash`` -> 2; the generation decides how searches are billed
_GENERATION = re.compile(r"gemini-(\d+)")


def generation(model: str) -> int | None:
    """The Gemini generation of ``model`` (``2`` for ``gemini-2.5-flash``, also as
    ``models/...`` or a Vertex resource name); ``None`` for another name."""
    found = _GENERATION.match(model.rsplit("/", 1)[-1])
    return int(found.group(1)) if found else None


def search_tool(request: ChatRequest, provider: str, *, excludes: bool) -> dict[str, Any] | None:
    """The ``googleSearch`` tool's settings for ``request`` (``None`` without
    ``web_search=``): ``excludes`` says whether the API takes ``excludeDomains``
    (Vertex AI). Raises :class:`~relaykit.InvalidRequestError` before anything is
    sent for what the model cannot do (see the module's docstring)."""
    search = request.web_search
    if search is None:
        return None
    model = request.model
    made = generation(model)
    if made is not None and made < 2:
        raise unsupported(provider, model, "web search")
    _refuse_limits(search, provider, model, excludes=excludes)
    if request.tools:
        raise InvalidRequestError(
            "cannot search the web and call functions in one request: "
            + (
                "Gemini 2.x refuses Google Search beside function declarations"
                if made is not None and made < 3
                else "Gemini 3 does it only with server-side tool invocations, whose parts"
                " relaykit does not carry between turns"
            ),
            provider=provider,
            model=model,
            param="web_search",
            hint="search in one call and call your tools in the next, or route the call to a"
            " provider that does both (a fallback tries the next one)",
        )
    settings: dict[str, Any] = {}
    if search.blocked_domains:
        settings["excludeDomains"] = list(search.blocked_domains)
    return settings


def _refuse_limits(search: WebSearch, provider: str, model: str, *, excludes: bool) -> None:
    for limit in search.limits:
        if limit == "blocked_domains" and excludes:
            continue
        raise unsupported(provider, model, limit)


# -- the answer -----------------------------------------------------------------


def searches(metadata: Any, model: str) -> int:
    """The searches Google bills for an answer with ``metadata`` (its
    ``groundingMetadata``) from ``model``: its distinct non-empty queries on
    Gemini 3 and later; one grounded prompt on Gemini 2.x when it searched."""
    if not isinstance(metadata, Mapping):
        return 0
    found = _queries(metadata.get("webSearchQueries"))
    return _billed(found, bool(metadata.get("groundingChunks")), model)


def queries(metadata: Any) -> tuple[str, ...]:
    """What the model searched for, by an answer's ``groundingMetadata``: its distinct
    non-empty ``webSearchQueries``, in order."""
    if not isinstance(metadata, Mapping):
        return ()
    return tuple(_queries(metadata.get("webSearchQueries")))


def suggestions(metadata: Any) -> str | None:
    """Google's Search Suggestions of an answer with ``metadata`` (its
    ``groundingMetadata``): ``searchEntryPoint.renderedContent``, the HTML to show
    with the answer; ``None`` where it has none."""
    entry = metadata.get("searchEntryPoint") if isinstance(metadata, Mapping) else None
    html = entry.get("renderedContent") if isinstance(entry, Mapping) else None
    return html if isinstance(html, str) and html.strip() else None


def _billed(queries: Sequence[str], sourced: bool, model: str) -> int:
    made = generation(model)
    if made is not None and made < 3:
        return 1 if queries or sourced else 0
    return len(queries)


def _queries(found: Any) -> list[str]:
    if not isinstance(found, list):
        return []
    return list(dict.fromkeys(q for q in found if isinstance(q, str) and q.strip()))


def citations(metadata: Any, parts: Sequence[str | None]) -> tuple[Citation, ...]:
    """The citations of an answer whose content parts are ``parts`` (each part's
    answer text, ``None`` for a thought, a function call, ...): one per support and
    the chunk it names, then the chunks no support names, without offsets."""
    if not isinstance(metadata, Mapping):
        return ()
    sources = _sources(metadata.get("groundingChunks"))
    found = supported(metadata.get("groundingSupports"), sources, parts)
    return (*found, *uncited(sources, found))


def read_pages(metadata: Any) -> list[Citation]:
    """The pages Gemini's URL context tool (``extra={"tools": [{"urlContext": {}}]}``)
    read, from a candidate's ``urlContextMetadata``: sources of the answer, without
    offsets, as a grounding chunk no support names. A page it could not fetch
    (``URL_RETRIEVAL_STATUS_ERROR``, ``_PAYWALL``, ``_UNSAFE``) is none."""
    pages = metadata.get("urlMetadata") if isinstance(metadata, Mapping) else None
    out: list[Citation] = []
    for page in pages if isinstance(pages, list) else ():
        if not isinstance(page, Mapping):
            continue
        url = page.get("retrievedUrl")
        if isinstance(url, str) and url and page.get("urlRetrievalStatus") == _READ:
            out.append(Citation(url=url))
    return out


_READ = "URL_RETRIEVAL_STATUS_SUCCESS"


def supported(
    supports: Any, sources: Sequence[Citation | None], parts: Sequence[str | None]
) -> list[Citation]:
    """A citation for each support in ``supports`` and each source it names."""
    out: list[Citation] = []
    if not isinstance(supports, list):
        return out
    for support in supports:
        if not isinstance(support, Mapping):
            continue
        start, end = _span(support.get("segment"), parts)
        indices = support.get("groundingChunkIndices")
        for i in dict.fromkeys(indices if isinstance(indices, list) else ()):
            source = sources[i] if isinstance(i, int) and 0 <= i < len(sources) else None
            if source is not None:
                out.append(Citation(url=source.url, title=source.title, start=start, end=end))
    return out


def uncited(sources: Iterable[Citation | None], cited: Iterable[Citation]) -> list[Citation]:
    """The ``sources`` no citation in ``cited`` points to."""
    seen = {c.url for c in cited}
    out: list[Citation] = []
    for source in sources:
        if source is not None and source.url not in seen:
            seen.add(source.url)
            out.append(source)
    return out


def part_kind(part: Mapping[str, Any]) -> str:
    """``"text"`` for a part of the answer's text, ``"thought"`` for a thought,
    ``"code"`` for code the model ran or its output (rendered into the text:
    :func:`relaykit_gemini.code_execution.code_text`), ``"other"`` for anything else (a
    function call, ...)."""
    if "functionCall" in part:
        return "other"
    if part.get("thought"):
        return "thought"
    if "text" in part:
        return "text"
    return "code" if "executableCode" in part or "codeExecutionResult" in part else "other"


def part_text(part: Mapping[str, Any]) -> str | None:
    """What ``part`` adds to the answer's text (``None``: nothing, a thought or a
    function call): Google's ``partIndex`` counts every part, and the offsets of
    a part's citations start after the text of those before it."""
    kind = part_kind(part)
    if kind == "text":
        return str(part.get("text") or "")
    if kind == "code":
        return code_text(part)
    return None


def answer_parts(parts: Iterable[Mapping[str, Any]]) -> list[str | None]:
    """A response's parts as :func:`citations` reads them: each part's answer text,
    ``None`` for a part that holds none."""
    return [part_text(p) for p in parts]


def _sources(chunks: Any) -> list[Citation | None]:
    """``groundingChunks`` as citations without offsets, by index (``None`` for a
    chunk that is not a web page: a retrieved document, a place)."""
    out: list[Citation | None] = []
    for chunk in chunks if isinstance(chunks, list) else ():
        web = chunk.get("web") if isinstance(chunk, Mapping) else None
        if not isinstance(web, Mapping):
            web = {}
        uri = web.get("uri")
        out.append(
            Citation(url=uri, title=str(web.get("title") or ""))
            if isinstance(uri, str) and uri
            else None
        )
    return out


def _span(segment: Any, parts: Sequence[str | None]) -> tuple[int | None, int | None]:
    """Where ``segment`` lies in the answer's text, in characters.

    Google counts UTF-8 bytes from the start of part ``partIndex`` (its JSON
    leaves a 0 out). When that part is no answer text (Gemini names part 0 with a
    thought before the answer), or the span runs past it, the offsets are read
    against the whole answer, which is what they are when the answer is one part.
    """
    if not isinstance(segment, Mapping):
        return None, None
    try:
        index = int(segment.get("partIndex") or 0)
        start = int(segment.get("startIndex") or 0)
        end = int(segment.get("endIndex") or 0)
    except (TypeError, ValueError, OverflowError):  # OverflowError: 1e400, read as inf
        return None, None
    if end <= start or start < 0:
        return None, None
    part = parts[index] if 0 <= index < len(parts) else None
    if part is not None and end <= len(part.encode()):
        before = sum(len(p) for p in parts[:index] if p)
    else:
        part, before = "".join(p for p in parts if p), 0
    raw = part.encode()
    return before + _characters(raw, start), before + _characters(raw, end)


def _characters(raw: bytes, offset: int) -> int:
    """How many characters the first ``offset`` bytes of ``raw`` hold (a character
    cut in two is left out)."""
    return len(raw[:offset].decode("utf-8", "ignore"))


class StreamGrounding:
    """Grounding metadata as a stream brings it: each chunk's parts are
    :meth:`add`\\ ed, and :meth:`metadata` takes a chunk's ``groundingMetadata``
    and returns the citations not yet given.

    Google sends the metadata in later chunks, often the last, sometimes in
    pieces (the queries first, the chunks and supports later): the queries are
    gathered, the latest chunk list and Search Suggestions kept, and every
    support seen is kept, so a support that came before its chunks is cited
    when they come. Consecutive
    text parts of the stream are one part of the whole answer, as Google's
    ``partIndex`` counts them. Sources no support names come at :meth:`finish`.
    """

    def __init__(self) -> None:
        self._parts: list[str | None] = []
        self._last_kind = ""  # the kind of the last part so far (see part_kind)
        self._queries: list[str] = []
        self._sources: list[Citation | None] = []
        self._supports: list[Any] = []
        self._given: list[Citation] = []
        self._read: list[Citation] = []  # the pages URL context read (read_pages)
        self._grounded = False
        #: the latest Search Suggestions (see :func:`suggestions`)
        self.suggestions: str | None = None

    def add(self, part: Mapping[str, Any]) -> None:
        """One part of a chunk, in the order it came."""
        kind = part_kind(part)
        if kind == self._last_kind and kind in ("text", "thought"):
            # A text or a thought streamed over several chunks is one part.
            if kind == "text":
                self._parts[-1] = (self._parts[-1] or "") + str(part.get("text") or "")
            return
        self._parts.append(part_text(part))
        self._last_kind = kind

    def metadata(self, metadata: Any) -> list[Citation]:
        """Take a chunk's ``groundingMetadata``: the citations it makes new."""
        if not isinstance(metadata, Mapping):
            return []
        self._grounded = True
        self.note_queries(metadata)
        sources = _sources(metadata.get("groundingChunks"))
        if sources:
            self._sources = sources
        self.suggestions = suggestions(metadata) or self.suggestions
        supports = metadata.get("groundingSupports")
        if isinstance(supports, list):
            self._supports += [s for s in supports if s not in self._supports]
        return self._new(supported(self._supports, self._sources, self._parts))

    def note_queries(self, metadata: Any) -> None:
        """Gather a chunk's ``webSearchQueries`` alone (each once, in order), before
        its parts are added: :meth:`metadata` gathers them too, and again is harmless."""
        if isinstance(metadata, Mapping):
            self._queries = list(
                dict.fromkeys([*self._queries, *_queries(metadata.get("webSearchQueries"))])
            )

    def read(self, metadata: Any) -> None:
        """Take a chunk's ``urlContextMetadata``: its pages come at :meth:`finish`."""
        for page in read_pages(metadata):
            if page not in self._read:
                self._read.append(page)

    def finish(self) -> list[Citation]:
        """The sources no citation has pointed to, at the end of the answer: the
        grounding chunks', then the pages URL context read."""
        return self._new(uncited([*self._sources, *self._read], self._given))

    @property
    def queries(self) -> tuple[str, ...]:
        """The queries searched for so far, each once, in order."""
        return tuple(self._queries)

    def searches(self, model: str) -> int:
        """The searches billed so far (see :func:`searches`)."""
        if not self._grounded:
            return 0
        return _billed(self._queries, any(self._sources), model)

    def _new(self, found: list[Citation]) -> list[Citation]:
        new = [c for c in dict.fromkeys(found) if c not in self._given]
        self._given += new
        return new
