"""What Gemini's image models draw, and relaykit's ``size``, ``quality`` and ``n`` in their terms.

Google's image models take a shape (``aspectRatio``, ``"16:9"``) and a
resolution (Imagen's ``sampleImageSize``, the Gemini image models'
``imageSize``: ``"1K"``, ``"2K"``, ``"4K"``), never pixels. relaykit's
``quality`` is that resolution, in Google's words; its ``size`` (``"WxH"``)
becomes the shape, differently for the two APIs, as Google documents them
differently:

- **Imagen** (``:predict``): Google lists the exact pixels of each shape and
  resolution (Imagen 4's model pages on Vertex AI: 1:1 is 1024x1024 at 1K,
  2048x2048 at 2K; 16:9 is 1408x768...). Only those sizes are taken: another
  is refused, naming them, rather than drawn at other pixels than asked.
  A 2K size sets the resolution (Imagen 4 Standard and Ultra only).
- **Gemini image models** (``:generateContent``): Google documents shapes and
  resolutions; the pixels of a shape differ between models (1:1 at 1K is
  1024x1024, but 16:9 at 1K is reported as 1344x768, 1376x768 or 1408x768). So a size
  stands for its shape: the model's aspect ratio within 5% of it (1920x1080
  and 1792x1024 are 16:9), or a refusal naming the shapes. The pixels drawn
  are the model's, for the resolution ``quality`` names (``1K`` by default):
  read them from ``image.size``.

``n`` is at most :data:`MOST_IMAGES` on both: Imagen's ``sampleCount`` limit
("Maximum images returned per request: 4"); the Gemini image models draw one
image a request, so ``n`` of them are ``n`` requests, which relaykit bounds
the same way. Everything here is refused before anything is sent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import NamedTuple

from relaykit import InvalidRequestError
from relaykit.image_generation import AnyImageRequest, pixels

#: the most images one generation draws (Imagen's limit, and relaykit's bound on
#: the requests one call makes to a Gemini image model)
MOST_IMAGES = 4
#: the resolution every Google image model draws at unless asked
DEFAULT_RESOLUTION = "1K"
#: how far (relative) a size's shape may be from the aspect ratio it is taken as
SHAPE_TOLERANCE = 0.05

#: Imagen 4's sizes, from its model pages on Vertex AI ("Image ratios and resolutions")
IMAGEN_1K: Mapping[str, str] = {
    "1024x1024": "1:1",
    "896x1280": "3:4",
    "1280x896": "4:3",
    "768x1408": "9:16",
    "1408x768": "16:9",
}
IMAGEN_2K: Mapping[str, str] = {
    "2048x2048": "1:1",
    "1792x2560": "3:4",
    "2560x1792": "4:3",
    "1536x2816": "9:16",
    "2816x1536": "16:9",
}

#: the ten shapes of the Gemini image models (the API's ``ImageConfig.aspectRatio``)
SHAPES_10 = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
#: Gemini 3.1 Flash Image adds four long ones (the ``AspectRatio`` enum's 1:4 to 8:1)
SHAPES_14 = (*SHAPES_10, "1:4", "4:1", "1:8", "8:1")


class ImageModel(NamedTuple):
    """What one image model draws: its shapes and resolutions (the first, its default)."""

    #: aspect ratios, as Google writes them
    shapes: tuple[str, ...]
    #: resolutions (``sampleImageSize`` / ``imageSize``), the default first
    resolutions: tuple[str, ...]
    #: Imagen only: each exact size it draws -> its aspect ratio, by resolution
    sizes: Mapping[str, Mapping[str, str]] | None = None


_IMAGEN_SHAPES = tuple(IMAGEN_1K.values())
_IMAGEN_1K_ONLY = ImageModel(_IMAGEN_SHAPES, ("1K",), {"1K": IMAGEN_1K})
_IMAGEN_2K = ImageModel(_IMAGEN_SHAPES, ("1K", "2K"), {"1K": IMAGEN_1K, "2K": IMAGEN_2K})

#: by name prefix, the longest matching: Imagen 4 Standard and Ultra take 2K
#: (Vertex AI's "Set output resolution": sampleImageSize for those two only);
#: 2.5 Flash Image draws 1K only; 3 Pro Image 1K, 2K and 4K; 3.1 Flash Image
#: also 512 (the API's ``image_size`` values) and the long shapes
IMAGE_MODELS: Mapping[str, ImageModel] = {
    "imagen-": _IMAGEN_1K_ONLY,
    "imagen-4.0-generate": _IMAGEN_2K,
    "imagen-4.0-ultra-generate": _IMAGEN_2K,
    "gemini-2.5-flash-image": ImageModel(SHAPES_10, ("1K",)),
    "gemini-3-pro-image": ImageModel(SHAPES_10, ("1K", "2K", "4K")),
    "gemini-3.1-flash-image": ImageModel(SHAPES_14, ("1K", "512", "2K", "4K")),
}


def is_imagen(model: str) -> bool:
    """Whether ``model`` is an Imagen model, served by ``:predict`` (not ``:generateContent``)."""
    return model.removeprefix("models/").startswith("imagen-")


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
    #: the pixels drawn, where Google documents them (Imagen), else ``None``
    size: str | None


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


def imagen_shape(request: AnyImageRequest, provider: str) -> Shape:
    """The aspect ratio and resolution of an Imagen generation: ``size`` must be one of
    the model's exact sizes (at ``quality``'s resolution when both are given)."""
    spec = image_model(request.model) or _IMAGEN_1K_ONLY
    assert spec.sizes is not None  # every Imagen entry lists its sizes
    resolution = _resolution(request, spec, provider)
    if request.size is None or request.size == "auto":
        quality = resolution or DEFAULT_RESOLUTION
        default = next(iter(spec.sizes[quality]))  # 1:1, the model's default shape
        return Shape(None, _sent_resolution(resolution), quality, default)
    for tier, sizes in spec.sizes.items():
        shape = sizes.get(request.size)
        if shape is not None and resolution in (None, tier):
            return Shape(shape, _sent_resolution(tier), tier, request.size)
    tiers = [resolution] if resolution else list(spec.sizes)
    listed = "; ".join(
        f"{tier}: " + ", ".join(f"{size} ({shape})" for size, shape in spec.sizes[tier].items())
        for tier in tiers
    )
    raise _refusal(
        f"{request.model} draws only these sizes: {listed}; not {request.size}",
        request,
        provider,
        "size",
        "ask for one of those sizes (Imagen draws no others), or leave size out for 1:1",
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
        return Shape(None, send, quality, None)
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
    return Shape(shape, send, quality, None)


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


def _sent_resolution(resolution: str | None) -> str | None:
    # Only Imagen 4 Standard and Ultra take sampleImageSize, and 1K is their default:
    # sending it only for 2K keeps Fast (and older Imagen) requests valid.
    return resolution if resolution not in (None, DEFAULT_RESOLUTION) else None


def _refusal(
    message: str, request: AnyImageRequest, provider: str, param: str, hint: str
) -> InvalidRequestError:
    # No status: nothing was sent (a route may fall back to a model that can).
    return InvalidRequestError(
        message, provider=provider, model=request.model, param=param, hint=hint
    )
