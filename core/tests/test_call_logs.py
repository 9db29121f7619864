"""JSON call logs on relaykit.calls: one line per call, secrets masked, cheap when off."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

import relaykit
from relaykit.log_format import JsonFormatter
from relaykit.testing import FakePlugin, call_log_lines, capture_call_log

SECRET = "sk-proj-" + "Kk4" * 8


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The JSON lines relaykit.calls writes during the test."""
    with capture_call_log() as out:
        yield out


@pytest.mark.anyio
async def test_one_json_line_per_call(json_log: io.StringIO) -> None:
    fake = FakePlugin()
    fake.script.reply("fine", input_tokens=5, output_tokens=2)
    fake.script.fail(401, f"bad key {SECRET}")
    async with relaykit.Client({"storage": {"backend": "none"}}, plugins=[fake]) as client:
        await client.chat("fake/m", "hi", metadata={"correlation_id": "corr-9"})
        with pytest.raises(relaykit.AuthenticationError):
            await client.chat("fake/m", "hi")
    ok, failed = call_log_lines(json_log)
    assert ok["logger"] == "relaykit.calls"
    assert ok["level"] == "INFO"
    assert (ok["provider"], ok["model"], ok["stage"], ok["correlation_id"]) == (
        "fake",
        "m",
        "completed",
        "corr-9",
    )
    assert len(str(ok["request_id"])) == 32
    assert float(str(ok["latency"])) >= 0
    assert (ok["input_tokens"], ok["output_tokens"]) == (5, 2)
    assert (failed["stage"], failed["error_type"], failed["status"]) == (
        "failed",
        "AuthenticationError",
        401,
    )
    assert SECRET not in json_log.getvalue()


@pytest.mark.anyio
async def test_a_call_line_has_its_cache_and_reasoning_tokens_and_its_cost(
    json_log: io.StringIO,
) -> None:
    fake = FakePlugin()
    fake.script.reply(
        "cached",
        input_tokens=1000,
        output_tokens=40,
        cached_input_tokens=600,
        cache_write_input_tokens=300,
        cache_write_1h_input_tokens=100,
        reasoning_tokens=25,
    )
    fake.script.reply("plain", input_tokens=10, output_tokens=2)
    config = {"storage": {"backend": "none"}, "cache": {"enabled": True}}
    async with relaykit.Client(config, plugins=[fake]) as client:
        first = await client.chat("fake/m", "hi", temperature=0)
        hit = await client.chat("fake/m", "hi", temperature=0)  # from relaykit's cache
        await client.chat("fake/m", "other")
    assert hit.cache_hit
    cached, from_cache, plain = call_log_lines(json_log)
    assert (
        cached["input_tokens"],
        cached["cached_input_tokens"],
        cached["cache_write_input_tokens"],
        cached["cache_write_1h_input_tokens"],
        cached["output_tokens"],
        cached["reasoning_tokens"],
    ) == (1000, 600, 300, 100, 40, 25)
    assert first.cost is not None and cached["cost_usd"] == float(first.cost)
    assert "cache_hit" not in cached
    # A hit repeats the provider's counts but cost nothing: the line says why.
    assert (from_cache["cache_hit"], from_cache["cost_usd"]) == (True, 0.0)
    assert from_cache["cache_write_input_tokens"] == 300
    # Counts a call does not have are left out, as on the span.
    details = {"cached_input_tokens", "cache_write_input_tokens", "cache_write_1h_input_tokens"}
    assert not (details | {"reasoning_tokens"}) & set(plain)


def test_the_formatter_masks_secrets_in_messages_arguments_and_extras() -> None:
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "token %s", (SECRET,), None)
    record.api = f"Bearer {SECRET}"
    out = json.loads(JsonFormatter().format(record))
    assert out["message"] == "token [REDACTED]"
    assert out["api"] == "Bearer [REDACTED]"


