"""The verdicts vendor mocks moderate texts with: deterministic, and readable in a test.

Every mock that serves a moderation endpoint (and :class:`~relaykit.testing.FakeProvider`)
scores each category with ``mock_moderation(text, categories)``: a category
whose trigger words (:data:`TRIGGERS`) the text holds scores 0.6, plus 0.1 for
each further occurrence (at most 0.99), and is flagged; any other scores a
few ten-thousandths, derived from the text, and is not. So a test says which
categories a text is flagged for without a model: ``"I will kill you"`` is
``violence``, ``harassment/threatening`` and ``harassment`` at OpenAI, and
``violence_and_threats`` at Mistral.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from collections.abc import Sequence

#: OpenAI's categories (omni-moderation-latest), as its API reference lists them
OPENAI_CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/instructions",
    "self-harm/intent",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)
#: Mistral's categories (mistral-moderation-2411, which mistral-moderation-latest
#: served when its guide's example answer was written)
MISTRAL_CATEGORIES = (
    "sexual",
    "hate_and_discrimination",
    "violence_and_threats",
    "dangerous_and_criminal_content",
    "selfharm",
    "health",
    "financial",
    "law",
    "pii",
)
#: the words (lower case, whole words) that flag each category
TRIGGERS: dict[str, tuple[str, ...]] = {
    "harassment": ("idiot", "kill"),
    "harassment/threatening": ("kill",),
    "hate": ("hate",),
    "illicit": ("steal",),
    "violence": ("kill", "hurt"),
    "hate_and_discrimination": ("hate",),
    "violence_and_threats": ("kill", "hurt"),
    "dangerous_and_criminal_content": ("steal",),
}
#: the score at and above which the mocks flag a category
THRESHOLD = 0.5

_WORD = re.compile(r"\w+")


def mock_moderation(text: str, categories: Sequence[str] = OPENAI_CATEGORIES) -> dict[str, float]:
    """Each of ``categories``' score for ``text``, from 0 to 1 (see the module docstring)."""
    words = Counter(w.lower() for w in _WORD.findall(text))
    scores: dict[str, float] = {}
    for category in categories:
        hits = sum(words[w] for w in TRIGGERS.get(category, ()))
        if hits:
            scores[category] = round(min(0.99, 0.5 + 0.1 * hits), 6)
        else:
            noise = zlib.crc32(f"{category}\n{text}".encode()) % 1000
            scores[category] = round((noise + 1) / 1_000_000, 6)
    return scores


def mock_flagged(text: str, categories: Sequence[str] = OPENAI_CATEGORIES) -> dict[str, bool]:
    """Each of ``categories``' verdict for ``text``: its :func:`mock_moderation` score
    at or above :data:`THRESHOLD`."""
    return {name: score >= THRESHOLD for name, score in mock_moderation(text, categories).items()}
