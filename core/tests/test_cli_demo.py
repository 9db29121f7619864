"""``relaykit demo``: offline, quick, exit code 0, and it shows the retries."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from relaykit.cli import main


def test_demo_runs_in_process_on_trio(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--backend", "trio", "demo"]) == 0

    out = capsys.readouterr().out
    assert "< echo: Hello, relaykit!" in out
    assert "< Streaming works: each piece is printed the moment it arrives." in out
    assert '< tool call get_weather({"city": "Paris"})' in out
    assert "< It is 18 C and sunny in Paris." in out
    assert "> tool result 'Lyon: 18 C, sunny', sent back by relaykit" in out  # run_tools
    assert "< Lyon is sunny at 18 C." in out
    assert "  [1] Python downloads - https://www.python.org/downloads/" in out  # web search
    assert "1 web search billed" in out
    assert "status: ended, 2 succeeded, 0 errored" in out  # the batch
    assert "< q2: Blue  ($" in out
    assert out.count("2 attempts") == 2  # the 429 and the 500 were both retried
    assert "AuthenticationError (status 401" in out
    assert "ContextLengthError (status 400" in out
    assert "openai/gpt-4o-mini     128,000" in out
    assert "served by the fallback: backup/gpt-4o-mini" in out
    assert "CircuitOpenError, 0 HTTP requests sent" in out
    assert "(cache hit: True, cost $0" in out
    assert "< 2 vectors of 8 numbers, 10 tokens" in out
    assert "< again with one new text: 3 vectors, 3 tokens sent" in out
    assert "< 0.35 #1: To reset your password, open Settings, then Security." in out
    assert "< 'What a lovely day for a walk': not flagged" in out
    assert "< 'I will kill you': flagged (" in out and "violence" in out
    assert "< 5 chunks, 17,162 bytes of wav: the first after" in out
    assert "< GeneratedImage(image/png, 128 bytes, 8x8)" in out  # the edit
    assert "tokens in (the image is input too)" in out


def test_demo_ignores_the_users_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RELAYKIT_RETRY_ATTEMPTS", "1")  # would make the retry steps fail
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")

    assert main(["demo"]) == 0
    assert capsys.readouterr().out.count("2 attempts") == 2


def test_python_m_relaykit_cli_demo_exits_0() -> None:
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    done = subprocess.run(
        [sys.executable, "-m", "relaykit.cli", "demo"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "retried after the server's Retry-After" in done.stdout
    assert "21 steps" in done.stdout


def test_the_closing_hint_says_uv_run_when_the_demo_ran_under_uv_run() -> None:
    """The README's quick start is `uv run relaykit demo`: its shell has no `relaykit`
    on PATH, so the hint to try it for real must begin with `uv run` too."""
    from relaykit.cli.demo import try_it_for_real

    under_uv = try_it_for_real({"UV": "/usr/bin/uv", "UV_RUN_RECURSION_DEPTH": "1"})
    hint = "Try it for real: OPENAI_API_KEY=... uv run relaykit prompt"
    assert under_uv == f"{hint} -m openai/gpt-4o-mini 'Hello'"
    assert "uv run" not in try_it_for_real({})  # installed with pip: relaykit is on PATH
