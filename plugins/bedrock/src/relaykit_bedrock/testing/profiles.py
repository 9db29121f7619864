"""ListInferenceProfiles (``GET /inference-profiles``, control plane) for the Bedrock mock.

As the API reference has it: ``maxResults`` (1 to 1000), an opaque ``nextToken``
and ``type`` (``SYSTEM_DEFINED`` or ``APPLICATION``) in the query; the answer is
``{"inferenceProfileSummaries": [...], "nextToken": ...}``, each summary with its
``inferenceProfileId``, ``inferenceProfileArn``, ``inferenceProfileName``, the
``models`` it routes to (``{"modelArn"}``, one per region), ``status`` and ``type``.
Out-of-range values are refused with a ``ValidationException`` in AWS's
constraint wording.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Any

from relaykit.testing.loopback import Response

from .errors import error

#: the regions the mock's ``us.`` profiles route to
US_REGIONS = ("us-east-1", "us-east-2", "us-west-2")
PROFILE_TYPES = ("SYSTEM_DEFINED", "APPLICATION")


def profile_summary(
    profile_id: str, name: str, region: str, *, regions: Sequence[str] = US_REGIONS
) -> dict[str, Any]:
    """One system-defined profile's summary: ``{prefix}.{model id}`` routing to ``regions``."""
    model_id = profile_id.split(".", 1)[1]
    return {
        "inferenceProfileId": profile_id,
        "inferenceProfileArn": f"arn:aws:bedrock:{region}::inference-profile/{profile_id}",
        "inferenceProfileName": name,
        "description": f"Routes requests to {name} in {', '.join(regions)}.",
        "models": [
            {"modelArn": f"arn:aws:bedrock:{r}::foundation-model/{model_id}"} for r in regions
        ],
        "status": "ACTIVE",
        "type": "SYSTEM_DEFINED",
        "createdAt": "2025-10-01T00:00:00Z",
        "updatedAt": "2025-10-01T00:00:00Z",
    }


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _offset(token: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    kind, _, number = text.partition(":")
    return int(number) if kind == "offset" and number.isdigit() else None


def list_profiles(
    profiles: Sequence[Mapping[str, Any]], query: Mapping[str, str], page_size: int
) -> Response:
    """One page of ``profiles`` as ListInferenceProfiles answers the request's ``query``
    (at most ``page_size`` a page, or ``maxResults`` when it is smaller)."""
    wanted = query.get("type")
    if wanted is not None and wanted not in PROFILE_TYPES:
        return error(
            400,
            f"1 validation error detected: Value '{wanted}' at 'typeEquals' failed to satisfy"
            f" constraint: Member must satisfy enum value set: [{', '.join(PROFILE_TYPES)}]",
            "ValidationException",
        )
    size = page_size
    if "maxResults" in query:
        raw = query["maxResults"]
        if not raw.isdigit() or not 1 <= int(raw) <= 1000:
            return error(
                400,
                f"1 validation error detected: Value '{raw}' at 'maxResults' failed to satisfy"
                " constraint: Member must have value between 1 and 1000",
                "ValidationException",
            )
        size = min(size, int(raw))
    start = 0
    if "nextToken" in query:
        found = _offset(query["nextToken"])
        if found is None:
            return error(400, "The provided pagination token is invalid.", "ValidationException")
        start = found
    # without a type, the service lists the system-defined profiles (aws/aws-cli#9728)
    kept = [p for p in profiles if p.get("type") == (wanted or "SYSTEM_DEFINED")]
    page = kept[start : start + size]
    body: dict[str, Any] = {"inferenceProfileSummaries": page}
    if start + size < len(kept):
        body["nextToken"] = _token(start + size)
    return Response.json(body)
