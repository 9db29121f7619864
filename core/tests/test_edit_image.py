"""Client.edit_image: images edited as a prompt says, through the image generation's
pipeline (routing, limits, budgets, retries, cost, traces, metrics and call log)."""

from __future__ import annotations

import base64
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import relaykit
from relaykit import (
    ConfigError,
    GeneratedImage,
    ImageEditRequest,
    ImageFile,
    ImagePart,
    ImageResponse,
    InvalidRequestError,
    RelayError,
    Usage,
)
from relaykit.testing import (
    FakePlugin,
    FakeProvider,
    RecordingExporter,
    TracingExporter,
    call_log_lines,
    capture_call_log,
    mock_image,
    mock_image_prompt,
)

from .conftest import SETTINGS, client, token_metrics

HAT = "put a red hat on the fox"
PHOTO = mock_image("a fox", side=16)
MASK = mock_image("the hat's place", side=16)
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 20


# -- what is sent, and what comes back -------------------------------------------


@pytest.mark.anyio
async def test_one_image_and_a_mask_reach_the_provider_and_the_edit_comes_back(
    tmp_path: Path,
) -> None:
    fake = FakePlugin()
    photo = tmp_path / "fox.png"
    photo.write_bytes(PHOTO)
    async with client(fake) as c:
        r = await c.edit_image(
            "fake/gpt-image-1", HAT, image=photo, mask=MASK, size="1024x1024", quality="low"
        )
    (image,) = r.images
    assert image.data == mock_image(HAT) and mock_image_prompt(image.data) == HAT
    assert (r.provider, r.model, r.size, r.quality) == ("fake", "gpt-image-1", "1024x1024", "low")
    # seven words and one input image (65 tokens) in, 100 out, at USD 1 and 2 a million
    assert (r.usage, r.cost) == (Usage(72, 100), Decimal("0.000272"))
    assert r.image_tokens == FakeProvider.INPUT_IMAGE_TOKENS
    (sent,) = fake.image_edits
    assert isinstance(sent, ImageEditRequest) and not fake.images
    assert (sent.prompt, sent.n, sent.size, sent.quality) == (HAT, 1, "1024x1024", "low")
    assert sent.images == (ImageFile(PHOTO, filename=str(photo)),)
    assert sent.images[0].upload_name == "fox.png" and sent.images[0].size == (16, 16)
    assert sent.mask == ImageFile(MASK) and sent.mask.format == "png"


@pytest.mark.anyio
async def test_several_images_of_every_kind_are_read_in_order(tmp_path: Path) -> None:
    fake = FakePlugin()
    drawn = GeneratedImage(data=mock_image("drawn"))
    path = tmp_path / "photo.jpeg"
    path.write_bytes(JPEG)
    data_url = "data:image/png;base64," + base64.b64encode(mock_image("uri")).decode()
    async with client(fake) as c:
        await c.edit_image(
            "fake/gpt-image-1",
            "combine them",
            image=[
                PHOTO,
                str(path),
                drawn,
                ImagePart(data=mock_image("part"), media_type="image/png"),
                data_url,
                ImageFile(mock_image("own"), filename="dir/own.PNG"),
            ],
        )
    (sent,) = fake.image_edits
    assert [i.format for i in sent.images] == ["png", "jpeg", "png", "png", "png", "png"]
    assert [i.upload_name for i in sent.images] == [
        "image.png",
        "photo.jpeg",
        "image.png",
        "image.png",
        "image.png",
        "own.PNG",
    ]
    assert sent.images[2].data == drawn.data and sent.images[4].data == mock_image("uri")
    assert "bytes>" in repr(sent.images[0]) and "PNG" not in repr(sent.images[0])


def test_a_file_name_that_belies_the_bytes_is_sent_with_the_bytes_suffix() -> None:
    assert ImageFile(JPEG, filename="/x/cat.png").upload_name == "cat.jpg"
    assert ImageFile(PHOTO, filename="noext").upload_name == "noext.png"


@pytest.mark.anyio
async def test_a_drawn_image_is_edited_at_once_and_the_sync_client_edits_too() -> None:
    fake = FakePlugin()
    async with client(fake) as c:
        fox = await c.generate_image("fake/gpt-image-1", "a fox")
        r = await c.edit_image("fake/gpt-image-1", HAT, image=fox.images[0])
    assert fake.image_edits[0].images[0].data == mock_image("a fox")
    assert r.images[0].data == mock_image(HAT)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_sync_client_edits_images(backend: str, tmp_path: Path) -> None:
    photo = tmp_path / "fox.png"
    photo.write_bytes(PHOTO)
    fake = FakePlugin()
    with relaykit.SyncClient(SETTINGS, plugins=[fake], backend=backend) as c:
        r = c.edit_image("fake/gpt-image-1", HAT, photo, mask=MASK, n=2)
    assert len(r.images) == 2 and fake.image_edits[0].mask is not None


