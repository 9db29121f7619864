"""Where Vertex AI serves a model: host by location, path by project and model.

``https://{location}-aiplatform.googleapis.com/v1/projects/{project}/locations/{location}/
publishers/google/models/{model}:{method}``; the ``global`` location is served
at ``aiplatform.googleapis.com`` and the ``us`` multi-region at
``aiplatform.us.rep.googleapis.com`` (google-genai's rules). Express mode (an
API key, no project) has no project or location in the path:
``https://aiplatform.googleapis.com/v1/publishers/google/models/{model}:{method}``.
"""

from __future__ import annotations

import re

from relaykit import ConfigError, InvalidRequestError

#: the host of the ``global`` location and of express mode
GLOBAL_HOST = "https://aiplatform.googleapis.com"
#: the location google-genai uses when none is set
DEFAULT_LOCATION = "global"
#: Google's publisher path, under which every Gemini model lives
PUBLISHER = "publishers/google/models"

_LOCATION = re.compile(r"[a-z][a-z0-9-]{1,40}")
# Project ids (lower-case letters, digits, hyphens), numbers, and the
# domain-scoped ids of old projects (example.com:my-project).
_PROJECT = re.compile(r"[a-z0-9][a-z0-9.:-]{0,99}")
_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]*")
# A model given by its resource path under the location: a tuned model's endpoint.
_RESOURCE = re.compile(r"(?:endpoints|publishers/[a-z0-9-]+/models)/[A-Za-z0-9._@-]+")


def host(location: str) -> str:
    """The scheme and host serving ``location``."""
    if location == "global":
        return GLOBAL_HOST
    if location == "us":
        return "https://aiplatform.us.rep.googleapis.com"
    return f"https://{location}-aiplatform.googleapis.com"


def check_location(location: str, name: str) -> str:
    """``location`` if it can be one (it becomes part of a host name), else a ConfigError."""
    if not _LOCATION.fullmatch(location):
        raise ConfigError(
            f"providers.{name}.location {location!r} is not a Google Cloud location",
            hint="use a region such as 'us-central1' or 'europe-west4', or 'global'",
        )
    return location


def check_project(project: str, name: str) -> str:
    """``project`` if it can be a project id or number, else a ConfigError."""
    if not _PROJECT.fullmatch(project):
        raise ConfigError(
            f"providers.{name}.project {project!r} is not a Google Cloud project id",
            hint="use the project's id (my-project-123) as `gcloud projects list` shows it",
        )
    return project


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


def model_url(
    root: str, model: str, method: str, *, project: str | None, location: str, name: str
) -> str:
    """The URL of ``method`` of ``model``; ``root`` is the host and API version.

    Without a project (express mode) the path starts at the publisher.
    """
    path = resource(model, name)
    if project is None:
        return f"{root}/{path}:{method}"
    return f"{root}/projects/{project}/locations/{location}/{path}:{method}"
