"""Recognise credentials in text and mask them.

This is the always-on floor under every other redactor: errors, logs, stored
records and span attributes pass through :func:`scrub` so that a key echoed
back by a provider (or pasted into a prompt) never leaves relaykit in clear.

Public plugin API: plugins may import this module; the names in ``__all__`` are
stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping

__all__ = ["MASK", "Secret", "SecretHeaders", "cut_short", "scrub"]

MASK = "[REDACTED]"

_B64URL = r"[A-Za-z0-9_\-]"
# Labels after which whatever follows is a credential, in env, INI, YAML, JSON,
# header and query-string spellings: ``AWS_SECRET_ACCESS_KEY=...``,
# ``"SecretAccessKey": "..."``, ``x-api-key: ...``, ``?api_key=...``.
_LABELS = (
    r"aws_?secret_?access_?key|secret_?access_?key|aws_?session_?token|"
    r"x-api-key|x-goog-api-key|api-key|api_?key|access_?token|refresh_?token|"
    r"client_?secret|secret_?key|password|passwd|relaykit_master_key"
)
# a header or label name right after "Bearer"/"Basic" is not their token
_LABEL_AHEAD = rf"(?i:{_LABELS}|authorization|proxy-authorization)[\"']?\s*[:=]"

# bearer tokens and HTTP basic credentials; a "token" that is a label with its
# separator ("Bearer x-api-key: ...") is left alone, so the labelled pattern
# (or this one, for "Authorization: Bearer") masks the value after it
_BEARER = rf"(?P<keep1>(?i:\bbearer)\s+)(?!{_LABEL_AHEAD})[A-Za-z0-9._~+/\-]{{8,}}=*"
_BASIC = rf"(?P<keep2>(?i:basic)\s+)(?!{_LABEL_AHEAD})[A-Za-z0-9+/]{{12,}}=*"
# a key in a URL's query string (Google's ``?key=``): whatever its shape
_QUERY_KEY = r"(?P<keep5>[?&](?i:key)=)[^\s\"'&#]{6,}"
# user:password@, or a token alone as the user name (https://TOKEN@host; names of
# under 8 characters, ssh://git@, stay)
_URL_CREDENTIALS = (
    r"(?P<keep3>://)(?:[^/\s:@\[\]]{0,64}:[^/\s@\[\]]{1,128}|[^/\s:@\[\]]{8,128})(?=@)"
)

# Ordered most specific first; each pattern matches the whole secret. A named
# group ``keepN`` marks a prefix (a label, "Bearer ") that stays readable.
_PATTERNS = [
    r"sk-ant-(?:api|admin)\d{2}-[A-Za-z0-9_\-]{20,}",  # Anthropic
    r"sk-ant-[A-Za-z0-9_\-]{16,}",  # Anthropic, older or unknown shapes
    r"sk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_\-]{16,}",  # OpenAI and most compatibles
    r"AIza[0-9A-Za-z_\-]{35}",  # Google API keys (Gemini, Maps, ...)
    r"ya29\.[0-9A-Za-z_\-]{20,}",  # Google OAuth access tokens
    r"GOCSPX-[0-9A-Za-z_\-]{20,}",  # Google OAuth client secrets
    r"1//0[0-9A-Za-z_\-]{30,}",  # Google OAuth refresh tokens
    # AWS access key ids
    r"(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[0-9A-Z]{16}",
    r"ABSK[A-Za-z0-9+/]{20,}={0,2}",  # Amazon Bedrock API keys
    r"gsk_[A-Za-z0-9]{20,}",  # Groq
    r"xai-[A-Za-z0-9]{20,}",  # xAI
    r"hf_[A-Za-z0-9]{30,}",  # Hugging Face
    r"(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})",  # GitHub
    r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*",  # JWTs
    # a Fernet key (RELAYKIT_MASTER_KEY): 32 bytes as 44 urlsafe-base64 chars ending in "="
    rf"(?<!{_B64URL}){_B64URL}{{43}}=(?![A-Za-z0-9_\-=])",
    _BEARER,
    _BASIC,
    _URL_CREDENTIALS,
    # labelled secrets: the label and separator stay, the value goes
    rf"(?P<keep4>(?i:\b(?:{_LABELS}))[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,;\[\]{{}}]{{6,}}",
    _QUERY_KEY,
]
_SECRET_RE = re.compile("|".join(f"(?:{p})" for p in _PATTERNS))
_KEEP = [f"keep{i}" for i in range(1, 6)]


# Scrubbing runs on every stored record, log line and span, and conversations
# run to 20-100 KB. Searched, the alternation tries every pattern at every
# character (~0.3 µs each here: 6 ms per 20 KB of text that holds "token").
# But every pattern starts at a literal ("sk-", "AIza", "://"), at a label or
# word ("api_key", "Bearer"), or 43 characters before an "="; C-level scans
# (``str.find``, a regex whose first item is one character, both ~1 ns a
# character) find those places, and the alternation is tried there only, left
# to right, as ``sub`` would. :func:`_starts` may list places where nothing
# matches, never miss one where something does (a test holds it to that).

# Literals that share a character are found by one search for that character
# (a regex whose first item is one character skips to it in C); the group in
# the lookbehind that held marks where the literal starts.
_BY_DASH = re.compile(r"-(?:(?<=(sk)-)|(?<=(GOCSPX)-)|(?<=(xai)-))")
_BY_UNDERSCORE = re.compile(r"_(?:(?<=(gsk)_)|(?<=(hf)_)|(?<=(gh[pousr])_)|(?<=(github)_pat_))")
# The rest of each prefix is a lookahead: matches must not consume it, or a
# prefix inside another ("AGPAIza...": a Google key after AGP) would be skipped.
_CAPITAL_A = re.compile(r"A(?=Iza|3T|KIA|SIA|BIA|BSK|CCA|GPA|IDA|ROA|IPA|NPA|NVA|PKA)")
# Words ("basic"), URLs and query strings are common in prose: where one of
# them is, its own pattern is tried first, a fraction of the alternation's cost.
_BEARER_RE = re.compile(_BEARER)
_BASIC_RE = re.compile(_BASIC)
_URL_CREDENTIALS_RE = re.compile(_URL_CREDENTIALS)
_QUERY_KEY_RE = re.compile(_QUERY_KEY)
# The "=" that ends a Fernet key, which starts 43 characters before it.
_FERNET_BODY = 43
_FERNET_END = re.compile(rf"=(?<=(?<!{_B64URL}){_B64URL}{{{_FERNET_BODY}}}=)(?![A-Za-z0-9_\-=])")

# Every label ends in one of these words; a label is looked for only where one
# of them is followed by what the labelled pattern needs next (a ":" or "=").
_LABEL_WORDS = ("key", "token", "secret", "password", "passwd")
_AFTER_LABEL = re.compile(r"[\"']?\s*[:=]")


def _label_spellings() -> dict[str, tuple[str, ...]]:
    """Each label of :data:`_LABELS` spelled out (``_?`` both ways), by the word it ends in."""
    by_word: dict[str, list[str]] = {word: [] for word in _LABEL_WORDS}
    for label in _LABELS.split("|"):
        first, *rest = label.split("_?")
        for joins in itertools.product(("_", ""), repeat=len(rest)):
            spelling = first + "".join(j + part for j, part in zip(joins, rest, strict=True))
            by_word[next(w for w in _LABEL_WORDS if spelling.endswith(w))].append(spelling)
    return {word: tuple(spellings) for word, spellings in by_word.items()}


_SPELLINGS = _label_spellings()
# The characters other than A-Z that ``(?i:...)`` takes for one of its letters
# (İ and ı for "i", ſ for "s"; the Kelvin sign lowers to "k" by itself).
_FOLDS = (("\u0130", "i"), ("\u0131", "i"), ("\u017f", "s"))


def _folded(text: str) -> str:
    """``text`` lower-cased as ``(?i:...)`` compares letters, one character for one."""
    if not text.isascii():
        for odd, plain in _FOLDS:
            if odd in text:
                text = text.replace(odd, plain)
    return text.lower()


def _find_all(text: str, literal: str, starts: list[int]) -> None:
    at = text.find(literal)
    while at >= 0:
        starts.append(at)
        at = text.find(literal, at + 1)


def _find_matching(
    text: str, haystack: str, literal: str, pattern: re.Pattern[str], starts: list[int]
) -> None:
    # Each place ``literal`` is in ``haystack`` (``text`` or its lower-cased
    # copy) where ``pattern`` matches ``text``.
    at = haystack.find(literal)
    while at >= 0:
        if pattern.match(text, at) is not None:
            starts.append(at)
        at = haystack.find(literal, at + 1)


def _starts(text: str) -> list[int] | None:
    """Where in ``text`` a pattern may start, unsorted (``None``: anywhere).

    This runs on every text, most of them short and holding nothing: each scan
    is spelled out, and skipped when a cheaper one (``in`` with one character
    is a memchr, many times faster than with several) says it finds nothing.
    """
    starts: list[int] = []
    if "J" in text and "eyJ" in text:
        _find_all(text, "eyJ", starts)
    if "9" in text and "ya29." in text:
        _find_all(text, "ya29.", starts)
    if "/" in text:
        if "://" in text:
            _find_matching(text, text, "://", _URL_CREDENTIALS_RE, starts)
        if "1//0" in text:
            _find_all(text, "1//0", starts)
    if "-" in text and _BY_DASH.search(text) is not None:
        starts += [m.start(m.lastindex or 0) for m in _BY_DASH.finditer(text)]
    if "_" in text and _BY_UNDERSCORE.search(text) is not None:
        starts += [m.start(m.lastindex or 0) for m in _BY_UNDERSCORE.finditer(text)]
    if "A" in text and _CAPITAL_A.search(text) is not None:
        starts += [m.start() for m in _CAPITAL_A.finditer(text)]
    equals = "=" in text
    if equals and _FERNET_END.search(text) is not None:
        starts += [m.start() - _FERNET_BODY for m in _FERNET_END.finditer(text)]
    if text.isascii():
        lowered = text.lower()
    else:
        lowered = _folded(text)
        if len(lowered) != len(text):  # no character lowers to two now; a future Unicode may
            return None
    if "bearer" in lowered:
        _find_matching(text, lowered, "bearer", _BEARER_RE, starts)
    if "basic" in lowered:
        _find_matching(text, lowered, "basic", _BASIC_RE, starts)
    colon = ":" in text
    if equals or colon:
        places = _separator_places(text, colon, equals)
        if places is not None:
            _add_starts_before_separators(text, lowered, places, starts)
        elif "key" in lowered or "token" in lowered or "secret" in lowered or "passw" in lowered:
            _add_label_starts(text, lowered, starts)
    return starts


# A label is looked for from the separators when they are few (prose: a few
# per KB), from the label words when they are many (JSON, YAML, code, logs)
# or the text is short: each separator costs a few Python steps (~0.2 µs),
# each word a C scan of the text (0.25-0.6 ns a character; four to tell
# whether any is there, five more to find them), so past one separator in ~80
# characters the scans cost less, and they stop at the first four when no
# label word is there. The separators are counted in the first 4 KB only,
# and only until there are too many; either way finds every label.
_SEPARATOR_SPACING = 80
_SHORT_TEXT = 256
_COUNTED = 4096


def _separator_places(text: str, colon: bool, equals: bool) -> list[int] | None:
    """Where ``text``'s ":" and "=" are (``colon``, ``equals``: whether it has any),
    when they are few enough to look for labels from them; ``None`` otherwise
    (too many, or a short text): then the label words are looked for.

    The places found while counting are the ones walked from: finding them
    again (one more ``in`` and ``find`` walk of the text per separator, ~2 k
    instructions a KB each) cost as much as the counting itself.
    """
    size = len(text)
    if size < _SHORT_TEXT:
        return None
    counted = min(size, _COUNTED)
    # at most one in _SEPARATOR_SPACING characters, found (memchr) rather than
    # counted (``str.count`` steps through every character: ~9 k per KB), and
    # only until there are too many
    allowed = counted // _SEPARATOR_SPACING
    places: list[int] = []
    for separator, present in ((":", colon), ("=", equals)):
        at = text.find(separator, 0, counted) if present else -1
        while at >= 0:
            if not allowed:
                return None
            allowed -= 1
            places.append(at)
            at = text.find(separator, at + 1, counted)
    if size > counted:  # few in the first 4 KB: every one is walked from, the rest too
        for separator, present in ((":", colon), ("=", equals)):
            at = text.find(separator, counted) if present else -1
            while at >= 0:
                places.append(at)
                at = text.find(separator, at + 1)
    return places


_QUOTES = "\"'"
_QUERY_MARKS = "?&"


def _add_starts_before_separators(
    text: str, lowered: str, places: list[int], starts: list[int]
) -> None:
    # The labelled pattern is a label, an optional quote, any whitespace and a
    # ":" or "=": walked back from each separator (``places``: where each is),
    # the label ends just before that quote and whitespace, and only there are
    # the spellings compared.
    for at in places:
        end = at
        while end and text[end - 1].isspace():  # str.isspace is re's \s for str
            end -= 1
        if end and text[end - 1] in _QUOTES:
            end -= 1
        if lowered.endswith(_LABEL_WORDS, 0, end):
            _add_spellings(lowered, end, starts)
        # a query string's "?key=" or "&key=" (no quote or space between)
        if (
            at >= 4
            and text[at] == "="
            and lowered.startswith("key", at - 3)
            and text[at - 4] in _QUERY_MARKS
        ):
            starts.append(at - 4)


def _add_spellings(lowered: str, end: int, starts: list[int]) -> None:
    # Where each spelling of a label that ends at ``end`` would start.
    for word, spellings in _SPELLINGS.items():
        if lowered.endswith(word, 0, end):
            starts += [
                end - len(s)
                for s in spellings
                if len(s) <= end and lowered.startswith(s, end - len(s))
            ]


def _add_label_starts(text: str, lowered: str, starts: list[int]) -> None:
    # A label ends in one of _LABEL_WORDS, and the labelled pattern needs
    # _AFTER_LABEL right after it: only there are the spellings compared.
    for word, spellings in _SPELLINGS.items():
        at = lowered.find(word)
        while at >= 0:
            end = at + len(word)
            # JSON's '"key": ' passes the first test, rarely the second (one C call)
            if _AFTER_LABEL.match(text, end) is not None and lowered.endswith(spellings, 0, end):
                starts += [
                    end - len(s)
                    for s in spellings
                    if len(s) <= end and lowered.startswith(s, end - len(s))
                ]
            if word == "key" and at and _QUERY_KEY_RE.match(text, at - 1) is not None:
                starts.append(at - 1)  # a query string's "?key=" or "&key="
            at = lowered.find(word, at + 1)


def _mask(match: re.Match[str]) -> str:
    for name in _KEEP:
        kept = match.group(name)
        if kept is not None:
            return kept + MASK
    return MASK


def scrub(text: str, extra: tuple[str, ...] = ()) -> str:
    """Return ``text`` with every recognised credential replaced by ``[REDACTED]``.

    ``extra`` lists literal secrets (configured keys) to mask whatever their shape.
    Scrubbing is idempotent: scrubbing scrubbed text changes nothing.
    """
    for secret in extra:
        if secret and len(secret) >= 4:
            text = text.replace(secret, MASK)
    starts = _starts(text)
    if not starts:
        return text if starts is not None else _SECRET_RE.sub(_mask, text)
    # ``_SECRET_RE.sub(_mask, text)``, trying the alternation at these places only
    out: list[str] = []
    last = 0
    for start in sorted(starts):
        if start >= last:
            match = _SECRET_RE.match(text, start)
            if match is not None:
                out += (text[last:start], _mask(match))
                last = match.end()
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


# Header names that never hold a credential: their values ("2023-06-01",
# "application/json") stay readable; every other configured header's value is
# treated as a credential (a gateway's "X-Custom-Auth" has no telltale shape).
PLAIN_HEADERS = frozenset(
    {
        "accept",
        "accept-encoding",
        "accept-language",
        "anthropic-beta",
        "anthropic-version",
        "content-type",
        "user-agent",
    }
)


# what a key, a token or a URL is made of (everything but spaces, quotes, brackets
# and separators): a cut never ends inside a run of it
_TOKEN_CHAR = r"[^\s\"'<>\[\](){},;]"
_TOKEN_TAIL = re.compile(_TOKEN_CHAR + "+$")
_TOKEN_AT = re.compile(_TOKEN_CHAR)


def cut_short(text: str, limit: int) -> str:
    """``text`` to at most ``limit`` characters and an ellipsis, cut before the token
    (a key, a URL) that would straddle the cut: a part of a key is not the key, and
    masking, by shape or by value, would not find it."""
    if len(text) <= limit:
        return text
    kept = text[:limit]
    if _TOKEN_AT.match(text, limit) is not None:
        kept = _TOKEN_TAIL.sub("", kept)
    return kept.rstrip() + "…"


def scrubbed_repr(value: object) -> str:
    """``repr(value)`` with every recognised credential masked: the ``repr`` of attrs
    fields that may hold one (a request's ``extra`` and ``metadata``)."""
    return scrub(repr(value))


def headers_repr(headers: Mapping[str, str]) -> str:
    """``repr(dict(headers))``, each value masked unless its header is in :data:`PLAIN_HEADERS`."""
    return repr(
        {name: value if name.lower() in PLAIN_HEADERS else MASK for name, value in headers.items()}
    )


class SecretHeaders(dict[str, str]):
    """A provider's request headers (its ``Authorization``, ``x-api-key``...): a plain
    ``dict`` to send, whose ``repr`` masks each value as :func:`headers_repr` does.

    A provider object's ``repr`` names no credential, but ``vars(provider)`` (a
    debugger's locals, a ``pprint(vars(p))``, an error reporter that walks objects)
    shows its attributes' reprs: held in one of these, the headers show masked
    there too. Spread into a plain dict (``{**headers, ...}``) they are a plain dict.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"SecretHeaders({headers_repr(self)})"

    __str__ = __repr__


def tables_repr(tables: Mapping[str, Mapping[str, object]]) -> str:
    """``repr(tables)`` (plugin tables such as ``[exporters.NAME]``) scrubbed, each
    table's ``headers`` shown as :func:`headers_repr` shows them: a collector's key
    (``x-honeycomb-team``) has no shape scrub knows."""
    shown: dict[str, object] = {}
    for name, table in tables.items():
        headers = table.get("headers") if isinstance(table, Mapping) else None
        if isinstance(headers, Mapping):
            masked = {k: v if str(k).lower() in PLAIN_HEADERS else MASK for k, v in headers.items()}
            table = {**table, "headers": masked}
        shown[name] = table
    return scrub(repr(shown))


class Secret:
    """A string that never shows itself in ``repr``, ``str`` or tracebacks.

    Call :meth:`reveal` at the one place the real value is needed (an HTTP header).
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret value itself."""
        return self._value

    def hint(self) -> str:
        """A short prefix that helps a human tell keys apart, e.g. ``sk-p…``."""
        return self._value[:4] + "…" if len(self._value) > 12 else "…"

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return f"Secret({self.hint()!r})"

    __str__ = __repr__


def describe_error(error: BaseException) -> str:
    """``error`` for a log line: its type and the first line of its message, any
    credential in it masked."""
    lines = str(error).strip().splitlines()
    return scrub(f"{type(error).__name__}: {lines[0]}") if lines else type(error).__name__
