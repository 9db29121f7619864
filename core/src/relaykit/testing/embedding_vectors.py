"""The vectors vendor mocks answer embeddings requests with: deterministic, per text.

Every mock that serves an embeddings endpoint answers ``mock_vector(text,
dimensions)`` for each text, so the provider contract can check that a
plugin parsed the vendor's numbers exactly and kept the inputs' order. The
values are float32 numbers (what OpenAI's base64 encoding and Bedrock carry),
so they survive every wire format unchanged.
"""

from __future__ import annotations

import hashlib
import math
from array import array

__all__ = ["MOCK_DIMENSIONS", "mock_embedding_tokens", "mock_vector"]

#: the length of a mock's vectors when the request asks for none
MOCK_DIMENSIONS = 8


def mock_vector(text: str, dimensions: int = MOCK_DIMENSIONS) -> tuple[float, ...]:
    """A unit vector for ``text``: the same text always gets the same one."""
    seed = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()  # any str a client sends
    raw: list[float] = []
    block = 0
    while len(raw) < dimensions:
        digest = hashlib.sha256(seed + block.to_bytes(4, "big")).digest()
        # 16 values in [-1, 1) per digest, two bytes each
        raw.extend(int.from_bytes(digest[i : i + 2], "big") / 32768 - 1 for i in range(0, 32, 2))
        block += 1
    values = raw[:dimensions]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return tuple(array("f", [v / norm for v in values]).tolist())


def mock_embedding_tokens(text: str) -> int:
    """The tokens a mock bills for embedding ``text``: one per word, at least one."""
    return max(1, len(text.split()))