# -- refused before sending ----------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("image", "mask", "params", "problem"),
    [
        (None, None, {}, "needs at least one image"),
        ([], None, {}, "needs at least one image"),
        (b"", None, {}, "the image is empty"),
        (b"not an image at all", None, {}, "no image relaykit reads"),
        ("/no/such/photo.png", None, {}, "cannot read image file '/no/such/photo.png'"),
        # was ValueError: embedded null byte
        ("photo\x00.png", None, {}, "the path holds a NUL character"),
        (PHOTO, "/no/such/mask.png", {}, "cannot read mask file"),
        (PHOTO, mock_image("small", side=8), {}, "the mask is 8x8, the image it masks 16x16"),
        (12, None, {}, "image must be bytes, a path"),
        (GeneratedImage(url="https://x.invalid/a.png"), None, {}, "came as a URL"),
        (ImagePart(url="https://x.invalid/a.png"), None, {}, "relaykit sends bytes"),
        ("data:image/png;base64,???", None, {}, "holds no base64"),
        (PHOTO, None, {"n": 0}, "`n` must be a positive integer"),
        (PHOTO, None, {"colour": "red"}, "unknown parameter 'colour' for edit_image"),
    ],
)
async def test_bad_input_is_a_typed_error_and_nothing_is_sent(
    image: Any, mask: Any, params: dict[str, Any], problem: str
) -> None:
    fake = FakePlugin()
    async with client(fake) as c:
        with pytest.raises(InvalidRequestError, match=problem.replace("(", r"\(")) as e:
            await c.edit_image("fake/gpt-image-1", HAT, image=image, mask=mask, **params)
    assert e.value.status is None and not fake.image_edits


@pytest.mark.anyio
async def test_a_blank_prompt_and_an_unknown_model_fail_before_a_file_is_read(
    tmp_path: Path,
) -> None:
    async with client(FakePlugin()) as c:
        with pytest.raises(InvalidRequestError, match="prompt must be a non-blank") as e:
            await c.edit_image("fake/gpt-image-1", "  ", image=PHOTO)
        assert "edit_image(model, 'add a hat'" in str(e.value)
        with pytest.raises(ConfigError, match="model") as refused:
            await c.edit_image("no-provider-named", HAT, image=tmp_path / "never-read.png")
        assert "never-read" not in str(refused.value)


class _NoEdits(FakeProvider):
    edit_image = None  # type: ignore[assignment]  # as a plugin that draws but cannot edit


@pytest.mark.anyio
async def test_a_provider_without_edits_is_refused_and_a_route_falls_back() -> None:
    fake = FakePlugin()
    routes = {"edit": {"targets": ["drawonly/gpt-image-1", "fake/gpt-image-1"]}}
    exporter = RecordingExporter()
    async with client(
        FakePlugin("drawonly", provider=_NoEdits), fake, exporter, models=routes
    ) as c:
        with pytest.raises(InvalidRequestError, match="drawonly has no image editing API") as e:
            await c.edit_image("drawonly/gpt-image-1", HAT, image=PHOTO)
        assert e.value.status is None and e.value.param == "model"
        assert "provider that has an image editing API: openai" in str(e.value)
        r = await c.edit_image("edit", HAT, image=PHOTO)
    assert (r.provider, len(r.images)) == ("fake", 1)
    refused, served = exporter.records
    assert (refused.operation, refused.ok, served.fallbacks) == ("edit_image", False, 1)


class _Blank(FakeProvider):
    async def edit_image(self, request: ImageEditRequest) -> ImageResponse:
        return ImageResponse(images=(), model=request.model)


@pytest.mark.anyio
async def test_an_edit_answered_without_an_image_is_an_error() -> None:
    async with client(FakePlugin(provider=_Blank)) as c:
        with pytest.raises(RelayError, match="answered without an image"):
            await c.edit_image("fake/gpt-image-1", HAT, image=PHOTO)


# -- the pipeline's own: retries, budgets, records, log, metrics, spans ----------------


@pytest.mark.anyio
async def test_the_input_images_tokens_cost_the_image_input_price_set_in_config() -> None:
    prices = {"fake/gpt-image-1": {"input": "1", "output": "2", "image_input": "4"}}
    async with client(FakePlugin(), prices=prices) as c:
        r = await c.edit_image("fake/gpt-image-1", HAT, image=[PHOTO, JPEG])
        drawn = await c.generate_image("fake/gpt-image-1", HAT)
    # seven words at 1, two images' 130 tokens at 4, 100 out at 2 (USD a million)
    assert (r.usage, r.image_tokens) == (Usage(137, 100), 130)
    assert r.cost == Decimal("0.000727")
    # a generation sends no image: its prompt costs the text price
    assert (drawn.image_tokens, drawn.cost) == (0, Decimal("0.000207"))


