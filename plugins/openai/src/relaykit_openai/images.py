"""Image generation over ``POST /images/generations``: OpenAI, and the compatible
services that serve it (xAI, Together).

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

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from relaykit import (
    GeneratedImage,
    ImageRequest,
    ImageResponse,
    InvalidRequestError,
    RelayError,
    Usage,
    json_decode,
    json_encode,
)
from relaykit.http_errors import error_from_http
from relaykit.image_generation import image_from_base64, pixels

from . import wire

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


def request_body(request: ImageRequest, style: ImageStyle, name: str) -> dict[str, Any]:
    """The JSON body of ``POST /images/generations`` for ``request`` (see the module
    docstring); ``request.extra`` is merged in last.

    Raises :class:`~relaykit.InvalidRequestError` (unsent, no status) for what the
    service cannot draw: more images than it draws at once, a field it refuses.
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


def _xai(body: dict[str, Any], request: ImageRequest, name: str) -> None:
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
    message: str, request: ImageRequest, name: str, param: str, hint: str
) -> InvalidRequestError:
    return InvalidRequestError(message, provider=name, model=request.model, param=param, hint=hint)


def parse(
    data: Any, headers: Mapping[str, str], request: ImageRequest, style: ImageStyle
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
        usage=Usage(_count(usage.get("input_tokens")), _count(usage.get("output_tokens"))),
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
) -> ImageResponse:
    """Draw ``request``'s images at ``url`` (``{base_url}/images/generations``); a
    failure is typed as chat's is (OpenAI's moderation refusal as a content filter)."""
    body = json_encode.dumps(request_body(request, style, name))
    r = await http.post(url, content=body, headers=headers)
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
    except (KeyError, TypeError, ValueError) as e:
        raise RelayError(
            f"the image generation response could not be read ({type(e).__name__}: {e})"[:300],
            provider=name,
            model=request.model,
            hint="the service does not answer as OpenAI's /images/generations does: check"
            " that its base_url is the API's (ending in /v1), or report it",
        ) from None
