"""Claude on Vertex AI on the wire: URLs, bodies, streaming, token counting, credentials,
errors, prices, and no secret in errors or reprs."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

import relaykit
from relaykit import (
    AuthenticationError,
    ChatRequest,
    ConfigError,
    InvalidRequestError,
    Message,
    NotFoundError,
)
from relaykit_anthropic import VertexAnthropicProvider
from relaykit_anthropic.mock_vertex import VertexClaudeMock
from relaykit_google_auth.mock_metadata import MetadataServerMock
from relaykit_google_auth.testing import write_vertex_config

from .conftest import vertex_client as client

SA_EMAIL = "claude@mock-project.iam.gserviceaccount.com"  # conftest's service account
MODEL = "vertex-anthropic/claude-haiku-4-5@20251001"
PATH = "/v1/projects/mock-project/locations/us-east5/publishers/anthropic/models"


def provider_of(c: relaykit.Client) -> VertexAnthropicProvider:
    provider = c.provider("vertex-anthropic")
    assert isinstance(provider, VertexAnthropicProvider)
    return provider


# -- where requests go, with what body -----------------------------------------------


@pytest.mark.anyio
async def test_a_relative_key_file_is_read_from_the_config_files_directory(
    vertex_mock: VertexClaudeMock,
    sa_file: Path,
    google_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As the core's own [storage] path: from wherever the command ran, the key
    # beside the config was "not found".
    config = write_vertex_config(
        sa_file.parent / "relaykit.toml",
        "vertex-anthropic",
        vertex_mock.base_url,
        sa_file.name,
        location="us-east5",
    )
    elsewhere = sa_file.parent / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    async with relaykit.Client(config, env=google_env) as c:
        assert (await c.chat(MODEL, "hi")).text


@pytest.mark.anyio
async def test_a_call_goes_to_raw_predict_with_vertexs_body(
    vertex_mock: VertexClaudeMock, sa_file: Path, google_env: dict[str, str]
) -> None:
    async with client(vertex_mock, google_env, sa_file) as c:
        r = await c.chat(MODEL, "hello", max_tokens=50)
    assert r.text == "echo: hello"
    (sent,) = vertex_mock.model_requests()
    assert sent.path == f"{PATH}/claude-haiku-4-5@20251001:rawPredict"
    body = sent.json()
    assert body["anthropic_version"] == "vertex-2023-10-16"
    assert "model" not in body and "stream" not in body and body["max_tokens"] == 50
    assert "anthropic-version" not in sent.headers and "x-api-key" not in sent.headers
    assert sent.headers["authorization"].startswith("Bearer ya29.mock")


@pytest.mark.anyio
async def test_a_stream_goes_to_stream_raw_predict_and_reads_claudes_events(
    vertex_mock: VertexClaudeMock, sa_file: Path, google_env: dict[str, str]
) -> None:
    vertex_mock.script.reply("streamed from Vertex")
    async with client(vertex_mock, google_env, sa_file) as c, c.stream(MODEL, "hi") as s:
        deltas = [e.text async for e in s if isinstance(e, relaykit.TextDelta)]
    assert "".join(deltas) == "streamed from Vertex" and len(deltas) > 1
    assert s.response.usage.output_tokens > 0
    (sent,) = vertex_mock.model_requests()
    assert sent.path.endswith("/claude-haiku-4-5@20251001:streamRawPredict")
    assert sent.json()["stream"] is True and "model" not in sent.json()


@pytest.mark.anyio
async def test_tokens_are_counted_at_count_tokens_with_the_model_in_the_body(
    vertex_mock: VertexClaudeMock, sa_file: Path, google_env: dict[str, str]
) -> None:
    request = ChatRequest(
        model="claude-haiku-4-5@20251001",
        messages=(Message.system("one two"), Message.user("three four five")),
        temperature=0.5,
    )
    async with client(vertex_mock, google_env, sa_file) as c:
        assert await provider_of(c).count_tokens(request) == 5
    (sent,) = vertex_mock.model_requests()
    assert sent.path == f"{PATH}/count-tokens:rawPredict"
    body = sent.json()
    assert set(body) == {"anthropic_version", "model", "messages", "system"}
    assert body["model"] == "claude-haiku-4-5@20251001"


@pytest.mark.anyio
async def test_each_location_has_its_host_and_global_is_the_default(
    google_env: dict[str, str],
) -> None:
    hosts = {}
    for location in (None, "us-east5", "eu"):
        cfg = {
            "storage": {"backend": "none"},
            "providers": {
                "vertex-anthropic": {"project": "p-1"}
                | ({"location": location} if location else {})
            },
        }
        async with relaykit.Client(cfg, env={**google_env, "VERTEX_ACCESS_TOKEN": "t"}) as c:
            provider = provider_of(c)
            request = ChatRequest(model="claude-opus-4-7", messages=(Message.user("x"),))
            hosts[location] = await provider._messages_url_for(request, stream=True)
    assert hosts == {
        None: "https://aiplatform.googleapis.com/v1/projects/p-1/locations/global"
        "/publishers/anthropic/models/claude-opus-4-7:streamRawPredict",
        "us-east5": "https://us-east5-aiplatform.googleapis.com/v1/projects/p-1/locations/"
        "us-east5/publishers/anthropic/models/claude-opus-4-7:streamRawPredict",
        "eu": "https://aiplatform.eu.rep.googleapis.com/v1/projects/p-1/locations/eu"
        "/publishers/anthropic/models/claude-opus-4-7:streamRawPredict",
    }


@pytest.mark.anyio
async def test_the_project_and_location_come_from_googles_variables(
    vertex_mock: VertexClaudeMock, sa_file: Path, google_env: dict[str, str]
) -> None:
    env = {**google_env, "GOOGLE_CLOUD_PROJECT": "mock-project", "GOOGLE_CLOUD_LOCATION": "global"}
    async with client(vertex_mock, env, sa_file, project=None, location=None) as c:
        await c.chat("vertex-anthropic/claude-sonnet-4-5@20250929", "hi")
    assert vertex_mock.model_requests()[0].path.startswith(
        "/v1/projects/mock-project/locations/global/"
    )


# -- credentials -----------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_static_token_is_sent_as_it_is_and_never_shown(
    vertex_mock: VertexClaudeMock, google_env: dict[str, str]
) -> None:
    token = "ya29.static-token-minted-by-gcloud-0123456789"
    vertex_mock.static_tokens.add(token)
    async with client(vertex_mock, {**google_env, "VERTEX_ACCESS_TOKEN": token}) as c:
        await c.chat(MODEL, "hi")
        vertex_mock.static_tokens.clear()  # it expires
        with pytest.raises(AuthenticationError) as caught:
            await c.chat(MODEL, "hi")
        shown = repr(provider_of(c)) + repr(provider_of(c)._tokens)
    assert vertex_mock.model_requests()[0].headers["authorization"] == f"Bearer {token}"
    assert "gcloud auth print-access-token" in str(caught.value)
    for text in (str(caught.value), repr(caught.value), shown):
        assert token not in text
    assert not vertex_mock.tokens.requests


@pytest.mark.anyio
async def test_a_minted_token_of_any_shape_is_masked_where_vertex_quotes_it(
    vertex_mock: VertexClaudeMock, sa_file: Path, google_env: dict[str, str]
) -> None:
    vertex_mock.tokens.token_prefix = "opaque-federated-"  # no pattern knows this shape
    async with client(vertex_mock, google_env, sa_file) as c:
        await c.chat(MODEL, "hi")
        token = vertex_mock.model_requests()[0].headers["authorization"].removeprefix("Bearer ")
        vertex_mock.script.fail(400, f"request denied for {token}")
        with pytest.raises(InvalidRequestError) as caught:
            await c.chat(MODEL, "again")
    text = f"{caught.value} {caught.value!r} {caught.value.provider_message}"
    assert token.startswith("opaque-federated-") and token not in text
    assert "request denied for [REDACTED]" in text


@pytest.mark.anyio
async def test_on_google_cloud_the_metadata_servers_account_and_project_are_used(
    vertex_mock: VertexClaudeMock, google_env: dict[str, str]
) -> None:
    with MetadataServerMock(project="mock-project") as metadata:
        vertex_mock.trusted.append(metadata)
        env = {**google_env, "GCE_METADATA_HOST": metadata.host}
        async with client(vertex_mock, env, project=None) as c:
            assert (await c.chat(MODEL, "one")).text == "echo: one"
            await c.chat(MODEL, "two")
    assert metadata.tokens_issued() == 1  # the token served both calls
    assert vertex_mock.model_requests()[0].path.startswith(PATH)


@pytest.mark.anyio
async def test_no_credentials_anywhere_is_a_config_error_naming_every_option(
    vertex_mock: VertexClaudeMock, google_env: dict[str, str]
) -> None:
    async with client(vertex_mock, google_env) as c:
        with pytest.raises(ConfigError) as caught:
            await c.chat(MODEL, "hi")
    text = str(caught.value)
    for option in (
        "credentials_file",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "gcloud auth application-default login",
        "no metadata server answered",
        "VERTEX_ACCESS_TOKEN",
    ):
        assert option in text, option
    assert not vertex_mock.requests


@pytest.mark.anyio
async def test_an_expired_token_is_refreshed_once(
    vertex_mock: VertexClaudeMock, sa_file: Path, google_env: dict[str, str]
) -> None:
    async with client(vertex_mock, google_env, sa_file) as c:
        await c.chat(MODEL, "one")
        vertex_mock.tokens.revoke_all()  # Vertex now answers 401 to it
        async with c.stream(MODEL, "two") as s:
            assert [e async for e in s]
    assert len(vertex_mock.tokens.requests) == 2
    assert [r.path.rsplit(":", 1)[-1] for r in vertex_mock.model_requests()] == [
        "rawPredict",
        "streamRawPredict",
        "streamRawPredict",
    ]


# -- errors and refusals ---------------------------------------------------------------


@pytest.mark.anyio
async def test_a_403_names_the_project_the_account_and_the_role(
    vertex_mock: VertexClaudeMock, sa_file: Path, google_env: dict[str, str]
) -> None:
    async with client(vertex_mock, google_env, sa_file, project="someone-elses") as c:
        with pytest.raises(AuthenticationError) as caught:
            await c.chat(MODEL, "hi")
    err = caught.value
    assert err.status == 403 and "aiplatform.endpoints.predict" in str(err)
    assert "someone-elses" in str(err.hint) and SA_EMAIL in str(err.hint)
    assert "roles/aiplatform.user" in str(err.hint)
    token = vertex_mock.model_requests()[0].headers["authorization"].split()[1]
    key = str(json.loads(Path.read_text(sa_file))["private_key"])[40:80]
    for text in (str(err), repr(err)):
        assert token not in text and key not in text


@pytest.mark.anyio
async def test_a_404_names_the_model_and_the_location(
    vertex_mock: VertexClaudeMock, sa_file: Path, google_env: dict[str, str]
) -> None:
    # Claude Sonnet 4 is served in regions, not at the global endpoint.
    async with client(vertex_mock, google_env, sa_file, location="global") as c:
        with pytest.raises(NotFoundError) as caught:
            await c.chat("vertex-anthropic/claude-sonnet-4@20250514", "hi")
    hint = str(caught.value.hint)
    assert "claude-sonnet-4@20250514" in hint and "'global'" in hint and "us-east5" in hint


@pytest.mark.anyio
async def test_what_vertex_lacks_is_refused_unsent(
    vertex_mock: VertexClaudeMock, sa_file: Path, google_env: dict[str, str]
) -> None:
    async with client(vertex_mock, google_env, sa_file) as c:
        with pytest.raises(InvalidRequestError, match="no batch API"):
            await c.submit_batch(MODEL, [relaykit.BatchItem("a", "hi")])
        with pytest.raises(InvalidRequestError, match="not a Vertex AI model id"):
            await c.chat("vertex-anthropic/claude/../../other", "hi")
    beta = {"anthropic_beta": ["files-api-2025-04-14"]}
    with pytest.raises(ConfigError, match="no Files API"):
        async with client(vertex_mock, google_env, sa_file, **beta) as c:
            await c.chat(MODEL, "hi")
    assert not vertex_mock.requests


def test_regional_endpoints_cost_ten_percent_more_from_sonnet_4_5_on() -> None:
    from relaykit_anthropic.vertex_prices import vertex_price

    sonnet = "claude-sonnet-4-5@20250929"
    assert vertex_price(sonnet, "global").input == Decimal("3")  # type: ignore[union-attr]
    regional = vertex_price(sonnet, "us-east5")
    assert regional is not None and regional.input == Decimal("3.3")
    assert regional.output == Decimal("16.5") and regional.cached_input == Decimal("0.33")
    older = vertex_price("claude-opus-4-1@20250805", "us-east5")
    assert older is not None and older.input == Decimal("15")
    assert vertex_price("claude-3-5-sonnet-v2@20241022", "global") is None


@pytest.mark.anyio
async def test_a_model_listing_whose_page_points_back_ends(
    vertex_mock: VertexClaudeMock, sa_file: Path, google_env: dict[str, str]
) -> None:
    # The third page names the second page's token as the next: following it would
    # read the second and third pages for ever (the listing has no limit). It ended
    # only on a token equal to the one just asked for.
    import base64

    import anyio

    from relaykit.testing import Request, Response

    second = base64.urlsafe_b64encode(b"2").decode()
    third = base64.urlsafe_b64encode(b"4").decode()

    async def back_to_the_second(request: Request, response: Response) -> Response:
        if request.query.get("pageToken") != third:
            return response
        assert isinstance(response.body, bytes)
        return Response.json({**json.loads(response.body), "nextPageToken": second})

    vertex_mock.page_size = 2
    vertex_mock.rewrite = back_to_the_second
    async with client(vertex_mock, google_env, sa_file) as c:
        with anyio.fail_after(10):
            models = await c.models("vertex-anthropic")
    listed = [r for r in vertex_mock.requests if r.path.endswith("publishers/anthropic/models")]
    assert len(listed) == 3
    assert [m.id for m in models] == [
        m[0] for m in vertex_mock.models[:6] if m[0].startswith("claude")
    ]
