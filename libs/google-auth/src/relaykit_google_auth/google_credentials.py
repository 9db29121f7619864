"""Google Cloud credentials for Vertex AI: where they are, and what they say.

Read as Google's client libraries read Application Default Credentials, for
the two kinds of file people have:

- a service account's key file (``"type": "service_account"``, made in the
  console under IAM > Service accounts > Keys): its ``private_key`` signs a
  JWT that its ``token_uri`` exchanges for an access token
  (:mod:`relaykit_google_auth.service_account_jwt`);
- a user's refresh token (``"type": "authorized_user"``), what
  ``gcloud auth application-default login`` writes: its ``refresh_token``,
  ``client_id`` and ``client_secret`` go to its ``token_uri`` (Google's, if
  the file names none).

Which file: ``[providers.NAME] credentials_file``, else
``GOOGLE_APPLICATION_CREDENTIALS``, else gcloud's own
(``application_default_credentials.json`` in ``$CLOUDSDK_CONFIG``, by default
``~/.config/gcloud``, ``%APPDATA%\\gcloud`` on Windows); with none of
those, the service account of the Google Cloud machine relaykit runs on, from
its metadata server (:mod:`relaykit_google_auth.metadata_server`), as
:class:`MetadataAccount`. Other kinds
(``external_account`` for workload identity federation,
``impersonated_service_account``) are refused with a :class:`~relaykit.ConfigError`
that names the file, its kind and what to do instead. The secrets in a file
are :class:`~relaykit.Secret`\\ s from the moment they are read, and no error
quotes the file's content.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import attrs

from relaykit import ConfigError, Secret

#: the OAuth scope Vertex AI takes (Google's SDKs ask for the same)
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
#: Google's token endpoint, for files that name none (older authorized_user files)
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"
CREDENTIALS_ENV = "GOOGLE_APPLICATION_CREDENTIALS"
#: what gcloud calls the file ``gcloud auth application-default login`` writes
ADC_FILE = "application_default_credentials.json"

_FIX = (
    "set GOOGLE_APPLICATION_CREDENTIALS to a service account's key file, run "
    "`gcloud auth application-default login`, set [providers.NAME] credentials_file, "
    "run on Google Cloud (Compute Engine, Cloud Run, GKE) with a service account attached, "
    "or set VERTEX_ACCESS_TOKEN to an access token you mint yourself"
)


@attrs.frozen
class ServiceAccount:
    """A service account's key file: who signs (``client_email``), with what key."""

    path: str
    client_email: str
    private_key: Secret
    private_key_id: str | None
    token_uri: str
    project_id: str | None

    def describe(self) -> str:
        """Which credentials these are, in words an error can carry (no secret)."""
        return f"the service account {self.client_email} (key file {self.path})"

    @property
    def principal(self) -> str:
        """Who Google sees calling, for a hint about roles."""
        return f"the service account {self.client_email}"

    @property
    def project(self) -> str | None:
        """The project the file belongs to, the default for calls (as google-auth does)."""
        return self.project_id


@attrs.frozen
class AuthorizedUser:
    """A user's refresh token, as ``gcloud auth application-default login`` writes it."""

    path: str
    client_id: str
    client_secret: Secret
    refresh_token: Secret
    token_uri: str
    #: the project gcloud bills the user's calls to (``--quota-project`` or its default)
    quota_project_id: str | None

    def describe(self) -> str:
        """Which credentials these are, in words an error can carry (no secret)."""
        return f"the user credentials in {self.path}"

    @property
    def principal(self) -> str:
        """Who Google sees calling, for a hint about roles."""
        return "your gcloud account"

    @property
    def project(self) -> str | None:
        """The quota project, the only project a user's file names."""
        return self.quota_project_id


@attrs.frozen
class MetadataAccount:
    """The service account of the machine relaykit runs on (Compute Engine, Cloud Run,
    GKE), whose tokens its metadata server hands out; nothing secret is kept."""

    #: ``http://HOST/computeMetadata/v1/``
    root: str
    #: the account's email, if the server said
    email: str | None
    #: the project the machine belongs to, if the server said
    project_id: str | None

    def describe(self) -> str:
        """Which credentials these are, in words an error can carry."""
        who = self.email or "default service account"
        return f"the metadata server's {who} ({self.root})"

    @property
    def principal(self) -> str:
        """Who Google sees calling, for a hint about roles."""
        return f"the service account {self.email}" if self.email else "the machine's account"

    @property
    def project(self) -> str | None:
        """The machine's project, the default for calls (as google-auth does)."""
        return self.project_id


