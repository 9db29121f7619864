"""The Gemini image models (2.5 Flash Image, 3 Pro Image, 3.1 Flash Image): images from
``models/{model}:generateContent``.

Request: the prompt as one user turn (an edit's images before it, as
``inlineData`` parts: :meth:`relaykit.Client.edit_image`), and ``generationConfig`` with
``responseModalities: ["IMAGE"]`` (the image alone: the model's remarks
would be billed as output and are no revised prompt) and ``imageConfig:
{"aspectRatio", "imageSize"}``. ``extra`` is merged into the body as for chat
(:func:`relaykit_gemini.wire.merge_extra`): ``{"generationConfig":
{"responseModalities": ["TEXT", "IMAGE"]}}`` replaces the modalities,
``{"safetySettings": [...]}`` adds safety settings. The Gemini API has no
output format for these models (``imageConfig`` has no ``outputMimeType``):
they answer PNG or JPEG as they choose, which ``image.media_type`` says.

Answer: a ``GenerateContentResponse`` whose candidate holds the image as an
``inlineData`` part. Parts marked ``thought`` are skipped: Gemini 3 image
models sketch interim images while thinking, and only the last image is the
answer. Text parts are the model's remarks, kept only to explain an answer
without an image. ``usageMetadata`` is the call's tokens.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, NamedTuple

from relaykit import GeneratedImage, ImageEditRequest, Usage
from relaykit.image_generation import AnyImageRequest, image_from_base64

from . import wire
from .image_shapes import Shape


def image_body(request: AnyImageRequest, shape: Shape) -> dict[str, Any]:
    """The JSON body of ``{model}:generateContent`` drawing one image of ``request``;
    an edit's images go first in the user turn, as ``inlineData`` parts, then the
    prompt (the order Google's image editing guide shows)."""
    image_config: dict[str, Any] = {}
    if shape.aspect_ratio is not None:
        image_config["aspectRatio"] = shape.aspect_ratio
    if shape.resolution is not None:
        image_config["imageSize"] = shape.resolution
    config: dict[str, Any] = {"responseModalities": ["IMAGE"]}
    if image_config:
        config["imageConfig"] = image_config
    body: dict[str, Any] = {
        "contents": [{"role": "user", "parts": [*_inputs(request), {"text": request.prompt}]}],
        "generationConfig": config,
    }
    if request.extra:
        wire.merge_extra(body, request.extra)
    return body


def _inputs(request: AnyImageRequest) -> list[dict[str, Any]]:
    """An edit's images as ``inlineData`` parts (none for a generation)."""
    if not isinstance(request, ImageEditRequest):
        return []
    return [
        {
            "inlineData": {
                "mimeType": f"image/{image.format}",
                "data": base64.b64encode(image.data).decode("ascii"),
            }
        }
        for image in request.images
    ]


class Drawn(NamedTuple):
    """What one ``generateContent`` answer drew."""

    #: the answer's images (not its thoughts'), in order
    images: list[GeneratedImage]
    usage: Usage
    #: ``modelVersion``, or ``""``
    model: str
    #: the model's remarks, joined
    text: str
    #: why Gemini withheld the image (a block reason or a filter's finish reason)
    filtered: str | None
    #: the prompt's image tokens (an edit's images: ``promptTokensDetails``, modality
    #: ``IMAGE``), billed at the input rate, as text is
    image_tokens: int = 0


def drawn(data: Mapping[str, Any]) -> Drawn:
    """The images, tokens and remarks of a ``GenerateContentResponse``.

    Raises ``ValueError`` for an image that is not base64.
    """
    candidates = data.get("candidates") or []
    candidate: Mapping[str, Any] = candidates[0] if candidates else {}
    images: list[GeneratedImage] = []
    text: list[str] = []
    for part in (candidate.get("content") or {}).get("parts") or ():
        if part.get("thought"):
            continue
        blob = part.get("inlineData")
        if isinstance(blob, Mapping) and str(blob.get("mimeType", "")).startswith("image/"):
            images.append(
                image_from_base64(str(blob.get("data") or ""), media_type=blob["mimeType"])
            )
        elif part.get("text"):
            text.append(str(part["text"]))
    finish = candidate.get("finishReason")
    filtered = wire.blocked_reason(data)
    if filtered is None and wire.FINISH_REASONS.get(finish or "") == "content_filter":
        filtered = str(finish)
    meta = data.get("usageMetadata")
    return Drawn(
        images=images,
        usage=wire.usage(meta),
        model=str(data.get("modelVersion") or ""),
        text="".join(text),
        filtered=filtered,
        image_tokens=wire.prompt_tokens(meta, "IMAGE"),
    )
