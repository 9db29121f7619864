""":meth:`relaykit.Client.generate_image` and :meth:`relaykit.Client.edit_image`: the
chat pipeline's steps, for an image generation or edit.

(an edit: read the images) -> validate -> redact outbound (the prompt) -> route ->
rate-limit reserve -> breaker -> retry(provider generate_image or edit_image with
timeouts) -> cost -> reconcile limits -> span, metrics and log record -> return.

An edit is an image generation with images in: the same steps, the same code,
the operation ``edit_image`` (its span ``edit_image {model}``, its records' and
metrics' operation) and the provider's ``edit_image``.

As for transcriptions (:mod:`relaykit.transcription_call`), everything but the
first and last steps is the chat call's own code; routes work as for chat but
do not hedge (a second image would be billed twice), and nothing is cached (a
caller asking twice wants another picture). A budget holds ``n`` images at the
price per image before sending, and a rate limit (or a budget, at the output
price) the output tokens of a model billed by the token
(:func:`~relaykit.image_generation.output_tokens_estimate`); both are settled
with what the answer says. Records keep the prompt (redacted as content is) and
the images' count, sizes and formats: never their bytes, nor their URLs (which
may hold a signature).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from . import single_calls
from .errors import ClientClosedError, RelayError
from .image_files import size_text
from .image_generation import (
    AnyImageRequest,
    ImageEditRequest,
    ImageResponse,
    build_image_edit_request,
    build_image_request,
    image_cost,
    output_tokens_estimate,
)
from .image_inputs import read_image, read_images
from .protocols import Provider
from .response import ModelPrice
from .routing import Target
from .single_calls import Operation, answer, capability, conclude, new_call, run_call
from .tracing import CallTracer
from .validation import check_chars

if TYPE_CHECKING:
    from decimal import Decimal

    from .call_outcomes import CallOutcomes
    from .client import Client, _Call


_WHO_DRAWS = (
    "generate images with a provider that has an image API: openai (gpt-image-1,"
    " gpt-image-1-mini, gpt-image-1.5; DALL-E where still served), or the"
    " OpenAI-compatible xai or together"
)
_WHO_EDITS = (
    "edit images with a provider that has an image editing API: openai (gpt-image-2,"
    " gpt-image-1, gpt-image-1-mini, gpt-image-1.5), gemini (gemini-2.5-flash-image,"
    " gemini-3-pro-image), bedrock (amazon.nova-canvas-v1:0,"
    " amazon.titan-image-generator-v2:0) or xai (grok-imagine-image)"
)


async def send_image_request(
    provider: Provider, request: AnyImageRequest, target: Target
) -> ImageResponse:
    """``provider.generate_image(request)`` (``provider.edit_image`` for an edit),
    checked: a typed refusal when the provider has no such API, or when it answered
    without an image. The size and quality asked stand for those the vendor did not
    name (a price per image follows them)."""
    if isinstance(request, ImageEditRequest):
        send = capability(provider, "edit_image", target, "image editing", _WHO_EDITS)
    else:
        send = capability(provider, "generate_image", target, "image generation", _WHO_DRAWS)
    response: ImageResponse = await send(request)
    if (response.size is None and request.size is not None) or (
        response.quality is None and request.quality is not None
    ):
        response = attrs.evolve(
            response,
            size=response.size or request.size,
            quality=response.quality or request.quality,
        )
    if not response.images:
        # A 200 without a picture (a filter that dropped every one, say) is no
        # answer to bill or to hand back as if it were one.
        raise RelayError(
            f"{target.provider} answered without an image",
            provider=target.provider,
            model=target.model,
            hint="the prompt may have been filtered: rephrase it, or try another model",
        )
    return response


async def generate_image(
    client: Client, model: str, prompt: str, params: dict[str, Any]
) -> ImageResponse:
    """Run one image generation through ``client``'s pipeline (see the module docstring)."""
    if client._closed and client._refuses_calls():
        raise ClientClosedError("this client is closed")
    targets = client._router.plan(model)
    request = build_image_request(targets[0].model, prompt, params)
    call = _start(client, model, request, targets, GENERATE_IMAGE)
    return await run_call(client, call, lambda: _run(client, call))


async def edit_image(
    client: Client, model: str, prompt: str, image: Any, mask: Any, params: dict[str, Any]
) -> ImageResponse:
    """Run one image edit through ``client``'s pipeline (see the module docstring)."""
    if client._closed and client._refuses_calls():
        raise ClientClosedError("this client is closed")
    targets = client._router.plan(model)  # an unknown model fails before a file is read
    images = await read_images(image)
    found = None if mask is None else await read_image(mask, "mask")
    if client._closed and client._refuses_calls():  # closed while the files were read
        raise ClientClosedError("this client is closed")
    request = build_image_edit_request(targets[0].model, prompt, images, found, params)
    call = _start(client, model, request, targets, EDIT_IMAGE)
    return await run_call(client, call, lambda: _run(client, call))


