"""Vertex AI's credentials: key files, gcloud logins, static tokens; tokens cached,
refreshed once under concurrency, refreshed on a 401; failures typed, secrets kept."""

from __future__ import annotations

import base64
import json
import os
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

import relaykit
from relaykit import (
    AuthenticationError,
    ConfigError,
    InvalidRequestError,
    ProviderUnavailableError,
)
from relaykit.known_secrets import KnownSecrets
from relaykit.testing import Reply, one_try_config
from relaykit_gemini.mock_vertex import VertexMock, authorized_user_info
from relaykit_gemini.vertex import VertexProvider
from relaykit_google_auth.access_tokens import REFRESH_MARGIN, AccessTokens
from relaykit_google_auth.google_credentials import SCOPE
from relaykit_google_auth.mock_oauth import TokenFailure, UserGrant
from relaykit_google_auth.testing import (
    rsa_private_key,
    vertex_client,
    write_service_account_file,
    write_vertex_config,
)

from .conftest import SA_EMAIL, USER

MODEL = "vertex/gemini-2.5-flash"


def client(
    mock: VertexMock, credentials_file: Path | None = None
) -> AbstractAsyncContextManager[relaykit.Client]:
    # The process's variables as the tests set them (google_env cleared this machine's):
    # the provider reads the client's environment, not os.environ.
    return vertex_client(
        "vertex", mock.base_url, dict(os.environ), credentials_file, location="us-central1"
    )


def jwt_parts(assertion: str) -> tuple[dict[str, Any], dict[str, Any]]:
    head, body, _ = assertion.split(".")
    return tuple(
        json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))) for p in (head, body)
    )


