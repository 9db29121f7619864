"""OpenAI's image generation (``POST /v1/images/generations``), for
:class:`~relaykit.testing.OpenAIMock`.

A JSON body in: ``prompt``, ``model`` (``dall-e-2`` when left out, as OpenAI
says), ``n``, ``size``, ``quality``, and by model family the rest. What the
mock draws is :func:`~relaykit.testing.mock_image` of the prompt, one per
image asked for (a PNG, whatever ``output_format`` says: the body still names
the format asked, as OpenAI's does).

The answer follows the API reference: ``{"created", "data": [...]}``, each
image ``b64_json`` or ``url``, with ``revised_prompt`` where the model rewrote
the prompt (DALL-E 3: the prompt and ", digital art"; any model: the script's
reply ``text``). The GPT image models (``gpt-image-*``) always answer
``b64_json`` and add ``background``, ``output_format``, ``quality``, ``size``
(``auto`` made concrete) and ``usage``: the prompt's words in, and out the
tokens OpenAI's image generation guide gives per image (1024x1024 low 272,
medium 1056, high 4160; the other sizes likewise). A URL points at the mock
itself (``GET /v1/mock-images/ID.png``, with a signature in its query as
OpenAI's blob URLs have), which serves the image without a key.

What it refuses, with OpenAI's messages: a body that is not JSON; a missing or
empty ``prompt``; ``n`` outside 1 to 10, and ``n`` above 1 for ``dall-e-3``
("You must provide n=1 for this model."); a ``size`` the model does not draw;
a ``quality`` it does not know; ``response_format`` or ``style`` for a GPT
image model ("Unknown parameter: 'response_format'."), and its own fields
(``output_format``, ``background``, ``moderation``, ``output_compression``)
for DALL-E; values outside each field's set; a prompt over the model's
length (1,000 characters for ``dall-e-2``, 4,000 for ``dall-e-3``, 32,000 for
the GPT image models: "Invalid 'prompt': string too long. ..."); and, in its
own words, a transparent ``background`` as ``jpeg`` and ``output_compression``
below 100 as ``png``. Models of other families stand in
for OpenAI-compatible services (FLUX on Together, Grok on xAI), answered as
those do: a URL by default, ``b64_json`` when asked; a ``grok-*`` model
refuses ``size``, ``quality`` and ``style`` as xAI does ("Argument not
supported: size").

Image edits (``POST /v1/images/edits``, :func:`validate_edit`): a
``multipart/form-data`` form, as OpenAI's SDK sends it: the text fields
(``model``, ``prompt``, ``n`` as text, ``size``...) checked as the JSON body
of a generation is, and the files: ``image`` (one) or ``image[]`` (several, up
to 16, GPT image models only), each a PNG, JPEG or WebP (``dall-e-2``: one
square PNG), and an optional ``mask``, a PNG with an alpha channel of the first
image's size (``dall-e-2`` without a mask: an image with alpha, "Invalid input
image - format must be in ['RGBA', 'LA', 'L'], got RGB."); images over 4 MB
(``dall-e-2``) or 50 MB (GPT image models). ``dall-e-3`` edits nothing. What the mock draws is
:func:`~relaykit.testing.mock_image` of the prompt, as for a generation; its
``usage`` counts the input images' tokens apart
(``input_tokens_details.image_tokens``, :data:`EDIT_IMAGE_TOKENS` each; the
prompt's are ``text_tokens``), as OpenAI's Images API answers edits and
generations alike. A ``grok-*`` model's edit is xAI's instead
(:func:`validate_xai_edit`): JSON, each image a ``data:`` URI as ``image``
(one) or ``images`` (up to 3), answered as a Grok generation is.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

from .. import multipart
from ..image_files import dimensions, sniff
from .image_samples import mock_image
from .loopback import Request
from .openai_responses import Refusal, _invalid
from .script import Reply, count_tokens

#: what every GPT image model draws, and how it is asked
GPT_SIZES = ("1024x1024", "1024x1536", "1536x1024", "auto")
GPT_QUALITIES = ("low", "medium", "high", "auto")
OUTPUT_FORMATS = ("png", "webp", "jpeg")
BACKGROUNDS = ("transparent", "opaque", "auto")
MODERATIONS = ("auto", "low")
#: the sizes any DALL-E model is asked for (OpenAI checks these first), and each one's
DALLE_SIZES = ("256x256", "512x512", "1024x1024", "1024x1792", "1792x1024")
_DALLE_MODEL_SIZES = {
    "dall-e-2": ("256x256", "512x512", "1024x1024"),
    "dall-e-3": ("1024x1024", "1792x1024", "1024x1792"),
}
#: every top-level field the API knows (others are an unknown parameter)
KNOWN = frozenset(
    {
        "model",
        "prompt",
        "n",
        "size",
        "quality",
        "response_format",
        "style",
        "user",
        "output_format",
        "output_compression",
        "background",
        "moderation",
        "stream",
        "partial_images",
    }
)
_GPT_ONLY = ("output_format", "output_compression", "background", "moderation", "partial_images")
#: output tokens of one image by quality, for 1024x1024, 1024x1536 and 1536x1024
_TOKENS = {
    "low": (272, 408, 400),
    "medium": (1056, 1584, 1568),
    "high": (4160, 6240, 6208),
}


def family(model: str) -> str:
    """``"gpt-image"``, ``"dall-e"`` or ``"other"`` (a compatible service's model)."""
    if model.startswith(("gpt-image", "chatgpt-image")):
        return "gpt-image"
    if model in _DALLE_MODEL_SIZES:
        return "dall-e"
    return "other"


def validate(body: Any) -> str:
    """The model the request is for, its body checked as OpenAI checks it
    (:class:`Refusal` otherwise)."""
    if not isinstance(body, dict):
        raise Refusal(
            "We could not parse the JSON body of your request. (HINT: This likely means you"
            " aren't using your HTTP library correctly.)"
        )
    model = str(body.get("model") or "dall-e-2")
    kind = family(model)
    if kind != "other":
        for key in body:
            if key not in KNOWN:
                raise Refusal(f"Unknown parameter: '{key}'.", key, code="unknown_parameter")
    _check_prompt(body.get("prompt"), model)
    n = body.get("n", 1)
    if n is not None:
        _check_n(n, model)
    if kind == "gpt-image":
        _check_gpt(body)
    elif kind == "dall-e":
        _check_dalle(body, model)
    elif model.startswith("grok"):
        for key in ("size", "quality", "style"):
            if key in body:
                raise Refusal(f"Argument not supported: {key}", key)
    return model


#: the longest prompt each model takes, in characters (the API reference's)
MAX_PROMPT = {"dall-e-2": 1000, "dall-e-3": 4000, "gpt-image-1": 32_000}
MAX_PROMPT |= {"gpt-image-1-mini": 32_000, "gpt-image-1.5": 32_000}


def _check_prompt(prompt: Any, model: str = "") -> None:
    if prompt is None:
        raise Refusal(
            "Missing required parameter: 'prompt'.", "prompt", code="missing_required_parameter"
        )
    if not isinstance(prompt, str):
        raise Refusal(
            f"Invalid type for 'prompt': expected a string, but got {type(prompt).__name__}"
            " instead.",
            "prompt",
            code="invalid_type",
        )
    if not prompt:
        raise Refusal(
            "Invalid 'prompt': empty string. Expected a string with minimum length 1, but got"
            " an empty string instead.",
            "prompt",
            code="empty_string",
        )
    most = MAX_PROMPT.get(model)
    if most is not None and len(prompt) > most:
        raise Refusal(
            f"Invalid 'prompt': string too long. Expected a string with maximum length {most},"
            f" but got a string with length {len(prompt)} instead.",
            "prompt",
            code="string_above_max_length",
        )


def _check_n(n: Any, model: str) -> None:
    if not isinstance(n, int) or isinstance(n, bool):
        raise Refusal(
            f"Invalid type for 'n': expected an integer, but got {type(n).__name__} instead.",
            "n",
            code="invalid_type",
        )
    if n < 1:
        raise Refusal(
            f"Invalid 'n': integer below minimum value. Expected a value >= 1, but got {n}"
            " instead.",
            "n",
            code="integer_below_min_value",
        )
    if n > 10:
        raise Refusal(
            f"Invalid 'n': integer above maximum value. Expected a value <= 10, but got {n}"
            " instead.",
            "n",
            code="integer_above_max_value",
        )
    if model == "dall-e-3" and n != 1:
        raise Refusal("You must provide n=1 for this model.")


def _check_gpt(body: dict[str, Any]) -> None:
    for key in ("response_format", "style"):
        if key in body:
            raise Refusal(f"Unknown parameter: '{key}'.", key, code="unknown_parameter")
    flexible = str(body.get("model")).startswith("gpt-image-2")
    if flexible:
        _check_flexible(body)
    for key, allowed in (
        ("size", () if flexible else GPT_SIZES),
        ("quality", GPT_QUALITIES),
        ("output_format", OUTPUT_FORMATS),
        ("background", BACKGROUNDS),
        ("moderation", MODERATIONS),
    ):
        value = body.get(key)
        if value is not None and allowed and value not in allowed:
            refusal = _invalid(value, key, allowed)
            refusal.code = "invalid_value"
            raise refusal
    compression = body.get("output_compression")
    if compression is not None and (
        not isinstance(compression, int) or not 0 <= compression <= 100
    ):
        raise Refusal(
            "Invalid 'output_compression': expected an integer from 0 to 100.",
            "output_compression",
        )
    output_format = body.get("output_format") or "png"
    if compression is not None and compression < 100 and output_format == "png":
        # the mock's own words (unverified): the API reference has compression for
        # "the webp or jpeg output formats" only
        raise Refusal(
            "Compression less than 100 is not supported for PNG output format.",
            "output_compression",
        )
    if body.get("background") == "transparent" and output_format not in ("png", "webp"):
        # the mock's own words (unverified), of the API reference's rule: "If
        # transparent, the output format needs to support transparency"
        raise Refusal(
            f"Transparent background is not supported for output format '{output_format}':"
            " use 'png' or 'webp'.",
            "background",
        )


#: gpt-image-2 draws any size up to these (the mock's reading of OpenAI's model page)
FLEXIBLE_MAX_SIDE = 3840
FLEXIBLE_MAX_PIXELS = 8_294_400


def _check_flexible(body: dict[str, Any]) -> None:
    """gpt-image-2: a size is ``auto`` or any ``WxH`` within its bounds; no
    transparent background."""
    size = body.get("size")
    if size is not None and size != "auto":
        width, _, height = str(size).partition("x")
        ok = all(s.isascii() and s.isdigit() and len(s) <= 9 for s in (width, height))
        w, h = (int(width), int(height)) if ok else (0, 0)
        if not ok or not (0 < w <= FLEXIBLE_MAX_SIDE and 0 < h <= FLEXIBLE_MAX_SIDE):
            raise Refusal("The size is not supported by this model.", "size")
        if w * h > FLEXIBLE_MAX_PIXELS:
            raise Refusal("The size is not supported by this model.", "size")
    if body.get("background") == "transparent":
        raise Refusal("Transparent background is not supported for this model.", "background")


def _check_dalle(body: dict[str, Any], model: str) -> None:
    for key in _GPT_ONLY:
        if key in body:
            raise Refusal(f"Unknown parameter: '{key}'.", key, code="unknown_parameter")
    size = body.get("size")
    if size is not None:
        if size not in DALLE_SIZES:
            listed = ", ".join(f"'{s}'" for s in DALLE_SIZES)
            raise Refusal(f"'{size}' is not one of [{listed}] - 'size'")
        if size not in _DALLE_MODEL_SIZES[model]:
            raise Refusal("The size is not supported by this model.", code="invalid_size")
    for key, allowed in (
        ("quality", ("standard", "hd")),
        ("response_format", ("url", "b64_json")),
        ("style", ("vivid", "natural")),
    ):
        value = body.get(key)
        if value is not None and value not in allowed:
            listed = ", ".join(f"'{a}'" for a in allowed)
            raise Refusal(f"'{value}' is not one of [{listed}] - '{key}'")
    if model == "dall-e-2" and body.get("quality", "standard") != "standard":
        # the mock's own words (unverified): "standard is the only option for dall-e-2"
        raise Refusal(
            f"Invalid quality '{body['quality']}' for dall-e-2: standard is the only option.",
            "quality",
        )
    if "style" in body and model != "dall-e-3":
        raise Refusal("The style parameter is only supported for dall-e-3.", "style")


def render(
    body: dict[str, Any], model: str, reply: Reply, store: dict[str, bytes], base: str
) -> dict[str, Any]:
    """The answer to a validated body; images answered as URLs are put in ``store``
    under their id, served at ``{base}/mock-images/ID.png``."""
    prompt = body["prompt"]
    n = body.get("n") or 1
    kind = family(model)
    as_url = kind != "gpt-image" and body.get("response_format", "url") == "url"
    revised = reply.text or (f"{prompt}, digital art" if model == "dall-e-3" else "")
    data = []
    for i in range(n):
        png = mock_image(prompt, i)
        item: dict[str, Any] = {}
        if as_url:
            ident = os.urandom(8).hex()
            store[ident] = png
            item["url"] = f"{base}/mock-images/{ident}.png?st=2026-12-01&sig=mock%2Bsignature"
        else:
            item["b64_json"] = _b64(png)
        if revised:
            item["revised_prompt"] = revised
        data.append(item)
    answer: dict[str, Any] = {"created": int(time.time()), "data": data}
    if kind == "gpt-image":
        size = body.get("size") or "auto"
        size = "1024x1024" if size == "auto" else size
        quality = body.get("quality") or "auto"
        quality = "medium" if quality == "auto" else quality
        background = body.get("background") or "auto"
        answer.update(
            background="opaque" if background == "auto" else background,
            output_format=body.get("output_format") or "png",
            quality=quality,
            size=size,
            usage=_usage(prompt, quality, size, n, reply),
        )
    return answer


def _usage(prompt: str, quality: str, size: str, n: int, reply: Reply) -> dict[str, Any]:
    inp = reply.input_tokens if reply.input_tokens is not None else count_tokens(prompt)
    if size in GPT_SIZES:
        per_image = _TOKENS[quality][GPT_SIZES.index(size)]
    else:  # gpt-image-2's other sizes: the square's tokens, by area
        w, _, h = size.partition("x")
        per_image = -(-_TOKENS[quality][0] * int(w) * int(h) // (1024 * 1024))
    out = reply.output_tokens if reply.output_tokens is not None else per_image * n
    return {
        "input_tokens": inp,
        "input_tokens_details": {"image_tokens": 0, "text_tokens": inp},
        "output_tokens": out,
        "total_tokens": inp + out,
    }


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


__all__ = ["family", "render", "validate"]


# -- edits ------------------------------------------------------------------------

#: the fields /images/edits knows (others are an unknown parameter)
EDIT_KNOWN = frozenset(
    {
        "model",
        "prompt",
        "n",
        "size",
        "quality",
        "response_format",
        "user",
        "output_format",
        "output_compression",
        "background",
        "input_fidelity",
        "stream",
        "partial_images",
    }
)
#: the input tokens the mock bills each image an edit sends
EDIT_IMAGE_TOKENS = 323
_EDIT_TYPES = ("image/png", "image/jpeg", "image/webp")
#: the largest image an edit takes, by family (dall-e-2: 4 MB; GPT image: 50 MB)
EDIT_BYTES: dict[str, int | None] = {
    "dall-e": 4 * 1024 * 1024,
    "gpt-image": 50 * 1024 * 1024,
    "other": None,
}


def validate_edit(request: Request) -> tuple[dict[str, Any], list[multipart.Part], str]:
    """An edit form's fields (as a generation's JSON body: ``n`` an integer), its
    images and the model; :class:`Refusal` where OpenAI refuses."""
    content_type = request.headers.get("content-type", "")
    if multipart.boundary_of(content_type) is None:
        raise Refusal(
            f"Invalid Content-Type header ({content_type}), expected multipart/form-data."
        )
    try:
        parts = multipart.parse(request.body, content_type)
    except ValueError as e:
        raise Refusal(f"Could not parse multipart form: {e}") from None
    body: dict[str, Any] = {p.name: p.text for p in parts if p.filename is None}
    model = str(body.get("model") or "dall-e-2")
    kind = family(model)
    for key in body:
        if kind != "other" and key not in EDIT_KNOWN:
            raise Refusal(f"Unknown parameter: '{key}'.", key, code="unknown_parameter")
    if model == "dall-e-3":
        raise Refusal("Invalid model dall-e-3. The model must be one of gpt-image-1 or dall-e-2.")
    _check_prompt(body.get("prompt"), model)
    if "n" in body:
        text = body["n"]
        number = text.lstrip("-")
        body["n"] = (
            int(text) if number.isascii() and number.isdigit() and len(number) < 20 else text
        )
        _check_n(body["n"], model)
    single = [p for p in parts if p.name == "image" and p.filename is not None]
    several = [p for p in parts if p.name == "image[]" and p.filename is not None]
    if single and several:
        raise Refusal("Send the images as 'image' or as 'image[]', not both.", "image")
    images = single or several
    if not images:
        raise Refusal(
            "Missing required parameter: 'image'.", "image", code="missing_required_parameter"
        )
    most = 16 if kind == "gpt-image" else 1
    if len(images) > most:
        raise Refusal(f"Invalid 'image': too many images ({len(images)}); at most {most}.", "image")
    for image in images:
        found = sniff(image.data)
        if kind == "dall-e" and (found != "image/png" or not _square(image.data)):
            raise Refusal("Invalid input image - image must be a square PNG.", "image")
        if found not in _EDIT_TYPES:
            raise Refusal(
                f"Invalid file '{image.filename}': unsupported mimetype ('{found}')."
                " Supported file formats are 'image/jpeg', 'image/png', and 'image/webp'.",
                "image",
            )
    largest = EDIT_BYTES[kind]
    if largest is not None and any(len(image.data) > largest for image in images):
        # the mock's own words (unverified) for the API reference's limits
        raise Refusal(
            f"Invalid input image - image must be less than {largest // 1024 // 1024} MB.", "image"
        )
    masks = [p for p in parts if p.name == "mask" and p.filename is not None]
    if masks:
        _check_mask(masks[0].data, images[0].data)
    elif kind == "dall-e" and images[0].data[25:26] not in (b"\x00", b"\x04", b"\x06"):
        # without a mask, dall-e-2 edits where the image is transparent
        mode = {b"\x02": "RGB", b"\x03": "P"}.get(images[0].data[25:26], "RGB")
        raise Refusal(
            f"Invalid input image - format must be in ['RGBA', 'LA', 'L'], got {mode}.", "image"
        )
    checked = {k: v for k, v in body.items() if k not in ("n", "input_fidelity")}
    if kind == "gpt-image":
        fidelity = body.get("input_fidelity")
        if fidelity is not None and fidelity not in ("high", "low"):
            raise _invalid(fidelity, "input_fidelity", ("high", "low"))
        _check_gpt(checked)
    elif kind == "dall-e":
        _check_dalle(checked, model)
    return body, images, model


def _square(data: bytes) -> bool:
    size = dimensions(data)
    return size is not None and size[0] == size[1]


def _check_mask(mask: bytes, first: bytes) -> None:
    if sniff(mask) != "image/png":
        raise Refusal("Invalid mask image format - mask must be a PNG.", "mask")
    if mask[25:26] not in (b"\x04", b"\x06") and b"tRNS" not in mask:
        raise Refusal("Invalid mask image format - mask image missing alpha channel.", "mask")
    if dimensions(mask) != dimensions(first):
        raise Refusal("Invalid mask image format - mask size does not match image size.", "mask")


def edit_model(request: Request) -> str:
    """The model an edit is for, from its JSON body or its form (``""`` if neither
    names one): a ``grok-*`` model's edit is xAI's (:func:`validate_xai_edit`)."""
    content_type = request.headers.get("content-type", "")
    try:
        if multipart.boundary_of(content_type) is not None:
            parts = multipart.parse(request.body, content_type)
            return next((p.text for p in parts if p.name == "model" and p.filename is None), "")
        body = request.json()
    except ValueError:
        return ""
    model = body.get("model") if isinstance(body, dict) else None
    return model if isinstance(model, str) else ""


#: the most images one xAI edit takes (xAI's guide: "up to 3 reference images")
XAI_EDIT_IMAGES = 3


def validate_xai_edit(request: Request) -> tuple[dict[str, Any], list[bytes], str]:
    """An xAI edit's JSON body, its images' bytes and the model; :class:`Refusal`
    where the mock's xAI refuses (a form, which xAI does not take; no prompt; no
    image, or both ``image`` and ``images``; more than 3 images; an image that is
    not a ``data:`` URI of a PNG, JPEG or WebP: the mock fetches no URL;
    ``size``, ``quality`` or ``style``)."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("application/json"):
        raise Refusal(
            f"Unsupported content type {content_type.split(';')[0]!r}: this endpoint takes"
            " application/json."
        )
    try:
        body = request.json()
    except ValueError:
        body = None
    model = validate(body)
    if "image" in body and "images" in body:
        raise Refusal("Provide either 'image' or 'images', not both.", "images")
    refs = body["images"] if "images" in body else [body.get("image")]
    if not isinstance(refs, list) or not refs or refs == [None]:
        raise Refusal("Missing required parameter: 'image'.", "image")
    if len(refs) > XAI_EDIT_IMAGES:
        raise Refusal(f"At most {XAI_EDIT_IMAGES} images can be edited at once.", "images")
    return body, [_data_uri(ref) for ref in refs], model


def _data_uri(ref: Any) -> bytes:
    """The bytes of an image reference ``{"url": "data:image/png;base64,..."}``."""
    import base64
    import binascii

    url = ref.get("url") if isinstance(ref, dict) else None
    if not isinstance(url, str) or not url.startswith("data:") or ";base64," not in url:
        raise Refusal("Each image needs a 'url': a data URI (the mock fetches no URL).", "image")
    try:
        data = base64.b64decode(url.partition(",")[2], validate=True)
    except binascii.Error:
        raise Refusal("An image's data URI is not base64.", "image") from None
    if sniff(data) not in _EDIT_TYPES:
        raise Refusal("Unsupported image format: send a PNG, JPEG or WebP.", "image")
    return data


def render_edit(
    body: dict[str, Any],
    images: Sequence[object],
    model: str,
    reply: Reply,
    store: dict[str, bytes],
    base: str,
) -> dict[str, Any]:
    """The answer to a validated edit: a generation's, its ``usage`` counting the
    input images' tokens."""
    answer = render(body, model, reply, store, base)
    usage = answer.get("usage")
    if usage is not None and reply.input_tokens is None:
        image_tokens = EDIT_IMAGE_TOKENS * len(images)
        usage["input_tokens"] += image_tokens
        usage["input_tokens_details"]["image_tokens"] = image_tokens
        usage["total_tokens"] += image_tokens
    return answer
