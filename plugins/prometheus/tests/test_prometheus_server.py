"""relaykit-prometheus scraped by a real Prometheus server, checked through its query API.

The other tests parse the exposition with prometheus_client's own parser; this
one lets Prometheus itself negotiate the format, scrape, store and answer
PromQL, so what an operator's server would see is what is checked. It needs
the ``prometheus`` program (Debian's package; ``.ci/run`` installs it): the
test skips without it, and fails instead under ``CI=true``.
"""

from __future__ import annotations

import json
import random
import socket
import subprocess
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import attrs
import httpx
import pytest

import relaykit
from relaykit import metrics
from relaykit.testing import FakePlugin, RecordingExporter, Reply, require_program

# Prometheus accepts any scrape interval; a short one makes the wait for a
# fresh scrape a fraction of a second.
SCRAPE_INTERVAL = "200ms"
# Prometheus applies new targets every 5 s (not configurable in 2.42), so the
# first scrape comes about 5 s after it starts; the rest is slack for a busy machine.
TIMEOUT = 30.0

Labels = frozenset[tuple[str, str]]


def free_port() -> int:
    """A loopback port nothing listens on now, below the kernel's ephemeral range.

    A port the kernel handed out (bind to 0) is free only until the kernel hands
    it out again: any outgoing connection on this busy machine (Redis, the
    Prometheus API calls) could take it before Prometheus or the exporter binds
    it. Ports below the ephemeral range are never handed out, so only a program
    asking for that very number could.
    """
    ephemeral = Path("/proc/sys/net/ipv4/ip_local_port_range")  # Linux; elsewhere IANA's
    low = int(ephemeral.read_text().split()[0]) if ephemeral.exists() else 49_152
    rng = random.Random()
    for _ in range(100):
        port = rng.randrange(20_000, min(low, 32_768))
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue  # in use: try another
            return port
    raise RuntimeError("no free loopback port below the ephemeral range")


@attrs.frozen
class PrometheusServer:
    """A running ``prometheus`` scraping ``127.0.0.1:target_port/metrics``."""

    url: str
    target_port: int
    log: Path
    process: subprocess.Popen[bytes]

    def log_tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    """One Prometheus process for the module's tests (asyncio and trio alike).

    Sharing it saves its 5 s wait for the first scrape once per backend. The
    target port is fixed up front because Prometheus only learns targets from
    its config; each test serves its client's metrics there in turn.
    """
    program = require_program("prometheus", install="apt-get install prometheus")
    tmp = tmp_path_factory.mktemp("prometheus")
    target_port, port = free_port(), free_port()
    config = tmp / "prometheus.yml"
    # JSON is YAML, so no YAML writer is needed.
    config.write_text(
        json.dumps(
            {
                "global": {"scrape_interval": SCRAPE_INTERVAL, "scrape_timeout": SCRAPE_INTERVAL},
                "scrape_configs": [
                    {
                        "job_name": "relaykit",
                        "static_configs": [{"targets": [f"127.0.0.1:{target_port}"]}],
                    }
                ],
            }
        )
    )
    log = tmp / "prometheus.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [
                program,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=tmp,
        )
    try:
        server = PrometheusServer(f"http://127.0.0.1:{port}", target_port, log, process)
        wait_until_ready(server)
        yield server
    finally:
        # SIGTERM: Prometheus stops cleanly in milliseconds; SIGKILL only if it hangs.
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_ready(prometheus: PrometheusServer) -> None:
    """Return once Prometheus serves its API.

    It listens a moment before it is ready, and answers 503 meanwhile (to the
    API too): on a loaded machine the tests' first query landed there and failed.
    """
    deadline = time.monotonic() + TIMEOUT
    with httpx.Client(base_url=prometheus.url, trust_env=False, timeout=5) as http:
        while time.monotonic() < deadline:
            if prometheus.process.poll() is not None:
                pytest.fail(f"prometheus exited:\n{prometheus.log_tail()}")
            try:
                if http.get("/-/ready").status_code == 200:
                    return
            except httpx.TransportError:
                pass  # not listening yet
            time.sleep(0.05)
    pytest.fail(f"prometheus was not ready in {TIMEOUT} s:\n{prometheus.log_tail()}")


