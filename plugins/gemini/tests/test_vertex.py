"""Gemini on Vertex AI on the wire: URLs, bodies, errors, embeddings, listing, prices."""

from __future__ import annotations

import json
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest

import relaykit
from relaykit import (
    AuthenticationError,
    ConfigError,
    InvalidRequestError,
    NotFoundError,
    RateLimitError,
)
from relaykit.testing import Reply, mock_embedding_tokens, mock_vector, one_try_config
from relaykit_gemini import vertex_embeddings, vertex_urls, wire
from relaykit_gemini.mock_vertex import VertexMock, validate_predict
from relaykit_gemini.prices import known_model
from relaykit_google_auth.testing import vertex_client, vertex_providers

from .conftest import SA_EMAIL

MODEL = "vertex/gemini-2.5-flash"
PATH = "/v1/projects/mock-project/locations/us-central1/publishers/google/models/gemini-2.5-flash"


def client(
    mock: VertexMock, sa_file: Path | None, env: dict[str, str] | None = None, **options: Any
) -> AbstractAsyncContextManager[relaykit.Client]:
    """A client of the Vertex ``mock`` (its project, in us-central1 unless ``location``
    says) that reads ``env`` (nothing by default), not the process's environment."""
    options.setdefault("location", "us-central1")
    return vertex_client("vertex", mock.base_url, env or {}, sa_file, **options)


# -- where requests go -------------------------------------------------------------


def test_regional_global_and_multi_region_urls() -> None:
    def url(location: str, project: str | None = "p-1") -> str:
        root = f"{vertex_urls.host(location)}/v1"
        return (
            root
            + "/"
            + vertex_urls.model_path(
                "gemini-2.5-flash",
                "generateContent",
                project=project,
                location=location,
                name="v",
            )
        )

    assert url("us-central1") == (
        "https://us-central1-aiplatform.googleapis.com/v1/projects/p-1/locations/us-central1"
        "/publishers/google/models/gemini-2.5-flash:generateContent"
    )
    assert url("global") == (
        "https://aiplatform.googleapis.com/v1/projects/p-1/locations/global"
        "/publishers/google/models/gemini-2.5-flash:generateContent"
    )
    assert url("us").startswith("https://aiplatform.us.rep.googleapis.com/v1/projects/p-1/")
    # express mode: no project, no location in the path
    assert url("global", None) == (
        "https://aiplatform.googleapis.com/v1/publishers/google/models/"
        "gemini-2.5-flash:generateContent"
    )


def test_a_tuned_model_endpoint_and_bad_names_are_told_apart() -> None:
    assert vertex_urls.resource("endpoints/1234567890", "v") == "endpoints/1234567890"
    with pytest.raises(InvalidRequestError, match="not a Vertex AI model id"):
        vertex_urls.resource("../projects/other/x", "v")
    with pytest.raises(ConfigError, match="not a Google Cloud location"):
        vertex_urls.check_location("us-central1.evil.com/", "v")
    with pytest.raises(ConfigError, match="not a Google Cloud project id"):
        vertex_urls.check_project("Other Project/x", "v")


@pytest.mark.anyio
async def test_chat_goes_to_the_project_and_location_with_a_bearer_token(
    vertex_mock: VertexMock, sa_file: Path
) -> None:
    async with client(vertex_mock, sa_file) as c:
        r = await c.chat(MODEL, "Hello there", max_tokens=50)
    assert r.text == "echo: Hello there"
    (sent,) = vertex_mock.model_requests()
    assert sent.path == f"{PATH}:generateContent"
    assert sent.headers["authorization"].startswith("Bearer ya29.mock")
    assert "x-goog-api-key" not in sent.headers
    # the body is the Gemini API's own
    request = relaykit.ChatRequest(
        model="gemini-2.5-flash", messages=(relaykit.Message.user("Hello there"),), max_tokens=50
    )
    assert sent.json() == wire.request_body(request)
    # priced as the Gemini API prices the model (Vertex bills the same list price)
    price = known_model("gemini-2.5-flash")[1]
    assert price is not None and r.cost == price.cost(r.usage)


