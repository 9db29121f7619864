"""Web search the provider runs for the model: ``web_search=`` on a chat, and the
:class:`Citation`\\ s its answer comes back with.

OpenAI (the Responses API's ``web_search`` tool; Chat Completions'
``web_search_options`` on its search models), Anthropic (the server tool
``web_search``), Gemini (``google_search`` grounding) and OpenRouter search the
web themselves and cite what they read. One :class:`WebSearch` asks any of them;
each provider plugin sends its own shape.

What a provider cannot honour is refused before sending, never dropped: a
provider that does not search the web at all (it says it does with a
``searches_web = True`` attribute), or one that cannot apply a *limit* the
caller set (``max_uses``, ``allowed_domains``, ``blocked_domains``), refuses the
call with an :class:`~relaykit.InvalidRequestError` (``param="web_search"``), so
a route falls back to a deployment that can. *Hints* (``context_size``,
``location``) only steer the search: a provider without them leaves them out.

Public plugin API: plugins may import this module; the names in ``__all__`` are
stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import attrs

from .errors import InvalidRequestError

if TYPE_CHECKING:
    from .routing import Target

__all__ = ["Citation", "ContextSize", "SearchLocation", "WebSearch", "unsupported"]

#: how much of what it finds the search hands the model (OpenAI's
#: ``search_context_size``): more costs more tokens and answers better
ContextSize = Literal["low", "medium", "high"]
_SIZES = ("low", "medium", "high")
#: what a vendor's ``filters`` object may hold (OpenAI's Responses tool)
_FILTERS = frozenset(("allowed_domains", "blocked_domains"))


def _domains(value: Sequence[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        value = (value,)
    domains = tuple(value)
    for d in domains:
        if not isinstance(d, str) or not d or "://" in d or " " in d:
            raise InvalidRequestError(
                f"web_search domain {d!r} is not a domain name",
                param="web_search",
                hint="give bare domains such as 'example.com' or 'docs.python.org', no scheme",
            )
    return domains


@attrs.frozen(kw_only=True)
class SearchLocation:
    """Where the user roughly is, so that a search finds local results.

    ``country`` is an ISO 3166-1 two-letter code (``"GB"``), ``timezone`` an IANA
    name (``"Europe/London"``); ``region`` and ``city`` free text. Every field is
    optional.
    """

    country: str | None = None
    region: str | None = None
    city: str | None = None
    timezone: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.country is not None and (len(self.country) != 2 or not self.country.isalpha()):
            raise InvalidRequestError(
                f"web_search location country {self.country!r} is not a two-letter code",
                param="web_search",
                hint="use an ISO 3166-1 alpha-2 code such as 'US' or 'GB'",
            )

    def fields(self) -> dict[str, str]:
        """The fields that are set, by name (the shape OpenAI's and Anthropic's
        ``user_location`` share, without their ``type``)."""
        return {k: v for k, v in attrs.asdict(self).items() if v is not None}


@attrs.frozen(kw_only=True)
class WebSearch:
    """Let the model search the web before it answers (``web_search=`` on a chat).

    - ``max_uses``: at most this many searches in the call (Anthropic);
    - ``allowed_domains``: search only these sites (Anthropic, OpenAI's Responses
      API); ``blocked_domains``: never these (Anthropic, Gemini on Vertex AI).
      Not both;
    - ``context_size``: how much of what it finds reaches the model, ``"low"``,
      ``"medium"`` (the vendors' default) or ``"high"`` (OpenAI);
    - ``location``: where the user roughly is (OpenAI, Anthropic).

    The answer's sources are ``ChatResponse.citations``; the searches the vendor
    billed are ``Usage.web_searches``, priced by ``ModelPrice.web_search``.
    ``web_search=True`` is ``WebSearch()``.
    """

    max_uses: int | None = None
    allowed_domains: tuple[str, ...] = attrs.field(default=(), converter=_domains)
    blocked_domains: tuple[str, ...] = attrs.field(default=(), converter=_domains)
    context_size: ContextSize | None = None
    location: SearchLocation | None = None

    def __attrs_post_init__(self) -> None:
        uses = self.max_uses
        if uses is not None and (not isinstance(uses, int) or isinstance(uses, bool) or uses < 1):
            raise InvalidRequestError(
                f"web_search max_uses must be a whole number of searches, 1 or more, not {uses!r}",
                param="web_search",
            )
        if self.allowed_domains and self.blocked_domains:
            raise InvalidRequestError(
                "web_search takes allowed_domains or blocked_domains, not both",
                param="web_search",
                hint="keep the allowed list (only those sites) or the blocked one (all but those)",
            )
        if self.context_size is not None and self.context_size not in _SIZES:
            raise InvalidRequestError(
                f"web_search context_size {self.context_size!r} is not one of low, medium, high",
                param="web_search",
            )

    @property
    def limits(self) -> tuple[str, ...]:
        """The names of the limits set (``max_uses``, ``allowed_domains``,
        ``blocked_domains``): a provider that cannot apply one refuses the call."""
        names = []
        if self.max_uses is not None:
            names.append("max_uses")
        if self.allowed_domains:
            names.append("allowed_domains")
        if self.blocked_domains:
            names.append("blocked_domains")
        return tuple(names)

    def to_param(self) -> dict[str, Any]:
        """The setting as a call record's ``params["web_search"]`` keeps it: the fields
        given, but not ``location`` (where the user is: the record keeps it, redacted,
        only where it keeps the messages)."""
        out: dict[str, Any] = {}
        if self.max_uses is not None:
            out["max_uses"] = self.max_uses
        if self.allowed_domains:
            out["allowed_domains"] = list(self.allowed_domains)
        if self.blocked_domains:
            out["blocked_domains"] = list(self.blocked_domains)
        if self.context_size is not None:
            out["context_size"] = self.context_size
        return out

    @classmethod
    def coerce(cls, value: WebSearch | bool | Mapping[str, Any]) -> WebSearch | None:
        """Accept a WebSearch, ``True`` (search, the vendor's defaults), ``False`` (no
        search: ``None``), or a dict: this class's fields, OpenAI's
        ``web_search_options`` (``search_context_size``, ``user_location``) or a
        vendor's web search tool (Anthropic's ``{"type": "web_search_20250305",
        ...}``, OpenAI's ``{"type": "web_search", "filters": {...}}``, Gemini's
        ``{"google_search": {}}``)."""
        if isinstance(value, WebSearch):
            return value
        if value is True:
            return cls()
        if value is False:
            return None
        if not isinstance(value, Mapping):
            raise InvalidRequestError(
                f"web_search must be True, a dict or a relaykit.WebSearch, not {value!r}",
                param="web_search",
            )
        given = dict(value)
        # The tool's own wrapping; a cache mark on it is the tools list's to place
        # (request.py moves it to the function tool before).
        for wrapping in ("type", "name", "google_search", "googleSearch", "cache_control"):
            given.pop(wrapping, None)
        fields: dict[str, Any] = {}
        for ours, theirs in (
            ("context_size", "search_context_size"),
            ("location", "user_location"),
        ):
            mine, vendors = given.pop(ours, None), given.pop(theirs, None)
            if mine is not None or vendors is not None:
                fields[ours] = mine if mine is not None else vendors
        filters = given.pop("filters", None)
        if filters is not None:
            if not isinstance(filters, Mapping) or set(filters) - _FILTERS:
                raise InvalidRequestError(
                    f"web_search filters {filters!r} are not understood",
                    param="web_search",
                    hint="give filters as {'allowed_domains': [...]} or {'blocked_domains': [...]}",
                )
            for name in _FILTERS:
                if filters.get(name):
                    fields[name] = filters[name]
        for name in ("max_uses", "allowed_domains", "blocked_domains"):
            if given.get(name) is not None:
                fields[name] = given.pop(name)
            else:
                given.pop(name, None)
        if given:
            unknown = ", ".join(sorted(given))
            raise InvalidRequestError(
                f"web_search does not know {unknown}",
                param="web_search",
                hint="use max_uses, allowed_domains, blocked_domains, context_size, location;"
                " a vendor's own field goes in extra={...}",
            )
        location = fields.get("location")
        if location is not None and not isinstance(location, SearchLocation):
            fields["location"] = _location(location)
        return cls(**fields)


def _location(value: Any) -> SearchLocation:
    if not isinstance(value, Mapping):
        raise InvalidRequestError(
            f"web_search location must be a dict or a relaykit.SearchLocation, not {value!r}",
            param="web_search",
        )
    # OpenAI's Chat Completions nests the fields under "approximate"
    inner = value.get("approximate", value)
    known = {"country", "region", "city", "timezone"}
    unknown = sorted(set(inner) - known - {"type"})
    if unknown:
        raise InvalidRequestError(
            f"web_search location does not know {', '.join(unknown)}",
            param="web_search",
            hint="give country, region, city and timezone",
        )
    return SearchLocation(**{k: inner[k] for k in known if inner.get(k) is not None})


def is_search_tool(value: object) -> bool:
    """Whether a ``tools=[...]`` entry is a vendor's web search tool rather than a
    function: ``{"type": "web_search..."}`` (Anthropic's, OpenAI's) or
    ``{"google_search": {}}`` (Gemini's)."""
    if not isinstance(value, Mapping):
        return False
    kind = value.get("type")
    if isinstance(kind, str) and kind.startswith("web_search"):
        return True
    return "google_search" in value or "googleSearch" in value


@attrs.frozen(kw_only=True)
class Citation:
    """A source the answer cites: what the model read on the web to say part of it.

    ``url`` and ``title`` name the page; ``cited_text`` is the passage quoted
    from it, where the vendor says (Anthropic); ``start`` and ``end`` are where
    the claim it supports lies in ``ChatResponse.text`` (character offsets,
    ``text[start:end]``), where the vendor says (OpenAI, Gemini; Anthropic's
    cited text block). A stream yields each citation as an event as it arrives.
    """

    url: str
    title: str = ""
    cited_text: str = ""
    start: int | None = None
    end: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The citation as JSON-ready fields, those unset left out."""
        out: dict[str, Any] = {"url": self.url}
        if self.title:
            out["title"] = self.title
        if self.cited_text:
            out["cited_text"] = self.cited_text
        if self.start is not None:
            out["start"] = self.start
        if self.end is not None:
            out["end"] = self.end
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Citation:
        """The citation :meth:`to_dict` made."""
        return cls(
            url=str(data["url"]),
            title=str(data.get("title") or ""),
            cited_text=str(data.get("cited_text") or ""),
            start=data.get("start"),
            end=data.get("end"),
        )


def refuse_unsearched(target: Target) -> InvalidRequestError:
    """The core's refusal of ``web_search=`` for a deployment whose provider plugin
    does not search the web (no ``searches_web = True``): never sent without it."""
    return unsupported(target.provider, target.model, "web search")


def unsupported(provider: str, model: str, what: str) -> InvalidRequestError:
    """The error a provider raises, before sending, for a web search it cannot run:
    ``what`` says which part (``"web search"``, ``"allowed_domains"``, ...)."""
    return InvalidRequestError(
        f"cannot apply web_search {what}" if what != "web search" else "cannot search the web",
        provider=provider,
        model=model,
        param="web_search",
        hint="route it to a provider that can, or leave that part of web_search out;"
        " a route with fallbacks tries its next deployment",
    )
