"""Where a Vertex AI provider sends its calls, read the same way by every plugin that
has one: the project, the location and the host serving it.

The settings and variables are Google's SDKs' (google-genai, and Anthropic's
``AnthropicVertex`` for its hosts), so one habit configures Gemini and Claude on
Vertex alike: ``project`` (else ``GOOGLE_CLOUD_PROJECT`` or ``GCLOUD_PROJECT``,
else the credentials' own project), ``location`` (else ``GOOGLE_CLOUD_LOCATION``,
else ``global``). A location is served at ``https://{location}-aiplatform.googleapis.com``;
``global`` at ``aiplatform.googleapis.com``, and the ``us`` and ``eu``
multi-regions at ``aiplatform.{us,eu}.rep.googleapis.com``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from relaykit import ConfigError
from relaykit.http import has_url_credentials
from relaykit.plugin_options import path_option

if TYPE_CHECKING:
    from relaykit.protocols import ProviderSettings

#: the host of the ``global`` location (and of Gemini's express mode)
GLOBAL_HOST = "https://aiplatform.googleapis.com"
#: the location google-genai uses when none is set
DEFAULT_LOCATION = "global"
#: where the project is read from when the config names none, first first
PROJECT_ENV = ("GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT")
LOCATION_ENV = "GOOGLE_CLOUD_LOCATION"
#: the multi-regions, served at their own hosts
MULTI_REGIONS = ("us", "eu")

_LOCATION = re.compile(r"[a-z][a-z0-9-]{1,40}")
# Project ids (lower-case letters, digits, hyphens), numbers, and the
# domain-scoped ids of old projects (example.com:my-project).
_PROJECT = re.compile(r"[a-z0-9][a-z0-9.:-]{0,99}")


def host(location: str) -> str:
    """The scheme and host serving ``location``."""
    if location == "global":
        return GLOBAL_HOST
    if location in MULTI_REGIONS:
        return f"https://aiplatform.{location}.rep.googleapis.com"
    return f"https://{location}-aiplatform.googleapis.com"


def base_host(base_url: str, name: str) -> str:
    """A configured ``base_url`` (a proxy, a Private Service Connect endpoint) as the
    URLs are built under with :func:`relaykit.http.api_url`: its trailing ``/``
    dropped, a path prefix and a query (``?key=value``) kept, a ``/v1`` it was
    copied with dropped (the API version is added to each URL).

    :raises ConfigError: ``user:password@`` in it: Vertex sends its access token in
        ``Authorization``, which basic credentials would have to replace.
    """
    if has_url_credentials(base_url):
        raise ConfigError(
            f"providers.{name}.base_url carries credentials (user:password@), which Vertex AI"
            " cannot send: its access token goes in the Authorization header",
            hint="remove user:password@ from base_url; a proxy's own credentials go in"
            " HTTPS_PROXY (https://user:password@proxy:port), a gateway's in"
            f" [providers.{name}] headers",
        )
    path, mark, query = base_url.partition("#")[0].partition("?")
    return path.rstrip("/").removesuffix("/v1").rstrip("/") + mark + query


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


def location_setting(opts: Mapping[str, Any], env: Mapping[str, str], name: str) -> str:
    """The configured location, else ``GOOGLE_CLOUD_LOCATION``, else ``global``; checked."""
    location = option(opts, "location", str, name) or env.get(LOCATION_ENV)
    return check_location(location or DEFAULT_LOCATION, name)


def project_setting(opts: Mapping[str, Any], env: Mapping[str, str], name: str) -> str | None:
    """The configured project, else the first of :data:`PROJECT_ENV` set; checked.
    ``None``: the credentials' project is the one (see :func:`credentials_project`)."""
    project = option(opts, "project", str, name) or next(
        (env[v] for v in PROJECT_ENV if env.get(v)), None
    )
    return check_project(project, name) if project else None


def credentials_project(found: str | None, name: str) -> str:
    """The credentials' project, when neither config nor environment names one; a
    ConfigError saying how to name one when the credentials do not say either."""
    if not found:
        raise ConfigError(
            f"no Google Cloud project for provider {name!r}",
            hint=f"set GOOGLE_CLOUD_PROJECT, or [providers.{name}] project = 'my-project'",
        )
    return check_project(found, name)


def credentials_file(settings: ProviderSettings) -> str | None:
    """``[providers.NAME] credentials_file``: a relative one is taken from the config
    file's directory, as the core's own paths are (not from the working directory)."""
    path = path_option(
        settings.options, "credentials_file", where=f"providers.{settings.name}", config=settings
    )
    return None if path is None else str(path)


def option(opts: Mapping[str, Any], key: str, kind: type, name: str) -> Any:
    """``opts[key]`` if it is a ``kind`` (or missing: ``None``), else a ConfigError."""
    value = opts.get(key)
    if value is None or (isinstance(value, kind) and (kind is not str or value)):
        return value
    what = "true or false" if kind is bool else "a non-empty string"
    raise ConfigError(f"providers.{name}.{key} must be {what}")
