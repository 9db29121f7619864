"""What Gemini's image models draw, and relaykit's ``size``, ``quality`` and ``n`` in their terms.

Google's image models take a shape (``aspectRatio``, ``"16:9"``) and a
resolution (``imageSize``: ``"1K"``, ``"2K"``, ``"4K"``), never pixels.
relaykit's ``quality`` is that resolution, in Google's words; its ``size``
(``"WxH"``) stands for its shape, as Google documents shapes and resolutions
but not the pixels of each: those differ between models (1:1 at 1K is
1024x1024, but 16:9 at 1K is reported as 1344x768, 1376x768 or 1408x768). So
a size becomes the model's aspect ratio within 5% of it (1920x1080 and
1792x1024 are 16:9), or a refusal naming the shapes. The pixels drawn are the
model's, for the resolution ``quality`` names (``1K`` by default): read them
from ``image.size``.

The Gemini image models draw one image a request, so ``n`` images are ``n``
requests, which relaykit bounds at :data:`MOST_IMAGES`. Everything here is
refused before anything is sent.

Imagen (``imagen-*``) is not here: Google shut it down in the Gemini API (see
:mod:`relaykit_gemini.shutdowns`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import NamedTuple

from relaykit import InvalidRequestError
from relaykit.image_generation import AnyImageRequest, pixels

#: the most images one generation draws (relaykit's bound on the requests one call
#: makes to a Gemini image model, one image each)
MOST_IMAGES = 4
#: the resolution every Google image model draws at unless asked
DEFAULT_RESOLUTION = "1K"
#: how far (relative) a size's shape may be from the aspect ratio it is taken as
SHAPE_TOLERANCE = 0.05

#: the ten shapes of the Gemini image models (the API's ``ImageConfig.aspectRatio``)
SHAPES_10 = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
#: Gemini 3.1 Flash Image adds four long ones (the ``AspectRatio`` enum's 1:4 to 8:1)
SHAPES_14 = (*SHAPES_10, "1:4", "4:1", "1:8", "8:1")


class ImageModel(NamedTuple):
    """What one image model draws: its shapes and resolutions (the first, its default)."""

    #: aspect ratios, as Google writes them
    shapes: tuple[str, ...]
    #: resolutions (``imageSize``), the default first
    resolutions: tuple[str, ...]


#: by name prefix, the longest matching: 2.5 Flash Image draws 1K only; 3 Pro
#: Image 1K, 2K and 4K; 3.1 Flash Image also 512 (the API's ``image_size``
#: values) and the long shapes
IMAGE_MODELS: Mapping[str, ImageModel] = {
    "gemini-2.5-flash-image": ImageModel(SHAPES_10, ("1K",)),
    "gemini-3-pro-image": ImageModel(SHAPES_10, ("1K", "2K", "4K")),
    "gemini-3.1-flash-image": ImageModel(SHAPES_14, ("1K", "512", "2K", "4K")),
}


def image_model(model: str) -> ImageModel | None:
    """What ``model`` draws, by its longest known name prefix; ``None`` for a model
    this plugin does not know (Google checks its request instead)."""
    name = model.removeprefix("models/")
    best = max((p for p in IMAGE_MODELS if name.startswith(p)), key=len, default=None)
    return IMAGE_MODELS[best] if best is not None else None


class Shape(NamedTuple):
    """An image generation in Google's terms: what to send, and what to report."""

    #: ``aspectRatio`` to send, or ``None`` for the model's default (1:1)
    aspect_ratio: str | None
    #: the resolution to send, or ``None`` for the model's default
    resolution: str | None
    #: the resolution drawn (a price per image follows it)
    quality: str


def check_count(request: AnyImageRequest, provider: str) -> None:
    """Refuse more images than :data:`MOST_IMAGES`, unsent."""
    if request.n > MOST_IMAGES:
        raise _refusal(
            f"{request.model} draws at most {MOST_IMAGES} images a call, not {request.n}",
            request,
            provider,
            "n",
            f"ask for n={MOST_IMAGES} or fewer, and call again for more",
        )


def gemini_shape(request: AnyImageRequest, provider: str) -> Shape:
    """The aspect ratio and resolution of a Gemini image model's generation: ``size``
    stands for the model's aspect ratio nearest its shape (within
    :data:`SHAPE_TOLERANCE`), ``quality`` for the resolution."""
    spec = image_model(request.model)
    resolution = _resolution(request, spec, provider)
    # 2.5 Flash Image draws at one resolution and has no imageSize to send.
    send = resolution if spec is None or len(spec.resolutions) > 1 else None
    quality = resolution or (spec.resolutions[0] if spec else DEFAULT_RESOLUTION)
    size = pixels(request.size)
    if size is None:  # no size, or "auto": the model's default shape
        return Shape(None, send, quality)
    shapes = spec.shapes if spec is not None else SHAPES_14
    shape = nearest_shape(size, shapes)
    if shape is None:
        raise _refusal(
            f"{request.model} draws the aspect ratios {', '.join(shapes)}: {request.size}"
            f" is none of them",
            request,
            provider,
            "size",
            "ask for a size of one of those shapes (1024x1024, 1536x1024, 1920x1080...),"
            " or leave size out for 1:1; the model draws its own pixels for the shape",
        )
    return Shape(shape, send, quality)


def nearest_shape(size: tuple[int, int], shapes: tuple[str, ...]) -> str | None:
    """The aspect ratio in ``shapes`` nearest ``size``'s, if within :data:`SHAPE_TOLERANCE`."""
    width, height = size
    wanted = math.log(width / height)

    def distance(shape: str) -> float:
        w, h = shape.split(":")
        return abs(math.log(int(w) / int(h)) - wanted)

    best = min(shapes, key=distance)
    return best if distance(best) <= math.log1p(SHAPE_TOLERANCE) else None


def _resolution(request: AnyImageRequest, spec: ImageModel | None, provider: str) -> str | None:
    """``quality`` as one of the model's resolutions (``None`` when not given)."""
    quality = request.quality
    if quality is None or quality == "auto":
        return None
    known = spec.resolutions if spec is not None else None
    if known is not None and quality.upper() in known:
        return quality.upper()
    if known is None and quality.upper() in ("512", "1K", "2K", "4K"):
        return quality.upper()
    words = ", ".join(known) if known else "512, 1K, 2K, 4K"
    raise _refusal(
        f"{request.model} has no quality {quality!r}: Google's image models take a"
        f" resolution, and this one draws at {words}",
        request,
        provider,
        "quality",
        f"pass quality as one of {words}, or leave it out for {DEFAULT_RESOLUTION}",
    )


def _refusal(
    message: str, request: AnyImageRequest, provider: str, param: str, hint: str
) -> InvalidRequestError:
    # No status: nothing was sent (a route may fall back to a model that can).
    return InvalidRequestError(
        message, provider=provider, model=request.model, param=param, hint=hint
    )
