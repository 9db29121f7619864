"""Authentication: SigV4 over the AWS credential chain, Bedrock API keys, regions, and laziness."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

import relaykit
from relaykit import AuthenticationError, ConfigError, Secret
from relaykit_bedrock import auth as auth_module
from relaykit_bedrock.auth import BedrockAuth
from relaykit_bedrock.testing import ACCESS_KEY, SECRET_KEY, BedrockMock

from .conftest import MakeClient

MODEL = "bedrock/amazon.nova-micro-v1:0"
SIGV4 = re.compile(
    r"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/(\d{8})/us-east-1/bedrock/aws4_request, "
    r"SignedHeaders=([a-z0-9;-]+), Signature=[0-9a-f]{64}"
)


@pytest.mark.anyio
async def test_requests_carry_a_sigv4_signature(mock: BedrockMock, make_client: MakeClient) -> None:
    async with make_client() as client:
        await client.chat(MODEL, "hi")
    headers = mock.requests[-1].headers
    m = SIGV4.fullmatch(headers["authorization"])
    assert m is not None
    assert headers["x-amz-date"].startswith(m.group(1))
    assert m.group(2).split(";") == ["content-type", "host", "x-amz-date"]
    assert "x-amz-security-token" not in headers


@pytest.mark.anyio
async def test_a_session_token_is_sent_and_signed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SESSION_TOKEN", "FwoGZXIvYXdzEMock//token")
    with BedrockMock(session_token="FwoGZXIvYXdzEMock//token") as mock:
        async with relaykit.Client(_config(mock)) as client:
            r = await client.chat(MODEL, "temporary")
    assert r.text == "echo: temporary"
    assert "x-amz-security-token" in SIGV4.fullmatch(
        mock.requests[-1].headers["authorization"]
    ).group(2)  # type: ignore[union-attr]


@pytest.mark.anyio
async def test_a_wrong_secret_fails_the_signature_check(
    monkeypatch: pytest.MonkeyPatch, make_client: MakeClient
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x" * 40)
    async with make_client() as client:
        with pytest.raises(AuthenticationError) as info:
            await client.chat(MODEL, "hi")
    err = info.value
    assert err.status == 403
    assert "InvalidSignatureException" in str(err)
    assert "AWS_ACCESS_KEY_ID" in str(err)  # the hint says what to check
    assert "x" * 40 not in f"{err} {err!r}"


@pytest.mark.anyio
async def test_missing_credentials_name_the_variables_to_set(
    monkeypatch: pytest.MonkeyPatch, mock: BedrockMock, make_client: MakeClient
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    async with make_client() as client:
        with pytest.raises(ConfigError) as info:
            await client.chat(MODEL, "hi")
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_PROFILE",
        "AWS_BEARER_TOKEN_BEDROCK",
    ):
        assert name in str(info.value)
    assert mock.requests == []


@pytest.mark.anyio
async def test_missing_region_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, mock: BedrockMock, make_client: MakeClient
) -> None:
    monkeypatch.delenv("AWS_REGION")
    async with make_client() as client:
        with pytest.raises(ConfigError, match="AWS_REGION"):
            await client.chat(MODEL, "hi")


@pytest.mark.anyio
async def test_region_sources_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    assert await BedrockAuth().region() == "eu-central-1"
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    assert await BedrockAuth().region() == "eu-west-3"
    assert await BedrockAuth(region="ap-south-1").region() == "ap-south-1"


@pytest.mark.anyio
async def test_the_region_fills_the_default_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx

    from relaykit_bedrock import BedrockProvider

    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if request.url.path == "/inference-profiles":
            return httpx.Response(200, json={"inferenceProfileSummaries": []})
        return httpx.Response(200, json={"modelSummaries": []})

    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        settings = relaykit.ProviderSettings(
            name="bedrock", base_url=BedrockProvider.default_base_url
        )
        assert await BedrockProvider(settings, http).list_models() == []
    assert seen == [
        "https://bedrock.eu-west-1.amazonaws.com/foundation-models?byOutputModality=TEXT",
        "https://bedrock.eu-west-1.amazonaws.com/inference-profiles?maxResults=1000&type=SYSTEM_DEFINED",
    ]


@pytest.mark.anyio
async def test_a_configured_region_wins_over_the_environment(
    monkeypatch: pytest.MonkeyPatch, mock: BedrockMock, make_client: MakeClient
) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    async with make_client(region="us-east-1") as client:
        r = await client.chat(MODEL, "scoped")  # the mock checks the credential scope's region
    assert r.text == "echo: scoped"


@pytest.mark.anyio
async def test_credentials_from_a_named_profile(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, make_client: MakeClient
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    credentials = tmp_path / "credentials"
    credentials.write_text(
        f"[relaykit-test]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    async with make_client(profile="relaykit-test") as client:
        r = await client.chat(MODEL, "from a profile")
    assert r.text == "echo: from a profile"
    async with make_client(profile="nobody") as client:
        with pytest.raises(ConfigError, match="'nobody' was not found"):
            await client.chat(MODEL, "hi")


@pytest.mark.anyio
async def test_credentials_are_resolved_once_off_the_event_loop(
    monkeypatch: pytest.MonkeyPatch, make_client: MakeClient
) -> None:
    calls: list[str] = []
    original = auth_module._resolve_chain

    def counting(*args: Any) -> Any:
        calls.append(threading.current_thread().name)
        return original(*args)

    monkeypatch.setattr(auth_module, "_resolve_chain", counting)
    async with make_client() as client:
        for _ in range(3):
            await client.chat(MODEL, "again")
        async with client.stream(MODEL, "and a stream") as s:
            async for _ in s:
                pass
    assert len(calls) == 1
    assert calls[0] != threading.current_thread().name


class _Frozen:
    access_key, secret_key, token = ACCESS_KEY, SECRET_KEY, None


class _Refreshable:
    """Stands in for botocore's RefreshableCredentials."""

    def __init__(self, stale: bool) -> None:
        self.stale = stale
        self.refreshed_in: list[str] = []

    def refresh_needed(self) -> bool:
        return self.stale

    def get_frozen_credentials(self) -> _Frozen:
        self.refreshed_in.append(threading.current_thread().name)
        return _Frozen()


