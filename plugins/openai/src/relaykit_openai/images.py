"""Image generation over ``POST /images/generations``: OpenAI, and the compatible
services that serve it (xAI, Together); image edits over ``POST /images/edits``
(OpenAI's a form: see :func:`edit_form`; xAI's JSON: see :func:`xai_edit_body`).

The request is JSON: ``model``, ``prompt``, ``n``, then what the service takes
of ``size``, ``quality`` and ``output_format``, then ``extra``'s fields (which
replace relaykit's own). How, by the preset's :data:`ImageStyle` and, for
OpenAI, by model family:

- OpenAI's GPT image models (``gpt-image-2``, the current one, any size up to
  3840 pixels a side; ``gpt-image-1``, retired by OpenAI on 2026-10-23,
  ``gpt-image-1-mini``, ``gpt-image-1.5``; any model not named ``dall-e-*``):
  ``size``, ``quality``
  (``low``, ``medium``, ``high``, ``auto``) and ``output_format`` as asked;
  never ``response_format``, which they refuse ("Unknown parameter:
  'response_format'."): they always answer base64, with ``usage`` in tokens.
- DALL-E (``dall-e-2``, ``dall-e-3``; OpenAI retired both on 2026-05-12, but
  Azure OpenAI and proxies still serve them): ``response_format: b64_json``,
  so the caller gets bytes, not a URL that expires within the hour
  (``extra={"response_format": "url"}`` asks for the URL instead); no
  ``output_format``, which they refuse (unsent here); ``n`` of 1 for
  ``dall-e-3`` ("You must provide n=1 for this model.", unsent here). They bill
  per image by quality and size; the answer says neither, so the defaults
  (``standard``, ``1024x1024``) stand for what was not asked.
- ``"xai"``: ``response_format: b64_json`` (xAI answers a URL by default); no
  ``size``, ``quality`` or style, which xAI refuses ("Argument not supported:
  size"): relaykit refuses them unsent, pointing at ``extra``'s
  ``aspect_ratio`` and ``resolution``.
- ``"together"``: ``width`` and ``height`` for ``size``, ``response_format:
  b64_json``, ``output_format``; no ``quality`` (``steps`` in ``extra`` is
  Together's knob); at most 4 images a request.

Each image's bytes are read from ``b64_json`` (a ``data:`` URI too, as xAI's
may be), their format from the bytes; a ``url`` is kept as it is, never
fetched. The id is the body's ``id`` (Together) or the ``x-request-id`` header.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from relaykit import (
    GeneratedImage,
    ImageEditRequest,
    ImageFile,
    ImageRequest,
    ImageResponse,
    InvalidRequestError,
    Usage,
    json_decode,
    json_encode,
    multipart,
)
from relaykit.http_errors import error_from_http
from relaykit.image_generation import AnyImageRequest, image_from_base64, pixels
from relaykit.json_decode import SHAPE_ERRORS

from . import image_rules, wire
from .unreadable import unreadable

if TYPE_CHECKING:
    from relaykit.http import HttpClient

ImageStyle = Literal["openai", "xai", "together"]

#: the most images one request draws (OpenAI and xAI: 10; Together: 4)
_MOST = {"openai": 10, "xai": 10, "together": 4}
#: what a URL's suffix says an image is, when the service does not
_BY_SUFFIX = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
}


def is_dalle(model: str) -> bool:
    """Whether ``model`` is one of OpenAI's DALL-E models (billed per image, with
    ``response_format``), rather than a GPT image model."""
    return model.startswith("dall-e")


def request_body(
    request: ImageRequest, style: ImageStyle, name: str, *, rules: bool = False
) -> dict[str, Any]:
    """The JSON body of ``POST /images/generations`` for ``request`` (see the module
    docstring); ``request.extra`` is merged in last.

    Raises :class:`~relaykit.InvalidRequestError` (unsent, no status) for what the
    service cannot draw: more images than it draws at once, a field it refuses;
    ``rules``: the service is OpenAI's own, whose model rules
    (:mod:`.image_rules`: sizes, qualities, prompt lengths, fields by model) are
    checked too.
    """
    model = request.model
    most = 1 if style == "openai" and model == "dall-e-3" else _MOST[style]
    if request.n > most:
        raise _refuse(
            f"{name} draws at most {most} image{'s' if most > 1 else ''} a request with"
            f" {model}, not {request.n}",
            request,
            name,
            "n",
            "ask for fewer, or make several calls",
        )
    body: dict[str, Any] = {"model": model, "prompt": request.prompt, "n": request.n}
    if style == "openai":
        if rules:
            image_rules.check(request, name)
        _openai(body, request, name)
    elif style == "xai":
        _xai(body, request, name)
    else:
        _together(body, request, name)
    if request.extra:
        body.update(request.extra)
    return body


def _openai(body: dict[str, Any], request: ImageRequest, name: str) -> None:
    for key in ("size", "quality"):
        value = getattr(request, key)
        if value is not None:
            body[key] = value
    if not is_dalle(request.model):
        if request.output_format is not None:
            body["output_format"] = request.output_format
        return
    if request.output_format is not None and request.output_format != "png":
        raise _refuse(
            f"{request.model} takes no output_format: it draws PNG",
            request,
            name,
            "output_format",
            "leave output_format out, or use gpt-image-1",
        )
    body["response_format"] = "b64_json"


def _xai(body: dict[str, Any], request: AnyImageRequest, name: str) -> None:
    for key in ("size", "quality", "output_format"):
        if getattr(request, key) is not None:
            raise _refuse(
                f"{name}'s image API takes no {key}",
                request,
                name,
                key,
                "leave it out: pass the service's own fields in extra={...} (xAI:"
                " aspect_ratio such as '16:9', resolution '1k' or '2k')",
            )
    body["response_format"] = "b64_json"


def _together(body: dict[str, Any], request: ImageRequest, name: str) -> None:
    if request.quality is not None:
        raise _refuse(
            f"{name}'s image API takes no quality",
            request,
            name,
            "quality",
            "leave it out: pass extra={'steps': N} (more steps, finer images)",
        )
    size = pixels(request.size)
    if size is not None:
        body["width"], body["height"] = size
    if request.output_format is not None:
        body["output_format"] = request.output_format
    body["response_format"] = "b64_json"


def _refuse(
    message: str, request: AnyImageRequest, name: str, param: str, hint: str
) -> InvalidRequestError:
    return InvalidRequestError(message, provider=name, model=request.model, param=param, hint=hint)


def parse(
    data: Any, headers: Mapping[str, str], request: AnyImageRequest, style: ImageStyle
) -> ImageResponse:
    """The :class:`~relaykit.ImageResponse` for a service's answer ``data``; a
    ``KeyError``, ``TypeError`` or ``ValueError`` when it is not one."""
    if not isinstance(data, dict):
        raise TypeError(f"a JSON {type(data).__name__}, not an object")
    items = data["data"]
    if not isinstance(items, list):
        raise TypeError(f"data is a {type(items).__name__}, not a list")
    images = tuple(_image(item) for item in items)
    usage: Mapping[str, Any] = data.get("usage") or {}
    tokens = Usage(_count(usage.get("input_tokens")), _count(usage.get("output_tokens")))
    # An edit's input images, counted apart (input_tokens_details: text_tokens and
    # image_tokens, OpenAI's Images API reference), cost more than its prompt.
    details = usage.get("input_tokens_details")
    image_tokens = _count(details.get("image_tokens")) if isinstance(details, dict) else 0
    size = data.get("size")
    quality = data.get("quality")
    if style == "openai" and is_dalle(request.model):
        # DALL-E bills per image by quality and size, and names neither back.
        size = size or request.size or "1024x1024"
        quality = quality or request.quality or "standard"
    created = data.get("created")
    return ImageResponse(
        images=images,
        model=str(data.get("model") or request.model),
        id=data.get("id") or headers.get("x-request-id"),
        created=created if isinstance(created, int) and not isinstance(created, bool) else None,
        size=size if isinstance(size, str) else None,
        quality=quality if isinstance(quality, str) else None,
        usage=tokens,
        image_tokens=min(image_tokens, tokens.input_tokens),
    )


def _image(item: Any) -> GeneratedImage:
    if not isinstance(item, dict):
        raise TypeError(f"an image is a {type(item).__name__}, not an object")
    revised = item.get("revised_prompt")
    revised = revised if isinstance(revised, str) and revised else None
    declared = item.get("mime_type")  # xAI's
    declared = declared if isinstance(declared, str) else None
    encoded = item.get("b64_json")
    if isinstance(encoded, str) and encoded:
        return image_from_base64(encoded, revised_prompt=revised, media_type=declared)
    url = item.get("url")
    if not isinstance(url, str) or not url:
        raise ValueError("an image with neither b64_json nor url")
    if url.startswith("data:"):
        return image_from_base64(url, revised_prompt=revised, media_type=declared)
    path = url.split("?", 1)[0].lower()
    guessed = next((t for suffix, t in _BY_SUFFIX.items() if path.endswith(suffix)), None)
    return GeneratedImage(
        url=url, media_type=declared or guessed or "image/png", revised_prompt=revised
    )


def _count(value: Any) -> int:
    """A token count; 0 for none, a ValueError for what is not a whole number."""
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ValueError(f"{value!r} is not a token count")


async def generate(
    http: HttpClient,
    url: str,
    headers: Mapping[str, str],
    name: str,
    request: ImageRequest,
    *,
    style: ImageStyle,
    rules: bool = False,
) -> ImageResponse:
    """Draw ``request``'s images at ``url`` (``{base_url}/images/generations``); a
    failure is typed as chat's is (OpenAI's moderation refusal as a content filter).
    ``rules``: OpenAI's model rules are checked before sending (see :func:`request_body`)."""
    body = json_encode.dumps(request_body(request, style, name, rules=rules))
    r = await http.post(url, content=body, headers=headers)
    return _answer(r, request, style, name, "/images/generations")


