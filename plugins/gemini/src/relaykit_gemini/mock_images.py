"""What :class:`~relaykit_gemini.testing.GeminiMock` draws: images on ``:generateContent``.

Every image is :func:`relaykit.testing.mock_image` of the prompt (which
:func:`relaykit.testing.mock_image_prompt` reads back). The Gemini image
models draw one image a request, so the ``k``-th image the mock draws of a
prompt is ``mock_image(prompt, k)`` (each of ``n`` requests gets its own image).

Checked as Google checks them, with Google's messages where they are published
("Model does not support the requested response modalities: image", a field
``imageConfig`` lacks) and the mock's own words elsewhere (Google publishes none
for an aspect ratio or a resolution out of range): the shapes and resolutions
of :data:`GEMINI_IMAGE`.

Scripted replies (:class:`relaykit.testing.Reply`), one per HTTP request: a
failure (an error status or a connection fault) or a ``delay`` as for chat;
``finish="content_filter"`` withholds the image (the finish reason
``IMAGE_SAFETY``), ``refusal`` makes a Gemini image model answer that text
instead of an image, ``reasoning`` makes it think first (a thought text and a
thought sketch, as Gemini 3 image models do),
``input_tokens``/``output_tokens`` replace its token counts.

An edit (:func:`inputs_problem`) is a ``:generateContent`` asking for an image
whose user turn holds images as ``inlineData`` parts: each must be base64 of
bytes of the ``mimeType`` it names (PNG, JPEG, WebP, HEIC or HEIF), at most
:data:`MOST_INPUT_IMAGES` of them; each adds :data:`INPUT_IMAGE_TOKENS` to the
prompt's tokens (``promptTokensDetails`` counts them as ``IMAGE``).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any, NamedTuple

from relaykit.image_files import sniff
from relaykit.testing.image_samples import mock_image
from relaykit.testing.script import Reply, count_tokens


class ImageOutput(NamedTuple):
    """A Gemini image model, as the mock checks and bills it."""

    shapes: tuple[str, ...]
    #: resolution -> the image output tokens an image of it costs
    tokens: Mapping[str, int]


_TEN = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
#: the Gemini image models the mock knows: shapes (the API's aspect ratios) and
#: image tokens per resolution (Google's pricing page: 1290 for 2.5 Flash Image;
#: 1120 and 2000 for 3 Pro Image; 747, 1120, 1680, 2520 for 3.1 Flash Image)
GEMINI_IMAGE: Mapping[str, ImageOutput] = {
    "gemini-2.5-flash-image": ImageOutput(_TEN, {"1K": 1290}),
    "gemini-3-pro-image": ImageOutput(_TEN, {"1K": 1120, "2K": 1120, "4K": 2000}),
    "gemini-3.1-flash-image": ImageOutput(
        (*_TEN, "1:4", "4:1", "1:8", "8:1"), {"512": 747, "1K": 1120, "2K": 1680, "4K": 2520}
    ),
}
_MODALITIES = ("TEXT", "IMAGE", "AUDIO")
_IMAGE_CONFIG = ("aspectRatio", "imageSize")


def image_problem(config: Mapping[str, Any], model: str) -> str | None:
    """The message for what is wrong with a ``generationConfig`` asking ``model`` for
    images, or ``None``: the modalities, and ``imageConfig`` for a model the mock
    knows (:data:`GEMINI_IMAGE`, by name prefix)."""
    modalities = config.get("responseModalities") or []
    for modality in modalities:
        if str(modality).upper() not in _MODALITIES:
            return (
                "Invalid value at 'generation_config.response_modalities' "
                f'(type.googleapis.com/google.ai.generativelanguage.v1beta.Modality), "{modality}"'
            )
    spec = image_output(model)
    if spec is None:
        listed = ",".join(sorted(str(m).lower() for m in modalities))
        return f"Model does not support the requested response modalities: {listed}"
    settings = config.get("imageConfig") or {}
    for key in settings:
        if key not in _IMAGE_CONFIG:
            return (
                f'Invalid JSON payload received. Unknown name "{key}" at '
                "'generation_config.image_config': Cannot find field."
            )
    field = "* GenerateContentRequest.generation_config.image_config"
    ratio = settings.get("aspectRatio", "1:1")
    if ratio not in spec.shapes:
        return f"{field}.aspect_ratio: {ratio!r} is not supported by {model}."
    size = settings.get("imageSize", "1K")
    if size not in spec.tokens:
        return f"{field}.image_size: {size!r} is not supported by {model}."
    return None


#: the most images one request may send (the mock's bound: Google's models differ)
MOST_INPUT_IMAGES = 14
#: the prompt tokens each input image costs (Google: 258 for an image up to 384 px)
INPUT_IMAGE_TOKENS = 258
_INPUT_TYPES = ("image/png", "image/jpeg", "image/webp", "image/heic", "image/heif")


def input_images(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ``inlineData`` parts of a request's user turns, in order."""
    found = []
    for content in body.get("contents") or ():
        for part in content.get("parts") or () if isinstance(content, dict) else ():
            blob = part.get("inlineData") if isinstance(part, dict) else None
            if isinstance(blob, dict):
                found.append(blob)
    return found


