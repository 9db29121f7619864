"""What OpenAI's image models refuse (relaykit_openai.image_rules) is refused before
sending, naming the parameter, what the model takes and the fix; the mock refuses
the same in OpenAI's words; Azure's deployments and other services are exempt."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import relaykit
from relaykit import ImageRequest, InvalidRequestError
from relaykit.testing import OpenAIMock, mock_image, mock_mask, one_try_config
from relaykit_openai.image_rules import model_rules
from relaykit_openai.images import request_body
from relaykit_openai.testing import AzureOpenAIMock

KEY = "sk-test-0123456789abcdef0123"
FOX = "a red fox in snow"
#: an RGB PNG (no alpha), 16x16, and a 16x8 one
PHOTO = mock_image("a fox", side=16)


def config(base_url: str, **provider: Any) -> dict[str, Any]:
    return {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1, "initial_wait": 0, "max_retry_after": 0},
        "providers": {"openai": {"base_url": base_url, "api_key": KEY, **provider}},
    }


def wide_png() -> bytes:
    """A 16x8 RGBA PNG (not square)."""
    data = bytearray(mock_mask(16))
    data[20:24] = (8).to_bytes(4, "big")  # IHDR's height: the header is what is read
    return bytes(data)


GENERATIONS = [
    ("dall-e-2", {"size": "1024x1792"}, "size", "dall-e-2 draws 256x256, 512x512 or 1024x1024"),
    ("dall-e-3", {"size": "512x512"}, "size", "1024x1024, 1792x1024 or 1024x1792, not '512x512'"),
    ("gpt-image-1", {"size": "1792x1024"}, "size", "1536x1024, 1024x1536 or auto"),
    ("gpt-image-1-mini", {"size": "256x256"}, "size", "gpt-image-1-mini draws"),
    ("dall-e-2", {"quality": "hd"}, "quality", "dall-e-2 takes quality standard, not 'hd'"),
    ("dall-e-3", {"quality": "high"}, "quality", "takes quality standard or hd, not 'high'"),
    ("gpt-image-1", {"quality": "hd"}, "quality", "low, medium, high or auto, not 'hd'"),
    ("dall-e-2", {"prompt": "x" * 1001}, "prompt", "at most 1,000 characters, not 1,001"),
    ("dall-e-3", {"prompt": "x" * 4001}, "prompt", "at most 4,000 characters"),
    ("gpt-image-1.5", {"prompt": "x" * 32_001}, "prompt", "at most 32,000 characters"),
    ("dall-e-2", {"extra": {"style": "vivid"}}, "style", "dall-e-2 takes no style"),
    ("gpt-image-1", {"extra": {"style": "vivid"}}, "style", "gpt-image-1 takes no style"),
    ("dall-e-3", {"extra": {"style": "bold"}}, "style", "vivid or natural, not 'bold'"),
    ("dall-e-3", {"extra": {"background": "opaque"}}, "background", "takes no background"),
    ("dall-e-2", {"extra": {"moderation": "low"}}, "moderation", "takes no moderation"),
    ("gpt-image-1", {"extra": {"response_format": "url"}}, "response_format", "always answer"),
    ("gpt-image-1", {"extra": {"background": "clear"}}, "background", "transparent, opaque"),
    ("gpt-image-1", {"extra": {"moderation": "high"}}, "moderation", "low or auto"),
    (
        "gpt-image-1",
        {"output_format": "jpeg", "extra": {"background": "transparent"}},
        "background",
        "needs output_format png or webp, not 'jpeg'",
    ),
    (
        "gpt-image-1",
        {"extra": {"output_compression": 80}},
        "output_compression",
        "for jpeg and webp",
    ),
    (
        "gpt-image-1",
        {"output_format": "webp", "extra": {"output_compression": 101}},
        "output_compression",
        "from 0 to 100",
    ),
    ("gpt-image-2", {"extra": {"background": "transparent"}}, "background", "no transparent"),
    ("gpt-image-2", {"size": "3000x3000"}, "size", "8,294,400 in all"),
    ("gpt-image-1-2025-04-15", {"size": "512x512"}, "size", "gpt-image-1-2025-04-15 draws"),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("model", "params", "param", "problem"), GENERATIONS)
async def test_a_generation_openai_refuses_is_refused_unsent(
    mock: OpenAIMock, model: str, params: dict[str, Any], param: str, problem: str
) -> None:
    params = dict(params)
    prompt = params.pop("prompt", FOX)
    async with relaykit.Client(config(mock.base_url)) as client:
        with pytest.raises(InvalidRequestError, match=problem) as e:
            await client.generate_image(f"openai/{model}", prompt, **params)
    error = e.value
    assert (error.status, error.param, error.provider, error.model) == (
        None,
        param,
        "openai",
        model,
    )
    assert error.hint  # the fix
    assert not mock.requests


@pytest.mark.parametrize(("model", "params", "param", "problem"), GENERATIONS)
def test_the_mock_refuses_the_same_generations(
    mock: OpenAIMock, model: str, params: dict[str, Any], param: str, problem: str
) -> None:
    """Each rule is the mock's too (so a wire that sent it would fail its tests)."""
    params = dict(params)
    body = {"model": model, "prompt": params.pop("prompt", FOX), **params.pop("extra", {})}
    body |= params
    r = httpx.post(
        f"{mock.base_url}/images/generations",
        json=body,
        headers={"authorization": f"Bearer {KEY}"},
    )
    assert r.status_code == 400, (model, params)
    assert r.json()["error"]["type"] == "invalid_request_error"