async def edit(
    http: HttpClient,
    url: str,
    headers: Mapping[str, str],
    name: str,
    request: ImageEditRequest,
    *,
    style: ImageStyle = "openai",
    rules: bool = False,
) -> ImageResponse:
    """Edit ``request``'s images at ``url`` (``{base_url}/images/edits``): OpenAI's a
    form (see :func:`edit_form`), xAI's JSON (see :func:`xai_edit_body`); answered
    and typed as :func:`generate` is. ``rules``: OpenAI's model rules are checked
    before sending (see :func:`edit_form`)."""
    if style == "xai":
        content = json_encode.dumps(xai_edit_body(request, name))
        sent = {**headers, "content-type": "application/json"}
    else:
        content, content_type = edit_form(request, name, rules=rules)
        sent = {**headers, "content-type": content_type}
    r = await http.post(url, content=content, headers=sent)
    return _answer(r, request, style, name, "/images/edits")


def _answer(
    r: Any, request: AnyImageRequest, style: ImageStyle, name: str, path: str
) -> ImageResponse:
    if r.status_code >= 400:
        raise error_from_http(
            r.status_code, r.headers, r.content, provider=name, model=request.model
        )
    try:
        data = json_decode.loads(r.content)
        if isinstance(data, dict) and data.get("error") and "data" not in data:
            # A failure reported with status 200 is an error.
            status = wire.error_status(data["error"])
            raise error_from_http(status, r.headers, r.content, provider=name, model=request.model)
        return parse(data, r.headers, request, style)
    except (KeyError, ValueError, *SHAPE_ERRORS) as e:
        what = "image edit" if path.endswith("edits") else "image generation"
        raise unreadable(what, e, provider=name, model=request.model, path=path) from None


