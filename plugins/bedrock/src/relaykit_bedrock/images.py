"""Image generation on Bedrock: InvokeModel (``POST /model/{modelId}/invoke``) with each
image model family's body.

Bedrock has no common image API: each family takes and answers its own JSON,
told by the model id (a foundation model id, an inference profile id or the
ARN of either). From the Bedrock user guide's parameter pages and the Nova
user guide:

- Amazon Nova Canvas (``amazon.nova-canvas-v1:0``) and Titan Image Generator
  v2 (``amazon.titan-image-generator-v2:0``): ``{"taskType": "TEXT_IMAGE",
  "textToImageParams": {"text"}, "imageGenerationConfig": {"numberOfImages",
  "width", "height", "quality"}}`` -> ``{"images": [base64, ...], "error"}``.
  Up to 5 images a request, ``quality`` ``standard`` (their default) or
  ``premium``, 1024x1024 unless asked (:mod:`.image_sizes` has the sizes
  each draws). The size and quality are always sent, so the answer's are
  what was drawn, and priced. AWS's output filter drops the images it blocks
  and says so in ``error``: with none left that is a
  :class:`relaykit.ContentFilterError`; with some left, those come back (fewer
  than ``n``, each billed as drawn) and a warning on the ``relaykit.bedrock``
  logger names the rest, rather than throwing away images already made.
- Stability AI (Stable Diffusion 3.5 Large, Stable Image Ultra, Stable Image
  Core): ``{"prompt", "aspect_ratio", "output_format"}`` -> ``{"images":
  [base64], "finish_reasons": [null | "Filter reason: ..." | "Inference
  error"], "seeds"}``. One image a request: ``n`` above 1 is refused before
  sending, not sent as ``n`` requests (each billed), since one failing would
  throw away the images already drawn, and a retry bill them again. ``size``
  picks the aspect ratio (:func:`.image_sizes.aspect_ratio`), at which the
  model draws about a megapixel: the answer's ``size`` is read from the
  image. No ``quality``; ``output_format`` png (the default) or jpeg.
  ``mode`` is not sent: text-to-image is each model's default. A filtered
  image is a :class:`relaykit.ContentFilterError`, an "Inference error" a
  retryable :class:`relaykit.ProviderUnavailableError`.

``extra`` is merged into the body last, a dict into the dict already there:
``extra={"textToImageParams": {"negativeText": "people"}, "imageGenerationConfig":
{"seed": 7, "cfgScale": 6.5}}`` for Nova and Titan, ``extra={"negative_prompt":
"people", "seed": 7}`` for Stability. What a family cannot do (more images than
it draws at once, a size, quality or output format it has no word for, a
prompt longer than it reads) is refused before sending with an
:class:`relaykit.InvalidRequestError` without a status, so a route falls back.

Edits (:meth:`relaykit.Client.edit_image`, :func:`edit_body`): Nova Canvas and
Titan v2 inpaint (``taskType: INPAINTING``) when a mask is given (or a
``maskPrompt`` in ``extra``'s ``inPaintingParams``), and otherwise vary the
images (``IMAGE_VARIATION``) as the prompt says. AWS's mask is black where to
paint, white where to keep. Stability's models are refused unsent.

AWS's model cards list Titan Image Generator v2 as Legacy (end of life
2026-06-30) and Nova Canvas as Legacy too (end of life 2026-09-30): past those
dates Bedrock itself refuses them, and its error comes back typed as for any
model. The Stability AI models are the ones still Active.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Mapping
from typing import Any, Literal

import attrs

from relaykit import (
    ContentFilterError,
    GeneratedImage,
    ImageEditRequest,
    ImageRequest,
    ImageResponse,
    InvalidRequestError,
    ProviderUnavailableError,
)
from relaykit.image_generation import AnyImageRequest, image_from_base64, pixels

from . import invoke_models
from .image_sizes import (
    STABILITY_RATIOS,
    TITAN_SIZES,
    aspect_ratio,
    nova_size_problem,
    size_text,
)
from .invoke_models import Invoke

log = logging.getLogger("relaykit.bedrock")

#: The header carrying AWS's id of a request: the response's id.
REQUEST_ID = "x-amzn-requestid"
#: The size and quality Nova Canvas and Titan draw unless asked.
DEFAULT_SIZE = "1024x1024"
DEFAULT_QUALITY = "standard"
_DEFAULT_PIXELS = (1024, 1024)


@attrs.frozen
class ImageFamily:
    """One family of Bedrock image models: how its requests are shaped and checked.

    ``prefix`` matches the model ids of the family (after any inference
    profile prefix); ``api`` is the body format; ``most_images`` how many
    images one request draws; ``prompt_chars`` the longest prompt it reads;
    ``qualities`` the words it takes for quality (none: it takes no quality);
    ``output_formats`` the formats it answers in.
    """

    prefix: str
    name: str
    api: Literal["nova", "titan", "stability"]
    most_images: int
    prompt_chars: int
    qualities: tuple[str, ...] = ()
    output_formats: tuple[str, ...] = ("png",)


_AMAZON_QUALITIES = ("standard", "premium")
_STABILITY_FORMATS = ("png", "jpeg")

FAMILIES = (
    ImageFamily("amazon.nova-canvas-v1", "Amazon Nova Canvas", "nova", 5, 1_024, _AMAZON_QUALITIES),
    ImageFamily(
        "amazon.titan-image-generator-v2", "Titan Image Generator v2", "titan", 5, 512,
        _AMAZON_QUALITIES,
    ),
    ImageFamily(
        "stability.sd3-5-large-v1", "Stable Diffusion 3.5 Large", "stability", 1, 10_000,
        output_formats=_STABILITY_FORMATS,
    ),
    ImageFamily(
        "stability.stable-image-ultra-v1", "Stable Image Ultra", "stability", 1, 10_000,
        output_formats=_STABILITY_FORMATS,
    ),
    ImageFamily(
        "stability.stable-image-core-v1", "Stable Image Core", "stability", 1, 10_000,
        output_formats=_STABILITY_FORMATS,
    ),
)  # fmt: skip

_IMAGE_MODELS = (
    "amazon.nova-canvas-v1:0, amazon.titan-image-generator-v2:0, stability.sd3-5-large-v1:0,"
    " stability.stable-image-ultra-v1:1 or stability.stable-image-core-v1:1"
)


def family_of(model: str, *, provider: str | None = None) -> ImageFamily:
    """The image family of ``model``; a typed refusal naming the supported ones if none."""
    return invoke_models.family_of(
        model,
        FAMILIES,
        kind="image",
        does="draws",
        hint=f"generate images with {_IMAGE_MODELS}",
        provider=provider,
    )


def check_request(family: ImageFamily, request: AnyImageRequest, *, provider: str) -> None:
    """Refuse, before anything is sent, what ``family`` cannot draw (see the module docstring)."""

    def refuse(message: str, param: str, hint: str) -> InvalidRequestError:
        return InvalidRequestError(
            message, provider=provider, model=request.model, param=param, hint=hint
        )

    if request.n > family.most_images:
        if family.most_images == 1:
            hint = (
                "ask for one image a call (several calls may run at once), or draw with"
                " amazon.nova-canvas-v1:0, which draws up to 5"
            )
        else:
            hint = f"ask for at most {family.most_images}, or make several calls"
        raise refuse(
            f"{family.name} on Bedrock draws at most {family.most_images} image"
            f"{'s' if family.most_images > 1 else ''} a request, not {request.n}",
            "n",
            hint,
        )
    if len(request.prompt) > family.prompt_chars:
        raise refuse(
            f"{family.name} reads prompts of at most {family.prompt_chars:,} characters,"
            f" not {len(request.prompt):,}",
            "prompt",
            "shorten the prompt",
        )
    if request.quality is not None and request.quality not in family.qualities:
        if family.qualities:
            message = (
                f"{family.name} takes a quality of {' or '.join(family.qualities)},"
                f" not {request.quality!r}"
            )
            hint = "pass quality='standard' or 'premium', or leave it out for standard"
        else:
            message = f"{family.name} takes no quality, not {request.quality!r}"
            hint = (
                "leave quality out: on Bedrock, Stability's models differ in quality"
                " (stable-image-core, sd3-5-large, stable-image-ultra)"
            )
        raise refuse(message, "quality", hint)
    if request.output_format is not None and request.output_format not in family.output_formats:
        formats = " or ".join(family.output_formats)
        raise refuse(
            f"{family.name} on Bedrock answers {formats} images, not {request.output_format}",
            "output_format",
            f"ask for {formats}, or leave output_format out",
        )
    _check_size(family, request, refuse)


def _check_size(
    family: ImageFamily, request: AnyImageRequest, refuse: Callable[[str, str, str], Exception]
) -> None:
    size = pixels(request.size)
    if size is None:  # unset or "auto": the model's default
        return
    width, height = size
    if family.api == "nova" and (problem := nova_size_problem(width, height)):
        raise refuse(
            f"{family.name} cannot draw {request.size}: {problem}",
            "size",
            "sides are multiples of 16 from 320 to 4,096, at most 4:1, and 4,194,304"
            " pixels in all: 1024x1024, 1280x720, 2048x2048, 2816x1536",
        )
    if family.api == "titan" and size not in TITAN_SIZES:
        raise refuse(
            f"{family.name} cannot draw {request.size}: it draws "
            + ", ".join(map(size_text, TITAN_SIZES)),
            "size",
            "pass one of those sizes, or leave size out for 1024x1024",
        )
    if family.api == "stability" and aspect_ratio(width, height) is None:
        raise refuse(
            f"{family.name} draws an aspect ratio, not a size, and the shape of"
            f" {request.size} is none of {', '.join(STABILITY_RATIOS)} (within 3%)",
            "size",
            "pass a size of one of those shapes (1024x1024, 1344x768 for 16:9, 832x1216"
            " for 2:3), or leave size out for 1:1",
        )


def request_body(family: ImageFamily, request: ImageRequest) -> dict[str, Any]:
    """The InvokeModel body drawing ``request`` (checked by :func:`check_request`),
    ``extra`` merged in last."""
    body: dict[str, Any]
    if family.api == "stability":
        body = {"prompt": request.prompt}
        size = pixels(request.size)
        if size is not None:
            body["aspect_ratio"] = aspect_ratio(*size)
        if request.output_format is not None:
            body["output_format"] = request.output_format
    else:
        width, height = pixels(request.size) or _DEFAULT_PIXELS
        body = {
            "taskType": "TEXT_IMAGE",
            "textToImageParams": {"text": request.prompt},
            "imageGenerationConfig": {
                "numberOfImages": request.n,
                "width": width,
                "height": height,
                "quality": request.quality or DEFAULT_QUALITY,
            },
        }
    for key, value in request.extra.items():
        if isinstance(value, dict) and isinstance(body.get(key), dict):
            body[key] = {**body[key], **value}
        else:
            body[key] = value
    return body


def parse_answer(
    family: ImageFamily,
    data: Any,
    headers: Mapping[str, str],
    request: AnyImageRequest,
    *,
    provider: str,
) -> ImageResponse:
    """A :class:`relaykit.ImageResponse` from one InvokeModel answer.

    Raises :class:`relaykit.ContentFilterError` when AWS's filters left no
    image (or, for Stability, filtered the one), and
    :class:`relaykit.ProviderUnavailableError` for an answer without images
    and without a reason, with an image that is not base64, or with
    Stability's "Inference error".
    """
    answer = data if isinstance(data, dict) else {}
    if family.api == "stability":
        _check_finish_reasons(family, answer.get("finish_reasons"), request, provider)
    encoded = answer.get("images")
    if not isinstance(encoded, list):
        encoded = []
    blocked = answer.get("error") if family.api != "stability" else None
    if blocked and not encoded:
        raise ContentFilterError(
            f"{family.name} drew no image AWS's content filters let through: {blocked}",
            provider=provider,
            model=request.model,
            provider_message=str(blocked),
            hint="rephrase the prompt",
        )
    if not encoded:
        raise ProviderUnavailableError(
            f"InvokeModel answered {family.name} without images",
            provider=provider,
            model=request.model,
        )
    if blocked:
        # Some were blocked: keep those drawn (billed as drawn) rather than lose them.
        log.warning(
            "%s: %d of %d images came back: %s", request.model, len(encoded), request.n, blocked
        )
    try:
        images = tuple(image_from_base64(str(text)) for text in encoded)
    except ValueError as e:
        raise ProviderUnavailableError(
            f"InvokeModel answered {family.name} with an image that is not base64",
            provider=provider,
            model=request.model,
        ) from e
    return ImageResponse(
        images=images,
        model=request.model,
        id=headers.get(REQUEST_ID),
        size=_size_drawn(family, request, images),
        quality=(request.quality or DEFAULT_QUALITY) if family.qualities else None,
    )


def _check_finish_reasons(
    family: ImageFamily, reasons: Any, request: AnyImageRequest, provider: str
) -> None:
    for reason in reasons if isinstance(reasons, list) else ():
        if reason is None:
            continue
        text = str(reason)
        if text.lower().startswith("filter reason"):
            raise ContentFilterError(
                f"{family.name} drew no image its content filter let through ({text})",
                provider=provider,
                model=request.model,
                provider_message=text,
                hint="rephrase the prompt",
            )
        raise ProviderUnavailableError(
            f"{family.name} failed to draw the image ({text})",
            provider=provider,
            model=request.model,
            provider_message=text,
        )


def _size_drawn(
    family: ImageFamily, request: AnyImageRequest, images: tuple[GeneratedImage, ...]
) -> str | None:
    """Nova and Titan draw the size sent; Stability's is read from the image itself."""
    if family.api != "stability":
        size = pixels(request.size)
        return size_text(size) if size is not None else DEFAULT_SIZE
    drawn = images[0].size
    return size_text(drawn) if drawn is not None else None


