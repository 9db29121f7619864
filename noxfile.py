"""Development tasks. ``nox`` runs tests, lint and typing.

``nox -s lowest`` runs the tests on the lowest dependency versions the
pyproject files allow. ``nox -s bench``, ``nox -s compare`` and ``nox -s gateway``
run the benchmarks (see docs/benchmarks.md), ``nox -s observability`` and ``nox -s pii``
the observability ones (docs/benchmarks-observability.md).
"""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.default_venv_backend = "uv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests", "lint", "typing"]

PLUGINS = sorted(str(p) for p in Path("plugins").glob("*/src/relaykit_*"))
# Libraries plugins share (relaykit-google-auth), not plugins themselves.
LIBS = sorted(str(p) for p in Path("libs").glob("*/src/relaykit_*"))
CONTRIB = sorted(str(p) for p in Path("contrib").glob("*/src/relaykit_*"))
TYPED = ["core/src/relaykit", *PLUGINS, *LIBS, *CONTRIB, "bench", "noxfile.py"]


def sync(session: nox.Session, *groups: str) -> None:
    """Install the workspace (core and every plugin) and the dev tools at uv.lock's versions.

    ``groups`` adds dependency groups from pyproject.toml (e.g. ``bench``).
    """
    session.run_install(
        "uv",
        "sync",
        "--locked",
        *(f"--group={group}" for group in groups),
        f"--python={session.virtualenv.location}",
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
    )


@nox.session
def tests(session: nox.Session) -> None:
    """pytest; the root conftest runs every async test under asyncio and trio."""
    sync(session)
    session.run("pytest", *session.posargs)


@nox.session
def lowest(session: nox.Session) -> None:
    """pytest on the lowest versions every pyproject.toml allows (uv's ``lowest-direct``).

    A floor that is not true (code using what a later release of a dependency
    added) fails here instead of on a user's machine. Installed with ``uv pip``
    into the session's environment, so uv.lock stays as it is.
    """
    members = ["core", *sorted(str(p.parent) for p in Path().glob("*/*/pyproject.toml"))]
    session.run_install(
        "uv",
        "pip",
        "install",
        "--resolution=lowest-direct",
        "--group=dev",
        *(arg for member in members for arg in ("-e", member)),
        f"--python={session.virtualenv.location}",
    )
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff's lints and its formatter, checking only (ruff at uv.lock's version)."""
    sync(session)
    session.run("ruff", "check", *session.posargs, ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typing(session: nox.Session) -> None:
    """mypy --strict (configured in pyproject.toml) over the sources, the bench and this file.

    The bench group is installed so bench/compare.py's imports of the compared
    clients (openai, anthropic, litellm, matplotlib) type-check.
    """
    sync(session, "bench")
    session.run("mypy", *(session.posargs or TYPED))


@nox.session
def bench(session: nox.Session) -> None:
    """Client CPU per request and import cost; see docs/benchmarks.md.

    Arguments go to the benchmark: ``nox -s bench -- --backend trio --seconds 2``.
    """
    sync(session)
    session.run("python", "bench/client_overhead.py", *session.posargs)


@nox.session
def observability(session: nox.Session) -> None:
    """What tracing, metrics, redaction and a limiter add to a call's client CPU, and
    the Redis limiter's decisions/s; see docs/benchmarks-observability.md.

    Arguments go to the benchmark, e.g. the reading closest to production:
    ``nox -s observability -- --realistic --no-redis --tracer lean``.
    """
    sync(session)
    session.run("python", "bench/observability.py", *session.posargs)


@nox.session
def pii(session: nox.Session) -> None:
    """The redactors alone (relaykit-pii's and the built-in secret one), by kind of
    text: ``nox -s pii -- --cases user,answer``."""
    sync(session)
    session.run("python", "bench/pii.py", *session.posargs)


@nox.session
def storage(session: nox.Session) -> None:
    """Records/s through the call log into SQLite (and PostgreSQL with ``--postgres DSN``),
    enqueue latency, cached ``models()``; see docs/benchmarks-storage.md. Chats that
    resend their history: ``nox -s storage -- --chats 10 --turns 60``; totals per
    caller read back: ``nox -s storage -- --totals --count 100000``."""
    sync(session)
    session.run("python", "bench/storage.py", *session.posargs)


@nox.session
def embeddings(session: nox.Session) -> None:
    """Client CPU per embeddings call: relaykit, raw HTTP and the openai SDK
    (``bench/embeddings.py``; pass its options after ``--``)."""
    sync(session, "bench")
    session.run("python", "bench/embeddings.py", *session.posargs)


@nox.session
def rerank(session: nox.Session) -> None:
    """Client CPU per rerank call: relaykit and raw HTTP (``bench/rerank.py``; pass its
    options after ``--``)."""
    sync(session, "bench")
    session.run("python", "bench/rerank.py", *session.posargs)


@nox.session
def transcribe(session: nox.Session) -> None:
    """Client CPU per transcription: relaykit and raw HTTP (``bench/transcribe.py``; pass
    its options after ``--``)."""
    sync(session, "bench")
    session.run("python", "bench/transcribe.py", *session.posargs)


@nox.session(name="speech-stream")
def speech_stream(session: nox.Session) -> None:
    """Time to the first chunk of streamed speech: relaykit and raw httpx
    (``bench/speech_stream.py``; pass its options after ``--``)."""
    sync(session, "bench")
    session.run("python", "bench/speech_stream.py", *session.posargs)


@nox.session(name="embedding-cache")
def embedding_cache(session: nox.Session) -> None:
    """The embeddings cache's storage round trips, SQLite and PostgreSQL
    (``bench/embedding_cache.py``; pass its options after ``--``)."""
    sync(session, "bench")
    session.run("python", "bench/embedding_cache.py", *session.posargs)


@nox.session(name="response-cache")
def response_cache(session: nox.Session) -> None:
    """A response-cache hit's latency and CPU from memory, SQLite and Redis
    (``bench/response_cache.py``; pass its options after ``--``)."""
    sync(session, "bench")
    session.run("python", "bench/response_cache.py", *session.posargs)


@nox.session(name="response-cache-instructions")
def response_cache_instructions(session: nox.Session) -> None:
    """A response-cache hit (and its decoding alone) in instructions, under valgrind
    (``bench/response_cache_instructions.py``; pass its options after ``--``)."""
    sync(session, "bench")
    session.run("python", "bench/response_cache_instructions.py", *session.posargs)


@nox.session
def gateway(session: nox.Session) -> None:
    """relaykit-gateway's CPU per request, req/s and latency (and LiteLLM's proxy's with
    ``-- --litellm PATH``); see docs/benchmarks.md#gateway."""
    sync(session)
    session.run("python", "bench/gateway.py", *session.posargs)


@nox.session
def compare(session: nox.Session) -> None:
    """relaykit next to raw aiohttp/httpx, the openai and anthropic SDKs and LiteLLM.

    Installs the ``bench`` dependency group (the other clients and matplotlib).
    Without arguments, the full run (~15 min) that writes docs/compare.png; arguments
    replace that: ``nox -s compare -- --quick``.
    """
    sync(session, "bench")
    args = session.posargs or ["--chart", "docs/compare.png"]
    session.run("python", "bench/compare.py", *args)
