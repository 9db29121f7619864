"""relaykit-statsd, received by a real UDP socket."""

from __future__ import annotations

import socket
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest

import relaykit
from relaykit import CallRecord, hookimpl
from relaykit.testing import FakePlugin, MemoryStorage, Reply, bare_record
from relaykit_statsd import StatsdExporter


@pytest.fixture
def receiver() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(2)
    yield sock
    sock.close()


def received(sock: socket.socket) -> list[str]:
    lines: list[str] = []
    sock.settimeout(0.2)
    try:
        while True:
            lines += sock.recv(65536).decode().split("\n")
    except TimeoutError:
        return lines


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("port", "x", "a port number from 0 to 65535"),
        ("port", 70000, "a port number from 0 to 65535"),
        ("port", None, "a port number from 0 to 65535"),
        ("max_packet", "big", "a whole number from 1"),
        ("max_packet", float("inf"), "a whole number from 1"),
    ],
)
def test_a_number_of_the_wrong_kind_is_a_config_error_naming_the_key(
    key: str, value: object, expected: str
) -> None:
    """port = "x" raised ValueError from int(), port = inf OverflowError."""
    with pytest.raises(relaykit.ConfigError) as info:
        relaykit.Client({"storage": {"backend": "none"}, "exporters": {"statsd": {key: value}}})
    assert f"exporters.statsd.{key} must be {expected}" in str(info.value)


@pytest.mark.anyio
@pytest.mark.parametrize("tags", [False, True])
async def test_calls_arrive_as_statsd_lines(receiver: socket.socket, tags: bool) -> None:
    fake = FakePlugin()
    fake.script.push(
        Reply(text="ok", input_tokens=100, output_tokens=20), Reply.failure(400, "bad")
    )
    port = receiver.getsockname()[1]
    config = {"storage": {"backend": "none"}, "exporters": {"statsd": {"port": port, "tags": tags}}}
    async with relaykit.Client(config, plugins=[fake]) as client:
        await client.chat("fake/gpt-4o-mini", "hi")
        with pytest.raises(relaykit.InvalidRequestError):
            await client.chat("fake/gpt-4o-mini", "hi")
        (exporter,) = client.exporters
        assert isinstance(exporter, StatsdExporter)
        # two calls, plus the deployment's breaker state the first time it is seen
        assert (exporter.sent, exporter.dropped) == (3, 0)
    lines = received(receiver)
    if tags:
        assert (
            "relaykit.requests:1|c|#gen_ai_operation_name:chat,gen_ai_provider_name:fake,"
            "gen_ai_request_model:gpt-4o-mini" in lines
        )
        assert any(
            line.startswith("relaykit.gen_ai.client.token.usage:100|h|#")
            and "gen_ai_token_type:input" in line
            for line in lines
        )
        assert any(
            line.startswith("relaykit.errors:1|c|#") and "error_type:InvalidRequestError" in line
            for line in lines
        )
        timers = [
            line for line in lines if line.startswith("relaykit.gen_ai.client.operation.duration:")
        ]
    else:
        assert "relaykit.requests.chat.fake.gpt-4o-mini:1|c" in lines
        # Plain StatsD has no histogram type: its reference daemon (Etsy's) takes
        # an unknown type such as |h for a counter, summing token counts instead of
        # keeping their distribution. A timer (|ms) is its distribution type.
        assert "relaykit.gen_ai.client.token.usage.chat.fake.gpt-4o-mini.input:100|ms" in lines
        assert "relaykit.errors.chat.fake.gpt-4o-mini.InvalidRequestError:1|c" in lines
        timers = [
            line for line in lines if line.startswith("relaykit.gen_ai.client.operation.duration.")
        ]
    assert len(timers) == 2
    assert all("|ms" in t for t in timers)


def test_nobody_listening_drops_instead_of_blocking_or_raising() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # now nothing listens there: the OS reports the port unreachable
    exporter = StatsdExporter(port=port)
    record = bare_record()
    for _ in range(50):
        exporter.record(record)
    exporter.close()
    assert exporter.sent + exporter.dropped == 50
    assert exporter.dropped >= 1


