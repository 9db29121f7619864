"""What OpenAI's image models refuse, checked before sending (``/images/generations``
and ``/images/edits``), for OpenAI's own API where the model's name is known.

Each rule is OpenAI's API reference ("Create image", "Create image edit") or a
refusal the API answers; a request that breaks one is refused unsent, with no
status (so a route falls back), naming the parameter, what the model takes and
the fix. Azure's deployments and the compatible presets are exempt: a
deployment's name does not say its model, and other services' models are
their own. A model not in :data:`MODELS` (a newer one) is sent as asked.

By model:

- ``dall-e-2``: sizes ``256x256``, ``512x512``, ``1024x1024``; quality
  ``standard`` ("standard is the only option for dall-e-2"); a prompt of at
  most 1,000 characters ("The maximum length is 1000 characters for
  dall-e-2"); no ``style``. An edit's image is one square PNG under 4 MB
  ("Must be a valid PNG file, less than 4MB, and square"), with transparency
  when no mask is given ("If mask is not provided, image must have
  transparency, which will be used as the mask"; OpenAI: "Invalid input image
  - format must be in ['RGBA', 'LA', 'L'], got RGB."), its mask under 4 MB.
- ``dall-e-3``: sizes ``1024x1024``, ``1792x1024``, ``1024x1792``; quality
  ``standard`` or ``hd``; a prompt of at most 4,000 characters; ``style``
  ``vivid`` or ``natural`` ("This parameter is only supported for dall-e-3").
- the GPT image models (``gpt-image-1``, ``gpt-image-1-mini``,
  ``gpt-image-1.5``): sizes ``1024x1024``, ``1536x1024``, ``1024x1536``,
  ``auto``; quality ``low``, ``medium``, ``high``, ``auto``; a prompt of at most
  32,000 characters; ``background`` ``transparent``, ``opaque`` or ``auto``, a
  transparent one only as ``png`` or ``webp`` ("If transparent, the output
  format needs to support transparency"); ``output_compression`` 0 to 100, for
  ``jpeg`` and ``webp`` only; ``moderation`` ``low`` or ``auto``; no ``style``
  nor ``response_format`` ("Unknown parameter"). An edit's images are under
  50 MB each.
- ``gpt-image-2``: as the GPT image models, but any ``WxH`` up to 3,840 pixels
  a side and 8,294,400 in all, and no transparent background.

DALL-E refuses the GPT image models' own fields (``background``,
``moderation``, ``output_compression``, and for edits ``input_fidelity``) as
unknown parameters. A size limit in MB is read as MiB, the larger reading, so
nothing OpenAI takes is refused. The cost is a dict lookup per call.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from relaykit import ImageEditRequest, InvalidRequestError
from relaykit.image_generation import AnyImageRequest, pixels

_MIB = 1024 * 1024


class ImageModel(NamedTuple):
    """What one of OpenAI's image models takes (see the module docstring)."""

    #: the sizes it draws; ``None``: any ``WxH`` within :data:`MAX_SIDE` and
    #: :data:`MAX_PIXELS` (gpt-image-2)
    sizes: tuple[str, ...] | None
    qualities: tuple[str, ...]
    #: the longest prompt, in characters (``None``: not documented)
    max_prompt: int | None
    #: a GPT image model: ``background``, ``moderation``, ``output_format`` and
    #: ``output_compression``; never ``style`` or ``response_format``
    gpt: bool
    styles: tuple[str, ...] = ()
    transparent: bool = True


GPT_SIZES = ("1024x1024", "1536x1024", "1024x1536", "auto")
GPT_QUALITIES = ("low", "medium", "high", "auto")
BACKGROUNDS = ("transparent", "opaque", "auto")
MODERATIONS = ("low", "auto")
INPUT_FIDELITIES = ("high", "low")
#: gpt-image-2's bounds on a size
MAX_SIDE = 3840
MAX_PIXELS = 8_294_400
_GPT = ImageModel(GPT_SIZES, GPT_QUALITIES, 32_000, gpt=True)