@pytest.mark.anyio
async def test_global_location_default_and_environment_settings(
    vertex_mock: VertexMock, sa_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # google-genai's defaults: the location is global unless GOOGLE_CLOUD_LOCATION says;
    # the variables are the client's (Client(env=...)), not the process's
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", "asia-east1")
    env = {"GOOGLE_CLOUD_PROJECT": "mock-project"}
    async with client(vertex_mock, sa_file, env, project=None, location=None) as c:
        await c.chat(MODEL, "hi")
    env["GOOGLE_CLOUD_LOCATION"] = "europe-west4"
    async with client(vertex_mock, sa_file, env, project=None, location=None) as c:
        await c.chat(MODEL, "hi")
    first, second = vertex_mock.model_requests()
    assert first.path.startswith("/v1/projects/mock-project/locations/global/")
    assert second.path.startswith("/v1/projects/mock-project/locations/europe-west4/")


@pytest.mark.anyio
async def test_the_project_comes_from_the_key_file_when_nothing_names_one(
    vertex_mock: VertexMock, sa_file: Path
) -> None:
    async with client(vertex_mock, sa_file, project=None) as c:
        await c.chat(MODEL, "hi")
    assert vertex_mock.model_requests()[0].path == f"{PATH}:generateContent"


@pytest.mark.anyio
async def test_stream_and_count_tokens_speak_vertex(vertex_mock: VertexMock, sa_file: Path) -> None:
    vertex_mock.script.push(Reply(text="one two three"))
    async with client(vertex_mock, sa_file) as c:
        async with c.stream(MODEL, "count to three") as s:
            text = "".join([e.text async for e in s if isinstance(e, relaykit.TextDelta)])
        messages = [
            relaykit.Message.system("be brief"),
            relaykit.Message.user("four words right here"),
        ]
        tokens = await c.count_tokens(MODEL, messages)
    assert text == "one two three"
    streamed, counted = vertex_mock.model_requests()
    assert (streamed.path, streamed.query) == (f"{PATH}:streamGenerateContent", {"alt": "sse"})
    assert counted.path == f"{PATH}:countTokens"
    # Vertex's CountTokensRequest: the fields at the top level, no generateContentRequest
    assert set(counted.json()) == {"contents", "systemInstruction"}
    assert tokens.input_tokens == 6


# -- express mode ------------------------------------------------------------------


@pytest.mark.anyio
async def test_express_mode_sends_the_key_to_the_publisher_path(
    vertex_mock: VertexMock, google_env: Path
) -> None:
    vertex_mock.express_key = "AQ.Ab8RN6mock-express-key-0123456789"
    async with client(
        vertex_mock,
        None,
        project=None,
        location=None,
        express=True,
        api_key=vertex_mock.express_key,
    ) as c:
        await c.chat(MODEL, "hi")
        async with client(
            vertex_mock, None, express=True, api_key=vertex_mock.express_key
        ) as with_project:
            with pytest.raises(ConfigError, match="express mode, which has no project"):
                await with_project.chat(MODEL, "hi")
    (sent,) = vertex_mock.model_requests()
    assert sent.path == "/v1/publishers/google/models/gemini-2.5-flash:generateContent"
    assert sent.headers["x-goog-api-key"] == vertex_mock.express_key
    assert "authorization" not in sent.headers
    assert not vertex_mock.tokens.requests


@pytest.mark.anyio
async def test_a_wrong_express_key_is_an_authentication_error_without_the_key(
    vertex_mock: VertexMock, google_env: Path
) -> None:
    vertex_mock.express_key = "AQ.Ab8RN6mock-express-key-0123456789"
    wrong = "AQ.Ab8RN6wrong-express-key-9876543210"
    async with client(
        vertex_mock, None, project=None, location=None, express=True, api_key=wrong
    ) as c:
        with pytest.raises(AuthenticationError) as caught:
            await c.chat(MODEL, "hi")
    assert "express mode API key" in str(caught.value)
    assert wrong not in str(caught.value) and wrong not in repr(caught.value)


# -- errors ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_resource_exhausted_is_a_rate_limit_with_the_wait(
    vertex_mock: VertexMock, sa_file: Path
) -> None:
    vertex_mock.script.push(Reply(status=429, error="Resource exhausted.", retry_after=7))
    async with client(vertex_mock, sa_file) as c:
        with pytest.raises(RateLimitError) as caught:
            await c.chat(MODEL, "hi")
    assert caught.value.retry_after == pytest.approx(7)
    assert caught.value.provider == "vertex"


@pytest.mark.anyio
async def test_permission_denied_names_the_project_and_the_role(
    vertex_mock: VertexMock, sa_file: Path
) -> None:
    async with client(vertex_mock, sa_file, project="someone-elses") as c:
        with pytest.raises(AuthenticationError) as caught:
            await c.chat(MODEL, "hi")
    text = str(caught.value)
    assert caught.value.status == 403
    assert "someone-elses" in text and "roles/aiplatform.user" in text and SA_EMAIL in text
    # a 403 is not a stale token: no refresh, no retry
    assert len(vertex_mock.tokens.requests) == 1 and len(vertex_mock.model_requests()) == 1


