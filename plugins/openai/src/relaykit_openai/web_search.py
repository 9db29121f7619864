"""``web_search=`` as OpenAI's two APIs and OpenRouter take it, and the citations
their answers carry (see :mod:`relaykit.web_search` for the setting).

- The Responses API: the ``{"type": "web_search"}`` tool (the generally available
  one; ``web_search_preview`` is its older form, which takes no filters), with
  ``filters.allowed_domains``, ``search_context_size`` and an ``approximate``
  ``user_location``. It has no count of searches and no blocked list:
  ``max_uses`` and ``blocked_domains`` are refused before sending.
  (``filters.blocked_domains`` is accepted by the API since 2026, but OpenAI's
  own SDK types and guide do not name it and users report blocked sites in the
  results: a limit it may not apply is refused rather than sent.) The answer's
  ``output_text`` parts carry ``url_citation`` annotations; each
  ``web_search_call`` output item that ran a search (action ``search``, status
  ``completed``) is a billed call (opening a page or finding in it is not).
  What the model searched for is the search action's ``queries`` (the current
  field), else its ``query`` (deprecated, the only one in older answers):
  ``ChatResponse.search_queries``.
- Chat Completions: only the search models (gpt-4o-search-preview,
  gpt-4o-mini-search-preview, gpt-5-search-api and their snapshots) search,
  every call, with or without ``web_search=``; ``web_search_options`` carries the
  hints (``search_context_size``, ``user_location`` with its fields under
  ``approximate``). No limit can be applied: any is refused. Each call is one
  billed search. Another OpenAI model searches only through the Responses API:
  with ``api = "auto"`` (the default) a call with ``web_search=`` goes there;
  with ``api = "chat"`` it is refused, with that fix.
- OpenRouter: its ``openrouter:web_search`` server tool (the ``web`` plugin it
  replaces is deprecated) in ``tools``, with ``search_context_size``,
  ``user_location``, ``allowed_domains`` and ``excluded_domains``. Its
  ``max_results`` counts results per search, not searches: ``max_uses`` is
  refused; ``blocked_domains`` is refused for ``openai/*`` models, whose native
  search ignores ``excluded_domains`` (OpenRouter's docs: "silently ignored").
  Citations come back as Chat Completions' ``url_citation`` annotations.
  Neither Chat Completions nor OpenRouter says what was searched for:
  ``search_queries`` stays empty.

Citation offsets (``start_index``, ``end_index``) are character offsets into the
text they annotate; those of a Responses ``output_text`` part are moved to index
the whole ``ChatResponse.text`` the parts are joined into.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Literal

from relaykit import InvalidRequestError, WebSearch
from relaykit.web_search import Citation, unsupported

if TYPE_CHECKING:
    from collections.abc import Iterable

#: how a service searches the web for ``web_search=``: OpenAI's way (the Responses
#: tool, or a Chat Completions search model), OpenRouter's server tool, or not at
#: all (the core refuses the call before it reaches the provider)
SearchStyle = Literal["openai", "openrouter", "none"]

#: the models Chat Completions searches with, dated snapshots too
_SEARCH_MODELS = re.compile(
    r"^(gpt-4o-search-preview|gpt-4o-mini-search-preview|gpt-5-search-api)(-\d{4}-\d{2}-\d{2})?$"
)
#: models that take no web search tool (OpenAI's guide: "Web search is currently
#: not supported in the gpt-4.1-nano model")
_NO_SEARCH = re.compile(r"^gpt-4\.1-nano(-\d{4}-\d{2}-\d{2})?$")
#: the deep research models take no ``user_location`` (a hint: left out)
_DEEP_RESEARCH = re.compile(r"^o\d(-mini)?-deep-research")


def is_search_model(model: str) -> bool:
    """Whether ``model`` is one of Chat Completions' search models, which search the
    web on every call."""
    return _SEARCH_MODELS.match(model) is not None


def _refuse_limits(search: WebSearch, limits: Iterable[str], provider: str, model: str) -> None:
    for name in search.limits:
        if name in limits:
            raise unsupported(provider, model, name)


def responses_tool(search: WebSearch, provider: str, model: str) -> dict[str, Any]:
    """The Responses API's ``web_search`` tool for ``search``; a limit it cannot
    apply raises :class:`~relaykit.InvalidRequestError`."""
    if _NO_SEARCH.match(model):
        raise unsupported(provider, model, "web search")
    _refuse_limits(search, ("max_uses", "blocked_domains"), provider, model)
    tool: dict[str, Any] = {"type": "web_search"}
    if search.allowed_domains:
        tool["filters"] = {"allowed_domains": list(search.allowed_domains)}
    if search.context_size is not None:
        tool["search_context_size"] = search.context_size
    if search.location is not None and not _DEEP_RESEARCH.match(model):
        tool["user_location"] = {"type": "approximate", **search.location.fields()}
    return tool


def chat_options(search: WebSearch, provider: str, model: str) -> dict[str, Any]:
    """Chat Completions' ``web_search_options`` for a search model; any limit raises
    :class:`~relaykit.InvalidRequestError` (they take none)."""
    _refuse_limits(search, search.limits, provider, model)
    options: dict[str, Any] = {}
    if search.context_size is not None:
        options["search_context_size"] = search.context_size
    if search.location is not None:
        options["user_location"] = {"type": "approximate", "approximate": search.location.fields()}
    return options


def refuse_chat_api(provider: str, model: str) -> InvalidRequestError:
    """The refusal of ``web_search=`` for a model that is not a search model, with
    ``api = "chat"``: OpenAI searches for it only through the Responses API."""
    return InvalidRequestError(
        "cannot search the web through Chat Completions",
        provider=provider,
        model=model,
        param="web_search",
        hint=f'set [providers.{provider}] api = "auto" (or "responses"): OpenAI searches'
        " for this model through the Responses API; or call a search model such as"
        " gpt-5-search-api",
    )


def openrouter_tool(search: WebSearch, provider: str, model: str) -> dict[str, Any]:
    """OpenRouter's ``openrouter:web_search`` server tool for ``search``."""
    limits = ["max_uses"]
    if model.startswith("openai/"):
        limits.append("blocked_domains")
    _refuse_limits(search, limits, provider, model)
    params: dict[str, Any] = {}
    if search.allowed_domains:
        params["allowed_domains"] = list(search.allowed_domains)
    if search.blocked_domains:
        params["excluded_domains"] = list(search.blocked_domains)
    if search.context_size is not None:
        params["search_context_size"] = search.context_size
    if search.location is not None:
        params["user_location"] = {"type": "approximate", **search.location.fields()}
    tool: dict[str, Any] = {"type": "openrouter:web_search"}
    if params:
        tool["parameters"] = params
    return tool