def test_the_mock_words_a_long_prompt_as_openai_does(mock: OpenAIMock) -> None:
    r = httpx.post(
        f"{mock.base_url}/images/generations",
        json={"model": "dall-e-2", "prompt": "x" * 1001},
        headers={"authorization": f"Bearer {KEY}"},
    )
    assert r.json()["error"]["message"] == (
        "Invalid 'prompt': string too long. Expected a string with maximum length 1000, but"
        " got a string with length 1001 instead."
    )


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("model", "params"),
    [
        ("dall-e-2", {"size": "512x512", "quality": "standard", "prompt": "x" * 1000}),
        ("dall-e-3", {"size": "1024x1792", "quality": "hd", "extra": {"style": "natural"}}),
        (
            "gpt-image-1",
            {"size": "auto", "quality": "auto", "extra": {"background": "transparent"}},
        ),
        (
            "gpt-image-1",
            {"output_format": "jpeg", "extra": {"output_compression": 50, "moderation": "low"}},
        ),
        ("gpt-image-2", {"size": "3840x2160", "quality": "high"}),
    ],
)
async def test_what_the_model_takes_is_sent(
    mock: OpenAIMock, model: str, params: dict[str, Any]
) -> None:
    params = dict(params)
    prompt = params.pop("prompt", FOX)
    async with relaykit.Client(config(mock.base_url)) as client:
        r = await client.generate_image(f"openai/{model}", prompt, **params)
    assert len(r.images) == 1 and len(mock.requests) == 1


@pytest.mark.anyio
async def test_a_model_not_known_here_is_the_services_to_refuse(mock: OpenAIMock) -> None:
    async with relaykit.Client(config(mock.base_url)) as client:
        with pytest.raises(InvalidRequestError) as e:
            await client.generate_image("openai/gpt-image-9", FOX, size="512x512")
    assert e.value.status == 400 and len(mock.requests) == 1


def test_azure_deployments_and_presets_are_exempt() -> None:
    """A deployment's name does not say its model: the body is built as asked."""
    request = ImageRequest(model="dall-e-2", prompt=FOX, size="1792x1024", quality="hd")
    assert request_body(request, "openai", "azure")["size"] == "1792x1024"
    with pytest.raises(InvalidRequestError, match="dall-e-2 draws"):
        request_body(request, "openai", "openai", rules=True)


@pytest.mark.anyio
async def test_an_azure_deployment_named_as_a_model_is_sent_as_asked() -> None:
    with AzureOpenAIMock(api_key=KEY, deployments={"gpt-image-1": "gpt-image-1"}) as azure:
        cfg = one_try_config({"azure": {"base_url": azure.base_url, "api_key": KEY}})
        async with relaykit.Client(cfg, env={}) as client:
            with pytest.raises(InvalidRequestError) as e:
                await client.generate_image("azure/gpt-image-1", FOX, size="512x512")
        assert len(azure.requests) == 1
    assert e.value.status == 400  # the service's answer, not relaykit's refusal