def test_large_events_are_split_into_packets(receiver: socket.socket) -> None:
    exporter = StatsdExporter(port=receiver.getsockname()[1], tags=True, max_packet=120)
    record = bare_record(
        latency=0.25,
        attempts=3,
    )
    exporter.record(record)
    exporter.close()
    assert exporter.sent >= 3
    lines = received(receiver)
    assert (
        "relaykit.gen_ai.client.operation.duration:250|ms|#gen_ai_operation_name:chat,gen_ai_provider_name:p,"
        "gen_ai_request_model:m" in lines
    )


@pytest.mark.anyio
async def test_a_model_name_that_is_not_valid_utf8_neither_fails_the_call_nor_the_lines(
    receiver: socket.socket,
) -> None:
    # A lone surrogate in a caller's model id reached a DogStatsD tag as it was:
    # encoding the datagram raised UnicodeEncodeError out of record(), and so out
    # of a call that had succeeded.
    fake = FakePlugin()
    port = receiver.getsockname()[1]
    config = {"storage": {"backend": "none"}, "exporters": {"statsd": {"port": port, "tags": True}}}
    async with relaykit.Client(config, plugins=[fake]) as client:
        response = await client.chat("fake/half-\ud83d", "hi")
    assert response.text
    lines = received(receiver)  # decodes each datagram as UTF-8
    assert (
        "relaykit.requests:1|c|#gen_ai_operation_name:chat,gen_ai_provider_name:fake,"
        + ("gen_ai_request_model:half-\\ud83d")
        in lines
    )


def test_datagrams_stay_within_max_packet_bytes_with_non_ascii_tags() -> None:
    # max_packet is the datagram's size in bytes (what the MTU limits); counting
    # characters let a model name in another script make datagrams up to twice
    # as large (é is two bytes in UTF-8, 日 three).
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(0.2)
    exporter = StatsdExporter(port=rx.getsockname()[1], tags=True, max_packet=300)
    exporter.record(bare_record(model="日本語モデル" * 5, latency=0.5, attempts=2))
    exporter.close()
    sizes = []
    try:
        while True:
            sizes.append(len(rx.recv(65536)))
    except TimeoutError:
        pass
    finally:
        rx.close()
    assert len(sizes) == exporter.sent >= 2
    assert max(sizes) <= 300, sizes


def test_a_cost_under_a_millionth_of_a_dollar_is_sent_not_rounded_to_zero(
    receiver: socket.socket,
) -> None:
    # Values were written with six decimals: an embedding of a few hundred tokens
    # ($0.02 per million: 4e-7 USD) sent relaykit.cost:0, and the spend of every
    # such call was lost from the counter.
    from decimal import Decimal

    exporter = StatsdExporter(port=receiver.getsockname()[1], tags=True)
    exporter.record(bare_record(operation="embeddings", cost=Decimal("0.0000004"), latency=2.5e-5))
    exporter.close()
    lines = received(receiver)
    (cost,) = [line for line in lines if line.startswith("relaykit.cost:")]
    assert cost.split("|")[0] == "relaykit.cost:0.0000004"
    (timer,) = [line for line in lines if ".duration:" in line]
    assert timer.split("|")[0].endswith(":0.025")  # ms


def test_a_model_name_longer_than_a_datagram_is_cut_not_dropped(receiver: socket.socket) -> None:
    # A caller's model id of 70,000 characters (a gateway passes on what clients
    # send): every line of the call was longer than a UDP datagram can be (65,507
    # bytes), so the OS refused each and the call's metrics were all lost.
    exporter = StatsdExporter(port=receiver.getsockname()[1], tags=True)
    exporter.record(bare_record(model="m" * 70_000, latency=0.5))
    exporter.close()
    assert exporter.dropped == 0
    lines = received(receiver)
    (requests,) = [line for line in lines if line.startswith("relaykit.requests:")]
    assert len(requests) < 1000
    assert requests.endswith("gen_ai_request_model:" + "m" * 255 + "…")


@pytest.mark.parametrize("prefix", ["my app", "svc:relaykit", "a|b", "a#b", "a\nb"])
def test_a_prefix_that_would_break_the_line_format_is_a_config_error(prefix: str) -> None:
    # The prefix went into every name as written: "svc:relaykit" made each line
    # "svc:relaykit.requests:1|c", which a server reads as a metric "svc" of value
    # "relaykit.requests" and drops (or worse, with a space or a newline).
    with pytest.raises(relaykit.ConfigError, match=r"exporters\.statsd\.prefix"):
        relaykit.Client(
            {"storage": {"backend": "none"}, "exporters": {"statsd": {"prefix": prefix}}}
        )