async def query(
    http: httpx.AsyncClient, promql: str, at: float | None = None
) -> dict[Labels, float]:
    """An instant query's vector: each series' labels (``__name__`` left out) -> value,
    evaluated at ``at`` (a Unix time; now if None)."""
    params = {"query": promql} if at is None else {"query": promql, "time": repr(at)}
    data = await api(http, "/api/v1/query", **params)
    assert data["resultType"] == "vector", data
    return {
        frozenset((k, v) for k, v in r["metric"].items() if k != "__name__"): float(r["value"][1])
        for r in data["result"]
    }


async def api(http: httpx.AsyncClient, path: str, **params: str) -> Any:
    response = await http.get(path, params=params)
    response.raise_for_status()
    body = response.json()
    assert body["status"] == "success", body
    return body["data"]


def prometheus_now() -> float:
    """The time as the Prometheus server reads it: the real clock.

    Not ``time.time()``, which the suite's ``--wall-clock-near`` check shifts in
    this process only.
    """
    return time.clock_gettime(time.CLOCK_REALTIME)


async def wait_for_scrape_after(
    http: httpx.AsyncClient, prometheus: PrometheusServer, since: float
) -> float:
    """Wait until the target is up and a scrape that started after ``since`` is
    stored; that scrape's time.

    A sample's timestamp is its scrape's start, and ``up`` is committed with
    the scraped samples, so a query evaluated at the returned time reads numbers
    taken after ``since``. Evaluated at "now" instead, a later scrape that failed
    (timed out on a loaded machine) marks every series stale and the query finds
    none (seen once: the buckets read, then their sums empty). Polled: the
    answer changes in another process.

    ``timestamp()`` must be given ``up`` itself: given an expression such as
    ``up == 1`` it answers the query's own evaluation time, so any target that
    was up at all looked freshly scraped (the test failed so on busy machines).
    """
    up = 'up{job="relaykit"}'
    fresh = f"timestamp({up}) > {since} and {up} == 1"  # (and keeps the left's values)
    with anyio.move_on_after(TIMEOUT):
        while True:
            if prometheus.process.poll() is not None:
                pytest.fail(f"prometheus exited:\n{prometheus.log_tail()}")
            try:
                targets = await api(http, "/api/v1/targets")
                if [t["health"] for t in targets["activeTargets"]] == ["up"]:
                    found = await query(http, fresh)
                    if found:
                        (scraped,) = found.values()
                        return scraped
            except httpx.TransportError:
                pass  # still starting
            await anyio.sleep(0.05)
    pytest.fail(
        f"no scrape of 127.0.0.1:{prometheus.target_port} in {TIMEOUT} s:\n{prometheus.log_tail()}"
    )


