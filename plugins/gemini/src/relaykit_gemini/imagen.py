"""Imagen on the Gemini API: ``models/{model}:predict``.

Request: ``{"instances": [{"prompt": ...}], "parameters": {"sampleCount": n,
"aspectRatio": ..., "sampleImageSize": "2K", "outputOptions": {"mimeType":
...}, "includeRaiReason": true}}`` (the field names Google's own SDK sends for
``generate_images`` on the Gemini API). ``extra`` is merged into
``parameters``, the only place Imagen takes options: ``personGeneration``
(``"dont_allow"``, ``"allow_adult"``; ``"allow_all"`` is refused by the
Gemini API), ``safetySetting``, ``includeSafetyAttributes``.

Answer: ``{"predictions": [{"bytesBase64Encoded": ..., "mimeType":
"image/png"}, ...]}``. Imagen's safety filter drops images; asked for
``includeRaiReason`` (which relaykit always sends), it says so in their place,
as ``{"raiFilteredReason": ...}``: the images it drew come back, the reasons
for the others with them (see :func:`predictions`). Imagen counts no tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from relaykit import GeneratedImage, ImageRequest, InvalidRequestError
from relaykit.image_generation import image_from_base64

from .image_shapes import Shape

#: the formats Imagen writes (``outputOptions.mimeType``): PNG, its default, or JPEG
OUTPUT_TYPES = {"png": "image/png", "jpeg": "image/jpeg"}


def predict_body(request: ImageRequest, shape: Shape, provider: str) -> dict[str, Any]:
    """The JSON body of ``{model}:predict`` for ``request`` drawn as ``shape``."""
    parameters: dict[str, Any] = {"sampleCount": request.n, "includeRaiReason": True}
    if shape.aspect_ratio is not None:
        parameters["aspectRatio"] = shape.aspect_ratio
    if shape.resolution is not None:
        parameters["sampleImageSize"] = shape.resolution
    if request.output_format is not None:
        media_type = OUTPUT_TYPES.get(request.output_format)
        if media_type is None:
            raise InvalidRequestError(
                f"Imagen writes PNG or JPEG, not {request.output_format}",
                provider=provider,
                model=request.model,
                param="output_format",
                hint="ask for output_format='png' or 'jpeg'",
            )
        parameters["outputOptions"] = {"mimeType": media_type}
    for key, value in request.extra.items():
        current = parameters.get(key)
        if isinstance(current, dict) and isinstance(value, Mapping):
            current.update(value)  # outputOptions: keep the mimeType beside compressionQuality
        else:
            parameters[key] = value
    return {"instances": [{"prompt": request.prompt}], "parameters": parameters}


def predictions(data: Mapping[str, Any]) -> tuple[list[GeneratedImage], list[str]]:
    """The images of a ``:predict`` answer, in order, and the reasons given for the
    images Imagen's safety filter removed.

    Other predictions are skipped: with ``includeSafetyAttributes`` Imagen adds
    one holding the prompt's safety scores. Raises ``ValueError`` for an image
    that is not base64.
    """
    images: list[GeneratedImage] = []
    filtered: list[str] = []
    for prediction in data.get("predictions") or ():
        encoded = prediction.get("bytesBase64Encoded")
        if encoded:
            images.append(image_from_base64(encoded, media_type=prediction.get("mimeType")))
        elif prediction.get("raiFilteredReason"):
            filtered.append(str(prediction["raiFilteredReason"]))
    return images, filtered
