"""The metadata server of a Google Cloud machine: the last place credentials are looked for.

On Compute Engine, GKE, Cloud Run and Cloud Functions, a server at
``http://metadata.google.internal/computeMetadata/v1/`` hands out access
tokens for the service account attached to the machine (``GET
instance/service-accounts/default/token`` -> ``{"access_token", "expires_in",
"token_type"}``), and says the project (``project/project-id``) and the
account (``instance/service-accounts/default/email``) as plain text. Every
request carries ``Metadata-Flavor: Google`` and every answer does too; a
server that does not is not Google's (AWS's instance metadata service answers
at the same address).

google-auth asks it last, after ``GOOGLE_APPLICATION_CREDENTIALS`` and gcloud's
file, and so does relaykit. Whether a server is there is found by a ping,
``GET http://169.254.169.254/`` (the address, so no DNS look-up can stall it;
``GCE_METADATA_IP`` replaces it): google-auth tries three times, three seconds
each (``GCE_METADATA_TIMEOUT``), then reads the machine's DMI product name. A
machine that is not on Google Cloud would wait up to nine seconds for that
"no", every call; relaykit waits that long only where the machine says it is on
Google Cloud (a DMI product name starting ``Google``, or the ``K_SERVICE``,
``CLOUD_RUN_JOB``, ``FUNCTION_TARGET`` or ``GAE_SERVICE`` variable Google's
serverless runtimes set), and elsewhere asks once, for one second, so that
missing credentials are a prompt :class:`~relaykit.ConfigError`.
``GCE_METADATA_HOST`` (or its old name ``GCE_METADATA_ROOT``) names a server
to use instead, pinged there, as on Google Cloud; ``NO_GCE_CHECK=true`` skips
the server, as it does google-auth's.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import anyio
import attrs

from relaykit import AuthenticationError, ProviderUnavailableError, RelayError
from relaykit.http import transport_error

from .google_credentials import MetadataAccount

if TYPE_CHECKING:
    from relaykit.http import HttpClient, HttpResponse

DEFAULT_HOST = "metadata.google.internal"
DEFAULT_IP = "169.254.169.254"
#: the header every request and answer carries
FLAVOR = {"metadata-flavor": "Google"}
TOKEN_PATH = "instance/service-accounts/default/token"
EMAIL_PATH = "instance/service-accounts/default/email"
PROJECT_PATH = "project/project-id"
#: where Linux says what machine this is ("Google Compute Engine" on Google Cloud)
PRODUCT_NAME_FILE = "/sys/class/dmi/id/product_name"
#: set by Cloud Run services and jobs, Cloud Functions and App Engine
SERVERLESS_ENV = ("K_SERVICE", "CLOUD_RUN_JOB", "FUNCTION_TARGET", "GAE_SERVICE")
#: google-auth's ping: three tries, three seconds each (on Google Cloud, here)
ON_CLOUD_TIMEOUT = 3.0
ON_CLOUD_ATTEMPTS = 3
#: one try of one second where nothing says this is a Google Cloud machine
ELSEWHERE_TIMEOUT = 1.0
#: the most a request to a server that answered the ping may take
REQUEST_TIMEOUT = 10.0


@attrs.frozen
class Probe:
    """How to look for a metadata server: where to ping, for how long, how often, and
    the root its answers come from."""

    ping_url: str
    root: str
    timeout: float
    attempts: int


def probe(env: Mapping[str, str], product_name_file: str = PRODUCT_NAME_FILE) -> Probe | str:
    """How to look for the server, or why not to (``NO_GCE_CHECK``), in words an error
    can end with. Blocking (it may read the DMI file): run it in a worker thread."""
    if env.get("NO_GCE_CHECK", "").lower() == "true":
        return "the metadata server was not asked (NO_GCE_CHECK=true)"
    try:
        timeout: float | None = float(env["GCE_METADATA_TIMEOUT"])
    except (KeyError, ValueError):
        timeout = None
    host = env.get("GCE_METADATA_HOST") or env.get("GCE_METADATA_ROOT")
    if host:
        return Probe(f"http://{host}/", _root(host), timeout or ON_CLOUD_TIMEOUT, ON_CLOUD_ATTEMPTS)
    ping = f"http://{env.get('GCE_METADATA_IP') or DEFAULT_IP}/"
    if _on_google_cloud(env, product_name_file):
        return Probe(ping, _root(DEFAULT_HOST), timeout or ON_CLOUD_TIMEOUT, ON_CLOUD_ATTEMPTS)
    return Probe(ping, _root(DEFAULT_HOST), timeout or ELSEWHERE_TIMEOUT, 1)


async def discover(http: HttpClient, found: Probe) -> MetadataAccount | str:
    """The machine's service account if a metadata server answers the ping, else why
    not, in words an error can end with. The project and email are asked for too;
    a server that does not say them still serves tokens."""
    for _ in range(found.attempts):
        try:
            with anyio.fail_after(found.timeout):
                r = await http.get(found.ping_url, headers=FLAVOR)
        except TimeoutError:
            continue
        except Exception as e:
            if transport_error(e, provider="", model=None) is None:
                raise
            continue
        if r.status_code != 200 or r.headers.get("metadata-flavor") != "Google":
            return f"what answers at {found.ping_url} is not a Google metadata server"
        break
    else:
        tries = f"{found.attempts} tries of {found.timeout:g} s" if found.attempts > 1 else None
        return (
            f"no metadata server answered at {found.ping_url} "
            f"({tries or f'within {found.timeout:g} s'}: not a Google Cloud machine)"
        )
    return MetadataAccount(
        root=found.root,
        email=await _text(http, found.root + EMAIL_PATH),
        project_id=await _text(http, found.root + PROJECT_PATH),
    )


async def token_response(http: HttpClient, account: MetadataAccount, name: str) -> HttpResponse:
    """The server's answer to a token request (any status); a transport failure is a
    retryable :class:`~relaykit.ProviderUnavailableError` naming the server."""
    try:
        with anyio.fail_after(REQUEST_TIMEOUT):
            return await http.get(account.root + TOKEN_PATH, headers=FLAVOR)
    except TimeoutError:
        raise ProviderUnavailableError(
            f"the metadata server ({account.root}) did not answer a token request within "
            f"{REQUEST_TIMEOUT:g} s",
            provider=name,
        ) from None
    except Exception as e:
        mapped = transport_error(e, provider=name, model=None)
        if mapped is None:
            raise
        mapped.message = f"the metadata server ({account.root}): {mapped.message}"
        raise mapped from e


def token_error(status: int, content: bytes, account: MetadataAccount, name: str) -> RelayError:
    """The typed error for the server's refusal to give a token (its text is short
    and holds no secret: it is quoted)."""
    said = content.decode("utf-8", "replace").strip()[:200] or f"HTTP {status}"
    where = f"the metadata server ({account.root})"
    kw: dict[str, Any] = {"provider": name, "status": status, "provider_message": said}
    if status >= 500 or status == 429:
        return ProviderUnavailableError(f"{where} failed to give a token: {said}", **kw)
    return AuthenticationError(
        f"{where} gave no token for {account.describe()}: {said}",
        hint="attach a service account to this machine (Compute Engine: --service-account; "
        "Cloud Run: --service-account; GKE: Workload Identity) and give it the Vertex AI "
        "User role (roles/aiplatform.user), or use a key file (GOOGLE_APPLICATION_CREDENTIALS)",
        **kw,
    )


def _root(host: str) -> str:
    return f"http://{host}/computeMetadata/v1/"


def _on_google_cloud(env: Mapping[str, str], product_name_file: str) -> bool:
    if any(env.get(var) for var in SERVERLESS_ENV):
        return True
    if os.name == "nt":
        return False  # google-auth has no check on Windows either
    try:
        with open(product_name_file, encoding="utf-8") as f:
            return f.read().strip().startswith("Google")
    except OSError:
        return False


async def _text(http: HttpClient, url: str) -> str | None:
    """A plain-text value of the server's, or ``None`` if it does not say."""
    try:
        with anyio.fail_after(REQUEST_TIMEOUT):
            r = await http.get(url, headers=FLAVOR)
    except TimeoutError:
        return None
    except Exception as e:
        if transport_error(e, provider="", model=None) is None:
            raise
        return None
    text = r.content.decode("utf-8", "replace").strip()
    return text if r.status_code == 200 and text else None
