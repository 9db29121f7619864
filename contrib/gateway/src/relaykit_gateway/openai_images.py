"""OpenAI's image generation (``POST /v1/images/generations``), served.

A JSON body becomes the arguments of one :meth:`relaykit.Client.generate_image`
(:func:`parse_image_generation`), and its answer OpenAI's shape
(:func:`images_body`): ``{"created", "data": [{"b64_json" or "url",
"revised_prompt"}]}``, with ``size``, ``quality`` and ``output_format`` where
known and, for a model billed by the token, ``usage`` as OpenAI's GPT image
models report it.

``prompt``, ``n``, ``size``, ``quality`` and ``output_format`` are relaykit's
parameters; ``user`` goes in the call's metadata; other fields (``background``,
``moderation``, ``style``, ``output_compression``) reach the provider in
``extra``. Images come back as ``b64_json``, relaykit's own way (providers are
asked for bytes). A caller asking ``response_format: "url"`` has it passed to
the provider, as OpenAI's SDK would pass it to OpenAI: DALL-E, xAI and
Together answer URLs, which are relayed as they came; GPT image models refuse
the field, as OpenAI does. ``stream`` (partial images) is refused with a 400
that says so: relaykit answers with whole images.

Image edits (``POST /v1/images/edits``): a ``multipart/form-data`` form becomes
one :meth:`relaykit.Client.edit_image` (:func:`parse_image_edit`), answered in
the same shape.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from relaykit import ImageFile, ImageResponse, InvalidRequestError, multipart

from .dialect import model_id, require_object
from .whole_numbers import whole_number

#: fields the gateway itself reads
_OWN = frozenset(
    ("model", "prompt", "n", "size", "quality", "output_format", "user", "stream", "partial_images")
)
_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/webp": "webp"}


@attrs.frozen
class ImageCall:
    """One call to make: ``client.generate_image(model, prompt, **params)``."""

    model: str
    prompt: str
    params: Mapping[str, Any] = attrs.field(factory=dict)


def parse_image_generation(body: Any, aliases: Sequence[str]) -> ImageCall:
    """The call an image generation body asks for; :class:`InvalidRequestError` names
    what is wrong. A bare model name goes to ``openai``, as on the chat route."""
    data = require_object(body)
    model = model_id(data.get("model"), aliases, "openai")
    prompt = data.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        raise InvalidRequestError("`prompt` must be a non-empty string", param="prompt")
    if data.get("stream") or data.get("partial_images"):
        raise InvalidRequestError(
            "`stream` is not served: the gateway answers with whole images, not partial ones",
            param="stream",
        )
    params: dict[str, Any] = {
        key: data[key]
        for key in ("n", "size", "quality", "output_format")
        if data.get(key) is not None
    }
    if isinstance(data.get("user"), str) and data["user"]:
        params["metadata"] = {"user": data["user"]}
    extra = {key: value for key, value in data.items() if key not in _OWN}
    if extra:
        params["extra"] = extra
    return ImageCall(model=model, prompt=prompt, params=params)


def images_body(response: ImageResponse) -> dict[str, Any]:
    """OpenAI's answer for ``response``: each image as ``b64_json`` (or the ``url`` a
    provider answered), with its revised prompt; ``usage`` when tokens were billed."""
    data = []
    for image in response.images:
        item: dict[str, Any] = (
            {"url": image.url} if image.data is None else {"b64_json": image.base64()}
        )
        if image.revised_prompt:
            item["revised_prompt"] = image.revised_prompt
        data.append(item)
    body: dict[str, Any] = {
        "created": response.created if response.created is not None else int(time.time()),
        "data": data,
    }
    if response.size is not None:
        body["size"] = response.size
    if response.quality is not None:
        body["quality"] = response.quality
    formats = {_FORMATS.get(i.media_type) for i in response.images if i.data is not None}
    if len(formats) == 1 and None not in formats:
        body["output_format"] = formats.pop()
    usage = response.usage
    if usage.total_tokens:
        body["usage"] = {
            "input_tokens": usage.input_tokens,
            "input_tokens_details": {
                "text_tokens": usage.input_tokens - response.image_tokens,
                "image_tokens": response.image_tokens,
            },
            "output_tokens": usage.output_tokens,
            "total_tokens": usage.total_tokens,
        }
    return body


# -- edits ------------------------------------------------------------------------

#: form fields the gateway itself reads on /v1/images/edits
_OWN_EDIT = _OWN | {"image", "mask", "response_format"}


@attrs.frozen
class ImageEditCall:
    """One call to make: ``client.edit_image(model, prompt, image=images, mask=mask, **params)``."""

    model: str
    prompt: str
    images: tuple[ImageFile, ...]
    mask: ImageFile | None = None
    params: Mapping[str, Any] = attrs.field(factory=dict)


def parse_image_edit(body: bytes, content_type: str, aliases: Sequence[str]) -> ImageEditCall:
    """The call an image edit form (``POST /v1/images/edits``, as OpenAI's SDK sends
    it) asks for; :class:`InvalidRequestError` names what is wrong.

    The files are ``image`` (one) or ``image[]`` (several) and ``mask``; ``model``,
    ``prompt``, ``n``, ``size``, ``quality`` and ``output_format`` are relaykit's
    parameters, ``user`` goes in the metadata, other text fields (``background``,
    ``input_fidelity``, ``response_format``) reach the provider in ``extra``.
    """
    try:
        parts = multipart.parse(body, content_type)
    except ValueError as e:
        raise InvalidRequestError(
            f"the request body must be a multipart/form-data form: {e}",
            param="body",
            hint="send the images as `image` (or `image[]`) fields of a form, as OpenAI's SDKs do",
        ) from None
    images = tuple(
        ImageFile(p.data, filename=p.filename)
        for p in parts
        if p.name in ("image", "image[]") and p.filename is not None
    )
    if not images:
        raise InvalidRequestError("`image` is required: the image to edit", param="image")
    masks = [p for p in parts if p.name == "mask" and p.filename is not None]
    fields = {p.name.removesuffix("[]"): p.text for p in parts if p.filename is None}
    model = model_id(fields.get("model"), aliases, "openai")
    prompt = fields.get("prompt")
    if not prompt:
        raise InvalidRequestError("`prompt` must be a non-empty string", param="prompt")
    if fields.get("stream", "false").lower() == "true" or fields.get("partial_images"):
        raise InvalidRequestError(
            "`stream` is not served: the gateway answers with whole images, not partial ones",
            param="stream",
        )
    params: dict[str, Any] = {
        key: fields[key] for key in ("size", "quality", "output_format") if fields.get(key)
    }
    if fields.get("n"):
        n = whole_number(fields["n"])
        if n is None:
            shown = fields["n"] if len(fields["n"]) <= 40 else fields["n"][:40] + "..."
            raise InvalidRequestError(
                f"`n` must be an integer in digits 0-9, not {shown!r}", param="n"
            )
        params["n"] = n
    if fields.get("user"):
        params["metadata"] = {"user": fields["user"]}
    extra: dict[str, Any] = {
        key: value
        for key, value in fields.items()
        if key not in _OWN_EDIT and key != "partial_images"
    }
    if fields.get("response_format"):
        extra["response_format"] = fields["response_format"]
    if extra:
        params["extra"] = extra
    mask = ImageFile(masks[0].data, filename=masks[0].filename) if masks else None
    return ImageEditCall(model=model, prompt=prompt, images=images, mask=mask, params=params)
