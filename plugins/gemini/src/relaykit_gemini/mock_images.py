"""What :class:`~relaykit_gemini.testing.GeminiMock` draws: Imagen's ``:predict``, and
images on ``:generateContent``.

Every image is :func:`relaykit.testing.mock_image` of the prompt (which
:func:`relaykit.testing.mock_image_prompt` reads back): for ``:predict`` the
``i``-th image of an answer is ``mock_image(prompt, i)``; the Gemini image
models draw one image a request, so there the ``k``-th image the mock draws of a
prompt is ``mock_image(prompt, k)`` (each of ``n`` requests gets its own image).

Checked as Google checks them, with Google's messages where they are published
("Model does not support the requested response modalities: image", a field
``imageConfig`` lacks) and the mock's own words elsewhere (Google publishes none
for an aspect ratio, a sample count or a resolution out of range): the shapes
and resolutions of :data:`IMAGEN` and :data:`GEMINI_IMAGE`, a ``sampleCount``
of 1 to 4, the two output types Imagen writes.

Scripted replies (:class:`relaykit.testing.Reply`), one per HTTP request: a
failure or a ``delay`` as for chat; ``finish="content_filter"`` withholds every
image (Imagen answers a ``raiFilteredReason`` for each, a Gemini image model
the finish reason ``IMAGE_SAFETY``), ``refusal`` makes a Gemini image model
answer that text instead of an image, ``reasoning`` makes it think first
(a thought text and a thought sketch, as Gemini 3 image models do),
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
from collections.abc import Collection, Mapping
from typing import Any, NamedTuple

from relaykit.image_files import sniff
from relaykit.testing.image_samples import mock_image
from relaykit.testing.script import Reply, count_tokens

#: Imagen's sizes: aspect ratio -> resolution -> pixels (Imagen 4's model pages)
IMAGEN: Mapping[str, Mapping[str, str]] = {
    "1:1": {"1K": "1024x1024", "2K": "2048x2048"},
    "3:4": {"1K": "896x1280", "2K": "1792x2560"},
    "4:3": {"1K": "1280x896", "2K": "2560x1792"},
    "9:16": {"1K": "768x1408", "2K": "1536x2816"},
    "16:9": {"1K": "1408x768", "2K": "2816x1536"},
}
#: the Imagen models that take ``sampleImageSize`` (Vertex AI's "Set output resolution")
IMAGEN_2K = ("imagen-4.0-generate-001", "imagen-4.0-ultra-generate-001")
#: the output types Imagen writes (``outputOptions.mimeType``)
IMAGEN_TYPES = ("image/png", "image/jpeg")
MOST_SAMPLES = 4
_PARAMETERS = (
    "sampleCount",
    "aspectRatio",
    "sampleImageSize",
    "personGeneration",
    "safetySetting",
    "includeRaiReason",
    "includeSafetyAttributes",
    "outputOptions",
    "language",
    "guidanceScale",
)
_RAI_REASON = (
    "The mock's safety filter withheld this image (it stands for Imagen's raiFilteredReason)."
)


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


def validate_predict(body: Any, model: str) -> str | None:
    """The message for what is wrong with a ``:predict`` body for ``model``, or ``None``."""
    if not isinstance(body, dict):
        return "Invalid JSON payload received. Expected an object."
    for key in body:
        if key not in ("instances", "parameters"):
            return f'Invalid JSON payload received. Unknown name "{key}": Cannot find field.'
    instances = body.get("instances")
    if not isinstance(instances, list) or len(instances) != 1:
        return "* PredictRequest.instances: Imagen takes exactly one instance."
    prompt = instances[0].get("prompt") if isinstance(instances[0], dict) else None
    if not isinstance(prompt, str) or not prompt.strip():
        return "* PredictRequest.instances[0].prompt: the prompt is empty."
    parameters = body.get("parameters") or {}
    if not isinstance(parameters, dict):
        return "* PredictRequest.parameters: parameters must be an object."
    return _parameters_problem(parameters, model)


def _parameters_problem(parameters: Mapping[str, Any], model: str) -> str | None:
    for key in parameters:
        if key not in _PARAMETERS:
            return f"* PredictRequest.parameters: unknown parameter {key!r} for {model}."
    count = parameters.get("sampleCount", 1)
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MOST_SAMPLES:
        return f"* PredictRequest.parameters.sample_count: {count!r} is not between 1 and 4."
    ratio = parameters.get("aspectRatio", "1:1")
    if ratio not in IMAGEN:
        return (
            f"* PredictRequest.parameters.aspect_ratio: {ratio!r} is not supported; use one of"
            f" {', '.join(IMAGEN)}."
        )
    size = parameters.get("sampleImageSize")
    if size is not None and (size not in ("1K", "2K") or model not in IMAGEN_2K):
        return (
            f"* PredictRequest.parameters.sample_image_size: {size!r} is not supported by {model}."
        )
    options = parameters.get("outputOptions") or {}
    mime = options.get("mimeType", "image/png") if isinstance(options, dict) else None
    if mime not in IMAGEN_TYPES:
        return f"* PredictRequest.parameters.output_options.mime_type: {mime!r} is not supported."
    return None


def predict_answer(
    body: Mapping[str, Any], reply: Reply, filtered: Collection[int]
) -> dict[str, Any]:
    """The ``:predict`` answer to a (valid) ``body``: ``sampleCount`` images, but those
    at the indexes in ``filtered`` (all of them for ``finish="content_filter"``)
    withheld for a ``raiFilteredReason`` (the reply's ``refusal``, else the mock's)."""
    prompt = body["instances"][0]["prompt"]
    parameters = body.get("parameters") or {}
    count = parameters.get("sampleCount", 1)
    mime = (parameters.get("outputOptions") or {}).get("mimeType", "image/png")
    reason = reply.refusal or _RAI_REASON
    predictions: list[dict[str, Any]] = []
    for i in range(count):
        if reply.finish == "content_filter" or i in filtered:
            if parameters.get("includeRaiReason"):
                predictions.append({"raiFilteredReason": reason})
            continue  # without includeRaiReason a filtered image is just missing
        data = base64.b64encode(mock_image(prompt, i)).decode()
        predictions.append({"bytesBase64Encoded": data, "mimeType": mime})
    # Google's JSON leaves out empty fields: no image and no reason is {}.
    return {"predictions": predictions} if predictions else {}


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