@pytest.mark.anyio
async def test_a_real_prometheus_scrapes_what_the_client_did(
    prometheus: PrometheusServer,
) -> None:
    fake = FakePlugin()
    # Served in call order: two answers for model a, for model b an answer, a
    # 404 and a 500 (not retried: attempts = 1). The delays spread latencies
    # over more than one duration bucket.
    fake.script.push(
        Reply(text="ok", input_tokens=100, output_tokens=20),
        Reply(text="ok", input_tokens=5, output_tokens=1, delay=0.05),
        Reply(text="ok", input_tokens=300, output_tokens=7, delay=0.02),
        Reply.failure(404, "no such model"),
        Reply.failure(500, "down"),
    )
    recording = RecordingExporter()
    config = {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1},
        "exporters": {"prometheus": {"port": prometheus.target_port}},
    }
    async with (
        relaykit.Client(config, plugins=[fake, recording]) as client,
        httpx.AsyncClient(base_url=prometheus.url, trust_env=False, timeout=5) as http,
    ):
        await client.chat("fake/a", "hi")
        # A scrape between the calls: the final numbers must come from a later one.
        await wait_for_scrape_after(http, prometheus, prometheus_now())
        await client.chat("fake/a", "hi")
        await client.chat("fake/b", "hi")
        with pytest.raises(relaykit.NotFoundError):
            await client.chat("fake/b", "hi")
        with pytest.raises(relaykit.ProviderUnavailableError):
            await client.chat("fake/b", "hi")

        # Prometheus scrapes all along (and kept the other backend's run): only
        # a scrape that began after the last call has this run's final numbers.
        at = await wait_for_scrape_after(http, prometheus, prometheus_now())

        requests = await query(
            http,
            "sum by (gen_ai_provider_name, gen_ai_request_model)"
            ' (relaykit_requests_total{job="relaykit"})',
            at,
        )
        assert requests == {
            frozenset({("gen_ai_provider_name", "fake"), ("gen_ai_request_model", "a")}): 2,
            frozenset({("gen_ai_provider_name", "fake"), ("gen_ai_request_model", "b")}): 3,
        }
        errors = await query(http, "sum by (error_type) (relaykit_errors_total)", at)
        assert errors == {
            frozenset({("error_type", "NotFoundError")}): 1,
            frozenset({("error_type", "ProviderUnavailableError")}): 1,
        }

        tokens = await query(
            http,
            "sum by (gen_ai_request_model, gen_ai_token_type) (gen_ai_client_token_usage_sum)",
            at,
        )
        assert tokens == {
            frozenset({("gen_ai_request_model", "a"), ("gen_ai_token_type", "input")}): 105,
            frozenset({("gen_ai_request_model", "a"), ("gen_ai_token_type", "output")}): 21,
            frozenset({("gen_ai_request_model", "b"), ("gen_ai_token_type", "input")}): 300,
            frozenset({("gen_ai_request_model", "b"), ("gen_ai_token_type", "output")}): 7,
        }
        token_buckets = await query(
            http,
            'gen_ai_client_token_usage_bucket{gen_ai_request_model="a",gen_ai_token_type="input"}',
            at,
        )
        by_le = {float(dict(labels)["le"]): v for labels, v in token_buckets.items()}
        # 5 and 100 input tokens: cumulative counts 0 below 16, 1 up to 64, 2 from 256.
        assert by_le == {
            bound: float((bound >= 5) + (bound >= 100))
            for bound in (*metrics.TOKEN_BUCKETS, float("inf"))
        }

        # Durations: Prometheus's buckets must hold exactly the latencies the
        # client recorded, per model and error type, with every GenAI bound.
        expected: Counter[tuple[str, str, float]] = Counter()
        sums: defaultdict[tuple[str, str], float] = defaultdict(float)
        for record in recording.records:
            assert record.latency is not None
            error = record.error_type or ""
            sums[record.model, error] += record.latency
            for bound in (*metrics.DURATION_BUCKETS, float("inf")):
                expected[record.model, error, bound] += record.latency <= bound
        assert len(recording.records) == 5
        buckets = await query(http, "gen_ai_client_operation_duration_seconds_bucket", at)
        assert {
            (
                dict(labels)["gen_ai_request_model"],
                dict(labels).get("error_type", ""),  # Prometheus drops empty labels
                float(dict(labels)["le"]),
            ): value
            for labels, value in buckets.items()
        } == {key: float(n) for key, n in expected.items()}
        duration_sums = await query(http, "gen_ai_client_operation_duration_seconds_sum", at)
        assert {
            (dict(labels)["gen_ai_request_model"], dict(labels).get("error_type", "")): value
            for labels, value in duration_sums.items()
        } == pytest.approx(dict(sums))
        # PromQL reads those buckets too: histogram_quantile over model a's
        # (an error-free series) gives what its interpolation over the expected counts gives.
        p99 = await query(
            http,
            "histogram_quantile(0.99,"
            ' gen_ai_client_operation_duration_seconds_bucket{gen_ai_request_model="a"})',
            at,
        )
        assert list(p99.values()) == [
            pytest.approx(quantile(0.99, {b: n for (m, _, b), n in expected.items() if m == "a"}))
        ]


def quantile(q: float, cumulative: dict[float, int]) -> float:
    """PromQL's histogram_quantile for finite ranks: linear within the bucket holding the rank."""
    bounds = sorted(cumulative)
    rank = q * cumulative[float("inf")]
    lower, below = 0.0, 0
    for bound in bounds[:-1]:
        if cumulative[bound] >= rank:
            return lower + (bound - lower) * (rank - below) / (cumulative[bound] - below)
        lower, below = bound, cumulative[bound]
    return lower  # in the +Inf bucket: Prometheus answers the highest finite bound
