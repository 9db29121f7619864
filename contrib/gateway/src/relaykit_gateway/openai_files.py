"""OpenAI's Files API (``/v1/files``) as the gateway serves it for batch input: what an
upload's form may say, and the ``file`` and list objects it answers with.

The files themselves are kept by :mod:`relaykit_gateway.file_store`; a batch's
output and error files are rendered from its provider's results (see
:mod:`relaykit_gateway.openai_batches`).
"""

from __future__ import annotations

from typing import Any

from relaykit import InvalidRequestError

from .file_store import MAX_TTL, MIN_TTL, StoredFile
from .whole_numbers import whole_number


def check_purpose(purpose: str | None) -> None:
    """Refuse an upload for anything but a batch: the gateway keeps no other files."""
    if purpose is None:
        raise InvalidRequestError("Missing required parameter: 'purpose'.", param="purpose")
    if purpose != "batch":
        raise InvalidRequestError(
            f"purpose {purpose!r} is not served: the gateway keeps files for its Batch API"
            " only (purpose 'batch', then POST /v1/batches)",
            param="purpose",
        )


def expires_after(fields: dict[str, str]) -> int | None:
    """The seconds an upload's ``expires_after`` keeps its file (``None``: not given)."""
    anchor = fields.get("expires_after[anchor]")
    seconds = fields.get("expires_after[seconds]")
    if anchor is None and seconds is None:
        return None
    if anchor != "created_at":
        raise InvalidRequestError(
            "`expires_after[anchor]` must be 'created_at'", param="expires_after.anchor"
        )
    number = None if seconds is None else whole_number(seconds)
    if number is None or not MIN_TTL <= number <= MAX_TTL:
        raise InvalidRequestError(
            f"`expires_after[seconds]` must be a whole number from {MIN_TTL} (an hour) to"
            f" {MAX_TTL} (30 days)",
            param="expires_after.seconds",
        )
    return number


def list_page(data: list[dict[str, Any]], *, has_more: bool) -> dict[str, Any]:
    """OpenAI's list object around ``data``."""
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }


def file_body(stored: StoredFile) -> dict[str, Any]:
    """An uploaded file's ``file`` object."""
    return {
        "id": stored.id,
        "object": "file",
        "bytes": stored.bytes,
        "created_at": stored.created_at,
        "expires_at": stored.expires_at,
        "filename": stored.filename,
        "purpose": stored.purpose,
        "status": "processed",
        "status_details": None,
    }