def _start(
    client: Client,
    model: str,
    request: AnyImageRequest,
    targets: tuple[Target, ...],
    operation: Operation,
) -> _Call:
    size = len(request.prompt)
    check_chars(
        size, client.config.validation.max_chars, "the prompt carries", "prompt", "shorten it"
    )
    outbound = None
    if client._outbound is not None:
        # Outbound redaction keeps PII from the provider; a revised prompt that
        # comes back has this call's placeholders restored (see _run), no other's.
        outbound = client._outbound.for_call()
        request = attrs.evolve(request, prompt=outbound.redact(request.prompt))
    call = new_call(client, model, request, targets, size, operation, images=request.n)
    call.outbound = outbound
    # Held before sending, settled with what the answer bills: images have no
    # max_tokens, and OpenAI's GPT image models bill thousands of output tokens.
    call.output_hold = output_tokens_estimate(request)
    return call


async def _run(client: Client, call: _Call) -> ImageResponse:
    response: ImageResponse
    response, target = await answer(client, call)
    images = response.images
    if call.outbound is not None and any(i.revised_prompt for i in images):
        restore = call.outbound.restore
        images = tuple(
            attrs.evolve(i, revised_prompt=restore(i.revised_prompt)) if i.revised_prompt else i
            for i in images
        )
    return await conclude(client, call, target, response, images=images)


def _request(call: _Call) -> AnyImageRequest:
    """The image generation's (or edit's) request (see ``_Call.request``)."""
    request: Any = call.request
    return request  # type: ignore[no-any-return]


def answer_text(response: ImageResponse) -> str:
    """A record's text for ``response``: the revised prompts the model drew from, one a
    line, or ``"2 images"`` when it rewrote none."""
    revised = [i.revised_prompt for i in response.images if i.revised_prompt]
    if revised:
        return "\n".join(revised)
    count = len(response.images)
    return f"{count} image{'s' if count != 1 else ''}"


def answer_params(response: ImageResponse) -> dict[str, Any]:
    """What a record adds to its parameters from ``response``: how many images came,
    their sizes (read from each image's header, else the size the vendor said)
    and media types, and their bytes (never the images, nor their URLs); an edit's
    input image tokens (``image_tokens``) when the vendor counted them."""
    sizes = [size_text(i.size) or response.size for i in response.images]
    params: dict[str, Any] = {
        "images": len(response.images),
        "media_types": sorted({i.media_type for i in response.images}),
        "image_bytes": sum(len(i.data) for i in response.images if i.data is not None),
    }
    if any(sizes):
        params["image_sizes"] = sizes
    if response.quality is not None:
        params["quality"] = response.quality
    if response.image_tokens:
        # Kept with the record: its input images' tokens are priced apart
        # (ModelPrice.image_input), and the record's cost says so.
        params["image_tokens"] = response.image_tokens
    return params


def record_fields(outcomes: CallOutcomes, call: _Call, target: Target) -> dict[str, Any]:
    """The fields every record of an image generation has (``CallOutcomes.record_fields``'s).

    With content on, its one message is the prompt (a user message), which
    ``relaykit logs`` shows and searches. Its parameters: ``n``, ``size``,
    ``quality`` and ``output_format`` as asked, ``timeout``, and with content,
    ``extra`` and metadata; a successful call's add what came back
    (:func:`answer_params`). An edit's add its input images' count
    (``input_images``), bytes (``input_image_bytes``) and sizes
    (``input_image_sizes``), and ``mask: true`` when one was sent: never their bytes.
    """
    request = _request(call)
    params: dict[str, Any] = {"n": request.n}
    for key in ("size", "quality", "output_format"):
        value = getattr(request, key)
        if value is not None:
            params[key] = value
    if isinstance(request, ImageEditRequest):
        params["input_images"] = len(request.images)
        params["input_image_bytes"] = sum(len(i.data) for i in request.images)
        sizes = [size_text(i.size) for i in request.images]
        if any(sizes):
            params["input_image_sizes"] = sizes
        if request.mask is not None:
            params["mask"] = True
    return single_calls.record_fields(
        outcomes,
        call,
        target,
        texts=(request.prompt,),
        params=params,
    )


def _cost(price: ModelPrice, request: AnyImageRequest, response: ImageResponse) -> Decimal | None:
    return image_cost(price, response)


#: how the client sends, prices (per image, or by the token), traces and records an
#: image generation
GENERATE_IMAGE = Operation(
    "generate_image",
    send_image_request,
    record_fields,
    _cost,
    start_span=CallTracer.start_image,
    finish_span=CallTracer.finish_image,
    answer_text=answer_text,
    answer_params=answer_params,
)
#: an edit: the same, but for its name (its span's, records' and metrics' operation)
EDIT_IMAGE = attrs.evolve(GENERATE_IMAGE, name="edit_image")
