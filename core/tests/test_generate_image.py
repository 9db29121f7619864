"""Client.generate_image: images drawn from a prompt, through the chat pipeline's
routing, limits, budgets, retries, cost, metrics and call log."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import relaykit
from relaykit import (
    ConfigError,
    GeneratedImage,
    ImageRequest,
    ImageResponse,
    InvalidRequestError,
    ModelPrice,
    QuotaExceededError,
    RelayError,
    Usage,
)
from relaykit.image_generation import (
    image_cost,
    image_from_base64,
    image_hold,
    output_tokens_estimate,
)
from relaykit.testing import (
    FakePlugin,
    FakeProvider,
    RecordingExporter,
    call_log_lines,
    capture_call_log,
    mock_image,
    mock_image_prompt,
    mock_pixel,
)

from .conftest import SETTINGS, Tickets, client, token_metrics

FOX = "a red fox in snow"


# -- the answer ----------------------------------------------------------------


@pytest.mark.anyio
async def test_the_images_come_back_as_png_bytes_with_a_cost_per_token() -> None:
    fake = FakePlugin()
    async with client(fake) as c:
        r = await c.generate_image("fake/gpt-image-1", FOX, n=2, size="1024X1024", quality="low")
    assert (r.provider, r.model, r.id, r.attempts) == ("fake", "gpt-image-1", "image-fake", 1)
    assert len(r.images) == 2 and r.latency is not None
    for i, image in enumerate(r.images):
        assert image.data == mock_image(FOX, i) and mock_image_prompt(image.data) == FOX
        assert (image.media_type, image.size, image.url, image.suffix) == (
            "image/png",
            (8, 8),
            None,
            ".png",
        )
    assert mock_pixel(r.images[0].data or b"") != mock_pixel(r.images[1].data or b"")
    # five words in, 100 tokens an image out, at USD 1 and 2 a million
    assert (r.usage, r.cost) == (Usage(5, 200), Decimal("0.000405"))
    assert (r.size, r.quality) == ("1024x1024", "low")  # as asked: the vendor named neither
    (sent,) = fake.images
    assert sent == ImageRequest(
        model="gpt-image-1", prompt=FOX, n=2, size="1024x1024", quality="low"
    )


@pytest.mark.parametrize(
    ("size", "quality", "cost"),
    [
        (None, None, "0.04"),  # the model's default: standard, 1024x1024
        ("1792x1024", None, "0.08"),
        ("1024x1024", "hd", "0.08"),
        ("1024x1792", "hd", "0.12"),
        ("1024x1792", "standard", "0.08"),
    ],
)
@pytest.mark.anyio
async def test_a_model_billed_per_image_is_priced_by_its_quality_and_size(
    size: str | None, quality: str | None, cost: str
) -> None:
    async with client(FakePlugin()) as c:
        r = await c.generate_image("fake/dall-e-3", FOX, size=size, quality=quality)
    assert r.usage == Usage() and r.cost == Decimal(cost)


@pytest.mark.anyio
async def test_reprs_show_sizes_never_bytes_nor_signed_urls() -> None:
    fake = FakePlugin()
    fake.script.reply("A red fox, in deep snow")  # the revised prompt
    async with client(fake) as c:
        r = await c.generate_image("fake/dall-e-3", FOX)
        linked = await c.generate_image("fake/dall-e-3", FOX, extra={"response_format": "url"})
    text = repr(r)
    size = len(mock_image(FOX))
    assert (
        f"GeneratedImage(image/png, {size} bytes, 8x8, revised_prompt='A red fox, in deep snow')"
        in text
    )
    assert "\\x89PNG" not in text and "b'" not in text
    (image,) = linked.images
    assert image.data is None and image.url is not None and "sig=" in image.url
    assert repr(image) == "GeneratedImage(image/png, url='https://images.fake.invalid/0.png?…')"
    with pytest.raises(ValueError, match="came as a URL"):
        image.base64()


def test_an_image_saves_with_its_suffix_and_encodes_as_base64(tmp_path: Path) -> None:
    image = GeneratedImage(data=mock_image(FOX))
    written = image.save(tmp_path / "fox")
    assert written == tmp_path / "fox.png" and written.read_bytes() == image.data
    assert image.save(tmp_path / "fox.bin").suffix == ".bin"  # a suffix given is kept
    assert base64.b64decode(image.base64()) == image.data
    with pytest.raises(ValueError, match=r"fetch image\.url"):
        GeneratedImage(url="https://x.invalid/a.png").save(tmp_path / "nothing")
    assert not (tmp_path / "nothing.png").exists()


def test_a_vendors_base64_is_read_and_its_format_taken_from_the_bytes() -> None:
    png = mock_image("x")
    as_uri = image_from_base64(
        "data:image/jpeg;base64," + base64.b64encode(png).decode(), revised_prompt=""
    )
    assert (as_uri.data, as_uri.media_type, as_uri.revised_prompt) == (png, "image/png", None)
    unknown = image_from_base64(base64.b64encode(b"not an image").decode(), media_type="image/webp")
    assert unknown.media_type == "image/webp"  # the bytes say nothing: the vendor's word
    with pytest.raises(ValueError, match="not base64"):
        image_from_base64("***")


@pytest.mark.parametrize(
    ("prompt", "params", "message"),
    [
        ("", {}, "prompt must be a non-blank string"),
        ("   ", {}, "prompt must be a non-blank string"),
        (["a fox"], {}, "prompt must be a non-blank string"),
        (FOX, {"n": 0}, "`n` must be a positive integer"),
        (FOX, {"n": True}, "`n` must be a positive integer"),
        (FOX, {"n": 1.5}, "`n` must be a positive integer"),
        (FOX, {"size": "big"}, "`size` must be 'WIDTHxHEIGHT'"),
        (FOX, {"size": "1024x"}, "`size` must be 'WIDTHxHEIGHT'"),
        (FOX, {"size": "0x1024"}, "`size` must be 'WIDTHxHEIGHT'"),
        (FOX, {"size": 1024}, "`size` must be 'WIDTHxHEIGHT'"),
        (FOX, {"quality": ""}, "`quality` must be the vendor's word"),
        (FOX, {"output_format": "gif"}, "`output_format` must be one of png, jpeg, webp"),
        # was TypeError: unhashable type: 'list'
        (FOX, {"output_format": ["png"]}, "`output_format` must be one of png, jpeg, webp"),
        (FOX, {"background": "transparent"}, "pass others in extra"),
        (FOX, {"sise": "1024x1024"}, "did you mean 'size'"),
        (FOX, {"qualty": "hd"}, "did you mean 'quality'"),
        (FOX, {"timeout": 0}, "`timeout` must be a positive number"),
        (FOX, {"extra": ["x"]}, "`extra` must be a dict"),
    ],
)
@pytest.mark.anyio
async def test_bad_input_is_a_typed_error_naming_it(
    prompt: Any, params: dict[str, Any], message: str
) -> None:
    fake = FakePlugin()
    async with client(fake) as c:
        with pytest.raises(InvalidRequestError, match=re.escape(message)):
            await c.generate_image("fake/gpt-image-1", prompt, **params)
    assert fake.images == []


@pytest.mark.anyio
async def test_sizes_and_formats_are_written_as_the_vendors_write_them() -> None:
    fake = FakePlugin()
    async with client(fake) as c:
        await c.generate_image(
            "fake/gpt-image-1",
            FOX,
            size=" 1536X1024 ",
            output_format="JPG",
            extra={"background": "transparent"},
        )
        await c.generate_image("fake/gpt-image-1", FOX, size="auto", output_format="webp")
    first, second = fake.images
    assert (first.size, first.output_format, first.extra) == (
        "1536x1024",
        "jpeg",
        {"background": "transparent"},
    )
    assert (second.size, second.output_format) == ("auto", "webp")


@pytest.mark.anyio
async def test_a_prompt_over_the_size_limit_is_refused_unsent() -> None:
    fake = FakePlugin()
    async with client(fake, validation={"max_chars": 10}) as c:
        with pytest.raises(InvalidRequestError, match="over the limit of 10"):
            await c.generate_image("fake/gpt-image-1", FOX)
    assert fake.images == []


class _NoImages(FakeProvider):
    generate_image = None  # type: ignore[assignment]  # as a plugin without images


@pytest.mark.anyio
async def test_a_provider_without_images_is_refused_and_a_route_falls_back() -> None:
    fake = FakePlugin()
    routes = {"draw": {"targets": ["chatonly/m", "fake/dall-e-3"]}}
    async with client(FakePlugin("chatonly", provider=_NoImages), fake, models=routes) as c:
        with pytest.raises(InvalidRequestError, match="chatonly has no image generation API") as e:
            await c.generate_image("chatonly/m", FOX)
        assert e.value.status is None
        assert "provider that has an image API: openai" in str(e.value)
        r = await c.generate_image("draw", FOX)
    assert (r.provider, len(r.images)) == ("fake", 1)


class _Blank(FakeProvider):
    async def generate_image(self, request: ImageRequest) -> ImageResponse:
        return ImageResponse(images=(), model=request.model)


@pytest.mark.anyio
async def test_an_answer_without_an_image_is_an_error_not_an_empty_success() -> None:
    exporter = RecordingExporter()
    async with client(FakePlugin(provider=_Blank), exporter) as c:
        with pytest.raises(RelayError, match="answered without an image"):
            await c.generate_image("fake/gpt-image-1", FOX)
    assert exporter.records[0].error_type == "RelayError"


# -- resilience, limits, budgets --------------------------------------------------


@pytest.mark.anyio
async def test_a_server_error_is_retried_and_a_fallback_is_recorded() -> None:
    first, second = FakePlugin(), FakePlugin("other")
    first.script.fail(503, "busy")
    async with client(first) as c:
        r = await c.generate_image("fake/gpt-image-1", FOX)
    assert (r.attempts, len(r.images)) == (2, 1)
    first.script.fail(503, "down", retry_after=0)
    exporter = RecordingExporter()
    routes = {"draw": {"targets": ["fake/gpt-image-a", "other/gpt-image-b"]}}
    async with client(first, second, exporter, models=routes, retry={"attempts": 1}) as c:
        r = await c.generate_image("draw", FOX)
    assert (r.provider, r.model) == ("other", "gpt-image-b")
    (record,) = exporter.records
    assert (record.operation, record.fallbacks) == ("generate_image", 1)


@pytest.mark.anyio
async def test_a_budget_holds_the_images_at_their_price_before_sending() -> None:
    fake = FakePlugin()
    budget = {"limits": {"fake/*": {"budget_usd": "0.1"}}}
    async with client(fake, **budget) as c:
        with pytest.raises(QuotaExceededError, match="budget"):
            # USD 0.12 an image, hd and wide: more than the whole budget
            await c.generate_image("fake/dall-e-3", FOX, size="1792x1024", quality="hd")
        r = await c.generate_image("fake/dall-e-3", FOX, n=2)  # 0.08 held, 0.08 spent
        assert r.cost == Decimal("0.08")
        with pytest.raises(QuotaExceededError, match="budget"):
            await c.generate_image("fake/dall-e-3", FOX)  # 0.04 more would pass 0.1
    assert len(fake.images) == 1, "refused before sending: their price was held"


@pytest.mark.anyio
async def test_a_budget_holds_the_output_tokens_of_a_model_billed_by_the_token() -> None:
    fake = FakePlugin()
    settings = {
        "limits": {"fake/*": {"budget_usd": "0.1"}},
        # gpt-image-1's list price: USD 5 a million tokens in, 40 out
        "prices": {"fake/gpt-image-1": {"input": "5", "output": "40"}},
    }
    async with client(fake, **settings) as c:
        with pytest.raises(QuotaExceededError, match="budget"):
            # high quality holds 4,160 tokens at USD 40 a million: 0.1664
            await c.generate_image("fake/gpt-image-1", FOX, quality="high")
        r = await c.generate_image("fake/gpt-image-1", FOX, quality="low")  # 0.01088 held
    assert r.cost == Decimal("0.004025")  # settled at what was billed: 5 in, 100 out
    assert len(fake.images) == 1


def test_the_tokens_held_follow_the_quality_size_and_count() -> None:
    def held(**params: Any) -> int:
        return output_tokens_estimate(ImageRequest(model="m", prompt="p", **params))

    assert held() == held(quality="auto") == held(quality="high") == 4160
    assert (held(quality="low"), held(quality="medium", n=3)) == (272, 3 * 1056)
    assert held(quality="high", size="1024x1536") == 6240  # OpenAI's own count
    assert held(size="auto") == 4160


def test_a_price_per_image_is_configured_and_overrides_the_plugins(
    closed_after: Callable[[relaykit.Client], relaykit.Client],
) -> None:
    settings = {
        "prices": {
            "fake/dall-e-3": {
                "per_image": "0.03",
                "image_prices": {"hd": "0.06", "hd/1792x1024": 0.09},
            },
            "fake/flux": {"per_image": 0.003},
        }
    }
    prices = closed_after(relaykit.Client({**SETTINGS, **settings})).config.prices
    dalle = prices["fake/dall-e-3"]
    assert dalle == ModelPrice(
        Decimal(0),
        Decimal(0),
        per_image=Decimal("0.03"),
        image_prices={"hd": Decimal("0.06"), "hd/1792x1024": Decimal("0.09")},
    )
    assert (dalle.image_price(), dalle.image_price("hd"), dalle.image_price("hd", "1792x1024")) == (
        Decimal("0.03"),
        Decimal("0.06"),
        Decimal("0.09"),
    )
    assert prices["fake/flux"].image_price("whatever", "512x512") == Decimal("0.003")
    for bad, message in [
        ({"per_images": 1}, "did you mean 'per_image'"),
        ({"image_prices": 0.04}, "image_prices must be a table"),
        ({"image_prices": {"hd": "lots"}}, "image_prices['hd'] must be a number"),
        ({"input": 1}, "or per_image"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(message)):
            closed_after(relaykit.Client({**SETTINGS, "prices": {"fake/m": bad}}))


@pytest.mark.anyio
async def test_a_configured_price_per_image_prices_a_token_billed_model_per_image() -> None:
    prices = {"prices": {"fake/gpt-image-1": {"per_image": "0.011"}}}
    async with client(FakePlugin(), **prices) as c:
        r = await c.generate_image("fake/gpt-image-1", FOX, n=3)
    assert r.cost == Decimal("0.033")


@pytest.mark.parametrize(
    ("price", "response", "cost"),
    [
        # per image, by the quality and size the vendor said it drew
        (FakeProvider.DALLE_PRICE, {"quality": "hd", "size": "1792x1024"}, "0.12"),
        (FakeProvider.DALLE_PRICE, {}, "0.04"),
        # per token when the price has no price per image
        (ModelPrice(Decimal(5), Decimal(40)), {"usage": Usage(10, 272)}, "0.01093"),
        # per token, but none counted: unknown, not a wrong zero
        (ModelPrice(Decimal(5), Decimal(40)), {}, None),
        (None, {"usage": Usage(10, 272)}, None),
    ],
)
def test_what_an_image_generation_costs(
    price: ModelPrice | None, response: dict[str, Any], cost: str | None
) -> None:
    images = (GeneratedImage(data=b"x"),)
    found = image_cost(price, ImageResponse(images=images, **response))
    assert found == (None if cost is None else Decimal(cost))


def test_what_a_budget_holds_before_sending() -> None:
    request = ImageRequest(model="m", prompt="p", n=3, quality="hd", size="1024x1792")
    assert image_hold(FakeProvider.DALLE_PRICE, request) == Decimal("0.36")
    assert image_hold(ModelPrice(Decimal(5), Decimal(40)), request) == 0  # tokens hold it
    assert image_hold(None, request) == 0


# -- what is recorded ---------------------------------------------------------


@pytest.mark.anyio
async def test_the_record_keeps_the_prompt_and_the_images_sizes_never_their_bytes() -> None:
    secret = "sk-proj-" + "Ab3" * 10
    fake = FakePlugin()
    fake.script.reply(f"a fox holding a card reading {secret}")  # the revised prompt
    exporter = RecordingExporter()
    async with client(fake, exporter) as c:
        r = await c.generate_image(
            "fake/dall-e-3",
            f"a fox holding a card reading {secret}",
            size="1024x1024",
            extra={"style": "natural"},
            metadata={"correlation_id": "c-1", "team": "art"},
        )
    (record,) = exporter.records
    assert record.ok and record.operation == "generate_image"
    assert record.params == {
        "n": 1,
        "size": "1024x1024",
        "quality": "standard",  # what the vendor said it drew
        "images": 1,
        "media_types": ["image/png"],
        "image_bytes": len(r.images[0].data or b""),
        "image_sizes": ["8x8"],
        "extra": {"style": "natural"},
        "metadata": {"team": "art"},
    }
    assert [m.role for m in record.messages] == ["user"]
    assert record.messages[0].text.startswith("a fox holding a card reading ")
    assert record.text.startswith("a fox holding a card reading ")
    assert secret not in repr(record) and "PNG" not in repr(record)
    assert (record.correlation_id, record.cost) == ("c-1", Decimal("0.04"))


@pytest.mark.anyio
async def test_without_a_revised_prompt_the_answer_is_how_many_images_and_no_url_is_kept() -> None:
    exporter = RecordingExporter()
    async with client(FakePlugin(), exporter) as c:
        await c.generate_image("fake/gpt-image-1", FOX, n=2)
        await c.generate_image("fake/gpt-image-1", FOX, extra={"response_format": "url"})
    two, linked = exporter.records
    assert two.text == "2 images" and two.params["image_sizes"] == ["8x8", "8x8"]
    assert linked.text == "1 image" and linked.params["image_bytes"] == 0
    assert "images.fake.invalid" not in repr(linked) and "sig=" not in repr(linked)


@pytest.mark.anyio
async def test_without_a_content_reader_the_record_keeps_no_prompt() -> None:
    class Counter(RecordingExporter):
        needs_content = False

    exporter = Counter()
    async with client(FakePlugin(), exporter) as c:
        await c.generate_image("fake/gpt-image-1", "private scene")
    (record,) = exporter.records
    assert (record.text, record.messages, record.params["images"]) == ("", (), 1)


@pytest.mark.anyio
async def test_a_failed_call_is_recorded_with_what_was_asked() -> None:
    fake = FakePlugin()
    fake.script.fail(400, "Your request was rejected by the safety system.")
    exporter = RecordingExporter()
    async with client(fake, exporter) as c:
        # OpenAI's words for a prompt its moderation refused: typed as a filter
        with pytest.raises(relaykit.ContentFilterError, match="safety system"):
            await c.generate_image("fake/gpt-image-1", FOX, n=2, quality="low")
    (record,) = exporter.records
    assert (record.ok, record.operation, record.error_type, record.text) == (
        False,
        "generate_image",
        "ContentFilterError",
        "",
    )
    assert record.params == {"n": 2, "quality": "low"}


@pytest.mark.anyio
async def test_the_log_line_says_how_many_images() -> None:
    with capture_call_log() as out:
        async with client(FakePlugin()) as c:
            await c.generate_image("fake/dall-e-3", FOX)
    (line,) = call_log_lines(out)
    assert (line["operation"], line["images"], line["cost_usd"]) == ("generate_image", 1, 0.04)
    assert "PNG" not in out.getvalue()


def test_metrics_count_an_images_tokens_only_when_the_vendor_does() -> None:
    def tokens(usage: Usage) -> list[tuple[float, str]]:
        return token_metrics("generate_image", "openai/gpt-image-1", usage)

    assert tokens(Usage(12, 4160)) == [(12.0, "input"), (4160.0, "output")]
    assert tokens(Usage()) == []  # dall-e-3: billed per image, no tokens


@pytest.mark.anyio
async def test_outbound_redaction_keeps_pii_from_the_provider_and_restores_it() -> None:
    fake = FakePlugin()
    fake.script.reply("a poster for <T1>, in red")
    async with client(fake, Tickets("<T1>", restored="TICKET-9")) as c:
        r = await c.generate_image("fake/dall-e-3", "a poster for TICKET-9")
    assert fake.images[0].prompt == "a poster for <T1>"
    assert r.images[0].revised_prompt == "a poster for TICKET-9, in red"


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_sync_client_generates_images(backend: str, tmp_path: Path) -> None:
    with relaykit.SyncClient(SETTINGS, plugins=[FakePlugin()], backend=backend) as c:
        r = c.generate_image("fake/gpt-image-1", FOX, size="1024x1024")
    path = r.images[0].save(tmp_path / "fox")
    assert mock_image_prompt(path.read_bytes()) == FOX


@pytest.mark.anyio
async def test_a_closed_client_refuses() -> None:
    c = client(FakePlugin())
    async with c:
        pass
    with pytest.raises(relaykit.ClientClosedError):
        await c.generate_image("fake/gpt-image-1", FOX)
