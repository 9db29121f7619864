"""What relaykit-anthropic's tests share: the mock, expecting ``KEY``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

import relaykit
from relaykit.testing import one_try_config
from relaykit_anthropic.mock_vertex import VertexClaudeMock
from relaykit_anthropic.testing import AnthropicMock
from relaykit_google_auth.mock_metadata import no_server_host
from relaykit_google_auth.mock_oauth import service_account_info

#: the key the mock expects (the test modules say the same, as their ``KEY``)
KEY = "sk-ant-test-0123456789abcdef0123"


@pytest.fixture
def mock() -> Iterator[AnthropicMock]:
    """The vendor's wire format on 127.0.0.1."""
    with AnthropicMock(api_key=KEY) as m:
        yield m


# -- Claude on Vertex AI -------------------------------------------------------------

#: the service account the Vertex mock knows (test_vertex*.py)
SA_EMAIL = "claude@mock-project.iam.gserviceaccount.com"


@pytest.fixture(scope="session")
def rsa_key() -> Any:
    """A throwaway RSA key, made once: a service account's key for the Vertex tests."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def vertex_mock(rsa_key: Any) -> Iterator[VertexClaudeMock]:
    """Claude on Vertex AI and Google's token endpoint on 127.0.0.1, knowing SA_EMAIL."""
    with VertexClaudeMock(service_accounts={SA_EMAIL: rsa_key.public_key()}) as m:
        yield m


@pytest.fixture
def sa_file(vertex_mock: VertexClaudeMock, rsa_key: Any, tmp_path: Path) -> Path:
    """A service account key file whose token_uri is the Vertex mock's."""
    from cryptography.hazmat.primitives import serialization

    pem = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(service_account_info(SA_EMAIL, pem, vertex_mock.token_uri)))
    return path


@pytest.fixture
def google_env(tmp_path: Path) -> dict[str, str]:
    """The environment a Vertex test's client reads (``Client(env=...)``): an empty
    gcloud directory, and a metadata server address nothing listens on."""
    gcloud = tmp_path / "gcloud"
    gcloud.mkdir()
    return {"CLOUDSDK_CONFIG": str(gcloud), "GCE_METADATA_HOST": no_server_host()}


@asynccontextmanager
async def vertex_client(
    mock: VertexClaudeMock,
    env: dict[str, str],
    credentials_file: Path | None = None,
    **options: Any,
) -> AsyncIterator[relaykit.Client]:
    """A client of Claude on the Vertex ``mock`` (the conftest's project and location),
    shared here: test modules of a folder that is no package import from its conftest,
    not from each other (pytest's importlib mode, at the lowest versions allowed)."""
    provider: dict[str, Any] = {
        "type": "vertex-anthropic",
        "base_url": mock.base_url,
        "project": "mock-project",
        "location": "us-east5",
        **options,
    }
    if credentials_file is not None:
        provider["credentials_file"] = str(credentials_file)
    cfg = one_try_config({"vertex-anthropic": {k: v for k, v in provider.items() if v is not None}})
    async with relaykit.Client(cfg, env=env) as c:
        yield c