@pytest.mark.parametrize("host", ["::1", "[::1]"])
def test_an_ipv6_host_is_sent_to_bracketed_or_not(host: str) -> None:
    # "[::1]", as a URL writes it, was a ConfigError: "cannot resolve the StatsD host".
    rx = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    rx.bind(("::1", 0))
    try:
        exporter = StatsdExporter(host=host, port=rx.getsockname()[1])
        exporter.record(bare_record())
        exporter.close()
        rx.settimeout(2)
        assert rx.recv(65536).startswith(b"relaykit.requests.chat.p.m:1|c")
    finally:
        rx.close()


def test_unknown_keys_are_config_errors() -> None:
    with pytest.raises(relaykit.ConfigError, match=r"exporters\.statsd"):
        relaykit.Client({"storage": {"backend": "none"}, "exporters": {"statsd": {"hots": "x"}}})


@pytest.mark.parametrize("tags", [False, True])
@pytest.mark.parametrize("prefix", ["relaykit", ""])
def test_each_datagram_holds_format_lines_of_each_observation(tags: bool, prefix: str) -> None:
    # The exporter formats from parts it works out once per instrument and
    # attributes, straight from call records (CallFold): the same lines as
    # format_lines of each observation of each event, in order.
    from decimal import Decimal

    import attrs

    from relaykit import metrics
    from relaykit.gauge_events import BreakerState, QueueDepth
    from relaykit.response import Usage
    from relaykit_statsd.exporter import format_lines

    base = bare_record()
    events: list[object] = []
    for i in range(60):
        events.append(
            attrs.evolve(
                base,
                provider=("openai", "gemini", "we|ird")[i % 3],
                model=("gpt-4o.mini", "a b,c#d", "", "x:y")[i % 4],
                error_type=(None, "RateLimitError")[i % 2],
                latency=None if i % 7 == 0 else i / 3,
                usage=Usage(i % 5 * 1000, i % 3),
                streamed=i % 2 == 0,
                time_to_first_token=i / 7 if i % 3 else None,
                attempts=1 + i % 3,
                fallbacks=i % 4 // 3,
                cache_hit=i % 5 == 0,
                cost=Decimal(i) / 7000 if i % 4 else None,
            )
        )
        if i % 10 == 0:
            events += [QueueDepth(i), BreakerState("p", f"m{i}", "half_open")]
    exporter = StatsdExporter(prefix=prefix, tags=tags, max_packet=65_000)
    sent: list[str] = []
    exporter._send = sent.append  # type: ignore[method-assign, assignment]
    for event in events:
        exporter.record(event)
    exporter.close()
    expected = [
        "\n".join(format_lines(o, prefix, tags) for o in metrics.observe(event)) for event in events
    ]
    assert sent == expected


class BrokenStore:
    """``[cache] backend = "broken"``: a cache store whose every lookup and write raises."""

    async def cached_response(self, key: str) -> tuple[float, str] | None:
        raise ConnectionError("the store is down")

    async def cache_response(self, key: str, expires_at: float, response: str) -> None:
        raise ConnectionError("the store is down")

    @hookimpl
    def relaykit_response_cache(self, name: str, config: Any) -> Any:
        return self if name == "broken" else None


@pytest.mark.anyio
@pytest.mark.parametrize("backend", ["broken", "memory"])
async def test_cache_store_errors_arrive_as_counters(receiver: socket.socket, backend: str) -> None:
    port = receiver.getsockname()[1]
    config = {
        "storage": {"backend": "none"},
        "cache": {"enabled": True, "backend": backend},
        "exporters": {"statsd": {"port": port, "tags": True}},
    }
    async with relaykit.Client(config, plugins=[FakePlugin(), BrokenStore()]) as client:
        await client.chat("fake/m", "hi", temperature=0)
    errors = sorted(line for line in received(receiver) if "cache.errors" in line)
    if backend == "memory":
        assert errors == []
    else:
        assert errors == [
            "relaykit.cache.errors:1|c|#relaykit_cache_operation:get",
            "relaykit.cache.errors:1|c|#relaykit_cache_operation:put",
        ]


class DownStorage(MemoryStorage):
    """A storage whose every write fails as a refused connection does."""

    async def write_batch(self, records: Sequence[CallRecord]) -> None:
        raise relaykit.StorageUnavailableError("connection refused")


