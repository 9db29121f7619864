"""End to end: `relaykit prompt` streams from every provider plugin's loopback server."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from relaykit.cli import main
from relaykit.testing import OpenAIMock, VendorMock

OPENAI_KEY = "sk-cli-0123456789abcdef0123"
GEMINI_KEY = "AIzaSyA-cli-test-key-0123456789abcdefghi"


def openai() -> tuple[
    AbstractContextManager[VendorMock], str, Callable[[VendorMock], dict[str, Any]]
]:
    return (
        OpenAIMock(api_key=OPENAI_KEY),
        "openai/gpt-4o-mini",
        lambda m: {"openai": {"base_url": m.base_url, "api_key": OPENAI_KEY}},
    )


def gemini() -> tuple[
    AbstractContextManager[VendorMock], str, Callable[[VendorMock], dict[str, Any]]
]:
    from relaykit_gemini.testing import GeminiMock

    return (
        GeminiMock(api_key=GEMINI_KEY),
        "gemini/gemini-2.5-flash",
        lambda m: {"gemini": {"base_url": m.base_url, "api_key": GEMINI_KEY}},
    )


def ollama() -> tuple[
    AbstractContextManager[VendorMock], str, Callable[[VendorMock], dict[str, Any]]
]:
    from relaykit_ollama.testing import OllamaMock

    return OllamaMock(), "ollama/llama3.2", lambda m: {"ollama": {"base_url": m.base_url}}


def bedrock() -> tuple[
    AbstractContextManager[VendorMock], str, Callable[[VendorMock], dict[str, Any]]
]:
    from relaykit_bedrock.testing import BedrockMock

    mock = BedrockMock()  # typed as itself: the region is a BedrockMock's
    return (
        mock,
        "bedrock/amazon.nova-micro-v1:0",
        lambda m: {
            "bedrock": {
                "base_url": m.base_url,
                "control_plane_url": m.base_url,
                "region": mock.region,
            }
        },
    )


def anthropic() -> tuple[
    AbstractContextManager[VendorMock], str, Callable[[VendorMock], dict[str, Any]]
]:
    from relaykit_anthropic.testing import AnthropicMock

    key = "sk-ant-api03-cli-test-0123456789"
    return (
        AnthropicMock(api_key=key),
        "anthropic/claude-haiku-4-5",
        lambda m: {"anthropic": {"base_url": m.base_url, "api_key": key}},
    )


PROVIDERS = {
    "anthropic": anthropic,
    "openai": openai,
    "gemini": gemini,
    "ollama": ollama,
    "bedrock": bedrock,
}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from relaykit_bedrock.testing import ACCESS_KEY, SECRET_KEY

    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)


@pytest.fixture(params=sorted(PROVIDERS))
def provider(
    request: pytest.FixtureRequest, aws: None, tmp_path: Path
) -> Iterator[tuple[VendorMock, str, Path]]:
    server, model, providers = PROVIDERS[request.param]()
    with server as mock:
        config = tmp_path / "relaykit.toml"
        config.write_text(
            json_to_toml({"storage": {"backend": "none"}, "providers": providers(mock)})
        )
        yield mock, model, config


def json_to_toml(data: dict[str, Any]) -> str:
    lines = []
    for section, table in data.items():
        if section == "providers":
            for name, settings in table.items():
                lines.append(f"[providers.{name}]")
                lines += [f"{k} = {json.dumps(v)}" for k, v in settings.items()]
        else:
            lines.append(f"[{section}]")
            lines += [f"{k} = {json.dumps(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_prompt_streams_from_each_provider(
    provider: tuple[VendorMock, str, Path], backend: str, capsys: pytest.CaptureFixture[str]
) -> None:
    mock, model, config = provider
    mock.script.reply("Bonjour from the loopback server")
    code = main(["--config", str(config), "--backend", backend, "prompt", "-m", model, "Say hello"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert out.out.strip() == "Bonjour from the loopback server"


def test_prompt_errors_are_one_line(
    provider: tuple[VendorMock, str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    mock, model, config = provider
    mock.script.fail(404, "no such model")
    code = main(["--config", str(config), "prompt", "-m", model, "-o", "max_tokens=5", "hi"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err


def test_count_tokens_from_each_provider(
    provider: tuple[VendorMock, str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    mock, model, config = provider
    argv = ["--config", str(config), "prompt", "--json", "--count-tokens", "-m", model]
    code = main([*argv, "-s", "Answer briefly.", "How many words is this prompt?"])
    out = capsys.readouterr()
    assert code == 0, out.err
    count = json.loads(out.out)
    # The vendors that count (their mocks: a token a word) answer exactly, the
    # others are estimated from characters (a token per four).
    exact = model.split("/")[0] in ("anthropic", "bedrock", "gemini", "openai")
    assert count == {"input_tokens": 8 if exact else 11, "exact": exact}
    assert bool(mock.requests) == exact, "only a counter is asked"