# -- answers --------------------------------------------------------------------


def _offset(value: Any, base: int, limit: int) -> int | None:
    """``value`` moved by ``base``, or ``None`` where it is not an index into a text
    ``limit`` characters long (a service that counts otherwise is not trusted)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= limit:
        return base + value
    return None


def citation(annotation: Any, base: int = 0, length: int | None = None) -> Citation | None:
    """A :class:`~relaykit.Citation` from a ``url_citation`` annotation: the Responses
    API's (its fields at the top) or Chat Completions' (under ``url_citation``;
    OpenRouter adds the page's ``content``). ``base`` is where the annotated text
    starts in the response's text, ``length`` its length; ``None`` for another kind
    of annotation (a file citation)."""
    if not isinstance(annotation, dict) or annotation.get("type") != "url_citation":
        return None
    fields = annotation.get("url_citation")
    if not isinstance(fields, dict):
        fields = annotation
    url = fields.get("url")
    if not isinstance(url, str) or not url:
        return None
    limit = length if length is not None else 1 << 62
    start = _offset(fields.get("start_index"), base, limit)
    end = _offset(fields.get("end_index"), base, limit)
    if start is None or end is None or end < start:
        start = end = None
    content = fields.get("content")
    return Citation(
        url=url,
        title=str(fields.get("title") or ""),
        cited_text=content if isinstance(content, str) else "",
        start=start,
        end=end,
    )


def citations(annotations: Any, base: int = 0, length: int | None = None) -> list[Citation]:
    """The url citations among ``annotations`` (see :func:`citation`)."""
    out = []
    for annotation in annotations if isinstance(annotations, list) else ():
        found = citation(annotation, base, length)
        if found is not None:
            out.append(found)
    return out


def billed_search(item: Any) -> bool:
    """Whether a Responses output item is a web search OpenAI bills: a
    ``web_search_call`` that completed a ``search`` action (an item without an
    action, from the preview tool, is one search too)."""
    if not isinstance(item, dict) or item.get("type") != "web_search_call":
        return False
    if item.get("status") != "completed":
        return False
    action = item.get("action")
    return not isinstance(action, dict) or action.get("type", "search") == "search"


def search_queries(item: Any) -> list[str]:
    """What a Responses ``web_search_call`` output item searched for: its search
    action's ``queries``, else its ``query``; nothing for another item, or another
    action (``open_page``, ``find``)."""
    if not isinstance(item, dict) or item.get("type") != "web_search_call":
        return []
    action = item.get("action")
    if not isinstance(action, dict) or action.get("type", "search") != "search":
        return []
    queries = action.get("queries")
    if isinstance(queries, list):
        found = [q for q in queries if isinstance(q, str) and q.strip()]
        if found:
            return found
    query = action.get("query")
    return [query] if isinstance(query, str) and query.strip() else []