@pytest.mark.anyio
async def test_a_storage_outage_arrives_as_counters_and_a_gauge(
    receiver: socket.socket, tmp_path: Path
) -> None:
    port = receiver.getsockname()[1]
    config = {
        "storage": {
            "backend": "memory",
            "retry_for": 0,  # spill at the first failure
            "close_timeout": 1,
            "spill_path": str(tmp_path / "spill.jsonl"),
        },
        "exporters": {"statsd": {"port": port, "tags": True}},
    }
    async with relaykit.Client(config, plugins=[FakePlugin(), DownStorage().plugin()]) as client:
        await client.chat("fake/m", "hi")
    lines = [line for line in received(receiver) if ".storage." in line]
    failing = [line for line in lines if ".failing:" in line]
    assert failing == ["relaykit.storage.failing:0|g", "relaykit.storage.failing:1|g"]
    assert "relaykit.storage.write_failures:1|c|#error_type:StorageUnavailableError" in lines
    assert "relaykit.storage.records_spilled:1|c|#relaykit_storage_reason:unavailable" in lines
    assert not [line for line in lines if "records_lost" in line]  # nothing lost: nothing sent


@pytest.mark.anyio
async def test_the_failing_gauge_is_sent_once_at_start(receiver: socket.socket) -> None:
    """A healthy storage sends 0 once when the client starts: an alert on
    ``failing == 1`` then sees a series, not "no data"."""
    port = receiver.getsockname()[1]
    config = {"storage": {"backend": "memory"}, "exporters": {"statsd": {"port": port}}}
    async with relaykit.Client(config, plugins=[FakePlugin(), MemoryStorage().plugin()]) as client:
        before = received(receiver)  # before any call
        await client.chat("fake/m", "hi")
        await client.chat("fake/m", "hi")
    after = received(receiver)
    assert [line for line in before if ".failing:" in line] == ["relaykit.storage.failing:0|g"]
    assert not [line for line in after if ".failing:" in line]  # healthy writes: nothing more


def test_a_name_that_starts_with_the_prefix_does_not_get_it_twice() -> None:
    from relaykit_statsd.exporter import metric_name

    assert metric_name("relaykit", "relaykit.requests") == "relaykit.requests"
    assert metric_name("relaykit", "gen_ai.client.token.usage") == (
        "relaykit.gen_ai.client.token.usage"
    )
    assert metric_name("relaykitx", "relaykit.requests") == "relaykitx.relaykit.requests"
    assert metric_name("", "relaykit.requests") == "relaykit.requests"


def test_estimated_usage_is_sent_apart_from_the_token_usage_timer(
    receiver: socket.socket,
) -> None:
    # gen_ai.client.token.usage holds the vendor's counts only (the GenAI conventions
    # forbid estimates there): relaykit's go to a counter of their own.
    exporter = StatsdExporter(port=receiver.getsockname()[1], tags=True)
    exporter.record(bare_record(usage=relaykit.Usage(100, 20)))
    exporter.record(bare_record(usage=relaykit.Usage(1000, 200), usage_estimated=True))
    exporter.close()
    lines = received(receiver)
    usage = sorted(line.split("|")[0] for line in lines if ".token.usage:" in line)
    assert usage == [
        "relaykit.gen_ai.client.token.usage:100",
        "relaykit.gen_ai.client.token.usage:20",
    ]
    estimated = sorted(line.split("|#")[0] for line in lines if "estimated_tokens" in line)
    assert estimated == [
        "relaykit.usage.estimated_tokens:1000|c",
        "relaykit.usage.estimated_tokens:200|c",
    ]


