"""Where Bedrock's two services are reached, as the AWS SDKs resolve a configured endpoint.

The AWS SDKs' service-specific endpoints setting, in its order: an endpoint
given to the client itself (here ``[providers.NAME] base_url`` for Bedrock
Runtime, ``control_plane_url`` for the control plane) beats the service's own
environment variable (``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``,
``AWS_ENDPOINT_URL_BEDROCK``), which beats the global ``AWS_ENDPOINT_URL``,
which beats the default regional endpoint. ``AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true``
makes the SDKs ignore the variables, never an endpoint given in code: here the
``[providers]`` table's. The shared config file's ``endpoint_url`` settings are
not read.
"""

from __future__ import annotations

from collections.abc import Mapping

#: Bedrock Runtime's service-specific variable (service id "Bedrock Runtime")
RUNTIME_URL_ENV = "AWS_ENDPOINT_URL_BEDROCK_RUNTIME"
#: the control plane's (service id "Bedrock")
CONTROL_PLANE_URL_ENV = "AWS_ENDPOINT_URL_BEDROCK"
#: every AWS service's, below the service-specific ones
GLOBAL_URL_ENV = "AWS_ENDPOINT_URL"
IGNORE_ENV = "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"


def endpoint_url(
    configured: str | None, option: str, service_env: str, env: Mapping[str, str], default: str
) -> tuple[str, str]:
    """The endpoint URL to use and where it came from (``option``, an environment
    variable's name, or ``"the default"``), for errors to name."""
    if configured:
        return configured, option
    if env.get(IGNORE_ENV, "").strip().lower() != "true":
        for var in (service_env, GLOBAL_URL_ENV):
            value = env.get(var, "").strip()
            if value:
                return value.rstrip("/"), f"environment variable {var}"
    return default, "the default"