#: OpenAI's image models by name (a dated snapshot is looked up without its date)
MODELS: Mapping[str, ImageModel] = {
    "dall-e-2": ImageModel(("256x256", "512x512", "1024x1024"), ("standard",), 1000, gpt=False),
    "dall-e-3": ImageModel(
        ("1024x1024", "1792x1024", "1024x1792"),
        ("standard", "hd"),
        4000,
        gpt=False,
        styles=("vivid", "natural"),
    ),
    "gpt-image-1": _GPT,
    "gpt-image-1-mini": _GPT,
    "gpt-image-1.5": _GPT,
    "gpt-image-2": ImageModel(None, GPT_QUALITIES, None, gpt=True, transparent=False),
}
_DATED = re.compile(r"-\d{4}-\d{2}-\d{2}$")
#: the GPT image models' own fields, which DALL-E refuses as unknown parameters
_GPT_ONLY = ("background", "moderation", "output_compression")
#: an edit's largest image: dall-e-2's 4 MB, the GPT image models' 50 MB
DALLE_EDIT_BYTES = 4 * _MIB
GPT_EDIT_BYTES = 50 * _MIB


def model_rules(model: str) -> ImageModel | None:
    """What ``model`` takes, or ``None`` for a model not known here."""
    found = MODELS.get(model)
    if found is None and model[-1:].isdigit():
        found = MODELS.get(_DATED.sub("", model))
    return found


def check(request: AnyImageRequest, name: str) -> None:
    """Refuse unsent what OpenAI's ``request.model`` refuses (a generation or an
    edit); nothing for a model not known here."""
    rules = model_rules(request.model)
    if rules is None:
        return
    edit = isinstance(request, ImageEditRequest)
    model = request.model
    _prompt(request, rules, name)
    if request.size is not None:
        _size(request, rules, name)
    if request.quality is not None and request.quality not in rules.qualities:
        raise _refuse(
            f"{model} takes quality {_listed(rules.qualities)}, not {request.quality!r}",
            request,
            name,
            "quality",
            "pass one of those, or leave quality out",
        )
    extra = request.extra
    if extra:
        _extra(request, rules, extra, name, edit=edit)
    if edit:
        _edit(request, model, name)  # type: ignore[arg-type]


def _prompt(request: AnyImageRequest, rules: ImageModel, name: str) -> None:
    most = rules.max_prompt
    if most is not None and len(request.prompt) > most:
        hint = "shorten the prompt"
        if not rules.gpt:
            hint += ", or use gpt-image-1 (32,000 characters)"
        raise _refuse(
            f"{request.model} takes a prompt of at most {most:,} characters, not"
            f" {len(request.prompt):,}",
            request,
            name,
            "prompt",
            hint,
        )


def _size(request: AnyImageRequest, rules: ImageModel, name: str) -> None:
    size = request.size
    if rules.sizes is not None:
        if size not in rules.sizes:
            raise _refuse(
                f"{request.model} draws {_listed(rules.sizes)}, not {size!r}",
                request,
                name,
                "size",
                "pass one of those sizes, or leave size out",
            )
        return
    wide, high = pixels(size) or (0, 0)
    if size != "auto" and (max(wide, high) > MAX_SIDE or wide * high > MAX_PIXELS):
        raise _refuse(
            f"{request.model} draws up to {MAX_SIDE} pixels a side and {MAX_PIXELS:,} in"
            f" all, not {size}",
            request,
            name,
            "size",
            "ask for a smaller size, or 'auto'",
        )