@pytest.mark.anyio
@pytest.mark.parametrize("tags", [False, True])
async def test_the_provider_is_the_conventions_name_and_a_named_table_adds_its_own(
    receiver: socket.socket, tags: bool
) -> None:
    # [providers.work] type = "anthropic" was sent as gen_ai_provider_name:work.
    # A provider named after its type is sent as before (no relaykit_provider).
    port = receiver.getsockname()[1]
    config = {
        "storage": {"backend": "none"},
        "providers": {"work": {"type": "fake"}},
        "exporters": {"statsd": {"port": port, "tags": tags}},
    }
    async with relaykit.Client(config, plugins=[FakePlugin(genai_provider_name="anthropic")]) as c:
        await c.chat("work/m", "hi")
        await c.chat("fake/m", "hi")
    lines = received(receiver)
    if tags:
        assert (
            "relaykit.requests:1|c|#gen_ai_operation_name:chat,gen_ai_provider_name:anthropic,"
            "gen_ai_request_model:m,relaykit_provider:work" in lines
        )
        assert (
            "relaykit.requests:1|c|#gen_ai_operation_name:chat,gen_ai_provider_name:anthropic,"
            "gen_ai_request_model:m" in lines
        )
    else:
        assert "relaykit.requests.chat.anthropic.m.work:1|c" in lines
        assert "relaykit.requests.chat.anthropic.m:1|c" in lines


