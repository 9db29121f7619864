"""relaykit provider plugin for Ollama's native chat API."""

from .host import base_url_from_host
from .ndjson import NDJSONDecoder
from .provider import OllamaProvider

__all__ = ["NDJSONDecoder", "OllamaProvider", "base_url_from_host"]