def _extra(
    request: AnyImageRequest,
    rules: ImageModel,
    extra: Mapping[str, Any],
    name: str,
    *,
    edit: bool,
) -> None:
    model = request.model
    style = extra.get("style")
    if style is not None:
        if edit or not rules.styles:
            raise _refuse(
                f"{model} takes no style: style is dall-e-3's, for generations",
                request,
                name,
                "style",
                "leave style out and say the style in the prompt",
            )
        if style not in rules.styles:
            raise _refuse(
                f"dall-e-3 takes style {_listed(rules.styles)}, not {style!r}",
                request,
                name,
                "style",
                "pass one of those",
            )
    if not rules.gpt:
        for key in (*_GPT_ONLY, "input_fidelity") if edit else _GPT_ONLY:
            if key in extra:
                raise _refuse(
                    f"{model} takes no {key}: it is the GPT image models'",
                    request,
                    name,
                    key,
                    f"leave {key} out, or use gpt-image-1",
                )
        return
    if "response_format" in extra:
        raise _refuse(
            f"{model} takes no response_format: the GPT image models always answer base64",
            request,
            name,
            "response_format",
            "leave response_format out (relaykit hands back the image's bytes)",
        )
    for key, allowed in (
        ("background", BACKGROUNDS),
        ("moderation", MODERATIONS),
        ("input_fidelity", INPUT_FIDELITIES if edit else None),
    ):
        value = extra.get(key)
        if value is not None and allowed is not None and value not in allowed:
            raise _refuse(
                f"{model} takes {key} {_listed(allowed)}, not {value!r}",
                request,
                name,
                key,
                "pass one of those",
            )
    output_format = extra.get("output_format", request.output_format) or "png"
    if extra.get("background") == "transparent":
        if not rules.transparent:
            raise _refuse(
                f"{model} draws no transparent background",
                request,
                name,
                "background",
                "leave background out, or use gpt-image-1.5 (or gpt-image-1)",
            )
        if output_format not in ("png", "webp"):
            raise _refuse(
                f"a transparent background needs output_format png or webp, not {output_format!r}",
                request,
                name,
                "background",
                "pass output_format='png' (or 'webp'), or leave background out",
            )
    compression = extra.get("output_compression")
    if compression is not None:
        if (
            not isinstance(compression, int)
            or isinstance(compression, bool)
            or not 0 <= compression <= 100
        ):
            raise _refuse(
                f"output_compression is a whole number from 0 to 100, not {compression!r}",
                request,
                name,
                "output_compression",
                "pass a percentage such as 80",
            )
        if output_format == "png" and compression < 100:
            raise _refuse(
                "output_compression is for jpeg and webp: png is not compressed so",
                request,
                name,
                "output_compression",
                "pass output_format='jpeg' or 'webp', or leave output_compression out",
            )


def _edit(request: ImageEditRequest, model: str, name: str) -> None:
    dalle = model.startswith("dall-e")
    most = DALLE_EDIT_BYTES if dalle else GPT_EDIT_BYTES
    for i, image in enumerate(request.images):
        if len(image.data) > most:
            raise _refuse(
                f"{model} edits images under {most // _MIB} MB; image {i} is"
                f" {len(image.data) / _MIB:.1f} MB",
                request,
                name,
                "image",
                "make the image smaller (fewer pixels, or a compressed format"
                + (")" if dalle else ", jpeg or webp)"),
            )
    if not dalle:
        return
    image = request.images[0]
    size = image.size
    if size is not None and size[0] != size[1]:
        raise _refuse(
            f"dall-e-2 edits square images; this one is {size[0]}x{size[1]}",
            request,
            name,
            "image",
            "crop or pad the image to a square, or edit with gpt-image-1",
        )
    if request.mask is None:
        if image.data[25:26] not in (b"\x00", b"\x04", b"\x06"):
            raise _refuse(
                "dall-e-2 without a mask edits where the image is transparent, and this"
                " image has no alpha channel (OpenAI takes RGBA, LA or L, not RGB)",
                request,
                name,
                "image",
                "pass mask= (an RGBA PNG, transparent where to edit), or save the image"
                " as RGBA with the part to edit transparent",
            )
    elif len(request.mask.data) > DALLE_EDIT_BYTES:
        raise _refuse(
            f"dall-e-2's mask is a PNG under 4 MB; this one is"
            f" {len(request.mask.data) / _MIB:.1f} MB",
            request,
            name,
            "mask",
            "save the mask smaller (it may be a 1-bit-alpha PNG)",
        )


def _listed(values: tuple[str, ...]) -> str:
    return ", ".join(values[:-1]) + f" or {values[-1]}" if len(values) > 1 else values[0]


def _refuse(
    message: str, request: AnyImageRequest, name: str, param: str, hint: str
) -> InvalidRequestError:
    return InvalidRequestError(message, provider=name, model=request.model, param=param, hint=hint)