@pytest.mark.anyio
async def test_a_disabled_api_says_to_enable_it(vertex_mock: VertexMock, sa_file: Path) -> None:
    vertex_mock.api_enabled = False
    async with client(vertex_mock, sa_file) as c:
        with pytest.raises(AuthenticationError, match="gcloud services enable aiplatform"):
            await c.chat(MODEL, "hi")


@pytest.mark.anyio
async def test_an_unknown_model_names_the_location(vertex_mock: VertexMock, sa_file: Path) -> None:
    async with client(vertex_mock, sa_file) as c:
        with pytest.raises(NotFoundError) as caught:
            await c.chat("vertex/gemini-9-ultra", "hi")
    assert "Publisher Model" in (caught.value.provider_message or "")
    assert "'us-central1' serves gemini-9-ultra" in str(caught.value)


# -- embeddings and listing --------------------------------------------------------


@pytest.mark.anyio
async def test_gemini_embeddings_go_one_text_a_predict_call(
    vertex_mock: VertexMock, sa_file: Path
) -> None:
    async with client(vertex_mock, sa_file) as c:
        r = await c.embed(
            "vertex/gemini-embedding-001",
            ["first text", "second"],
            input_type="query",
            dimensions=64,
        )
    first, second = vertex_mock.model_requests()
    assert first.path.endswith("/publishers/google/models/gemini-embedding-001:predict")
    assert first.json() == {
        "instances": [{"content": "first text", "task_type": "RETRIEVAL_QUERY"}],
        "parameters": {"outputDimensionality": 64},
    }
    assert second.json()["instances"] == [{"content": "second", "task_type": "RETRIEVAL_QUERY"}]
    assert r.vectors == (mock_vector("first text", 64), mock_vector("second", 64))
    assert r.usage.input_tokens == 3 and not r.tokens_estimated


@pytest.mark.anyio
async def test_more_dimensions_than_gemini_embedding_gives_are_refused_before_sending(
    vertex_mock: VertexMock, sa_file: Path
) -> None:
    async with client(vertex_mock, sa_file) as c:
        with pytest.raises(relaykit.InvalidRequestError, match="not 4096") as e:
            await c.embed("vertex/gemini-embedding-001", ["a", "b"], dimensions=4096)
    assert e.value.param == "dimensions"
    assert vertex_mock.model_requests() == []


@pytest.mark.anyio
async def test_other_embedding_models_take_many_texts_a_call(
    vertex_mock: VertexMock, sa_file: Path
) -> None:
    texts = [f"text {i}" for i in range(300)]
    async with client(vertex_mock, sa_file) as c:
        r = await c.embed("vertex/text-embedding-005", texts)
    calls = vertex_mock.model_requests("predict")
    assert [len(call.json()["instances"]) for call in calls] == [250, 50]
    assert r.vectors == tuple(mock_vector(t) for t in texts)
    assert vertex_mock.predicts_in_flight_max == 1  # one after another


@pytest.mark.anyio
async def test_one_text_calls_go_several_at_once_the_vectors_in_order(
    vertex_mock: VertexMock, sa_file: Path
) -> None:
    texts = [f"text {i}" for i in range(32)]
    # the even texts' answers come late: later texts are answered before earlier ones
    vertex_mock.script.push(*(Reply(delay=0.15 if i % 2 == 0 else 0.01) for i in range(32)))
    async with client(vertex_mock, sa_file) as c:
        r = await c.embed("vertex/gemini-embedding-001", texts)
    assert r.vectors == tuple(mock_vector(t) for t in texts)
    sent = [call.json()["instances"][0]["content"] for call in vertex_mock.model_requests()]
    assert sorted(sent) == sorted(texts)
    assert 1 < vertex_mock.predicts_in_flight_max <= vertex_embeddings.CONCURRENCY


@pytest.mark.anyio
async def test_a_retry_resends_only_the_one_text_calls_that_got_no_answer(
    vertex_mock: VertexMock, sa_file: Path
) -> None:
    texts = [f"text {i}" for i in range(32)]
    # the eleventh call fails late, once every other call has been answered
    failing = Reply(status=503, error="The service is currently unavailable.", delay=0.5)
    vertex_mock.script.push(*(Reply() for _ in range(10)), failing)
    retry = {"attempts": 2, "initial_wait": 0, "max_retry_after": 0}
    providers = vertex_providers("vertex", vertex_mock.base_url, sa_file, location="us-central1")
    async with relaykit.Client(one_try_config(providers, retry=retry), env={}) as c:
        r = await c.embed("vertex/gemini-embedding-001", texts)
    assert r.vectors == tuple(mock_vector(t) for t in texts) and r.attempts == 2
    sent = [call.json()["instances"][0]["content"] for call in vertex_mock.model_requests()]
    assert len(sent) == 33 and sent[-1] == sent[10]  # the failed call alone, again