# -- edits ------------------------------------------------------------------------

#: the most images one edit of a GPT image model takes (OpenAI's API reference: 16)
MOST_EDIT_IMAGES = 16
#: the formats a GPT image model edits (OpenAI's API reference: png, webp or jpg)
_EDIT_FORMATS = ("png", "jpeg", "webp")


def edit_form(request: ImageEditRequest, name: str, *, rules: bool = False) -> tuple[bytes, str]:
    """The ``multipart/form-data`` body of ``POST /images/edits`` for ``request``, and
    its content type, as OpenAI's SDK sends it: ``model``, ``prompt``, ``n``, then
    ``size``, ``quality`` and ``output_format`` where asked, then ``extra``'s fields
    (``background``, ``input_fidelity``, ``output_compression``; a list as repeated
    ``key[]``); the files: one image as ``image``, several as repeated ``image[]``,
    and the ``mask``.

    Refused unsent (an :class:`~relaykit.InvalidRequestError` without a status):
    ``dall-e-3``, which edits nothing; ``dall-e-2`` given more than one image, a
    non-PNG image or an output format (it takes one square PNG and answers PNG:
    ``response_format: b64_json`` is asked for bytes); a GPT image model given
    more than 16 images or a GIF; a mask that is no PNG with an alpha channel
    (OpenAI edits where the mask is transparent). ``rules``: the service is
    OpenAI's own, whose model rules (:mod:`.image_rules`: sizes, qualities,
    prompt lengths, file sizes, dall-e-2's square and transparent image) are
    checked too.
    """
    model = request.model
    if model == "dall-e-3":
        raise _refuse(
            "dall-e-3 edits no images: OpenAI's /images/edits takes dall-e-2 and the GPT"
            " image models",
            request,
            name,
            "model",
            "edit with gpt-image-2 (or gpt-image-1, gpt-image-1-mini)",
        )
    dalle = is_dalle(model)
    most = 1 if dalle else MOST_EDIT_IMAGES
    if len(request.images) > most:
        raise _refuse(
            f"{model} edits at most {most} image{'s' if most > 1 else ''} a request, not"
            f" {len(request.images)}",
            request,
            name,
            "image",
            "send fewer images" + (", or edit with gpt-image-2" if dalle else ""),
        )
    if request.n > _MOST["openai"]:
        raise _refuse(
            f"{name} makes at most {_MOST['openai']} images a request with {model},"
            f" not {request.n}",
            request,
            name,
            "n",
            "ask for fewer, or make several calls",
        )
    allowed = ("png",) if dalle else _EDIT_FORMATS
    for image in request.images:
        if image.format not in allowed:
            raise _refuse(
                f"{model} edits {' or '.join(allowed).upper()} images, not {image.format.upper()}",
                request,
                name,
                "image",
                "convert the image to PNG",
            )
    if request.mask is not None and not has_alpha(request.mask.data):
        raise _refuse(
            "OpenAI's mask is a PNG with an alpha channel (transparent where to edit);"
            " this mask has none",
            request,
            name,
            "mask",
            "save the mask as an RGBA PNG whose transparent pixels mark where to edit",
        )
    fields: dict[str, list[tuple[str, str]]] = {
        "model": [("model", model)],
        "prompt": [("prompt", request.prompt)],
        "n": [("n", str(request.n))],
    }
    for key in ("size", "quality"):
        value = getattr(request, key)
        if value is not None:
            fields[key] = [(key, value)]
    if request.output_format is not None:
        if dalle and request.output_format != "png":
            raise _refuse(
                f"{model} takes no output_format: it answers PNG",
                request,
                name,
                "output_format",
                "leave output_format out, or edit with gpt-image-2",
            )
        if not dalle:
            fields["output_format"] = [("output_format", request.output_format)]
    if rules:
        image_rules.check(request, name)
    if dalle:
        fields["response_format"] = [("response_format", "b64_json")]
    for key, value in request.extra.items():
        fields[key] = list(_form_fields(key, value))  # replaces relaykit's own
    field = "image" if len(request.images) == 1 else "image[]"
    files = [
        multipart.Part(field, image.data, image.upload_name, f"image/{image.format}")
        for image in request.images
    ]
    if request.mask is not None:
        files.append(multipart.Part("mask", request.mask.data, "mask.png", "image/png"))
    return multipart.encode([f for entries in fields.values() for f in entries], files)