def test_image_tokens_cost_the_image_input_price_above_the_text_price() -> None:
    price = relaykit.ModelPrice(
        Decimal("5"), Decimal("30"), Decimal("1.25"), image_input=Decimal("8")
    )
    usage = Usage(1000 + 20, 4160, cached_input_tokens=0)
    assert price.cost(usage, image_tokens=1000) == (20 * 5 + 1000 * 8 + 4160 * 30) / Decimal(
        1_000_000
    )
    # unset, image tokens cost what text tokens cost
    plain = relaykit.ModelPrice(Decimal("5"), Decimal("30"))
    assert plain.cost(usage, image_tokens=1000) == plain.cost(usage)


def test_image_input_is_a_price_key_in_config() -> None:
    config = relaykit.config.load_config(
        {"prices": {"openai/gpt-image-2": {"input": 5, "output": 30, "image_input": 8}}}
    )
    assert config.prices["openai/gpt-image-2"].image_input == Decimal("8")


@pytest.mark.anyio
async def test_a_server_error_is_retried() -> None:
    fake = FakePlugin()
    fake.script.fail(503, "busy")
    async with client(fake) as c:
        r = await c.edit_image("fake/gpt-image-1", HAT, image=PHOTO)
    assert (r.attempts, len(fake.image_edits)) == (2, 2)


@pytest.mark.anyio
async def test_a_budget_holds_the_images_at_their_price_before_sending() -> None:
    fake = FakePlugin()
    limits = {"fake/*": {"budget_usd": 0.05}}
    async with client(fake, limits=limits) as c:
        with pytest.raises(relaykit.QuotaExceededError):
            await c.edit_image("fake/dall-e-2", HAT, image=PHOTO, n=2, quality="hd")
        r = await c.edit_image("fake/dall-e-2", HAT, image=PHOTO)
    assert r.cost == Decimal("0.04") and len(fake.image_edits) == 1


@pytest.mark.anyio
async def test_the_record_keeps_the_prompt_and_the_inputs_sizes_never_their_bytes() -> None:
    exporter = RecordingExporter()
    async with client(FakePlugin(), exporter) as c:
        r = await c.edit_image(
            "fake/gpt-image-1",
            HAT,
            image=[PHOTO, JPEG],
            mask=MASK,
            quality="low",
            extra={"input_fidelity": "high"},
            metadata={"correlation_id": "c-9"},
        )
    (record,) = exporter.records
    assert record.ok and record.operation == "edit_image" and record.correlation_id == "c-9"
    assert record.params == {
        "n": 1,
        "quality": "low",
        "input_images": 2,
        "input_image_bytes": len(PHOTO) + len(JPEG),
        "input_image_sizes": ["16x16", None],
        "mask": True,
        "images": 1,
        "media_types": ["image/png"],
        "image_bytes": len(r.images[0].data or b""),
        "image_sizes": ["8x8"],
        "image_tokens": 2 * FakeProvider.INPUT_IMAGE_TOKENS,
        "extra": {"input_fidelity": "high"},
    }
    assert record.messages[0].text == HAT and record.text == "1 image"
    assert "PNG" not in repr(record) and record.cost == r.cost


@pytest.mark.anyio
async def test_the_log_line_and_metrics_name_the_edit() -> None:
    with capture_call_log() as out:
        async with client(FakePlugin()) as c:
            await c.edit_image("fake/gpt-image-1", HAT, image=PHOTO)
    (line,) = call_log_lines(out)
    assert (line["operation"], line["images"]) == ("edit_image", 1)
    tokens = token_metrics("edit_image", "openai/gpt-image-1", Usage(300, 4160))
    assert sorted(value for value, _ in tokens) == [300.0, 4160.0]


@pytest.mark.anyio
async def test_an_edit_is_one_span_named_for_it_without_content() -> None:
    tracing = TracingExporter()
    async with client(FakePlugin(), tracing, telemetry={"capture_content": True}) as c:
        await c.edit_image("fake/gpt-image-1", "a secret hat", image=[PHOTO, PHOTO], mask=MASK)
    (span,) = tracing.finished()
    assert span.name == "edit_image gpt-image-1"
    a = dict(span.attributes or {})
    assert (a["gen_ai.operation.name"], a["gen_ai.output.type"]) == ("edit_image", "image")
    assert (a["relaykit.image.inputs"], a["relaykit.image.mask"]) == (2, True)
    assert not any("secret" in str(value) for value in a.values())
    tracing.tracer_provider.shutdown()


@pytest.mark.anyio
async def test_a_closed_client_refuses() -> None:
    c = client(FakePlugin())
    async with c:
        pass
    with pytest.raises(relaykit.ClientClosedError):
        await c.edit_image("fake/gpt-image-1", HAT, image=PHOTO)