def inputs_problem(body: Mapping[str, Any]) -> str | None:
    """The message for what is wrong with the images a request to edit sends, or ``None``."""
    blobs = input_images(body)
    if len(blobs) > MOST_INPUT_IMAGES:
        return f"* GenerateContentRequest.contents: at most {MOST_INPUT_IMAGES} images."
    for blob in blobs:
        mime = blob.get("mimeType")
        if mime not in _INPUT_TYPES:
            return f"Unsupported MIME type: {mime}"
        try:
            data = base64.b64decode(str(blob.get("data") or ""), validate=True)
        except binascii.Error:
            return "Invalid value at 'contents[0].parts[0].inline_data.data' (TYPE_BYTES)"
        if not data or (sniff(data) or mime) != mime:
            return "Unable to process input image. Please retry or report the problem."
    return None


def image_output(model: str) -> ImageOutput | None:
    """The mock's entry for a Gemini image model (``-preview`` names too), or ``None``."""
    found = [name for name in GEMINI_IMAGE if model.startswith(name)]
    return GEMINI_IMAGE[max(found, key=len)] if found else None


def image_turn(
    body: Mapping[str, Any], model: str, reply: Reply, prompt: str, index: int, rid: str
) -> dict[str, Any]:
    """A ``GenerateContentResponse`` drawing ``mock_image(prompt, index)`` for a (valid)
    ``body`` asking ``model`` for an image; see the module docstring for ``reply``."""
    config = body.get("generationConfig") or {}
    spec = image_output(model)
    assert spec is not None  # image_problem refused the others
    size = (config.get("imageConfig") or {}).get("imageSize", "1K")
    wants_text = "TEXT" in [str(m).upper() for m in config.get("responseModalities") or ()]
    parts: list[dict[str, Any]] = []
    thoughts = 0
    if reply.reasoning:
        sketch = base64.b64encode(mock_image(f"{prompt} (sketch)", index)).decode()
        parts.append({"text": reply.reasoning, "thought": True})
        parts.append({"inlineData": {"mimeType": "image/png", "data": sketch}, "thought": True})
        thoughts = reply.reasoning_tokens or count_tokens(reply.reasoning)
    image_tokens = 0
    if reply.refusal:
        parts.append({"text": reply.refusal})
    elif reply.finish != "content_filter":
        if wants_text and reply.text:
            parts.append({"text": reply.text})
        data = base64.b64encode(mock_image(prompt, index)).decode()
        parts.append({"inlineData": {"mimeType": "image/png", "data": data}})
        image_tokens = spec.tokens[size]
    text_tokens = count_tokens(reply.refusal or (reply.text if wants_text else ""))
    inputs = len(input_images(body)) * INPUT_IMAGE_TOKENS
    text_in = max(1, count_tokens(prompt))
    inp = reply.input_tokens if reply.input_tokens is not None else text_in + inputs
    out = reply.output_tokens if reply.output_tokens is not None else image_tokens + text_tokens
    usage: dict[str, Any] = {
        "promptTokenCount": inp,
        "candidatesTokenCount": out,
        "totalTokenCount": inp + out + thoughts,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": max(inp - inputs, 0)}]
        + ([{"modality": "IMAGE", "tokenCount": inputs}] if inputs else []),
    }
    if image_tokens and reply.output_tokens is None:
        details = [{"modality": "IMAGE", "tokenCount": image_tokens}]
        if text_tokens:
            details.insert(0, {"modality": "TEXT", "tokenCount": text_tokens})
        usage["candidatesTokensDetails"] = details
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    finish = "IMAGE_SAFETY" if reply.finish == "content_filter" and not reply.refusal else "STOP"
    candidate: dict[str, Any] = {"finishReason": finish, "index": 0}
    if parts:
        candidate["content"] = {"parts": parts, "role": "model"}
    return {
        "candidates": [candidate],
        "usageMetadata": usage,
        "modelVersion": model,
        "responseId": rid,
    }
