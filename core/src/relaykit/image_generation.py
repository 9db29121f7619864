"""Image generation: :class:`ImageRequest` in, :class:`ImageResponse` of
:class:`GeneratedImage` out.

:meth:`relaykit.Client.generate_image` builds the request from the caller's
arguments (:func:`build_image_request`) and hands it to a provider's optional
``generate_image`` method; routing, limits, retries, breakers, cost, traces,
metrics and the call log are the chat pipeline's, in
:mod:`relaykit.image_generation_call`.

Public plugin API: plugins may import this module; the names in ``__all__`` are
stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

import base64
import binascii
import math
import os
import re
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs

from .errors import InvalidRequestError, did_you_mean
from .image_files import OUTPUT_FORMATS, SUFFIXES, dimensions, size_text, sniff
from .image_inputs import ImageFile, check_mask
from .response import ModelPrice, Usage
from .secrets import scrubbed_repr
from .validation import check_options

__all__ = [
    "AnyImageRequest",
    "GeneratedImage",
    "ImageEditRequest",
    "ImageRequest",
    "ImageResponse",
    "image_from_base64",
    "pixels",
]


@attrs.frozen(repr=False)
class GeneratedImage:
    """One generated image: its bytes (``data``), or the ``url`` the vendor serves it at.

    Vendors that answer bytes (OpenAI's GPT image models always do; relaykit
    asks the others for base64 where they offer it) fill ``data``; a vendor
    asked for a URL (``extra={"response_format": "url"}``) fills ``url`` and
    leaves ``data`` ``None``: relaykit does not download it (such URLs expire,
    OpenAI's after an hour: fetch it yourself, soon). ``media_type`` is what the
    bytes are (read from them, not from what the vendor claims);
    ``revised_prompt`` the prompt the model actually drew from, when it
    rewrote the caller's (DALL-E 3, xAI). The repr shows the size, never the
    bytes, and a URL without its query (which may hold a signature).
    """

    data: bytes | None = None
    url: str | None = None
    media_type: str = "image/png"
    revised_prompt: str | None = None

    @property
    def size(self) -> tuple[int, int] | None:
        """``(width, height)`` in pixels, read from the image's header (``None``
        for a URL, or bytes of no format relaykit reads)."""
        return dimensions(self.data) if self.data else None

    @property
    def suffix(self) -> str:
        """The file suffix for the image's format: ``.png``, ``.jpg``, ``.webp``."""
        return SUFFIXES.get(self.media_type, ".img")

    def base64(self) -> str:
        """The image's bytes as base64 (for a data URI, a JSON body, an HTML ``img``)."""
        return base64.b64encode(self._bytes()).decode("ascii")

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the image to ``path`` (given no suffix, the image's own is added) and
        return the path written.

        A blocking write, for scripts and :class:`relaykit.SyncClient`; in async
        code write ``image.data`` with ``await anyio.Path(path).write_bytes(...)``
        (or call this in a worker thread: ``anyio.to_thread.run_sync``).
        """
        target = Path(path)
        if not target.suffix:
            target = target.with_suffix(self.suffix)
        target.write_bytes(self._bytes())
        return target

    def _bytes(self) -> bytes:
        if self.data is None:
            raise ValueError(
                "this image came as a URL, not bytes: fetch image.url (soon: such URLs"
                " expire), or ask for base64 (leave response_format out of extra)"
            )
        return self.data

    def __repr__(self) -> str:
        fields = [self.media_type]
        if self.data is not None:
            fields.append(f"{len(self.data):,} bytes")
            size = size_text(self.size)
            if size is not None:
                fields.append(size)
        if self.url is not None:
            fields.append(f"url={_without_query(self.url)!r}")
        if self.revised_prompt is not None:
            fields.append(f"revised_prompt={self.revised_prompt!r}")
        return f"GeneratedImage({', '.join(fields)})"


def _without_query(url: str) -> str:
    """``url`` without its query and fragment, which may carry a signature (Azure
    blob URLs do: ``?sig=...``)."""
    cut = min((i for i in (url.find("?"), url.find("#")) if i >= 0), default=-1)
    return url if cut < 0 else url[:cut] + "?…"


@attrs.frozen(kw_only=True)
class ImageRequest:
    """One image generation, as the core hands it to a provider plugin's ``generate_image``.

    ``model`` is the provider's own model name (without the ``provider/``
    prefix); ``prompt`` what to draw (not blank); ``n`` how many images, at
    least one (each service's most is the plugin's to check). ``size`` is
    ``"WIDTHxHEIGHT"`` (``"1024x1024"``) or ``"auto"``; ``quality`` the
    vendor's own word for it (``low``, ``medium``, ``high``, ``auto`` for
    OpenAI's GPT image models, ``standard`` or ``hd`` for DALL-E 3);
    ``output_format`` one of ``png``, ``jpeg``, ``webp``. Unset, each is the
    vendor's default. ``extra`` is merged into the request body (OpenAI's
    ``background``, ``moderation``, ``style``, ``output_compression``...).
    """

    model: str
    prompt: str
    n: int = 1
    size: str | None = None
    quality: str | None = None
    output_format: str | None = None
    timeout: float | None = None
    metadata: dict[str, str] = attrs.field(factory=dict, repr=scrubbed_repr)
    extra: dict[str, Any] = attrs.field(factory=dict, repr=scrubbed_repr)


@attrs.frozen(kw_only=True)
class ImageEditRequest:
    """One image edit, as the core hands it to a provider plugin's ``edit_image``.

    ``images`` are the images to edit (at least one, each an
    :class:`~relaykit.ImageFile` whose format is known: ``image.format``,
    ``image.upload_name``), ``prompt`` what to make of them; ``mask``, when
    given, marks where to edit the first image, at its size (OpenAI's: a PNG
    whose transparent pixels mark it). ``n``, ``size``, ``quality``,
    ``output_format``, ``timeout``, ``metadata`` and ``extra`` are as for an
    :class:`ImageRequest` (``extra``: OpenAI's ``background``,
    ``input_fidelity``; Bedrock's ``inPaintingParams``...).

    A type apart from :class:`ImageRequest`, not fields added to it: a plugin's
    ``generate_image`` that knew nothing of input images would draw from the
    prompt alone, billed, and answer as if it had edited; with a type and a
    method of their own, a provider without ``edit_image`` is refused before
    anything is sent. The fields the two share are named alike, so the core's
    costs, holds, traces and records read either.
    """

    model: str
    prompt: str
    images: tuple[ImageFile, ...]
    mask: ImageFile | None = None
    n: int = 1
    size: str | None = None
    quality: str | None = None
    output_format: str | None = None
    timeout: float | None = None
    metadata: dict[str, str] = attrs.field(factory=dict, repr=scrubbed_repr)
    extra: dict[str, Any] = attrs.field(factory=dict, repr=scrubbed_repr)


#: either request an image model answers with an :class:`ImageResponse`
AnyImageRequest = ImageRequest | ImageEditRequest


@attrs.frozen(kw_only=True)
class ImageResponse:
    """The result of one image generation: ``images``, in the order the vendor sent them.

    ``size`` and ``quality`` are what the vendor says it made (OpenAI's GPT
    image models echo them), else what was asked, else the model's default
    when the plugin knows it: a price per image follows them. ``usage`` holds
    the tokens of vendors that bill them (OpenAI's GPT image models: the
    prompt's input tokens, the images' output tokens); vendors that bill per
    image count none. ``image_tokens`` are the input tokens of the images an
    edit sent (part of ``usage.input_tokens``, as the vendor counted them:
    OpenAI's ``input_tokens_details.image_tokens``), priced at
    :attr:`~relaykit.ModelPrice.image_input`. ``cost`` is in USD when the
    model's price is known: per image, or per token. ``created`` is the
    vendor's timestamp (Unix seconds).
    """

    images: tuple[GeneratedImage, ...]
    model: str = ""
    provider: str = ""
    id: str | None = None
    created: int | None = None
    size: str | None = None
    quality: str | None = None
    usage: Usage = Usage()
    image_tokens: int = 0
    cost: Decimal | None = None
    latency: float | None = None
    attempts: int = 1


PARAMS = ("n", "size", "quality", "output_format", "timeout", "metadata", "extra")
_SIZE = re.compile(r"([1-9][0-9]{0,4})[xX]([1-9][0-9]{0,4})")


def build_image_request(model: str, prompt: Any, params: Mapping[str, Any]) -> ImageRequest:
    """Validate the caller's arguments into an :class:`ImageRequest` for ``model``."""
    return ImageRequest(model=model, prompt=prompt, **_checked(prompt, params, "generate_image"))


def build_image_edit_request(
    model: str,
    prompt: Any,
    images: tuple[ImageFile, ...],
    mask: ImageFile | None,
    params: Mapping[str, Any],
) -> ImageEditRequest:
    """Validate the caller's arguments into an :class:`ImageEditRequest` for ``model``
    (``images`` and ``mask`` read already: :func:`relaykit.image_inputs.read_images`)."""
    checked = _checked(prompt, params, "edit_image")
    if mask is not None:
        check_mask(mask, images)
    return ImageEditRequest(model=model, prompt=prompt, images=images, mask=mask, **checked)


def _checked(prompt: Any, params: Mapping[str, Any], operation: str) -> dict[str, Any]:
    """The parameters of ``operation`` (``generate_image``, ``edit_image``), checked."""
    if not isinstance(prompt, str) or not prompt.strip():
        example = (
            "edit_image(model, 'add a hat', image='photo.png')"
            if operation == "edit_image"
            else "generate_image(model, 'a red fox in snow')"
        )
        raise InvalidRequestError(
            f"prompt must be a non-blank string, not {prompt!r}"[:120],
            param="prompt",
            hint=f"say what to draw: {example}",
        )
    unknown = sorted(set(params) - set(PARAMS))
    if unknown:
        name = unknown[0]
        fix = did_you_mean(
            name,
            PARAMS,
            f"{operation} takes {', '.join(PARAMS)}; pass others in extra={{...}}"
            " (OpenAI's background, moderation, style)",
        )
        raise InvalidRequestError(f"unknown parameter {name!r} for {operation}: {fix}", param=name)
    p = {key: value for key, value in params.items() if value is not None}
    n = p.get("n", 1)
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise InvalidRequestError(f"`n` must be a positive integer, not {n!r}"[:120], param="n")
    if "size" in p:
        p["size"] = _size(p["size"])
    quality = p.get("quality")
    if quality is not None and (not isinstance(quality, str) or not quality.strip()):
        raise InvalidRequestError(
            f"`quality` must be the vendor's word for it (low, medium, high, auto; standard"
            f" or hd for DALL-E 3), not {quality!r}"[:160],
            param="quality",
        )
    if "output_format" in p:
        p["output_format"] = _output_format(p["output_format"])
    check_options(p)
    return p


def _size(size: Any) -> str:
    """``size`` as ``"WxH"`` (lower-case ``x``) or ``"auto"``; a typed error otherwise."""
    if isinstance(size, str):
        if size == "auto":
            return size
        found = _SIZE.fullmatch(size.strip())
        if found is not None:
            return f"{found[1]}x{found[2]}"
    raise InvalidRequestError(
        f"`size` must be 'WIDTHxHEIGHT' (such as '1024x1024') or 'auto', not {size!r}"[:120],
        param="size",
    )


def _output_format(value: Any) -> str:
    name = value.lower() if isinstance(value, str) else value
    if name == "jpg":
        return "jpeg"  # what the vendors call it
    if not isinstance(name, str) or name not in OUTPUT_FORMATS:  # a list is unhashable
        raise InvalidRequestError(
            f"`output_format` must be one of {', '.join(OUTPUT_FORMATS)}, not {value!r}"[:120],
            param="output_format",
        )
    return str(name)


def pixels(size: str | None) -> tuple[int, int] | None:
    """``"1024x768"`` as ``(1024, 768)``; ``None`` for ``"auto"`` or none."""
    found = _SIZE.fullmatch(size) if size else None
    return (int(found[1]), int(found[2])) if found else None


# -- for provider plugins -------------------------------------------------------


def image_from_base64(
    text: str, *, revised_prompt: str | None = None, media_type: str | None = None
) -> GeneratedImage:
    """A :class:`GeneratedImage` from a vendor's base64 (a ``data:`` URI is read too).

    Its media type is read from the bytes (the vendor's ``media_type``, or the
    URI's, only when the bytes say nothing). Raises ``ValueError`` for text
    that is not base64.
    """
    if text.startswith("data:"):
        header, _, text = text.partition(",")
        media_type = media_type or header[5:].split(";", 1)[0] or None
    try:
        data = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise ValueError("an image's base64 is not base64") from None
    return GeneratedImage(
        data=data,
        media_type=sniff(data) or media_type or "application/octet-stream",
        revised_prompt=revised_prompt or None,
    )


# -- cost and holds ------------------------------------------------------------


def image_cost(price: ModelPrice | None, response: ImageResponse) -> Decimal | None:
    """What ``response`` cost at ``price``: per image when the price has one for the
    response's quality and size (:meth:`~relaykit.ModelPrice.image_price`); else
    per token when the price has token prices and the vendor counted tokens (the
    input images' ``image_tokens`` at the ``image_input`` price); else ``None``
    (unknown, rather than a wrong zero)."""
    if price is None:
        return None
    each = price.image_price(response.quality, response.size)
    if each is not None:
        return each * len(response.images)
    if response.usage.total_tokens and (price.input or price.output):
        return price.cost(response.usage, image_tokens=response.image_tokens)
    return None


def image_hold(price: ModelPrice | None, request: AnyImageRequest) -> Decimal:
    """What a budget holds for ``request``'s images at ``price`` before sending: ``n``
    images at the price per image for the quality and size asked (nothing when
    the model is billed by the token: :func:`output_tokens_estimate` holds those)."""
    each = price.image_price(request.quality, request.size) if price is not None else None
    return each * request.n if each is not None else Decimal(0)


#: the output tokens OpenAI's GPT image models bill a 1024x1024 image, by quality
#: (OpenAI's image generation guide, "cost and latency": low 272, medium 1056, high
#: 4160; other sizes scale with the area, 1024x1536 at high is 6240)
_TOKENS_1024 = {"low": 272, "medium": 1056, "high": 4160}
_AREA_1024 = 1024 * 1024


def output_tokens_estimate(request: AnyImageRequest) -> int:
    """The output tokens a rate limit (and a budget, at the output price) holds for
    ``request`` before its answer says: each image's at the quality asked, the
    most (high) when the quality is ``auto`` or unknown, scaled by the size's area
    (1024x1024 when ``auto`` or unset). Settled with the tokens billed."""
    per_image = _TOKENS_1024.get(request.quality or "", _TOKENS_1024["high"])
    size = pixels(request.size)
    area = size[0] * size[1] if size is not None else _AREA_1024
    return request.n * math.ceil(per_image * area / _AREA_1024)
