"""InvokeModel for the image models, as the mock serves it: bodies checked, images drawn.

Built from the Bedrock user guide's parameter pages and the Nova user guide,
with the mock's own idea of each body (not the plugin's, so that it catches
the plugin's mistakes):

- Amazon Nova Canvas (``amazon.nova-canvas-v1*``) and Titan Image Generator v2
  (``amazon.titan-image-generator-v2*``): ``taskType`` (required; the mock
  draws ``TEXT_IMAGE``, and edits with ``INPAINTING`` and ``IMAGE_VARIATION``:
  see :func:`edit_problem`), ``textToImageParams`` (required: ``text``, 1 to
  1,024 characters for Nova and 512 for Titan, ``negativeText`` likewise,
  Nova's ``style``), ``imageGenerationConfig`` (``numberOfImages`` 1 to 5,
  ``width``, ``height``, ``quality`` standard or premium, ``cfgScale`` 1.1 to
  10, ``seed`` 0 to 2,147,483,646) -> ``{"images": [base64, ...], "error"}``.
  Nova's sides are multiples of 16 from 320 to 4,096, at most 4:1 and
  4,194,304 pixels; Titan's sizes are its table's (:data:`TITAN_SIZES`).
- Stable Diffusion 3.5 Large, Stable Image Ultra and Stable Image Core
  (``stability.sd3-5-large-v1*``, ``stability.stable-image-ultra-v1*``,
  ``stability.stable-image-core-v1*``): ``prompt`` (required, up to 10,000
  characters), ``aspect_ratio`` (their nine), ``output_format`` (png, jpeg),
  ``seed`` (0 to 4,294,967,294), ``negative_prompt``, ``mode``
  (``text-to-image``: the mock draws nothing else) -> ``{"seeds",
  "finish_reasons": [null], "images": [base64]}``.

Each image is :func:`relaykit.testing.mock_image` of the prompt and its index
(a PNG whatever ``output_format`` says). A reply scripted with
``finish="content_filter"`` has AWS's filters block every image of the call:
Nova and Titan answer no images and the ``error`` AWS words ("All of the
generated images have been blocked by our content filters."), Stability
``{"finish_reasons": ["Filter reason: output image"]}``; the indexes in
``blocked`` (:attr:`BedrockMock.blocked_images`) are blocked on every call
(Nova and Titan: "Some of the generated images ..." when others are left).
A body the model would refuse gets a 400 ``ValidationException`` worded as
Bedrock words its schema errors; the size rules are worded by the mock.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from collections.abc import Collection
from typing import Any

from relaykit.image_files import dimensions, sniff
from relaykit.testing.image_samples import mock_image
from relaykit.testing.loopback import Response
from relaykit.testing.script import Reply

from .checks import (
    Check,
    base_model_id,
    enum,
    integer_between,
    number_between,
    schema_problem,
    string_up_to,
)

#: Titan Image Generator v2's sizes (the Bedrock user guide's table), as the mock knows them.
TITAN_SIZES = frozenset(
    {
        (1024, 1024), (768, 768), (512, 512), (768, 1152), (384, 576), (1152, 768),
        (576, 384), (768, 1280), (384, 640), (1280, 768), (640, 384), (896, 1152),
        (448, 576), (1152, 896), (576, 448), (768, 1408), (384, 704), (1408, 768),
        (704, 384), (640, 1408), (320, 704), (1408, 640), (704, 320), (1152, 640),
        (1173, 640),
    }
)  # fmt: skip
_NOVA_STYLES = enum(
    "3D_ANIMATED_FAMILY_FILM",
    "DESIGN_SKETCH",
    "FLAT_VECTOR_ILLUSTRATION",
    "GRAPHIC_NOVEL_ILLUSTRATION",
    "MAXIMALISM",
    "MIDCENTURY_RETRO",
    "PHOTOREALISM",
    "SOFT_DIGITAL_PAINTING",
)
_CONFIG: dict[str, Check] = {
    "numberOfImages": integer_between(1, 5),
    "width": integer_between(1),
    "height": integer_between(1),
    "quality": enum("standard", "premium"),
    "cfgScale": number_between(1.1, 10),
    "seed": integer_between(0, 2_147_483_646),
}
_STABILITY: dict[str, Check] = {
    "prompt": string_up_to(10_000),
    "negative_prompt": string_up_to(10_000),
    "aspect_ratio": enum("16:9", "1:1", "21:9", "2:3", "3:2", "4:5", "5:4", "9:16", "9:21"),
    "output_format": enum("png", "jpeg"),
    "seed": integer_between(0, 4_294_967_294),
    "mode": enum("text-to-image"),
}

#: model id prefix -> (API shape: nova, titan or stability; the longest text a prompt may be)
MODELS: dict[str, tuple[str, int]] = {
    "amazon.nova-canvas-v1": ("nova", 1_024),
    "amazon.titan-image-generator-v2": ("titan", 512),
    "stability.sd3-5-large-v1": ("stability", 10_000),
    "stability.stable-image-ultra-v1": ("stability", 10_000),
    "stability.stable-image-core-v1": ("stability", 10_000),
}

ALL_BLOCKED = "All of the generated images have been blocked by our content filters."
SOME_BLOCKED = "Some of the generated images have been blocked by our content filters."


def model_of(model_id: str) -> tuple[str, int] | None:
    """The shape of an image model id (or inference profile id or ARN), if the mock has it."""
    base = base_model_id(model_id)
    return next((m for prefix, m in MODELS.items() if base.startswith(prefix)), None)


def validate(model_id: str, body: Any) -> str | None:
    """The ValidationException message InvokeModel would give ``body`` for image ``model_id``."""
    model = model_of(model_id)
    assert model is not None, f"{model_id} is not an image model the mock serves"
    api, longest = model
    if api == "stability":
        checks = {**_STABILITY, "prompt": string_up_to(longest)}
        return schema_problem(body, ("prompt",), checks)
    if isinstance(body, dict) and body.get("taskType") in ("INPAINTING", "IMAGE_VARIATION"):
        return edit_problem(api, longest, body)
    top = {
        "taskType": enum("TEXT_IMAGE", "INPAINTING", "IMAGE_VARIATION"),
        "textToImageParams": _object,
        "imageGenerationConfig": _object,
    }
    if problem := schema_problem(body, ("taskType", "textToImageParams"), top):
        return problem
    text = string_up_to(longest)
    params: dict[str, Check] = {"text": text, "negativeText": text}
    if api == "nova":
        params["style"] = _NOVA_STYLES
    where = "#/textToImageParams"
    if problem := schema_problem(body["textToImageParams"], ("text",), params, where):
        return problem
    config = body.get("imageGenerationConfig", {})
    if problem := schema_problem(config, (), _CONFIG, "#/imageGenerationConfig"):
        return problem
    return _size_problem(api, config.get("width", 1024), config.get("height", 1024))


def edit_problem(api: str, longest: int, body: dict[str, Any]) -> str | None:
    """The ValidationException message for an edit body, or ``None``.

    ``INPAINTING``: ``inPaintingParams`` (required) with ``image`` (base64 of a PNG
    or JPEG), ``text``, ``negativeText``, and exactly one of ``maskImage`` (base64
    of an image of the image's size) and ``maskPrompt``; ``imageGenerationConfig``
    without ``width`` or ``height`` (the edit keeps the image's). ``IMAGE_VARIATION``:
    ``imageVariationParams`` (required) with ``images`` (1 to 5), ``text``,
    ``negativeText``, ``similarityStrength`` (0.2 to 1); the config as for
    ``TEXT_IMAGE``.
    """
    text = string_up_to(longest)
    inpainting = body["taskType"] == "INPAINTING"
    key = "inPaintingParams" if inpainting else "imageVariationParams"
    top = {"taskType": enum("INPAINTING", "IMAGE_VARIATION"), key: _object}
    top["imageGenerationConfig"] = _object
    if problem := schema_problem(body, ("taskType", key), top):
        return problem
    params: dict[str, Check] = {"text": text, "negativeText": text}
    if inpainting:
        params.update(image=_image, maskImage=_image, maskPrompt=text)
        required: tuple[str, ...] = ("image",)
    else:
        params.update(images=_images, similarityStrength=number_between(0.2, 1.0))
        required = ("images",)
    if problem := schema_problem(body[key], required, params, f"#/{key}"):
        return problem
    config = body.get("imageGenerationConfig", {})
    checks = dict(_CONFIG)
    if inpainting:
        del checks["width"], checks["height"]
    if problem := schema_problem(config, (), checks, "#/imageGenerationConfig"):
        return problem
    if inpainting:
        given = body[key]
        if ("maskImage" in given) == ("maskPrompt" in given):
            return "Exactly one of maskImage or maskPrompt must be provided."
        if "maskImage" in given and dimensions(_decoded(given["maskImage"])) != dimensions(
            _decoded(given["image"])
        ):
            return "The mask image must be the same size as the input image."
        return None
    return _size_problem(api, config.get("width", 1024), config.get("height", 1024))


def _decoded(value: str) -> bytes:
    return base64.b64decode(value)


def _image(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"expected type: String, found: {type(value).__name__}"
    try:
        data = base64.b64decode(value, validate=True)
    except binascii.Error:
        return "string is not valid base64"
    if sniff(data) not in ("image/png", "image/jpeg"):
        return "the image must be a PNG or JPEG"
    return None


def _images(value: Any) -> str | None:
    if not isinstance(value, list) or not 1 <= len(value) <= 5:
        return "expected an array of 1 to 5 images"
    return next((p for p in map(_image, value) if p), None)


def _object(value: Any) -> str | None:
    return None if isinstance(value, dict) else "expected type: JSONObject"


def _size_problem(api: str, width: int, height: int) -> str | None:
    unsupported = f"The provided size {width}x{height} is not supported"
    if api == "titan":
        return None if (width, height) in TITAN_SIZES else f"{unsupported} by this model."
    if any(not 320 <= side <= 4096 or side % 16 for side in (width, height)):
        return f"{unsupported}: each side must be a multiple of 16 from 320 to 4096 pixels."
    if max(width, height) > 4 * min(width, height):
        return f"{unsupported}: the aspect ratio must be from 1:4 to 4:1."
    if width * height > 4_194_304:
        return f"{unsupported}: it exceeds 4194304 pixels."
    return None


def answer(
    model_id: str, body: dict[str, Any], reply: Reply, blocked: Collection[int] = ()
) -> Response:
    """The answer to a valid image ``body`` (checked by :func:`validate`): each image
    :func:`~relaykit.testing.mock_image` of the prompt and its index, but those blocked."""
    model = model_of(model_id)
    assert model is not None
    every = reply.finish == "content_filter"
    headers = {
        "x-amzn-requestid": str(uuid.uuid4()),
        "x-amzn-bedrock-invocation-latency": "42",
        **reply.headers,
    }
    if model[0] == "stability":
        prompt = body["prompt"]
        if every or 0 in blocked:
            return Response.json(
                {"finish_reasons": ["Filter reason: output image"]}, headers=headers
            )
        seed = body.get("seed") or int.from_bytes(hashlib.sha256(prompt.encode()).digest()[:4])
        data: dict[str, Any] = {
            "seeds": [seed],
            "finish_reasons": [None],
            "images": [_encoded(prompt, 0)],
        }
        return Response.json(data, headers=headers)
    params: dict[str, Any] = (
        body.get("textToImageParams")
        or body.get("inPaintingParams")
        or body.get("imageVariationParams")
        or {}
    )
    prompt = params["text"]
    count = body.get("imageGenerationConfig", {}).get("numberOfImages", 1)
    drawn = [] if every else [_encoded(prompt, i) for i in range(count) if i not in blocked]
    error = None if len(drawn) == count else ALL_BLOCKED if not drawn else SOME_BLOCKED
    return Response.json({"images": drawn, "error": error}, headers=headers)


def _encoded(prompt: str, index: int) -> str:
    return base64.b64encode(mock_image(prompt, index)).decode("ascii")
