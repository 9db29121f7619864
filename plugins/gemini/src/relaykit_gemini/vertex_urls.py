"""Where Vertex AI serves a model: host by location, path by project and model.

``https://{location}-aiplatform.googleapis.com/v1/projects/{project}/locations/{location}/
publishers/google/models/{model}:{method}``; the hosts of ``global`` and the
multi-regions are :mod:`relaykit_google_auth.vertex_settings`. Express mode (an
API key, no project) has no project or location in the path:
``https://aiplatform.googleapis.com/v1/publishers/google/models/{model}:{method}``.
"""

from __future__ import annotations

import re

from relaykit import InvalidRequestError
from relaykit_google_auth.vertex_settings import (
    DEFAULT_LOCATION,
    GLOBAL_HOST,
    check_location,
    check_project,
    host,
)

__all__ = [
    "DEFAULT_LOCATION",
    "GLOBAL_HOST",
    "PUBLISHER",
    "check_location",
    "check_project",
    "host",
    "model_path",
    "resource",
]

#: Google's publisher path, under which every Gemini model lives
PUBLISHER = "publishers/google/models"

_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]*")
# A model given by its resource path under the location: a tuned model's endpoint.
_RESOURCE = re.compile(r"(?:endpoints|publishers/[a-z0-9-]+/models)/[A-Za-z0-9._@-]+")


def resource(model: str, name: str) -> str:
    """The model's path under its location: ``publishers/google/models/{model}``, or a
    path given whole (``endpoints/123`` for a tuned model)."""
    if _MODEL.fullmatch(model):
        return f"{PUBLISHER}/{model}"
    if _RESOURCE.fullmatch(model):
        return model
    raise InvalidRequestError(
        f"{model!r} is not a Vertex AI model id",
        provider=name,
        model=model,
        param="model",
        hint="use a Gemini model id such as gemini-2.5-flash, or endpoints/ID for a tuned model",
    )


def model_path(model: str, method: str, *, project: str | None, location: str, name: str) -> str:
    """The path of ``method`` of ``model`` under the API version
    (``projects/P/locations/L/publishers/google/models/M:generateContent``).

    Without a project (express mode) the path starts at the publisher.
    """
    path = resource(model, name)
    if project is None:
        return f"{path}:{method}"
    return f"projects/{project}/locations/{location}/{path}:{method}"