def assert_no_secret(err: BaseException, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in str(err) and secret not in repr(err)


# -- each kind of credentials ---------------------------------------------------------


@pytest.mark.anyio
async def test_a_service_account_signs_a_jwt_the_endpoint_verifies(
    vertex_mock: VertexMock, sa_file: Path
) -> None:
    async with client(vertex_mock, sa_file) as c:
        await c.chat(MODEL, "hi")
    (form,) = vertex_mock.tokens.requests
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    header, claims = jwt_parts(form["assertion"])
    assert header == {
        "alg": "RS256",
        "typ": "JWT",
        "kid": "0123456789abcdef0123456789abcdef01234567",
    }
    assert claims["iss"] == SA_EMAIL and claims["aud"] == vertex_mock.token_uri
    assert claims["scope"] == SCOPE and claims["exp"] - claims["iat"] == 3600
    (sent,) = vertex_mock.model_requests()
    assert "x-goog-user-project" not in sent.headers


@pytest.mark.anyio
async def test_a_key_file_works_behind_a_gateways_path_prefix(
    vertex_mock: VertexMock, sa_file: Path
) -> None:
    """Vertex behind a gateway's path: the key file's token endpoint is Google's own
    host, not under the gateway's path; both are served."""
    vertex_mock.path_prefix = "/gw/vertex"
    async with client(vertex_mock, sa_file) as c:
        assert (await c.chat(MODEL, "hi")).text
    assert [r.path for r in vertex_mock.requests] == [
        "/token",
        "/gw/vertex/v1/projects/mock-project/locations/us-central1/publishers/google/"
        "models/gemini-2.5-flash:generateContent",
    ]
    assert len(vertex_mock.model_requests()) == 1


@pytest.mark.anyio
async def test_a_relative_key_file_is_read_from_the_config_files_directory(
    vertex_mock: VertexMock, sa_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As the core's own [storage] path: from wherever the command ran, the key
    # beside the config was "not found".
    config = write_vertex_config(
        sa_file.parent / "relaykit.toml",
        "vertex",
        vertex_mock.base_url,
        sa_file.name,
        location="us-central1",
    )
    elsewhere = sa_file.parent / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    async with relaykit.Client(config, env=dict(os.environ)) as c:
        assert (await c.chat(MODEL, "hi")).text
    assert len(vertex_mock.tokens.requests) == 1


@pytest.mark.anyio
async def test_a_key_the_endpoint_does_not_know_is_refused_naming_the_file(
    vertex_mock: VertexMock, tmp_path: Path
) -> None:
    path = write_service_account_file(
        tmp_path / "stale-key.json", SA_EMAIL, rsa_private_key(), vertex_mock.token_uri
    )
    async with client(vertex_mock, path) as c:
        with pytest.raises(AuthenticationError) as caught:
            await c.chat(MODEL, "hi")
    err = caught.value
    assert str(path) in str(err) and "Invalid JWT Signature." in str(err)
    assert "IAM > Service accounts > Keys" in str(err)
    other = json.loads(path.read_text())["private_key"]
    body = other.split("-----")[2].strip().splitlines()[3]  # a line of the key itself
    assert_no_secret(err, body, vertex_mock.tokens.requests[0]["assertion"])
    assert not vertex_mock.model_requests()


@pytest.mark.anyio
async def test_a_gcloud_login_refreshes_and_bills_its_quota_project(
    vertex_mock: VertexMock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "adc.json"
    info = authorized_user_info(USER, vertex_mock.token_uri, quota_project_id="billing-project")
    path.write_text(json.dumps(info))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    async with client(vertex_mock) as c:
        await c.chat(MODEL, "hi")
    assert vertex_mock.tokens.requests == [
        {
            "grant_type": "refresh_token",
            "client_id": USER.client_id,
            "client_secret": USER.client_secret,
            "refresh_token": USER.refresh_token,
        }
    ]
    (sent,) = vertex_mock.model_requests()
    assert sent.headers["x-goog-user-project"] == "billing-project"


@pytest.mark.anyio
async def test_gclouds_own_file_is_found_and_a_revoked_login_says_to_log_in_again(
    vertex_mock: VertexMock, google_env: Path
) -> None:
    revoked = UserGrant(
        USER.client_id, USER.client_secret, "1//0revoked-refresh-token-0123456789ab"
    )
    adc = google_env / "application_default_credentials.json"
    adc.write_text(json.dumps(authorized_user_info(revoked, vertex_mock.token_uri)))
    async with client(vertex_mock) as c:
        with pytest.raises(AuthenticationError) as caught:
            await c.chat(MODEL, "hi")
    err = caught.value
    assert str(adc) in str(err) and "Token has been expired or revoked." in str(err)
    assert "gcloud auth application-default login" in str(err)
    assert_no_secret(err, revoked.refresh_token, USER.client_secret)


@pytest.mark.anyio
async def test_a_static_token_is_sent_as_it_is_and_never_refreshed(
    vertex_mock: VertexMock, google_env: Path
) -> None:
    token = "ya29.static-token-minted-by-gcloud-0123456789"
    vertex_mock.static_tokens.add(token)
    cfg = one_try_config(
        {
            "vertex": {"base_url": vertex_mock.base_url, "project": "mock-project"},
        }
    )
    async with relaykit.Client(cfg, env={"VERTEX_ACCESS_TOKEN": token}) as c:
        await c.chat(MODEL, "hi")
        vertex_mock.static_tokens.clear()  # it expires
        with pytest.raises(AuthenticationError) as caught:
            await c.chat(MODEL, "hi")
    first, _refused = vertex_mock.model_requests()
    assert first.headers["authorization"] == f"Bearer {token}"
    assert "gcloud auth print-access-token" in str(caught.value)
    assert_no_secret(caught.value, token)
    assert not vertex_mock.tokens.requests


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"type": "external_account", "audience": "x"}', "type 'external_account'"),
        ("-----BEGIN PRIVATE KEY-----\nMIIEsecret\n", "is not a JSON object"),
        ('{"type": "service_account", "client_email": "a@b"}', "has no 'private_key'"),
    ],
)
async def test_files_relaykit_cannot_use_are_config_errors_naming_them(
    vertex_mock: VertexMock, tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "creds.json"
    path.write_text(content)
    async with client(vertex_mock, path) as c:
        with pytest.raises(ConfigError, match=message) as caught:
            await c.chat(MODEL, "hi")
    assert str(path) in str(caught.value)
    assert_no_secret(caught.value, "MIIEsecret")
    assert not vertex_mock.requests


@pytest.mark.anyio
async def test_no_credentials_anywhere_says_where_it_looked(
    vertex_mock: VertexMock, google_env: Path
) -> None:
    async with client(vertex_mock) as c:
        with pytest.raises(ConfigError) as caught:
            await c.chat(MODEL, "hi")
    text = str(caught.value)
    assert "GOOGLE_APPLICATION_CREDENTIALS" in text and str(google_env) in text
    assert "gcloud auth application-default login" in text


# -- caching, refreshing ---------------------------------------------------------------


@pytest.mark.anyio
async def test_a_token_serves_many_calls_and_a_401_refreshes_it_once(
    vertex_mock: VertexMock, sa_file: Path
) -> None:
    async with client(vertex_mock, sa_file) as c:
        await c.chat(MODEL, "one")
        await c.chat(MODEL, "two")
        assert len(vertex_mock.tokens.requests) == 1
        vertex_mock.tokens.revoke_all()  # Google revoked it early: Vertex answers 401
        async with c.stream(MODEL, "three") as s:
            assert [e async for e in s]
        vertex_mock.tokens.revoke_all()
        r = await c.chat(MODEL, "four")
    assert r.text == "echo: four"
    assert len(vertex_mock.tokens.requests) == 3
    statuses = [r.path.rsplit(":", 1)[-1] for r in vertex_mock.model_requests()]
    # one, two, three (401, again), four (401, again)
    assert (
        statuses
        == ["generateContent"] * 2 + ["streamGenerateContent"] * 2 + ["generateContent"] * 2
    )


@pytest.mark.anyio
async def test_a_401_to_a_fresh_token_too_is_an_authentication_error(
    vertex_mock: VertexMock, sa_file: Path
) -> None:
    # the mock answers a scripted 401 to the retry with a fresh token too
    vertex_mock.script.push(Reply(status=401, error="still bad"))
    async with client(vertex_mock, sa_file) as c:
        with pytest.raises(AuthenticationError) as caught:
            await c.chat(MODEL, "hi")
    assert caught.value.status == 401 and "still bad" in str(caught.value)
    assert f"refused a new access token from the service account {SA_EMAIL}" in str(caught.value)
    assert len(vertex_mock.tokens.requests) == 2 and len(vertex_mock.model_requests()) == 2


@pytest.mark.anyio
async def test_twenty_concurrent_calls_fetch_one_token(
    vertex_mock: VertexMock, sa_file: Path
) -> None:
    vertex_mock.tokens.delay = 0.05  # long enough for every call to want a token
    texts: list[str] = []
    async with client(vertex_mock, sa_file) as c:

        async def call(i: int) -> None:
            texts.append((await c.chat(MODEL, f"call {i}")).text)

        async with anyio.create_task_group() as tg:
            for i in range(20):
                tg.start_soon(call, i)
    assert len(vertex_mock.tokens.requests) == 1
    assert sorted(texts) == sorted(f"echo: call {i}" for i in range(20))


@pytest.mark.anyio
async def test_concurrent_calls_share_one_refusal_and_a_503_is_retryable(
    vertex_mock: VertexMock, sa_file: Path
) -> None:
    vertex_mock.tokens.delay = 0.05
    vertex_mock.tokens.failures.append(TokenFailure(400, "invalid_grant", "Invalid JWT Signature."))
    errors: list[Exception] = []
    async with client(vertex_mock, sa_file) as c:

        async def call() -> None:
            try:
                await c.chat(MODEL, "hi")
            except AuthenticationError as e:
                errors.append(e)

        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(call)
        assert len(errors) == 20 and len(vertex_mock.tokens.requests) == 1
        vertex_mock.tokens.failures.append(TokenFailure(503, "internal_failure", "Try again."))
        with pytest.raises(ProviderUnavailableError) as caught:
            await c.chat(MODEL, "hi")
        assert caught.value.retryable
        assert (await c.chat(MODEL, "now it works")).text == "echo: now it works"


@pytest.mark.anyio
async def test_a_token_endpoints_failure_is_known_unsent_whatever_its_status(
    vertex_mock: VertexMock, sa_file: Path
) -> None:
    # A 500 of Google's token endpoint, not of Vertex: the call never left, so limits
    # give its hold back and a batch's submit would say no batch can exist.
    from relaykit.http import may_have_acted, never_sent

    vertex_mock.tokens.failures.append(TokenFailure(500, "internal_failure", "Oops."))
    async with client(vertex_mock, sa_file) as c:
        with pytest.raises(ProviderUnavailableError) as caught:
            await c.chat(MODEL, "hi")
    assert caught.value.status == 500 and "token endpoint" in caught.value.message
    assert never_sent(caught.value) and not may_have_acted(caught.value)
    assert not vertex_mock.model_requests()


@pytest.mark.anyio
async def test_a_fetch_its_caller_cancels_leaves_the_next_caller_no_old_failure(
    vertex_mock: VertexMock, sa_file: Path
) -> None:
    # A call waiting while another fetches a token takes that fetch's failure rather
    # than asking again. A fetch cancelled with its caller has none: the waiting call
    # must fetch its own, not get the failure of a fetch long before.
    vertex_mock.tokens.failures.append(TokenFailure(503, "internal_failure", "Try again."))
    async with httpx.AsyncClient() as http:
        tokens = AccessTokens(http, name="vertex", credentials_file=str(sa_file), env={})
        with pytest.raises(ProviderUnavailableError):
            await tokens.token()  # an outage of the token endpoint, over since
        vertex_mock.tokens.delay = 0.2
        got: list[str] = []
        fetching = anyio.CancelScope()
        with anyio.fail_after(10):  # (a safety net only)
            async with anyio.create_task_group() as tg:

                async def gives_up() -> None:
                    with fetching:
                        await tokens.token()

                async def waits() -> None:
                    got.append((await tokens.token()).reveal())

                tg.start_soon(gives_up)
                await anyio.wait_all_tasks_blocked()  # it holds the lock, fetching
                tg.start_soon(waits)
                await anyio.wait_all_tasks_blocked()  # waiting for the lock
                fetching.cancel()
    assert fetching.cancelled_caught and len(got) == 1


@pytest.mark.anyio
async def test_a_token_is_refreshed_shortly_before_it_expires(
    vertex_mock: VertexMock, sa_file: Path
) -> None:
    now = [1000.0]
    async with httpx.AsyncClient() as http:
        tokens = AccessTokens(
            http,
            name="vertex",
            credentials_file=str(sa_file),
            env={},
            clock=lambda: now[0],
        )
        first = await tokens.token()
        now[0] += 3600 - REFRESH_MARGIN - 1
        assert await tokens.token() == first
        now[0] += 2  # within the margin of its hour
        second = await tokens.token()
    assert second != first and len(vertex_mock.tokens.requests) == 2
    assert first.reveal() not in repr(tokens) and SA_EMAIL in repr(tokens)


@pytest.mark.anyio
async def test_a_minted_token_of_any_shape_is_a_known_secret(
    vertex_mock: VertexMock, sa_file: Path
) -> None:
    vertex_mock.tokens.token_prefix = "opaque-federated-"  # no pattern knows this shape
    async with client(vertex_mock, sa_file) as c:
        await c.chat(MODEL, "hi")
        token = vertex_mock.model_requests()[0].headers["authorization"].removeprefix("Bearer ")
        assert token.startswith("opaque-federated-")
        vertex_mock.script.fail(400, f"request denied for {token}")
        with pytest.raises(InvalidRequestError) as caught:
            await c.chat(MODEL, "again")
        logged = c._registry.known_secrets.redact(f"a log line with {token}")
    text = f"{caught.value} {caught.value!r} {caught.value.provider_message}"
    assert "request denied for [REDACTED]" in text and token not in text
    assert logged == "a log line with [REDACTED]"


@pytest.mark.anyio
async def test_tokens_long_replaced_leave_the_known_secrets(
    vertex_mock: VertexMock, sa_file: Path
) -> None:
    now = [1000.0]
    known = KnownSecrets()
    async with httpx.AsyncClient() as http:
        tokens = AccessTokens(
            http,
            name="vertex",
            credentials_file=str(sa_file),
            env={},
            known_secrets=known,
            clock=lambda: now[0],
        )
        minted = []
        for _ in range(3):
            minted.append((await tokens.token()).reveal())
            now[0] += 3600  # each has run out before the next call
    first, second, third = minted
    assert len(set(minted)) == 3
    # the one in use and the one before stay masked; the first is long expired
    assert known.redact(f"{first} {second} {third}") == f"{first} [REDACTED] [REDACTED]"
    assert repr(known) == "KnownSecrets(2 values)"


@pytest.mark.anyio
async def test_no_secret_in_the_providers_repr(vertex_mock: VertexMock, sa_file: Path) -> None:
    key = str(json.loads(Path.read_text(sa_file))["private_key"])
    async with client(vertex_mock, sa_file) as c:
        await c.chat(MODEL, "hi")
        provider = c._registry.get("vertex")  # the built provider itself
        assert isinstance(provider, VertexProvider)
        token = vertex_mock.model_requests()[0].headers["authorization"].split()[1]
        shown = repr(provider) + repr(provider._tokens)
    assert token not in shown and key[40:80] not in shown
    assert "mock-project" in shown and "us-central1" in shown
