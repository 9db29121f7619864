"""A FastAPI app over relaykit: one shared client, JSON and streamed answers, typed errors.

``POST /chat`` answers in one JSON response; ``POST /chat/stream`` streams the
answer as Server-Sent Events. relaykit's errors become HTTP statuses
(:data:`STATUSES`) with the error's message. FastAPI runs on anyio, so the same
app serves under asyncio or trio:

    OPENAI_API_KEY=sk-... hypercorn relaykit_examples.fastapi_app:app
    OPENAI_API_KEY=sk-... hypercorn -k trio relaykit_examples.fastapi_app:app
    relaykit-offline hypercorn relaykit_examples.fastapi_app:app     # no key, no network
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel, Field

import relaykit

MODEL = "openai/gpt-4o-mini"

#: What this app sets itself; keys and base URLs come from the environment.
CONFIG: dict[str, Any] = {
    # A request gives up after 20 s. So a provider's Retry-After longer than what
    # is left is not waited out: the caller gets the 429, with the Retry-After.
    "timeouts": {"total": 20},
    # For the whole app: beyond 120 calls a minute or $5 a day (UTC), callers get 429s.
    "limits": {"openai/*": {"rpm": 120, "budget_usd": 5}},
}

#: The HTTP status for each kind of relaykit error. The first match wins, so a
#: subclass comes before its base; any other error is a 500 (the app's own fault:
#: its key, its model id, its configuration).
STATUSES: tuple[tuple[type[relaykit.RelayError], int], ...] = (
    (relaykit.RateLimitError, 429),  # the provider's rate limit
    (relaykit.QuotaExceededError, 429),  # the app's own [limits] and budget
    (relaykit.InvalidRequestError, 400),  # and ContextLengthError, ContentFilterError
    (relaykit.RequestTimeoutError, 504),
    (relaykit.CircuitOpenError, 503),  # relaykit stopped calling a failing provider for now
    (relaykit.ProviderUnavailableError, 502),
    (relaykit.StreamError, 502),  # a stream cut off before its first piece, every time
)


class ChatIn(BaseModel):
    """A prompt for the model."""

    prompt: str = Field(min_length=1, max_length=20_000)
    max_tokens: int = Field(default=500, ge=1, le=4_000)


class ChatOut(BaseModel):
    """The model's answer and what it cost."""

    text: str
    model: str
    finish_reason: str
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal | None

    @classmethod
    def of(cls, r: relaykit.ChatResponse) -> ChatOut:
        """The parts of ``r`` the caller is shown."""
        return cls(
            text=r.text,
            model=r.model,
            finish_reason=r.finish_reason,
            input_tokens=r.usage.input_tokens,
            output_tokens=r.usage.output_tokens,
            cost_usd=r.cost,
        )


def get_client(request: Request) -> relaykit.Client:
    """The app's client, opened in its lifespan (see :func:`create_app`)."""
    client: relaykit.Client = request.state.client
    return client


ClientDep = Annotated[relaykit.Client, Depends(get_client)]

router = APIRouter()


@router.post("/chat")
async def chat(question: ChatIn, client: ClientDep) -> ChatOut:
    """Answer in one JSON response."""
    r = await client.chat(MODEL, question.prompt, max_tokens=question.max_tokens)
    return ChatOut.of(r)


async def open_stream(question: ChatIn, client: ClientDep) -> AsyncIterator[relaykit.ChatStream]:
    """Start a streamed answer; FastAPI closes it once the response has been sent."""
    # Entering sends the request and waits for the first piece of the answer, so
    # a failure before it (a 429, an outage) still becomes an HTTP error status.
    async with client.stream(MODEL, question.prompt, max_tokens=question.max_tokens) as stream:
        yield stream


@router.post("/chat/stream", response_class=EventSourceResponse)
async def chat_stream(
    stream: Annotated[relaykit.ChatStream, Depends(open_stream)],
) -> AsyncIterator[ServerSentEvent]:
    """Stream the answer as Server-Sent Events.

    One ``data: {"text": ...}`` event per piece, then an ``event: done`` with the
    whole answer as ``POST /chat`` gives it, or an ``event: error`` if the stream breaks.
    """
    try:
        async for event in stream:
            if isinstance(event, relaykit.TextDelta):
                yield ServerSentEvent(data={"text": event.text})
    except relaykit.RelayError as error:
        # The 200 has been sent already: the failure can only be told in the stream.
        yield ServerSentEvent(event="error", data=error_body(error))
        return
    yield ServerSentEvent(event="done", data=ChatOut.of(stream.response))


def error_body(error: relaykit.RelayError) -> dict[str, Any]:
    """What the caller is told: the kind of error and its message (relaykit keeps keys out)."""
    return {"error": {"type": type(error).__name__, "message": error.message}}


async def relay_error_response(request: Request, error: Exception) -> JSONResponse:
    """A relaykit error as a JSON response with its status, and Retry-After when known."""
    assert isinstance(error, relaykit.RelayError)  # registered for RelayError only
    status = next((status for kind, status in STATUSES if isinstance(error, kind)), 500)
    headers = {}
    # RateLimitError, QuotaExceededError and ProviderUnavailableError may know when to retry.
    retry_after: float | None = getattr(error, "retry_after", None)
    if retry_after is not None:
        headers["Retry-After"] = str(math.ceil(retry_after))  # whole seconds, as HTTP wants
    return JSONResponse(error_body(error), status, headers)


def create_app(config: Mapping[str, Any] = CONFIG) -> FastAPI:
    """The app, with one relaykit client opened from ``config`` for its lifetime."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        # One client for every request: it pools connections, and its retries,
        # circuit breakers, limits and budget see all the app's traffic.
        async with relaykit.Client(config) as client:
            yield {"client": client}  # lifespan state: each request's request.state

    app = FastAPI(title="relaykit example", lifespan=lifespan)
    app.add_exception_handler(relaykit.RelayError, relay_error_response)
    app.include_router(router)
    return app


app = create_app()
