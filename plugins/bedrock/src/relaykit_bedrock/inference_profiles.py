"""ListInferenceProfiles' pages (``GET /inference-profiles``, control plane) as model listings.

A page is ``{"inferenceProfileSummaries": [...], "nextToken": ...}``; each summary
names its ``inferenceProfileId`` (``us.anthropic.claude-...``), ``status``
(``ACTIVE``) and the ``models`` it routes to (``{"modelArn":
"arn:aws:bedrock:REGION::foundation-model/ID"}``, one per region). A profile is
listed by its id when it is active and routes to a text model of the foundation
model listing (whose owner it takes); the rest (an embedding model's profile)
are left out. An answer of the wrong shape is a ``ValueError`` naming where
(:func:`relaykit.json_decode.wrong_shape`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from relaykit import ModelInfo, json_decode

from .prices import lookup

#: what ListInferenceProfiles documents, for naming the place an answer does not fit it
SHAPE = {
    "inferenceProfileSummaries": [{"inferenceProfileId": str, "models": [{"modelArn": str}]}],
    "nextToken": str,
}
_WHAT = "an inference profile list"


def read_page(
    data: Any, owners: Mapping[Any, Any], provider: str
) -> tuple[list[ModelInfo], str | None]:
    """The models one page lists (``owners``: text model id -> provider name) and
    its ``nextToken`` (``None`` on the last page)."""
    json_decode.require_answer(data, _WHAT, "inferenceProfileSummaries")
    try:
        page = data["inferenceProfileSummaries"]
        token = data.get("nextToken")
        if not isinstance(page, list):
            raise TypeError(f"inferenceProfileSummaries is {type(page).__name__}, not a list")
        if token is not None and not isinstance(token, str):
            raise TypeError(f"nextToken is {type(token).__name__}, not text")
        infos = [profile_info(p, owners, provider) for p in page]
    except (*json_decode.SHAPE_ERRORS, KeyError) as e:
        raise json_decode.wrong_shape(_WHAT, e, data, SHAPE) from e
    return [info for info in infos if info is not None], token or None


def profile_info(p: Any, owners: Mapping[Any, Any], provider: str) -> ModelInfo | None:
    """One summary as a model called by its id; ``None`` for one not ``ACTIVE`` or
    routing to no text model in ``owners``. A summary that is no object, or whose
    id is no text, raises a ``TypeError`` (an ``AttributeError``, a ``KeyError``)."""
    if p.get("status", "ACTIVE") != "ACTIVE":
        return None
    profile_id = p["inferenceProfileId"]
    if type(profile_id) is not str or not profile_id:
        raise TypeError(f"an inference profile's id is {type(profile_id).__name__}, not text")
    routed = [
        m["modelArn"].rpartition("foundation-model/")[2]
        for m in p.get("models") or ()
        if isinstance(m, dict) and isinstance(m.get("modelArn"), str)
    ]
    model_id = next((m for m in routed if m in owners), None)
    if model_id is None:  # an embedding or image model's profile: no text model
        return None
    window, price = lookup(profile_id)
    owner = owners[model_id]
    return ModelInfo(
        id=profile_id,
        provider=provider,
        context_window=window,
        price=price,
        owned_by=owner if isinstance(owner, str) else None,
    )
