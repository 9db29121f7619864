"""Recognise credentials in text and mask them.

This is the always-on floor under every other redactor: errors, logs, stored
records and span attributes pass through :func:`scrub` so that a key echoed
back by a provider (or pasted into a prompt) never leaves relaykit in clear.
"""

from __future__ import annotations

import re

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
    # bearer tokens and HTTP basic credentials; a "token" that is a label with its
    # separator ("Bearer x-api-key: ...") is left alone, so the labelled pattern
    # (or this one, for "Authorization: Bearer") masks the value after it
    rf"(?P<keep1>(?i:\bbearer)\s+)(?!{_LABEL_AHEAD})[A-Za-z0-9._~+/\-]{{8,}}=*",
    rf"(?P<keep2>(?i:basic)\s+)(?!{_LABEL_AHEAD})[A-Za-z0-9+/]{{12,}}=*",
    r"(?P<keep3>://)[^/\s:@\[\]]{0,64}:[^/\s@\[\]]{1,128}(?=@)",  # user:password@ in URLs
    # labelled secrets: the label and separator stay, the value goes
    rf"(?P<keep4>(?i:\b(?:{_LABELS}))[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,;\[\]{{}}]{{6,}}",
    # a key in a URL's query string (Google's ``?key=``): whatever its shape
    r"(?P<keep5>[?&](?i:key)=)[^\s\"'&#]{6,}",
]
_SECRET_RE = re.compile("|".join(f"(?:{p})" for p in _PATTERNS))
_KEEP = [f"keep{i}" for i in range(1, 6)]


# Scrubbing runs on every stored record, log line and span, and almost no text
# holds a credential. Every pattern above needs one of these literals (or, for
# the labelled, bearer and URL patterns, one of the lower-case words), so text
# with none of them skips the regex.
_LITERALS = (
    "sk-", "AIza", "ya29.", "GOCSPX-", "1//0", "gsk_", "xai-", "hf_", "ghp_", "gho_", "ghu_",
    "ghs_", "ghr_", "github_pat_", "eyJ", "=", "A3T", "AKIA", "ASIA", "ABIA", "ACCA", "AGPA",
    "AIDA", "AROA", "AIPA", "ANPA", "ANVA", "APKA", "ABSK",
)  # fmt: skip
# How _may_hold_secret looks for them (a test checks it finds each). One regex
# alternation of all of them would try every literal at each "s", "e", "h" of
# ordinary prose (1-2 µs per short text); ``in`` on a str is a C scan, and the
# literals sharing a character are looked for only when that character is there.
_UNDERSCORED = re.compile(r"gsk_|hf_|gh[pousr]_|github_pat_")
_CAPITAL_A = re.compile(r"A(?:Iza|3T|KIA|SIA|BIA|BSK|CCA|GPA|IDA|ROA|IPA|NPA|NVA|PKA)")


def _may_hold_secret(text: str) -> bool:
    return "=" in text or _may_hold_more_than_a_fernet_key(text)


def _may_hold_more_than_a_fernet_key(text: str) -> bool:
    # Every literal and word but "=", which only a Fernet key needs (the
    # labelled, bearer and query-string patterns need a word besides).
    # Spelled out rather than any(...) over a tuple: this runs on every text.
    # ``in`` with one character is a memchr, many times faster on long text than
    # with several (~1 ns a character here), so a literal's rarest character is
    # looked for first.
    slash = "/" in text
    if (
        ("-" in text and ("sk-" in text or "GOCSPX-" in text or "xai-" in text))
        or ("J" in text and "eyJ" in text)
        or ("9" in text and "ya29." in text)
        or (slash and ("1//0" in text or "://" in text))
        or ("_" in text and _UNDERSCORED.search(text) is not None)
        or ("A" in text and _CAPITAL_A.search(text) is not None)
    ):
        return True
    lowered = text.lower()
    return (
        "key" in lowered
        or "token" in lowered
        or "secret" in lowered
        or "passw" in lowered
        or "bearer" in lowered
        or "basic" in lowered
    )


# A Fernet key is 43 characters and an "=".
_FERNET_BODY = 43


def _scrub_fernet_keys(text: str) -> str:
    """``_SECRET_RE.sub(_mask, text)`` for text where no other pattern can match.

    Code, logs and query strings hold "=" everywhere, and the alternation tries
    every pattern at every character (~0.2 µs each here). Where only a Fernet
    key can match, a match starts 43 characters before an "=", so the pattern is
    tried there only, left to right as ``sub`` would.
    """
    out: list[str] = []
    last = 0
    eq = text.find("=", _FERNET_BODY)
    while eq >= 0:
        start = eq - _FERNET_BODY
        if start >= last:
            match = _SECRET_RE.match(text, start)
            if match is not None:
                out += (text[last:start], _mask(match))
                last = match.end()
        eq = text.find("=", eq + 1)
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


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
    if not _may_hold_more_than_a_fernet_key(text):
        return _scrub_fernet_keys(text) if "=" in text else text
    return _SECRET_RE.sub(_mask, text)


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
