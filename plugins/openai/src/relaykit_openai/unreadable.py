"""``unreadable``: the error for a status-200 answer a non-chat decoder could not read.

A body that is no answer of the API asked (a proxy's HTML page, JSON cut short,
``{}``) comes from a proxy or a service in trouble, not from the request: it is
the retryable :class:`~relaykit.ProviderUnavailableError`, as chat's malformed
response is (docs/writing-plugins.md, "An answer that is no answer"), so a retry
or a fallback may get the answer. The message says what the decoder met and,
for a body that is not JSON, what came instead.
"""

from __future__ import annotations

import json

from relaykit import ProviderUnavailableError
from relaykit.secrets import cut_short

__all__ = ["unreadable"]


def unreadable(
    what: str, error: Exception, *, provider: str, model: str, path: str
) -> ProviderUnavailableError:
    """The error for the ``what`` response (``"embeddings"``) of ``path``
    (``"/embeddings"``) that raised ``error`` when read; raise it ``from None``."""
    detail = f"{type(error).__name__}: {error}"
    if isinstance(error, json.JSONDecodeError):
        # "Expecting value: line 1 column 1" says neither what came nor that nothing did
        doc = error.doc.strip() if isinstance(error.doc, str) else ""
        detail += (
            f"; the body is not JSON: {cut_short(doc, 80)!r}" if doc else "; the body is empty"
        )
    return ProviderUnavailableError(
        f"the {what} response could not be read ({cut_short(detail, 240)})",
        provider=provider,
        model=model,
        hint=f"the service did not answer as OpenAI's {path} does (a proxy's page, or a"
        " service in trouble), so a retry or a fallback may get the answer; if it lasts,"
        " check that base_url is the API's (ending in /v1)",
    )