class _MovingName:
    """A resolver for a name we control: it answers what ``points_to`` says now
    (a StatsD sidecar restarted under Kubernetes comes back at another address)."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.points_to = address
        self.fails = False
        self.asked: list[str] = []

    def __call__(self, host: str, port: int, **kwargs: Any) -> list[tuple[Any, ...]]:
        self.asked.append(host)
        if self.fails:
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return [(socket.AF_INET, socket.SOCK_DGRAM, 17, "", self.points_to)]


def _wait_for(predicate: Any) -> None:
    import time

    deadline = time.monotonic() + 2
    while not predicate():
        assert time.monotonic() < deadline, "the lookup's thread did not finish"
        time.sleep(0.005)


@pytest.mark.anyio
async def test_a_host_name_that_moves_is_looked_up_again_off_the_event_loop(
    receiver: socket.socket,
) -> None:
    # Resolved once at start, a restarted sidecar's new address never got a datagram.
    import threading

    moved = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    moved.bind(("127.0.0.1", 0))
    name = _MovingName(receiver.getsockname())
    loop_thread = threading.get_ident()
    threads: list[int] = []

    def resolver(host: str, port: int, **kwargs: Any) -> list[tuple[Any, ...]]:
        threads.append(threading.get_ident())
        return name(host, port, **kwargs)

    exporter = StatsdExporter(host="statsd.sidecar.test", resolve_interval=0.05, resolver=resolver)
    try:
        exporter.record(bare_record())
        assert any("relaykit.requests" in line for line in received(receiver))
        name.points_to = moved.getsockname()
        await anyio.sleep(0.06)
        exporter.record(bare_record())  # due: starts a lookup; this one goes to the old address
        _wait_for(lambda: exporter.re_resolved == 1)
        exporter.record(bare_record())
        assert any("relaykit.requests" in line for line in received(moved))
        assert threads[0] == loop_thread  # at build time only
        assert loop_thread not in threads[1:]  # later lookups: never on the event loop
        assert name.asked == ["statsd.sidecar.test"] * len(threads)
    finally:
        exporter.close()
        moved.close()


def test_a_failed_lookup_keeps_the_address_and_is_said_once(
    receiver: socket.socket, caplog: pytest.LogCaptureFixture
) -> None:
    import time

    name = _MovingName(receiver.getsockname())
    exporter = StatsdExporter(host="statsd.sidecar.test", resolve_interval=0.01, resolver=name)
    try:
        name.fails = True
        for _ in range(3):
            time.sleep(0.02)
            exporter.record(bare_record())
            _wait_for(lambda: not exporter._resolving.locked())
        assert len(name.asked) == 4
        lines = [line for line in received(receiver) if "relaykit.requests" in line]
        assert len(lines) == 3
        warned = [r.getMessage() for r in caplog.records if "cannot resolve" in r.getMessage()]
        assert len(warned) == 1 and "statsd.sidecar.test" in warned[0], warned
    finally:
        exporter.close()


def test_a_refused_datagram_looks_the_host_up_before_the_interval(
    receiver: socket.socket,
) -> None:
    import time

    gone = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    gone.bind(("127.0.0.1", 0))
    name = _MovingName(gone.getsockname())
    exporter = StatsdExporter(host="statsd.sidecar.test", resolve_interval=3600, resolver=name)
    try:
        gone.close()  # the sidecar went away: the OS answers "port unreachable"
        name.points_to = receiver.getsockname()
        exporter._last_lookup -= 2  # past the least gap between lookups (1 s)
        for _ in range(20):  # the refusal comes back as the error of a later send
            exporter.record(bare_record())
            if exporter.re_resolved:
                break
            time.sleep(0.02)
        _wait_for(lambda: exporter.re_resolved == 1)
        exporter.record(bare_record())
        assert any("relaykit.requests" in line for line in received(receiver))
        assert exporter.dropped >= 1
    finally:
        exporter.close()


def test_an_ip_address_is_never_looked_up_again(receiver: socket.socket) -> None:
    host, port = receiver.getsockname()
    name = _MovingName((host, port))
    exporter = StatsdExporter(host=host, port=port, resolve_interval=0.001, resolver=name)
    try:
        import time

        time.sleep(0.01)
        exporter.record(bare_record())
        assert exporter.resolve_interval == 0 and len(name.asked) == 1
    finally:
        exporter.close()


def test_resolve_interval_0_turns_lookups_off_and_others_are_checked() -> None:
    base = {"storage": {"backend": "none"}}
    with pytest.raises(relaykit.ConfigError, match=r"exporters\.statsd\.resolve_interval"):
        relaykit.Client({**base, "exporters": {"statsd": {"resolve_interval": -1}}})
    from relaykit_statsd.exporter import from_config

    exporter = from_config({"host": "localhost", "resolve_interval": 0})
    try:
        assert exporter.resolve_interval == 0
        assert exporter._resolve_at == float("inf")
    finally:
        exporter.close()


@pytest.mark.anyio
@pytest.mark.parametrize("tags", [False, True])
async def test_genai_histograms_carry_the_response_model_and_server_as_tags_only(
    receiver: socket.socket, tags: bool
) -> None:
    # The conventions recommend gen_ai.response.model and server.address (server.port
    # with it) on the gen_ai.client.* histograms. DogStatsD tags carry them; plain
    # StatsD's names stay as they were (a name's parts are read by position).
    port = receiver.getsockname()[1]
    config = {
        "storage": {"backend": "none"},
        "providers": {"fake": {"base_url": "http://llm.internal:8443/v1"}},
        "exporters": {"statsd": {"port": port, "tags": tags}},
    }
    fake = FakePlugin()
    fake.script.push(Reply(text="ok", input_tokens=7, output_tokens=2))
    async with relaykit.Client(config, plugins=[fake]) as client:
        await client.chat("fake/m", "hi")
    lines = received(receiver)
    if tags:
        genai = (
            "gen_ai_operation_name:chat,gen_ai_provider_name:fake,gen_ai_request_model:m,"
            "gen_ai_response_model:m,server_address:llm.internal,server_port:8443"
        )
        assert f"relaykit.gen_ai.client.token.usage:7|h|#{genai},gen_ai_token_type:input" in lines
        assert any(
            line.startswith("relaykit.gen_ai.client.operation.duration:")
            and line.endswith(f"|ms|#{genai}")
            for line in lines
        )
        # relaykit's own counters keep operation, provider and model
        assert (
            "relaykit.requests:1|c|#gen_ai_operation_name:chat,gen_ai_provider_name:fake,"
            "gen_ai_request_model:m" in lines
        )
    else:
        assert "relaykit.gen_ai.client.token.usage.chat.fake.m.input:7|ms" in lines
        assert "relaykit.requests.chat.fake.m:1|c" in lines
        assert not [line for line in lines if "llm_internal" in line or "8443" in line]


@pytest.mark.anyio
@pytest.mark.parametrize("tags", [False, True])
async def test_a_streams_time_per_output_chunk_arrives_as_timers(
    receiver: socket.socket, tags: bool
) -> None:
    fake = FakePlugin()
    fake.script.push(Reply(text="a" * 32, chunk_delay=0.05))  # four pieces: three after the first
    port = receiver.getsockname()[1]
    config = {"storage": {"backend": "none"}, "exporters": {"statsd": {"port": port, "tags": tags}}}
    async with (
        relaykit.Client(config, plugins=[fake]) as client,
        client.stream("fake/m", "hi") as s,
    ):
        async for _ in s:
            pass
    name = "relaykit.gen_ai.client.operation.time_per_output_chunk"
    timers = [
        line
        for line in received(receiver)
        if line.startswith(f"{name}:" if tags else f"{name}.chat.fake.m:")
    ]
    # DogStatsD: one line of three values (packed); plain StatsD: a line each
    values = [float(v) for t in timers for v in t.split("|")[0].split(":")[1:]]
    assert len(timers) == (1 if tags else 3)
    assert len(values) == 3
    # seconds sent as milliseconds, each after the fake's 50 ms delay
    assert all(v >= 50 for v in values)
    assert all(t.split("|")[1] == "ms" for t in timers)


def datagrams(sock: socket.socket) -> list[bytes]:
    found: list[bytes] = []
    sock.settimeout(0.2)
    try:
        while True:
            found.append(sock.recv(65536))
    except TimeoutError:
        return found


CHUNK = "relaykit.gen_ai.client.operation.time_per_output_chunk"


def test_dogstatsd_packs_a_streams_chunk_gaps_into_few_lines_within_max_packet(
    receiver: socket.socket,
) -> None:
    # A long stream sent one line per chunk gap (a thousand chunks: a thousand
    # lines, each repeating the name and tags). DogStatsD's protocol v1.1 takes
    # many values in one line (name:v1:v2:v3|ms|#tags), each line within max_packet.
    gaps = tuple(0.001 * (i % 97) + 0.0123 for i in range(1000))
    exporter = StatsdExporter(port=receiver.getsockname()[1], tags=True, max_packet=600)
    exporter.record(bare_record(streamed=True, latency=3.0, chunk_gaps=gaps))
    exporter.close()
    packets = datagrams(receiver)
    assert len(packets) == exporter.sent
    assert max(len(p) for p in packets) <= 600
    lines = [line for p in packets for line in p.decode().split("\n")]
    chunk_lines = [line for line in lines if line.startswith(f"{CHUNK}:")]
    values: list[float] = []
    for line in chunk_lines:
        head, kind, tags = line.split("|")
        assert kind == "ms"
        assert tags == "#gen_ai_operation_name:chat,gen_ai_provider_name:p,gen_ai_request_model:m"
        values += [float(v) for v in head[len(CHUNK) + 1 :].split(":")]
    # every gap, in order, in milliseconds; many a line
    assert values == pytest.approx([g * 1000 for g in gaps])
    assert len(chunk_lines) < 100
    # the other series still one value each
    assert (
        "relaykit.requests:1|c|#gen_ai_operation_name:chat,gen_ai_provider_name:p,"
        "gen_ai_request_model:m" in lines
    )


def test_a_packed_line_with_tags_longer_than_max_packet_carries_one_value() -> None:
    # A line that cannot fit max_packet even with one value goes alone, as before
    # (never an empty line, never a value lost).
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    try:
        exporter = StatsdExporter(port=rx.getsockname()[1], tags=True, max_packet=50)
        exporter.record(bare_record(streamed=True, chunk_gaps=(0.01, 0.02, 0.03)))
        exporter.close()
        lines = [line for p in datagrams(rx) for line in p.decode().split("\n")]
    finally:
        rx.close()
    chunk_lines = [line for line in lines if line.startswith(f"{CHUNK}:")]
    assert [line.split("|")[0] for line in chunk_lines] == [
        f"{CHUNK}:10",
        f"{CHUNK}:20",
        f"{CHUNK}:30",
    ]


@pytest.mark.parametrize("config", [{"tags": False}, {"tags": True, "pack_values": False}])
def test_one_line_per_value_without_packing(
    receiver: socket.socket, config: dict[str, Any]
) -> None:
    # Plain StatsD has no multi-value line (a ":" would be read as part of the
    # value), and a DogStatsD server older than protocol v1.1 (Agent 6.25/7.25)
    # neither: one timer line per value, as before.
    gaps = tuple(0.01 * (i + 1) for i in range(40))
    exporter = StatsdExporter(port=receiver.getsockname()[1], **config)
    exporter.record(bare_record(streamed=True, chunk_gaps=gaps))
    exporter.close()
    lines = [line for line in received(receiver) if line.startswith(CHUNK)]
    assert len(lines) == 40
    assert [float(line.split("|")[0].rsplit(":", 1)[1]) for line in lines] == pytest.approx(
        [g * 1000 for g in gaps]
    )


def test_pack_values_must_be_a_boolean() -> None:
    with pytest.raises(relaykit.ConfigError) as info:
        relaykit.Client(
            {"storage": {"backend": "none"}, "exporters": {"statsd": {"pack_values": "no"}}}
        )
    assert "exporters.statsd.pack_values" in str(info.value)