#: the most images one xAI edit takes ("up to 3 reference images",
#: docs.x.ai/developers/model-capabilities/images)
MOST_XAI_EDIT_IMAGES = 3


def xai_edit_body(request: ImageEditRequest, name: str) -> dict[str, Any]:
    """The JSON body of xAI's ``POST /images/edits`` for ``request``.

    xAI takes JSON only (its image editing guide: the OpenAI SDK's multipart
    ``images.edit()`` is not supported): ``model``, ``prompt``, ``n``,
    ``response_format: b64_json`` (xAI answers a URL by default), and each image
    as a base64 ``data:`` URI, one as ``image: {"url", "type": "image_url"}``,
    several (up to 3) as ``images: [...]`` of the same, then ``extra``'s fields
    (``aspect_ratio``, ``resolution``), which replace relaykit's own.

    Refused unsent, as for a generation: ``size``, ``quality`` and
    ``output_format`` (xAI takes none), more than 10 images out or 3 in; and a
    ``mask``, which xAI's guide does not describe (relaykit's is OpenAI's, a
    transparent region to repaint).
    """
    if request.n > _MOST["xai"]:
        raise _refuse(
            f"{name} makes at most {_MOST['xai']} images a request, not {request.n}",
            request,
            name,
            "n",
            "ask for fewer, or make several calls",
        )
    if len(request.images) > MOST_XAI_EDIT_IMAGES:
        raise _refuse(
            f"{name} edits at most {MOST_XAI_EDIT_IMAGES} images a request, not"
            f" {len(request.images)}",
            request,
            name,
            "image",
            "send fewer images",
        )
    if request.mask is not None:
        raise _refuse(
            f"{name}'s image edits take no mask: the prompt says what to change",
            request,
            name,
            "mask",
            "leave the mask out and say in the prompt where to edit",
        )
    body: dict[str, Any] = {"model": request.model, "prompt": request.prompt, "n": request.n}
    _xai(body, request, name)
    refs = [{"url": _data_uri(image), "type": "image_url"} for image in request.images]
    if len(refs) == 1:
        body["image"] = refs[0]
    else:
        body["images"] = refs
    if request.extra:
        body.update(request.extra)
    return body


def _data_uri(image: ImageFile) -> str:
    encoded = base64.b64encode(image.data).decode("ascii")
    return f"data:image/{image.format};base64,{encoded}"


def _form_fields(key: str, value: Any) -> list[tuple[str, str]]:
    """``extra[key]`` as form fields (as :mod:`.transcription` sends them)."""
    from .transcription import _extra_fields

    return _extra_fields(key, value)


def has_alpha(data: bytes) -> bool:
    """Whether ``data`` is a PNG with an alpha channel: a colour type with alpha (4: grey
    and alpha, 6: RGBA) or a ``tRNS`` chunk before its image data."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or len(data) < 26:
        return False
    if data[25] in (4, 6):
        return True
    at = 8
    while at + 8 <= len(data):
        length = int.from_bytes(data[at : at + 4], "big")
        kind = data[at + 4 : at + 8]
        if kind == b"tRNS":
            return True
        if kind in (b"IDAT", b"IEND"):
            return False
        at += 12 + length
    return False
