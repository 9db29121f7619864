"""Gemini on Vertex AI passes the provider contract (chat and stream), with a service
account's key file whose tokens come from the mock's token endpoint.

The bodies are the Gemini API's, which test_contract.py runs every suite on; this
runs the chat and stream contract once more over Vertex's URLs and credentials,
not the image, speech and transcription suites, which differ only in where they go.
Its location is a region (europe-west4), the other tests' the default and us-central1.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from relaykit.testing import Harness, ProviderContract
from relaykit_gemini.mock_vertex import VertexMock, service_account_info

SA_EMAIL = "contract@mock-project.iam.gserviceaccount.com"


class TestVertex(ProviderContract):
    @pytest.fixture
    def harness(self, rsa_key: Any, google_env: Path, tmp_path: Path) -> Iterator[Harness]:
        from cryptography.hazmat.primitives import serialization

        key = rsa_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        with VertexMock(service_accounts={SA_EMAIL: rsa_key.public_key()}) as mock:
            path = tmp_path / "key.json"
            path.write_text(json.dumps(service_account_info(SA_EMAIL, key, mock.token_uri)))
            yield Harness(
                mock=mock,
                model="vertex/gemini-2.5-flash",
                providers={
                    "vertex": {
                        "type": "vertex",
                        "base_url": mock.base_url,
                        "project": "mock-project",
                        "location": "europe-west4",
                        "credentials_file": str(path),
                    }
                },
                embedding_model="vertex/gemini-embedding-001",
                embedding_dimensions=256,
                # Vertex serves these Gemini models on generateContent as the Gemini API does
                image_model="vertex/gemini-2.5-flash-image",
                image_edit_model="vertex/gemini-2.5-flash-image",
                transcription_model="vertex/gemini-2.5-flash",
                speech_model="vertex/gemini-2.5-flash-preview-tts",
                speech_voice="Kore",
                speech_format="pcm",
            )
