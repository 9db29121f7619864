"""Gemini on Vertex AI passes the provider contract (chat and stream), with a service
account's key file whose tokens come from the mock's token endpoint.

The bodies are the Gemini API's, which test_contract.py runs every suite on; this
runs the chat and stream contract once more over Vertex's URLs and credentials,
not the image, speech and transcription suites, which differ only in where they go.
Its location is a region (europe-west4), the other tests' the default and us-central1.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from relaykit.testing import Harness, ProviderContract
from relaykit_gemini.mock_vertex import VertexMock
from relaykit_google_auth.testing import vertex_providers, write_service_account_file

SA_EMAIL = "contract@mock-project.iam.gserviceaccount.com"


class TestVertex(ProviderContract):
    @pytest.fixture
    def harness(self, rsa_key: Any, google_env: Path, tmp_path: Path) -> Iterator[Harness]:
        with VertexMock(service_accounts={SA_EMAIL: rsa_key.public_key()}) as mock:
            path = write_service_account_file(
                tmp_path / "key.json", SA_EMAIL, rsa_key, mock.token_uri
            )
            yield Harness(
                mock=mock,
                model="vertex/gemini-2.5-flash",
                providers=vertex_providers("vertex", mock.base_url, path, location="europe-west4"),
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
