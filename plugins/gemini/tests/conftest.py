"""What relaykit-gemini's tests share: the mock, expecting ``KEY``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

import relaykit
from relaykit.testing import one_try_config
from relaykit_gemini.mock_vertex import UserGrant, VertexMock
from relaykit_gemini.testing import GeminiMock
from relaykit_google_auth.mock_metadata import METADATA_ENV
from relaykit_google_auth.testing import (
    no_google_settings,
    rsa_private_key,
    write_service_account_file,
)

#: the key the mock expects (test modules that check it say the same)
KEY = "AIzaSyA-test-key-0123456789abcdefghijklm"


@pytest.fixture
def mock() -> Iterator[GeminiMock]:
    """Gemini's API on 127.0.0.1."""
    with GeminiMock(api_key=KEY) as m:
        yield m


@asynccontextmanager
async def client(mock: GeminiMock, **provider: Any) -> AsyncIterator[relaykit.Client]:
    """A one-try client of ``mock`` with its ``KEY`` that reads no environment;
    ``provider`` adds to ``[providers.gemini]``."""
    config = one_try_config({"gemini": {"base_url": mock.base_url, "api_key": KEY, **provider}})
    async with relaykit.Client(config, env={}) as c:
        yield c


#: the environment variables the vertex provider reads, cleared for every vertex test
GOOGLE_ENV = (
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_CLOUD_PROJECT",
    "GCLOUD_PROJECT",
    "GOOGLE_CLOUD_LOCATION",
    "GOOGLE_VERTEX_BASE_URL",
    "VERTEX_ACCESS_TOKEN",
)


@pytest.fixture(scope="session")
def rsa_key() -> Any:
    """A throwaway RSA key, made once: a service account's key for the vertex tests."""
    return rsa_private_key()


@pytest.fixture
def google_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No Google settings from this machine: the variables cleared, gcloud's config
    directory an empty one (returned, to put an ADC file in), and the metadata server
    a port nothing listens on."""
    for var in (*GOOGLE_ENV, *METADATA_ENV):
        monkeypatch.delenv(var, raising=False)
    settings = no_google_settings(tmp_path)
    for var, value in settings.items():
        monkeypatch.setenv(var, value)
    return Path(settings["CLOUDSDK_CONFIG"])


#: the service account the vertex mock knows
SA_EMAIL = "relay@mock-project.iam.gserviceaccount.com"
#: the gcloud login the vertex mock knows
USER = UserGrant(
    client_id="764086051850-mock.apps.googleusercontent.com",
    client_secret="d-FL95Q19q7MQmFpd7hHD0Ty",
    refresh_token="1//0mock-refresh-token-abcdefghijklmnopqrstuvwxyz0123",
)


@pytest.fixture
def vertex_mock(rsa_key: Any, google_env: Path) -> Iterator[VertexMock]:
    """Vertex AI and Google's token endpoint on 127.0.0.1, knowing SA_EMAIL and USER."""
    with VertexMock(service_accounts={SA_EMAIL: rsa_key.public_key()}, users=[USER]) as m:
        yield m


@pytest.fixture
def sa_file(vertex_mock: VertexMock, rsa_key: Any, tmp_path: Path) -> Path:
    """A service account key file whose token_uri is the mock's."""
    return write_service_account_file(
        tmp_path / "sa.json", SA_EMAIL, rsa_key, vertex_mock.token_uri
    )
