"""Calls to models Google shut down in the Gemini API (Imagen) are refused unsent,
without a status, so that a route falls back, and the refusal names the fix."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

import relaykit
from relaykit import InvalidRequestError
from relaykit.testing import mock_image
from relaykit_gemini.shutdowns import IMAGEN_SHUTDOWN
from relaykit_gemini.testing import GeminiMock

KEY = "AIzaSyA-test-key-0123456789abcdefghijklm"
IMAGEN = "gemini/imagen-4.0-generate-001"
REFUSAL = (
    f"Google shut Imagen down in the Gemini API on {IMAGEN_SHUTDOWN}; use"
    " gemini/gemini-3.1-flash-image (or gemini-3-pro-image)"
)


@asynccontextmanager
async def client(mock: GeminiMock, **sections: Any) -> AsyncIterator[relaykit.Client]:
    cfg = {
        "storage": {"backend": "none"},
        "retry": {"attempts": 3, "initial_wait": 0, "max_retry_after": 0},
        "providers": {"gemini": {"base_url": mock.base_url, "api_key": KEY}},
        **sections,
    }
    async with relaykit.Client(cfg, env={}) as c:
        yield c


async def _stream(c: relaykit.Client, model: str) -> None:
    async with c.stream(model, "hi") as s:
        async for _ in s:
            pass


CALLS = {
    "generate_image": lambda c, m: c.generate_image(m, "a fox"),
    "generate_image n=5": lambda c, m: c.generate_image(m, "a fox", n=5),
    "edit_image": lambda c, m: c.edit_image(m, "a hat", image=mock_image("a fox", side=16)),
    "chat": lambda c, m: c.chat(m, "hi"),
    "stream": _stream,
}


def test_the_shutdown_date_is_the_one_google_gave() -> None:
    # Firebase AI Logic's "Migrate from Imagen" guide: "All Imagen models shut down
    # on August 17, 2026", for the Gemini Developer API and Vertex AI alike.
    assert IMAGEN_SHUTDOWN == "2026-08-17"


@pytest.mark.anyio
@pytest.mark.parametrize("call", list(CALLS))
@pytest.mark.parametrize("model", [IMAGEN, "gemini/models/imagen-4.0-fast-generate-001"])
async def test_an_imagen_call_is_refused_unsent_naming_the_shutdown_and_the_fix(
    mock: GeminiMock, call: str, model: str
) -> None:
    async with client(mock) as c:
        with pytest.raises(InvalidRequestError) as caught:
            await CALLS[call](c, model)
    assert not mock.requests, "nothing is sent: Google answers Imagen only with 404s"
    error = caught.value
    assert type(error) is InvalidRequestError  # not a subclass a route would not pass over
    assert REFUSAL in str(error)
    assert (error.status, error.provider, error.param) == (None, "gemini", "model")
    assert error.model == model.removeprefix("gemini/")
    assert "aspect ratio" in (error.hint or "")


@pytest.mark.anyio
async def test_the_fix_names_the_provider_as_configured(mock: GeminiMock) -> None:
    cfg = {
        "storage": {"backend": "none"},
        "providers": {"google": {"type": "gemini", "base_url": mock.base_url, "api_key": KEY}},
    }
    async with relaykit.Client(cfg, env={}) as c:
        with pytest.raises(InvalidRequestError) as caught:
            await c.generate_image("google/imagen-4.0-ultra-generate-001", "a fox")
    assert "use google/gemini-3.1-flash-image" in str(caught.value)
    assert not mock.requests


@pytest.mark.anyio
async def test_a_route_falls_back_from_imagen_to_a_gemini_image_model(mock: GeminiMock) -> None:
    routes = {"models": {"draw": {"targets": [IMAGEN, "gemini/gemini-3.1-flash-image"]}}}
    async with client(mock, **routes) as c:
        r = await c.generate_image("draw", "a fox")
    assert (r.model, len(r.images)) == ("gemini-3.1-flash-image", 1)
    (request,) = mock.requests
    assert request.path == "/v1beta/models/gemini-3.1-flash-image:generateContent"


@pytest.mark.anyio
async def test_a_gemini_model_named_like_imagen_elsewhere_is_not_refused(mock: GeminiMock) -> None:
    # Only names that start with "imagen-" are Imagen's.
    async with client(mock) as c:
        r = await c.chat("gemini/gemini-2.5-flash", "imagen-4.0 is gone")
    assert r.text
