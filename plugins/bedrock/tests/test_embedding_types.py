"""Cohere Embed's ``embedding_types`` on Bedrock (``extra={"embedding_types": [...]}``):
``int8`` and ``uint8`` vectors hold one number a dimension and are read as sent;
``binary`` and ``ubinary`` are packed bits (eight dimensions a byte), which no
vector of one number a dimension can hold, and are refused before sending with a
typed, non-retryable error naming the option. Over loopback against the mock,
which answers every type as Cohere does."""

from __future__ import annotations

from typing import Any

import pytest

from relaykit import InvalidRequestError
from relaykit.testing import mock_vector
from relaykit_bedrock.testing import BedrockMock

from .conftest import MakeClient, bodies, invocations

pytestmark = pytest.mark.anyio

COHERE_V4 = "us.cohere.embed-v4:0"
TEXTS = ["a first text", "a second one"]


@pytest.mark.parametrize(
    ("types", "read"),
    [
        (["int8"], "int8"),
        (["uint8"], "uint8"),
        (["int8", "binary"], "int8"),
        (["binary", "float"], "float"),
    ],
)
async def test_types_of_one_number_a_dimension_are_read(
    mock: BedrockMock, make_client: MakeClient, types: list[str], read: str
) -> None:
    async with make_client() as client:
        r = await client.embed(f"bedrock/{COHERE_V4}", TEXTS, extra={"embedding_types": types})
    assert bodies(mock)[0]["embedding_types"] == types
    floats = [mock_vector(t, 8) for t in TEXTS]
    if read == "float":
        assert r.vectors == tuple(floats)
        return
    assert all(len(v) == 8 and all(x == int(x) for x in v) for v in r.vectors)
    low, high = (-128, 127) if read == "int8" else (0, 255)
    assert all(low <= x <= high for v in r.vectors for x in v)
    # quantized from the same floats: each dimension keeps its order
    for vector, exact in zip(r.vectors, floats, strict=True):
        ranks = sorted(range(8), key=lambda i: (exact[i], i))
        assert [vector[i] for i in ranks] == sorted(vector)


@pytest.mark.parametrize("types", [["binary"], ["ubinary"], ["binary", "ubinary"]])
async def test_packed_bit_types_are_refused_before_sending_naming_the_option(
    mock: BedrockMock, make_client: MakeClient, types: list[str]
) -> None:
    async with make_client(retry=3) as client:
        with pytest.raises(InvalidRequestError) as caught:
            await client.embed(f"bedrock/{COHERE_V4}", TEXTS, extra={"embedding_types": types})
    error = caught.value
    assert error.retryable is False
    assert error.param == 'extra["embedding_types"]'
    assert types[0] in str(error) and "packed" in str(error)
    assert error.hint is not None and "int8" in error.hint
    assert invocations(mock) == []


@pytest.mark.parametrize("types", [[], "int8", ["int4"], [8]])
async def test_an_embedding_types_value_cohere_does_not_take_is_refused(
    mock: BedrockMock, make_client: MakeClient, types: Any
) -> None:
    async with make_client() as client:
        with pytest.raises(InvalidRequestError) as caught:
            await client.embed(f"bedrock/{COHERE_V4}", TEXTS, extra={"embedding_types": types})
    assert caught.value.param == 'extra["embedding_types"]'
    assert "float, int8, uint8, binary, ubinary" in str(caught.value)
    assert invocations(mock) == []
