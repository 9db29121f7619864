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

A model ARN names its region (:func:`model_region`): a call by one goes to that
region's endpoint when the endpoint is the regional default (or another URL
with ``{region}`` in it), signed for that region.
"""

from __future__ import annotations

import re
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


#: a Bedrock ARN's partition and region: ``arn:aws:bedrock:us-west-2:123456789012:...``
_ARN = re.compile(r"arn:aws(?:-[a-z]+)*:bedrock:([a-z0-9-]+):")


def model_region(model: str) -> str | None:
    """The region of a model ARN (a foundation model's, an inference profile's, a
    provisioned model's); ``None`` for a model or profile id, or an ARN naming none.

    AWS serves a model ARN in its own region only: called at another region's
    endpoint, it answers "The provided model identifier is invalid".
    """
    m = _ARN.match(model)
    return m.group(1) if m else None
