"""What the Vertex AI providers' tests share (relaykit-gemini's ``vertex``,
relaykit-anthropic's ``vertex-anthropic``): a service account's throwaway key and its
key file, a machine with no Google settings, and a client of a loopback Vertex mock.

The keys need ``cryptography`` (the ``service-account`` extra), imported on use.
Imported on demand, not from the package.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import relaykit
from relaykit.testing import one_try_config

from .mock_metadata import no_server_host
from .mock_oauth import service_account_info

__all__ = [
    "MOCK_PROJECT",
    "no_google_settings",
    "rsa_private_key",
    "vertex_client",
    "vertex_providers",
    "write_service_account_file",
    "write_vertex_config",
]

#: the project the Vertex mocks serve unless told another
MOCK_PROJECT = "mock-project"


def rsa_private_key() -> Any:
    """A new throwaway RSA key (2048 bits): a service account's private key."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def write_service_account_file(path: Path, client_email: str, key: Any, token_uri: str) -> Path:
    """Write the key file of service account ``client_email`` with private ``key``
    (its PEM), whose tokens come from ``token_uri`` (a mock's); return ``path``."""
    from cryptography.hazmat.primitives import serialization

    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    path.write_text(json.dumps(service_account_info(client_email, pem, token_uri)))
    return path


def no_google_settings(directory: Path) -> dict[str, str]:
    """The variables of a machine with no Google credentials of its own: gcloud's
    config directory an empty one (``directory/gcloud``, made here) and the metadata
    server a port nothing listens on, so no test finds this machine's login or waits
    for a metadata server."""
    gcloud = directory / "gcloud"
    gcloud.mkdir()
    return {"CLOUDSDK_CONFIG": str(gcloud), "GCE_METADATA_HOST": no_server_host()}


def vertex_providers(
    provider_type: str,
    base_url: str,
    credentials_file: Path | None = None,
    /,
    **options: Any,
) -> dict[str, Any]:
    """A ``[providers]`` table of one provider of ``provider_type`` (named so too) at
    ``base_url`` (a Vertex mock's), of project :data:`MOCK_PROJECT`; ``options`` add
    to its settings or replace them (the parameters are positional-only, so a test may
    give any setting, a bad ``credentials_file=3`` too), and one set to ``None`` leaves
    that setting out (``project=None``: read from the environment or the credentials)."""
    settings: dict[str, Any] = {
        "type": provider_type,
        "base_url": base_url,
        "project": MOCK_PROJECT,
        "credentials_file": None if credentials_file is None else str(credentials_file),
        **options,
    }
    return {provider_type: {k: v for k, v in settings.items() if v is not None}}


@asynccontextmanager
async def vertex_client(
    provider_type: str,
    base_url: str,
    env: Mapping[str, str],
    credentials_file: Path | None = None,
    /,
    **options: Any,
) -> AsyncIterator[relaykit.Client]:
    """A client of :func:`vertex_providers`' provider, one try a call
    (:func:`relaykit.testing.one_try_config`), that reads ``env`` as its environment
    (not the process's: a test says which Google variables there are)."""
    config = one_try_config(vertex_providers(provider_type, base_url, credentials_file, **options))
    async with relaykit.Client(config, env=env) as client:
        yield client


def write_vertex_config(
    path: Path, provider_type: str, base_url: str, credentials_file: str, /, **options: Any
) -> Path:
    """Write the config file of :func:`vertex_client`'s client to ``path`` (its
    ``credentials_file`` as given: relative ones are read from ``path``'s directory);
    return ``path``."""
    config = one_try_config(vertex_providers(provider_type, base_url, None, **options))
    config["providers"][provider_type]["credentials_file"] = credentials_file
    lines = []
    for section, table in config.items():
        for name, value in table.items():
            if isinstance(value, Mapping):  # [providers.NAME]
                lines.append(f"[{section}.{name}]")
                lines += [f"{k} = {json.dumps(v)}" for k, v in value.items()]
            else:
                if f"[{section}]" not in lines:
                    lines.append(f"[{section}]")
                lines.append(f"{name} = {json.dumps(value)}")
    path.write_text("\n".join(lines) + "\n")
    return path