async def generate(request: ImageRequest, invoke: Invoke, *, provider: str) -> ImageResponse:
    """Draw ``request`` with one ``invoke``, after refusing what its family cannot draw."""
    family = family_of(request.model, provider=provider)
    check_request(family, request, provider=provider)
    data, headers = await invoke(request.model, request_body(family, request))
    return parse_answer(family, data, headers, request, provider=provider)


# -- edits --------------------------------------------------------------------------

#: the most images IMAGE_VARIATION takes (Nova's and Titan v2's: 1 to 5)
MOST_VARIATION_IMAGES = 5


def edit_body(family: ImageFamily, request: ImageEditRequest, *, provider: str) -> dict[str, Any]:
    """The InvokeModel body editing ``request`` with Nova Canvas or Titan v2, ``extra``
    merged in last (a dict into the dict already there).

    - A mask, or ``extra={"inPaintingParams": {"maskPrompt": "the hat"}}``:
      ``INPAINTING`` of the one image, ``inPaintingParams: {"image", "text",
      "maskImage"}``. AWS's mask is black where to paint and white where to
      keep (not OpenAI's transparency): relaykit sends the mask as given. No
      ``size``: the edit keeps the image's own.
    - Otherwise: ``IMAGE_VARIATION`` of one to five images,
      ``imageVariationParams: {"images", "text"}``, the prompt saying what to
      make of them (``similarityStrength`` in ``extra``'s
      ``imageVariationParams``), drawn at ``size`` (1024x1024 unless asked).

    ``imageGenerationConfig`` holds ``numberOfImages`` and ``quality`` (and for a
    variation ``width`` and ``height``). Refused unsent: a Stability model
    (Bedrock's Stability edit models are other model ids, with bodies of their
    own, which relaykit does not call yet), several images to inpaint, more than
    five to vary, and what :func:`check_request` refuses for a generation.
    """

    def refuse(message: str, param: str, hint: str) -> InvalidRequestError:
        return InvalidRequestError(
            message, provider=provider, model=request.model, param=param, hint=hint
        )

    if family.api == "stability":
        raise refuse(
            f"relaykit edits no images with {family.name}: Bedrock's Stability edit models"
            " take bodies of their own",
            "model",
            "edit with amazon.nova-canvas-v1:0 (or amazon.titan-image-generator-v2:0)",
        )
    inpainting = request.mask is not None or "inPaintingParams" in request.extra
    encoded = [base64.b64encode(image.data).decode("ascii") for image in request.images]
    config: dict[str, Any] = {
        "numberOfImages": request.n,
        "quality": request.quality or DEFAULT_QUALITY,
    }
    body: dict[str, Any]
    if inpainting:
        if len(encoded) > 1:
            raise refuse(
                f"{family.name} inpaints one image, not {len(encoded)}",
                "image",
                "send one image with the mask (or leave the mask out to vary several)",
            )
        if pixels(request.size) is not None:
            raise refuse(
                f"{family.name} inpaints at the image's own size: it takes no size",
                "size",
                "leave size out",
            )
        params: dict[str, Any] = {"image": encoded[0], "text": request.prompt}
        if request.mask is not None:
            params["maskImage"] = base64.b64encode(request.mask.data).decode("ascii")
        body = {"taskType": "INPAINTING", "inPaintingParams": params}
    else:
        if len(encoded) > MOST_VARIATION_IMAGES:
            raise refuse(
                f"{family.name} varies at most {MOST_VARIATION_IMAGES} images, not {len(encoded)}",
                "image",
                "send five images or fewer",
            )
        config["width"], config["height"] = pixels(request.size) or _DEFAULT_PIXELS
        body = {
            "taskType": "IMAGE_VARIATION",
            "imageVariationParams": {"images": encoded, "text": request.prompt},
        }
    body["imageGenerationConfig"] = config
    for key, value in request.extra.items():
        if isinstance(value, dict) and isinstance(body.get(key), dict):
            body[key] = {**body[key], **value}
        else:
            body[key] = value
    return body


async def edit(request: ImageEditRequest, invoke: Invoke, *, provider: str) -> ImageResponse:
    """Edit ``request`` with one ``invoke`` (see :func:`edit_body`), after refusing what
    its family cannot do."""
    family = family_of(request.model, provider=provider)
    body = edit_body(family, request, provider=provider)  # Stability refused first
    check_request(family, request, provider=provider)
    data, headers = await invoke(request.model, body)
    response = parse_answer(family, data, headers, request, provider=provider)
    if body["taskType"] == "INPAINTING":
        drawn = response.images[0].size or request.images[0].size
        response = attrs.evolve(response, size=size_text(drawn) if drawn else None)
    return response
