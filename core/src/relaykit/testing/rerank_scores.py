"""The scores vendor mocks rank documents with: deterministic, and readable in a test.

Every mock that serves a rerank endpoint scores each document with
``mock_relevance(query, document, index)``: mostly the share of the query's
words the document holds, and a little for coming early, so that no two
documents tie. A test can say which document comes first without a model.
"""

from __future__ import annotations

import re

__all__ = ["mock_ranking", "mock_relevance"]

_WORD = re.compile(r"\w+")


def mock_relevance(query: str, document: str, index: int = 0) -> float:
    """How relevant ``document`` (the ``index``-th sent) is to ``query``, in (0, 1]:
    nine tenths the share of the query's distinct words it holds, one tenth
    ``1 / (index + 1)``."""
    asked = {w.lower() for w in _WORD.findall(query)}
    held = {w.lower() for w in _WORD.findall(document)}
    share = len(asked & held) / len(asked) if asked else 0.0
    return round(0.9 * share + 0.1 / (index + 1), 6)


def mock_ranking(query: str, documents: list[str] | tuple[str, ...]) -> list[tuple[int, float]]:
    """Every document's ``(index, mock_relevance)``, best first: a mock's whole answer."""
    scores = [(i, mock_relevance(query, d, i)) for i, d in enumerate(documents)]
    return sorted(scores, key=lambda pair: -pair[1])