@pytest.mark.anyio
@pytest.mark.parametrize("stale", [True, False])
async def test_refreshable_credentials_refresh_in_a_worker_thread(stale: bool) -> None:
    auth = BedrockAuth(region="us-east-1")
    credentials = _Refreshable(stale)
    auth._credentials = credentials
    headers = await auth.headers(
        "POST", "https://bedrock-runtime.us-east-1.amazonaws.com/x", b"{}", {}
    )
    assert headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/")
    on_loop = credentials.refreshed_in == [threading.current_thread().name]
    assert on_loop is not stale


@pytest.mark.anyio
async def test_a_failed_refresh_is_a_retryable_authentication_error() -> None:
    class Expiring(_Refreshable):
        def get_frozen_credentials(self) -> _Frozen:
            raise RuntimeError("Unable to locate credentials: IMDS timed out")

    auth = BedrockAuth(region="us-east-1")
    auth._credentials = Expiring(stale=True)
    with pytest.raises(AuthenticationError, match="IMDS timed out") as info:
        await auth.headers("POST", "https://bedrock-runtime.us-east-1.amazonaws.com/x", b"", {})
    assert info.value.retryable


@pytest.mark.anyio
async def test_a_bedrock_api_key_replaces_sigv4(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "ABSKbW9jay1iZWRyb2NrLWtleQ==")
    with BedrockMock(bearer_token="ABSKbW9jay1iZWRyb2NrLWtleQ==") as mock:
        async with relaykit.Client(_config(mock)) as client:
            r = await client.chat(MODEL, "keyed")
            provider = client._registry.get("bedrock")
    headers = mock.requests[-1].headers
    assert headers["authorization"] == "Bearer ABSKbW9jay1iZWRyb2NrLWtleQ=="
    assert "x-amz-date" not in headers
    assert r.text == "echo: keyed"
    assert "ABSK" not in repr(provider)


@pytest.mark.anyio
async def test_a_wrong_api_key_is_an_authentication_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "ABSKd3Jvbmcta2V5LXZhbHVl")
    with BedrockMock(bearer_token="ABSKcmlnaHQta2V5LXZhbHVl") as mock:
        async with relaykit.Client(_config(mock)) as client:
            with pytest.raises(AuthenticationError, match="UnrecognizedClientException"):
                await client.chat(MODEL, "hi")


def test_auth_repr_shows_no_secret() -> None:
    auth = BedrockAuth(region="us-east-1", bearer=Secret("ABSKc2VjcmV0LXRva2Vu"))
    assert "ABSK" not in repr(auth)
    assert auth.uses_bearer


def test_importing_the_plugin_does_not_import_botocore() -> None:
    code = "import sys, relaykit_bedrock, relaykit_bedrock.plugin; print('botocore' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _config(mock: BedrockMock) -> dict[str, Any]:
    return {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1},
        "providers": {"bedrock": {"base_url": mock.base_url, "control_plane_url": mock.base_url}},
    }
