"""The metadata server as the last credential source: found, used, refused, absent.

Against a loopback metadata server (``GCE_METADATA_HOST``); a machine without one
is a port nothing listens on, or a server that never answers, and must give a
prompt ConfigError naming every credential option.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from relaykit import AuthenticationError, ConfigError
from relaykit_google_auth import AccessTokens, AuthorizedUser, MetadataAccount
from relaykit_google_auth.metadata_server import DEFAULT_IP, Probe, probe
from relaykit_google_auth.mock_metadata import METADATA_ENV, MetadataServerMock, no_server_host

EMAIL = "1234567890-compute@developer.gserviceaccount.com"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """A machine with no Google settings: an empty gcloud directory, no variables."""
    for var in (*METADATA_ENV, "GOOGLE_APPLICATION_CREDENTIALS"):
        monkeypatch.delenv(var, raising=False)
    gcloud = tmp_path / "gcloud"
    gcloud.mkdir()
    return {"CLOUDSDK_CONFIG": str(gcloud)}


@pytest.fixture
def metadata() -> Iterator[MetadataServerMock]:
    with MetadataServerMock(project="vm-project", service_account=EMAIL) as m:
        yield m


def tokens(http: httpx.AsyncClient, env: dict[str, str], **kw: Any) -> AccessTokens:
    # A product-name file that does not exist: this is no Google Cloud machine.
    return AccessTokens(http, name="vertex", env=env, product_name_file="/nonexistent", **kw)


@pytest.mark.anyio
async def test_the_machines_account_gives_tokens_and_the_project(
    metadata: MetadataServerMock, env: dict[str, str]
) -> None:
    env["GCE_METADATA_HOST"] = metadata.host
    async with httpx.AsyncClient() as http:
        t = tokens(http, env)
        first = await t.token()
        assert await t.token() == first  # kept, not fetched again
        credentials = await t.credentials()
        headers, _ = await t.authorization()
    assert isinstance(credentials, MetadataAccount)
    assert credentials.project == "vm-project" and credentials.email == EMAIL
    assert metadata.valid(first.reveal()) and metadata.tokens_issued() == 1
    assert headers == {"authorization": f"Bearer {first.reveal()}"}
    assert first.reveal() not in repr(t) and EMAIL in repr(t)


@pytest.mark.anyio
async def test_a_credentials_file_comes_first_and_no_server_is_asked(
    metadata: MetadataServerMock, env: dict[str, str], tmp_path: Path
) -> None:
    env["GCE_METADATA_HOST"] = metadata.host
    adc = Path(env["CLOUDSDK_CONFIG"]) / "application_default_credentials.json"
    adc.write_text(
        json.dumps(
            {
                "type": "authorized_user",
                "client_id": "c",
                "client_secret": "s",
                "refresh_token": "r",
            }
        )
    )
    async with httpx.AsyncClient() as http:
        assert isinstance(await tokens(http, env).credentials(), AuthorizedUser)
    assert metadata.paths == []


@pytest.mark.anyio
async def test_no_server_is_a_prompt_config_error_naming_every_option(
    env: dict[str, str],
) -> None:
    env["GCE_METADATA_HOST"] = no_server_host()
    async with httpx.AsyncClient() as http:
        with anyio.fail_after(5), pytest.raises(ConfigError) as caught:
            await tokens(http, env).token()
    text = str(caught.value)
    for option in (
        "credentials_file",
        "GOOGLE_APPLICATION_CREDENTIALS",
        env["CLOUDSDK_CONFIG"],
        f"no metadata server answered at http://{env['GCE_METADATA_HOST']}/",
        "gcloud auth application-default login",
        "service account attached",
        "VERTEX_ACCESS_TOKEN",
    ):
        assert option in text, option


@pytest.mark.anyio
async def test_a_server_that_never_answers_is_given_up_on_after_the_timeout(
    env: dict[str, str],
) -> None:
    with MetadataServerMock(hang=True) as silent:
        env["GCE_METADATA_HOST"] = silent.host
        env["GCE_METADATA_TIMEOUT"] = "0.1"
        async with httpx.AsyncClient() as http:
            with anyio.fail_after(5), pytest.raises(ConfigError) as caught:
                await tokens(http, env).credentials()
    assert "3 tries of 0.1 s" in str(caught.value) and len(silent.paths) == 3


@pytest.mark.anyio
async def test_a_server_that_is_not_googles_is_not_trusted(env: dict[str, str]) -> None:
    with MetadataServerMock(flavor=False) as other:  # AWS's answers at 169.254.169.254 too
        env["GCE_METADATA_HOST"] = other.host
        async with httpx.AsyncClient() as http:
            with pytest.raises(ConfigError, match="is not a Google metadata server"):
                await tokens(http, env).token()
    assert other.paths == ["/"]


@pytest.mark.anyio
async def test_a_machine_without_a_service_account_says_to_attach_one(
    env: dict[str, str],
) -> None:
    with MetadataServerMock(service_account=None) as bare:
        env["GCE_METADATA_HOST"] = bare.host
        async with httpx.AsyncClient() as http:
            with pytest.raises(AuthenticationError) as caught:
                await tokens(http, env).token()
    assert caught.value.status == 404 and "attach a service account" in str(caught.value)


@pytest.mark.anyio
async def test_no_gce_check_asks_no_server(
    metadata: MetadataServerMock, env: dict[str, str]
) -> None:
    env["GCE_METADATA_HOST"] = metadata.host
    env["NO_GCE_CHECK"] = "true"
    async with httpx.AsyncClient() as http:
        with pytest.raises(ConfigError, match="NO_GCE_CHECK=true"):
            await tokens(http, env).token()
    assert metadata.paths == []


def test_only_a_google_cloud_machine_waits_as_long_as_google_auth(tmp_path: Path) -> None:
    product = tmp_path / "product_name"
    product.write_text("Standard PC (Q35 + ICH9, 2009)\n")
    elsewhere = probe({}, str(product))
    assert elsewhere == Probe(
        f"http://{DEFAULT_IP}/", "http://metadata.google.internal/computeMetadata/v1/", 1.0, 1
    )
    product.write_text("Google Compute Engine\n")
    on_gce = probe({}, str(product))
    assert isinstance(on_gce, Probe) and (on_gce.timeout, on_gce.attempts) == (3.0, 3)
    on_run = probe({"K_SERVICE": "api", "GCE_METADATA_IP": "10.0.0.9"}, "/nonexistent")
    assert isinstance(on_run, Probe) and on_run.ping_url == "http://10.0.0.9/"
    assert on_run.attempts == 3