def test_models_are_looked_up_by_name_and_snapshot() -> None:
    assert model_rules("dall-e-3") is not None and model_rules("gpt-image-1.5") is not None
    assert model_rules("gpt-image-1-2025-04-15") == model_rules("gpt-image-1")
    assert model_rules("flux-dev") is None and model_rules("gpt-image-9") is None


# -- edits ---------------------------------------------------------------------------

EDITS = [
    ("dall-e-2", {"image": PHOTO}, "image", "has no alpha channel"),
    ("dall-e-2", {"image": wide_png(), "mask": None}, "image", "edits square images"),
    ("dall-e-2", {"image": PHOTO, "mask": mock_mask(16), "size": "1536x1024"}, "size", "draws"),
    ("dall-e-2", {"image": PHOTO, "mask": mock_mask(16), "quality": "high"}, "quality", "'high'"),
    ("dall-e-2", {"image": mock_mask(16), "prompt": "x" * 1001}, "prompt", "1,000 characters"),
    (
        "dall-e-2",
        {"image": mock_mask(16), "extra": {"input_fidelity": "high"}},
        "input_fidelity",
        "takes no input_fidelity",
    ),
    ("gpt-image-1", {"image": PHOTO, "size": "256x256"}, "size", "gpt-image-1 draws"),
    ("gpt-image-1", {"image": PHOTO, "extra": {"style": "vivid"}}, "style", "takes no style"),
    (
        "gpt-image-1",
        {"image": PHOTO, "extra": {"input_fidelity": "max"}},
        "input_fidelity",
        "high or low, not 'max'",
    ),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("model", "params", "param", "problem"), EDITS)
async def test_an_edit_openai_refuses_is_refused_unsent(
    mock: OpenAIMock, model: str, params: dict[str, Any], param: str, problem: str
) -> None:
    params = dict(params)
    prompt = params.pop("prompt", "add a hat")
    async with relaykit.Client(config(mock.base_url)) as client:
        with pytest.raises(InvalidRequestError, match=problem) as e:
            await client.edit_image(f"openai/{model}", prompt, **params)
    assert (e.value.status, e.value.param, e.value.provider) == (None, param, "openai")
    assert not mock.requests


@pytest.mark.anyio
async def test_an_edit_image_over_the_models_bytes_is_refused_unsent(mock: OpenAIMock) -> None:
    big = mock_mask(16) + b"\x00" * (4 * 1024 * 1024)  # trailing bytes after IEND
    async with relaykit.Client(config(mock.base_url)) as client:
        with pytest.raises(InvalidRequestError, match="edits images under 4 MB") as e:
            await client.edit_image("openai/dall-e-2", "add a hat", image=big)
    assert e.value.param == "image" and not mock.requests


def test_the_mock_refuses_dall_e_2_an_image_without_alpha_and_no_mask(mock: OpenAIMock) -> None:
    r = httpx.post(
        f"{mock.base_url}/images/edits",
        data={"model": "dall-e-2", "prompt": "add a hat"},
        files={"image": ("fox.png", PHOTO, "image/png")},
        headers={"authorization": f"Bearer {KEY}"},
    )
    assert r.status_code == 400
    assert r.json()["error"]["message"] == (
        "Invalid input image - format must be in ['RGBA', 'LA', 'L'], got RGB."
    )


@pytest.mark.anyio
async def test_dall_e_2_edits_a_transparent_image_without_a_mask(mock: OpenAIMock) -> None:
    async with relaykit.Client(config(mock.base_url)) as client:
        r = await client.edit_image("openai/dall-e-2", "add a hat", image=mock_mask(16))
    assert len(r.images) == 1 and len(mock.requests) == 1


def test_the_mock_refuses_a_dall_e_2_image_over_4_mb(mock: OpenAIMock) -> None:
    big = mock_mask(16) + b"\x00" * (4 * 1024 * 1024)
    r = httpx.post(
        f"{mock.base_url}/images/edits",
        data={"model": "dall-e-2", "prompt": "add a hat"},
        files={"image": ("fox.png", big, "image/png")},
        headers={"authorization": f"Bearer {KEY}"},
    )
    assert r.status_code == 400 and "less than 4 MB" in r.json()["error"]["message"]