@pytest.mark.anyio
async def test_the_calls_a_failure_cut_short_are_sent_again(
    vertex_mock: VertexMock, sa_file: Path
) -> None:
    texts = [f"text {i}" for i in range(32)]
    # the first call fails while the others wait for their answers
    slow = [Reply(delay=0.3) for _ in range(31)]
    vertex_mock.script.push(Reply.failure(503, "The service is currently unavailable."), *slow)
    retry = {"attempts": 2, "initial_wait": 0, "max_retry_after": 0}
    providers = vertex_providers("vertex", vertex_mock.base_url, sa_file, location="us-central1")
    async with relaykit.Client(one_try_config(providers, retry=retry), env={}) as c:
        r = await c.embed("vertex/gemini-embedding-001", texts)
    assert r.vectors == tuple(mock_vector(t) for t in texts) and r.attempts == 2
    sent = [call.json()["instances"][0]["content"] for call in vertex_mock.model_requests()]
    # the first round (at most CONCURRENCY calls) got no answer; the rest went once
    assert 33 <= len(sent) <= 32 + vertex_embeddings.CONCURRENCY
    assert sorted(set(sent)) == sorted(texts)


@pytest.mark.anyio
async def test_a_predict_call_carries_at_most_20000_tokens(
    vertex_mock: VertexMock, sa_file: Path
) -> None:
    # 30 texts of 1,000 tokens: Vertex refuses them in one call (its cap is 20,000)
    texts = [f"{i} " + "w " * 999 for i in range(30)]
    async with client(vertex_mock, sa_file) as c:
        r = await c.embed("vertex/text-embedding-005", texts)
    calls = [call.json()["instances"] for call in vertex_mock.model_requests("predict")]
    assert len(calls) > 1
    assert all(sum(mock_embedding_tokens(i["content"]) for i in c) <= 20_000 for c in calls)
    assert [i["content"] for c in calls for i in c] == texts
    assert r.vectors == tuple(mock_vector(t) for t in texts)
    assert r.usage.input_tokens == 30_000


def test_the_mock_refuses_over_20000_tokens_as_truncated() -> None:
    over = {"instances": [{"content": "w " * 2000}] * 10 + [{"content": "w"}]}
    assert "input token count is 20001" in (validate_predict(over, "text-embedding-005") or "")
    # a text counts at most the 2,048 tokens Vertex truncates it to
    long = {"instances": [{"content": "w " * 30_000}]}
    assert validate_predict(long, "text-embedding-005") is None


@pytest.mark.anyio
async def test_models_are_the_publishers_gemini_models(
    vertex_mock: VertexMock, sa_file: Path
) -> None:
    vertex_mock.page_size = 5
    async with client(vertex_mock, sa_file) as c:
        models = await c.models()
    ids = {m.id for m in models if m.provider == "vertex"}
    assert {"gemini-2.5-flash", "gemini-2.5-pro", "gemini-3-pro-image"} <= ids
    assert not {i for i in ids if "embedding" in i or not i.startswith("gemini-")}
    listed = [r for r in vertex_mock.requests if r.method == "GET"]
    assert len(listed) > 1 and all(
        r.path == "/v1beta1/publishers/google/models" and r.headers["authorization"] for r in listed
    )


# -- configuration -----------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"express": "yes"}, "express must be true or false"),
        ({"express": True}, "express mode but has no API key"),
        ({"credentials_file": 3}, "credentials_file must be a path"),
        ({"location": "Mars 1"}, "not a Google Cloud location"),
    ],
)
async def test_bad_options_are_config_errors(
    vertex_mock: VertexMock, google_env: Path, options: dict[str, Any], message: str
) -> None:
    options = {"project": None, **options}
    async with client(vertex_mock, None, **options) as c:
        with pytest.raises(ConfigError, match=message):
            await c.chat(MODEL, "hi")
    assert not vertex_mock.requests


def test_the_mock_answers_vertex_errors_as_json(vertex_mock: VertexMock) -> None:
    # (kept sync: a raw look at the wire shape the provider maps)
    import httpx

    r = httpx.post(f"{vertex_mock.base_url}{PATH}:generateContent", json={})
    assert r.status_code == 401
    assert json.loads(r.content)["error"]["status"] == "UNAUTHENTICATED"
