"""What relaykit-anthropic's tests share: the mock, expecting ``KEY``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

import relaykit
from relaykit.testing import one_try_config
from relaykit_anthropic.mock_vertex import VertexClaudeMock
from relaykit_anthropic.testing import AnthropicMock
from relaykit_google_auth import testing as google_testing
from relaykit_google_auth.testing import (
    no_google_settings,
    rsa_private_key,
    write_service_account_file,
)

#: the key the mock expects (the test modules say the same, as their ``KEY``)
KEY = "sk-ant-test-0123456789abcdef0123"


@pytest.fixture
def mock() -> Iterator[AnthropicMock]:
    """The vendor's wire format on 127.0.0.1."""
    with AnthropicMock(api_key=KEY) as m:
        yield m


@asynccontextmanager
async def client(mock: AnthropicMock, **options: Any) -> AsyncIterator[relaykit.Client]:
    """A one-try client of ``mock`` with its ``KEY``; ``options`` add to
    ``[providers.anthropic]``."""
    config = one_try_config({"anthropic": {"base_url": mock.base_url, "api_key": KEY, **options}})
    async with relaykit.Client(config) as c:
        yield c


# -- Claude on Vertex AI -------------------------------------------------------------

#: the service account the Vertex mock knows (test_vertex*.py)
SA_EMAIL = "claude@mock-project.iam.gserviceaccount.com"


@pytest.fixture(scope="session")
def rsa_key() -> Any:
    """A throwaway RSA key, made once: a service account's key for the Vertex tests."""
    return rsa_private_key()


@pytest.fixture
def vertex_mock(rsa_key: Any) -> Iterator[VertexClaudeMock]:
    """Claude on Vertex AI and Google's token endpoint on 127.0.0.1, knowing SA_EMAIL."""
    with VertexClaudeMock(service_accounts={SA_EMAIL: rsa_key.public_key()}) as m:
        yield m


@pytest.fixture
def sa_file(vertex_mock: VertexClaudeMock, rsa_key: Any, tmp_path: Path) -> Path:
    """A service account key file whose token_uri is the Vertex mock's."""
    return write_service_account_file(
        tmp_path / "sa.json", SA_EMAIL, rsa_key, vertex_mock.token_uri
    )


@pytest.fixture
def google_env(tmp_path: Path) -> dict[str, str]:
    """The environment a Vertex test's client reads (``Client(env=...)``): an empty
    gcloud directory, and a metadata server address nothing listens on."""
    return no_google_settings(tmp_path)


def vertex_client(
    mock: VertexClaudeMock,
    env: dict[str, str],
    credentials_file: Path | None = None,
    **options: Any,
) -> AbstractAsyncContextManager[relaykit.Client]:
    """A client of Claude on the Vertex ``mock`` (its project, in us-east5 unless
    ``location`` says), shared here: test modules of a folder that is no package import
    from its conftest, not from each other (pytest's importlib mode, at the lowest
    versions allowed)."""
    options.setdefault("location", "us-east5")
    return google_testing.vertex_client(
        "vertex-anthropic", mock.base_url, env, credentials_file, **options
    )