#: credentials relaykit turns into access tokens
Credentials = ServiceAccount | AuthorizedUser | MetadataAccount
#: credentials read from a file, whose tokens come from a token endpoint
FileCredentials = ServiceAccount | AuthorizedUser


def adc_path(env: Mapping[str, str]) -> Path:
    """Where gcloud keeps Application Default Credentials on this machine."""
    configured = env.get("CLOUDSDK_CONFIG")
    if configured:
        return Path(configured) / ADC_FILE
    if os.name == "nt" and env.get("APPDATA"):
        return Path(env["APPDATA"]) / "gcloud" / ADC_FILE
    return Path("~/.config/gcloud").expanduser() / ADC_FILE


def find_credentials(
    explicit: str | None, env: Mapping[str, str], name: str
) -> tuple[Path, str] | None:
    """The credentials file to read and where its name came from (for errors), or
    ``None`` when there is none: no ``credentials_file``, no
    ``GOOGLE_APPLICATION_CREDENTIALS`` and no gcloud file (blocking: it looks at the disk).
    """
    if explicit:
        return Path(explicit).expanduser(), f"[providers.{name}] credentials_file"
    if env.get(CREDENTIALS_ENV):
        return Path(env[CREDENTIALS_ENV]).expanduser(), CREDENTIALS_ENV
    path = adc_path(env)
    if path.is_file():
        return path, "gcloud's application default credentials"
    return None


def no_credentials(name: str, env: Mapping[str, str], metadata: str) -> ConfigError:
    """The error for a provider with no credentials anywhere: it names every place
    looked in, ``metadata`` saying why the metadata server was not one."""
    return ConfigError(
        f"no Google credentials for provider {name!r}: no credentials_file, no "
        f"{CREDENTIALS_ENV}, no {adc_path(env)}, and {metadata}",
        hint=_FIX.replace("NAME", name),
    )


def read_credentials(path: Path, source: str, name: str) -> FileCredentials:
    """The credentials in ``path`` (blocking: run it in a worker thread).

    ``source`` says where the path came from (``GOOGLE_APPLICATION_CREDENTIALS``),
    so an error about the file says why relaykit read it.
    """
    where = f"{path} (from {source})"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"the Google credentials file {where} does not exist",
            hint=_FIX.replace("NAME", name),
        ) from None
    except OSError as e:
        raise ConfigError(
            f"the Google credentials file {where} cannot be read: {e.strerror}",
            hint="check the file's path and permissions",
        ) from None
    try:
        info = json.loads(text)
    except ValueError:
        # The text may be a key: the error quotes none of it.
        info = None
    if not isinstance(info, dict):
        raise ConfigError(
            f"the Google credentials file {where} is not a JSON object",
            hint="point it at the JSON key file Google made, or at gcloud's "
            "application_default_credentials.json",
        )
    kind = info.get("type")
    if kind == "service_account":
        return ServiceAccount(
            path=str(path),
            client_email=_field(info, "client_email", where),
            private_key=Secret(_field(info, "private_key", where)),
            private_key_id=_optional(info, "private_key_id"),
            token_uri=_optional(info, "token_uri") or DEFAULT_TOKEN_URI,
            project_id=_optional(info, "project_id"),
        )
    if kind == "authorized_user":
        return AuthorizedUser(
            path=str(path),
            client_id=_field(info, "client_id", where),
            client_secret=Secret(_field(info, "client_secret", where)),
            refresh_token=Secret(_field(info, "refresh_token", where)),
            token_uri=_optional(info, "token_uri") or DEFAULT_TOKEN_URI,
            quota_project_id=_optional(info, "quota_project_id"),
        )
    raise ConfigError(
        f"the Google credentials file {where} holds credentials of type {kind!r}; relaykit's "
        "Vertex AI providers read 'service_account' and 'authorized_user' files",
        hint="use a service account's key file or `gcloud auth application-default login`, "
        "or mint access tokens yourself (`gcloud auth print-access-token`) into "
        "VERTEX_ACCESS_TOKEN",
    )


def _field(info: Mapping[str, object], key: str, where: str) -> str:
    value = info.get(key)
    if not isinstance(value, str) or not value:
        raise ConfigError(
            f"the Google credentials file {where} has no {key!r}",
            hint="download the key file again, or run `gcloud auth application-default login`",
        )
    return value


def _optional(info: Mapping[str, object], key: str) -> str | None:
    value = info.get(key)
    return value if isinstance(value, str) and value else None