def test_extra_fields_never_overwrite_the_lines_own() -> None:
    # logger.info("...", extra={"level": "debug", "time": 0}) replaced the record's
    # level and time (and a gateway worker's pid), so shippers filtered on a lie.
    record = logging.LogRecord("relaykit.x", logging.WARNING, __file__, 1, "m", (), None)
    extras = {"time": 0, "level": "debug", "logger": "other", "pid": 1, "stack": "s"}
    extras |= {"exception": "e", "extra_level": "mine"}
    for key, value in extras.items():
        setattr(record, key, value)
    out = json.loads(JsonFormatter(fields={"pid": 42}).format(record))
    assert (out["level"], out["logger"], out["pid"]) == ("WARNING", "relaykit.x", 42)
    assert out["time"].startswith("19") or out["time"].startswith("20")
    assert "stack" not in out and "exception" not in out  # none on this record
    assert (out["extra_time"], out["extra_logger"], out["extra_pid"]) == (0, "other", 1)
    assert (out["extra_stack"], out["extra_exception"]) == ("s", "e")
    # a prefixed name that is itself taken is prefixed again, and nothing is lost
    assert {out["extra_level"], out["extra_extra_level"]} == {"mine", "debug"}


@pytest.mark.anyio
async def test_a_line_with_text_utf8_cannot_encode_still_reaches_a_utf8_log_file(
    tmp_path: Path,
) -> None:
    # A lone surrogate in the caller's model id went into the line as it was
    # (ensure_ascii=False): a UTF-8 file or stream could not write it, so logging
    # printed "--- Logging error ---" to stderr and the call's line was lost.
    path = tmp_path / "calls.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(JsonFormatter())
    calls = logging.getLogger("relaykit.calls")
    level, calls.level = calls.level, logging.INFO
    calls.addHandler(handler)
    # Not on to pytest's own capture: xdist cannot send a report holding the surrogate.
    calls.propagate = False
    try:
        async with relaykit.Client({"storage": {"backend": "none"}}, plugins=[FakePlugin()]) as c:
            await c.chat("fake/half-\ud83d ✓", "hi")
    finally:
        calls.propagate = True
        calls.removeHandler(handler)
        calls.setLevel(level)
        handler.close()
    (line,) = path.read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["model"] == "half-\ud83d ✓"  # JSON's escape gives it back


def test_a_number_json_cannot_hold_is_written_as_text() -> None:
    # json.dumps writes NaN and Infinity bare: not JSON, a log shipper rejects the line.
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", (), None)
    record.ratio, record.big = float("nan"), float("-inf")
    line = JsonFormatter().format(record)
    out = json.loads(line, parse_constant=lambda name: pytest.fail(f"{name} in {line}"))
    assert (out["ratio"], out["big"]) == ("nan", "-inf")


@pytest.mark.anyio
async def test_nothing_is_formatted_when_the_logger_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from relaykit import call_outcomes

    called: list[object] = []

    def call_fields(**kw: object) -> dict[str, object]:
        called.append(kw)
        return kw

    monkeypatch.setattr(call_outcomes, "call_fields", call_fields)
    logger = logging.getLogger("relaykit.calls")
    old = logger.level
    logger.setLevel(logging.WARNING)
    try:
        async with relaykit.Client(
            {"storage": {"backend": "none"}}, plugins=[FakePlugin()]
        ) as client:
            await client.chat("fake/m", "hi")
    finally:
        logger.setLevel(old)
    assert called == []


@pytest.mark.anyio
async def test_configured_metadata_rides_on_the_line_and_nothing_else(
    json_log: io.StringIO,
) -> None:
    fake = FakePlugin()
    config = {"storage": {"backend": "none"}, "telemetry": {"log_metadata": ["user", "team"]}}
    async with relaykit.Client(config, plugins=[fake]) as client:
        await client.chat("fake/m", "hi", metadata={"user": f"u-7 {SECRET}", "secret_plan": "x"})
        await client.chat("fake/m", "hi")
    named, bare = call_log_lines(json_log)
    assert named["metadata"] == {"user": "u-7 [REDACTED]"}
    assert "metadata" not in bare
    assert "secret_plan" not in json_log.getvalue()


def test_log_metadata_must_name_metadata() -> None:
    with pytest.raises(relaykit.ConfigError, match=r"telemetry\.log_metadata") as caught:
        relaykit.load_config({"telemetry": {"log_metadata": ["user", ""]}})
    assert "gateway_key" in (caught.value.hint or "")
