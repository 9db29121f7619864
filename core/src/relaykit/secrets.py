"""Recognise credentials in text and mask them.

This is the always-on floor under every other redactor: errors, logs, stored
records and span attributes pass through :func:`scrub` so that a key echoed
back by a provider (or pasted into a prompt) never leaves relaykit in clear.
"""

from __future__ import annotations

import re

MASK = "[REDACTED]"

# Ordered most specific first; each pattern matches the whole secret.
_PATTERNS = [
    r"sk-ant-[A-Za-z0-9_\-]{16,}",  # Anthropic
    r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{16,}",  # OpenAI and most compatibles
    r"AIza[0-9A-Za-z_\-]{35}",  # Google API keys
    r"(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}",  # AWS access key ids
    r"(?i:(?<=aws_secret_access_key)[\s\"'=:]+)[A-Za-z0-9/+]{40}",  # AWS secret, labelled
    r"gsk_[A-Za-z0-9]{20,}",  # Groq
    r"xai-[A-Za-z0-9]{20,}",  # xAI
    r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",  # JWTs
    r"(?i:(?<=bearer ))[A-Za-z0-9._~+/\-]{8,}=*",  # bearer tokens
    r"(?i:(?<=x-api-key: ))\S{8,}",
]
_SECRET_RE = re.compile("|".join(f"(?:{p})" for p in _PATTERNS))


def scrub(text: str, extra: tuple[str, ...] = ()) -> str:
    """Return ``text`` with every recognised credential replaced by ``[REDACTED]``.

    ``extra`` lists literal secrets (configured keys) to mask whatever their shape.
    """
    for secret in extra:
        if secret and len(secret) >= 4:
            text = text.replace(secret, MASK)
    return _SECRET_RE.sub(MASK, text)


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
