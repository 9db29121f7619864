"""OpenAIMock's image generation, spoken to over raw HTTP: its wire, its URLs, and
what it refuses."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from relaykit.testing import OpenAIMock, Reply, mock_image, mock_image_prompt

KEY = "sk-mock-0123456789abcdef0123"


@pytest.fixture
def mock() -> Iterator[OpenAIMock]:
    with OpenAIMock(api_key=KEY) as m:
        yield m


def post(mock: OpenAIMock, body: Any, *, raw: bytes | None = None) -> httpx.Response:
    return httpx.post(
        f"{mock.base_url}/images/generations",
        json=None if raw is not None else body,
        content=raw,
        headers={"authorization": f"Bearer {KEY}"},
        timeout=10,
    )


def test_a_gpt_image_model_answers_base64_with_what_it_drew_and_its_tokens(
    mock: OpenAIMock,
) -> None:
    r = post(mock, {"model": "gpt-image-1", "prompt": "a red fox in snow", "quality": "low"})
    assert r.status_code == 200 and r.headers["x-request-id"].startswith("req_mock")
    body = r.json()
    (image,) = body["data"]
    assert base64.b64decode(image["b64_json"]) == mock_image("a red fox in snow", 0)
    assert set(image) == {"b64_json"}  # no URL, no revised prompt
    assert isinstance(body["created"], int)
    assert (body["background"], body["output_format"], body["quality"], body["size"]) == (
        "opaque",
        "png",
        "low",
        "1024x1024",  # auto, made concrete
    )
    assert body["usage"] == {
        "input_tokens": 5,
        "input_tokens_details": {"image_tokens": 0, "text_tokens": 5},
        "output_tokens": 272,
        "total_tokens": 277,
    }


def test_tokens_out_follow_quality_size_and_count(mock: OpenAIMock) -> None:
    def out(**fields: Any) -> int:
        body = post(mock, {"model": "gpt-image-1-mini", "prompt": "x", **fields}).json()
        return int(body["usage"]["output_tokens"])

    assert out() == 1056  # auto: medium
    assert out(quality="high", size="1024x1536") == 6240
    assert out(quality="high", size="1536x1024", n=2) == 2 * 6208
    mock.script.push(Reply(input_tokens=9, output_tokens=7))
    assert out() == 7


def test_dall_e_3_answers_a_signed_url_the_mock_serves_without_a_key(mock: OpenAIMock) -> None:
    body = post(mock, {"model": "dall-e-3", "prompt": "a lighthouse"}).json()
    (image,) = body["data"]
    assert image["revised_prompt"] == "a lighthouse, digital art"
    assert "usage" not in body and "b64_json" not in image
    url = image["url"]
    assert url.startswith(f"{mock.base_url}/mock-images/") and "sig=" in url
    fetched = httpx.get(url, timeout=10)
    assert fetched.headers["content-type"] == "image/png"
    assert mock_image_prompt(fetched.content) == "a lighthouse"
    assert httpx.get(f"{mock.base_url}/mock-images/nothing.png", timeout=10).status_code == 404


def test_dall_e_answers_base64_when_asked_and_the_script_sets_the_revised_prompt(
    mock: OpenAIMock,
) -> None:
    mock.script.reply("two cats, photographed")
    body = post(
        mock, {"model": "dall-e-2", "prompt": "two cats", "n": 2, "response_format": "b64_json"}
    ).json()
    assert [base64.b64decode(i["b64_json"]) for i in body["data"]] == [
        mock_image("two cats", 0),
        mock_image("two cats", 1),
    ]
    assert {i["revised_prompt"] for i in body["data"]} == {"two cats, photographed"}


def test_the_default_model_is_dall_e_2_and_a_compatible_model_answers_urls(
    mock: OpenAIMock,
) -> None:
    assert "url" in post(mock, {"prompt": "x", "size": "256x256"}).json()["data"][0]
    flux = post(
        mock,
        {"model": "black-forest-labs/FLUX.1-schnell", "prompt": "x", "width": 512, "steps": 4},
    ).json()
    assert "url" in flux["data"][0] and "usage" not in flux


@pytest.mark.parametrize(
    ("body", "status", "message", "param", "code"),
    [
        (
            {"model": "gpt-image-1"},
            400,
            "Missing required parameter: 'prompt'.",
            "prompt",
            "missing_required_parameter",
        ),
        (
            {"model": "gpt-image-1", "prompt": ""},
            400,
            "Invalid 'prompt': empty string.",
            "prompt",
            "empty_string",
        ),
        (
            {"model": "gpt-image-1", "prompt": "x", "n": 0},
            400,
            "Invalid 'n': integer below minimum value. Expected a value >= 1, but got 0 instead.",
            "n",
            "integer_below_min_value",
        ),
        (
            {"model": "gpt-image-1", "prompt": "x", "n": 11},
            400,
            "Invalid 'n': integer above maximum value. Expected a value <= 10",
            "n",
            "integer_above_max_value",
        ),
        (
            {"model": "dall-e-3", "prompt": "x", "n": 2},
            400,
            "You must provide n=1 for this model.",
            None,
            None,
        ),
        (
            {"model": "gpt-image-1", "prompt": "x", "size": "512x512"},
            400,
            "Invalid value: '512x512'. Supported values are: '1024x1024', '1024x1536', '1536x1024',"
            " and 'auto'.",
            "size",
            "invalid_value",
        ),
        (
            {"model": "gpt-image-1", "prompt": "x", "quality": "hd"},
            400,
            "Invalid value: 'hd'. Supported values are: 'low', 'medium', 'high', and 'auto'.",
            "quality",
            "invalid_value",
        ),
        (
            {"model": "gpt-image-1", "prompt": "x", "response_format": "b64_json"},
            400,
            "Unknown parameter: 'response_format'.",
            "response_format",
            "unknown_parameter",
        ),
        (
            {"model": "gpt-image-1.5", "prompt": "x", "style": "vivid"},
            400,
            "Unknown parameter: 'style'.",
            "style",
            "unknown_parameter",
        ),
        (
            {"model": "gpt-image-1", "prompt": "x", "output_format": "gif"},
            400,
            "Invalid value: 'gif'. Supported values are: 'png', 'webp', and 'jpeg'.",
            "output_format",
            "invalid_value",
        ),
        (
            {"model": "gpt-image-1", "prompt": "x", "bogus": 1},
            400,
            "Unknown parameter: 'bogus'.",
            "bogus",
            "unknown_parameter",
        ),
        (
            {"model": "dall-e-3", "prompt": "x", "size": "1024x1536"},
            400,
            "'1024x1536' is not one of ['256x256', '512x512', '1024x1024', '1024x1792',"
            " '1792x1024'] - 'size'",
            None,
            None,
        ),
        (
            {"model": "dall-e-3", "prompt": "x", "size": "512x512"},
            400,
            "The size is not supported by this model.",
            None,
            "invalid_size",
        ),
        (
            {"model": "dall-e-3", "prompt": "x", "quality": "high"},
            400,
            "'high' is not one of ['standard', 'hd'] - 'quality'",
            None,
            None,
        ),
        (
            {"model": "dall-e-2", "prompt": "x", "output_format": "png"},
            400,
            "Unknown parameter: 'output_format'.",
            "output_format",
            "unknown_parameter",
        ),
        (
            {"model": "grok-2-image", "prompt": "x", "size": "1024x1024"},
            400,
            "Argument not supported: size",
            "size",
            None,
        ),
    ],
)
def test_what_it_refuses_it_refuses_as_openai_does(
    mock: OpenAIMock,
    body: dict[str, Any],
    status: int,
    message: str,
    param: str | None,
    code: str | None,
) -> None:
    r = post(mock, body)
    assert r.status_code == status
    error = r.json()["error"]
    assert error["message"].startswith(message)
    assert (error["param"], error["code"], error["type"]) == (param, code, "invalid_request_error")


def test_a_body_that_is_not_json_and_a_wrong_key_are_refused(mock: OpenAIMock) -> None:
    r = post(mock, None, raw=b"prompt=a fox")
    assert r.status_code == 400 and "could not parse the JSON body" in r.json()["error"]["message"]
    wrong = httpx.post(
        f"{mock.base_url}/images/generations",
        json={"prompt": "x"},
        headers={"authorization": "Bearer sk-wrong"},
        timeout=10,
    )
    assert wrong.status_code == 401


def test_scripted_faults_answer_instead(mock: OpenAIMock) -> None:
    mock.script.fail(429, "Rate limit reached for images per minute", retry_after=3)
    r = post(mock, {"model": "gpt-image-1", "prompt": "x"})
    assert (r.status_code, r.headers["retry-after"]) == (429, "3")
    assert r.json()["error"]["message"] == "Rate limit reached for images per minute"


# -- edits: OpenAI's usage, xAI's JSON ------------------------------------------------


def test_an_openai_edit_counts_its_input_images_tokens_apart(mock: OpenAIMock) -> None:
    r = httpx.post(
        f"{mock.base_url}/images/edits",
        data={"model": "gpt-image-2", "prompt": "a hat", "quality": "low"},
        files=[("image[]", ("a.png", mock_image("a"), "image/png"))] * 2,
        headers={"authorization": f"Bearer {KEY}"},
        timeout=10,
    )
    assert r.status_code == 200
    assert r.json()["usage"] == {
        "input_tokens": 2 + 2 * 323,
        "input_tokens_details": {"image_tokens": 2 * 323, "text_tokens": 2},
        "output_tokens": 272,
        "total_tokens": 2 + 2 * 323 + 272,
    }


def edit_xai(mock: OpenAIMock, body: Any) -> httpx.Response:
    return httpx.post(
        f"{mock.base_url}/images/edits",
        json=body,
        headers={"authorization": f"Bearer {KEY}"},
        timeout=10,
    )


def _uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def test_a_grok_edit_is_json_with_data_uris_answered_as_xai_answers(mock: OpenAIMock) -> None:
    image = {"url": _uri(mock_image("a fox")), "type": "image_url"}
    r = edit_xai(mock, {"model": "grok-imagine-image", "prompt": "a hat", "image": image})
    assert r.status_code == 200
    (item,) = r.json()["data"]
    assert set(item) == {"url"}  # a URL by default, as xAI answers
    asked = {"model": "grok-imagine-image", "prompt": "a hat", "images": [image] * 3, "n": 2}
    body = edit_xai(mock, {**asked, "response_format": "b64_json"}).json()
    assert [mock_image_prompt(base64.b64decode(i["b64_json"])) for i in body["data"]] == [
        "a hat",
        "a hat",
    ]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"prompt": "x"}, "Missing required parameter: 'image'"),
        ({"prompt": "x", "image": {"url": "https://example.com/a.png"}}, "data URI"),
        ({"prompt": "x", "image": {"url": "data:image/png;base64,eA=="}}, "PNG, JPEG or WebP"),
        ({"prompt": "x", "images": [{"url": "u"}] * 4}, "At most 3 images"),
        ({"prompt": "x", "image": {}, "images": []}, "either 'image' or 'images'"),
        ({"prompt": "x", "image": {}, "size": "1024x1024"}, "Argument not supported: size"),
    ],
)
def test_what_a_grok_edit_refuses(mock: OpenAIMock, body: dict[str, Any], problem: str) -> None:
    r = edit_xai(mock, {"model": "grok-imagine-image", **body})
    assert r.status_code == 400 and problem in r.json()["error"]["message"]


def test_a_grok_edit_sent_as_a_form_is_refused_as_xai_takes_json_only(mock: OpenAIMock) -> None:
    r = httpx.post(
        f"{mock.base_url}/images/edits",
        data={"model": "grok-imagine-image", "prompt": "a hat"},
        files={"image": ("a.png", mock_image("a"), "image/png")},
        headers={"authorization": f"Bearer {KEY}"},
        timeout=10,
    )
    assert r.status_code == 400 and "application/json" in r.json()["error"]["message"]
