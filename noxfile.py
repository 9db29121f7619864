"""Development tasks. ``nox`` runs tests, lint and typing.

``nox -s lowest`` runs the tests on the lowest dependency versions the
pyproject files allow. ``nox -s bench``, ``nox -s compare``, ``nox -s gateway`` and
``nox -s cli-startup`` run the benchmarks (see docs/benchmarks.md), ``nox -s observability``
and ``nox -s pii`` the observability ones (docs/benchmarks-observability.md).
"""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.default_venv_backend = "uv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests", "lint", "typing"]

PLUGINS = sorted(str(p) for p in Path("plugins").glob("*/src/relaykit_*"))
# Libraries plugins share (relaykit-google-auth, relaykit-claude-models), not plugins themselves.
LIBS = sorted(str(p) for p in Path("libs").glob("*/src/relaykit_*"))
CONTRIB = sorted(str(p) for p in Path("contrib").glob("*/src/relaykit_*"))
# Tests are typed one path at a time, as each is brought to mypy --strict.
TYPED_TESTS = ["core/tests", "tests"]
TYPED = ["core/src/relaykit", *PLUGINS, *LIBS, *CONTRIB, "bench", "noxfile.py", *TYPED_TESTS]
# The test folders of plugins, libraries and contrib packages are no packages, and
# several hold a conftest.py and test modules of one name: mypy checks them apart,
# naming each module by its path (plugins.openai.tests.conftest) as pytest's
# importlib mode does.
TYPED_PACKAGE_TESTS = sorted(
    str(p)
    for p in (
        *Path("plugins").glob("*/tests"),
        *Path("libs").glob("*/tests"),
        *Path("contrib").glob("*/tests"),
    )
)


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
    """mypy --strict (configured in pyproject.toml) over the sources, the bench, this file
    and the tests (the packages' test folders in a second run: see TYPED_PACKAGE_TESTS).

    The bench group is installed so bench/compare.py's imports of the compared
    clients (openai, anthropic, litellm, matplotlib) type-check.
    """
    sync(session, "bench")
    if session.posargs:
        session.run("mypy", *session.posargs)
        return
    session.run("mypy", *TYPED)
    session.run("mypy", "--explicit-package-bases", *TYPED_PACKAGE_TESTS)


@nox.session
def bench(session: nox.Session) -> None:
    """Client CPU per request and import cost; see docs/benchmarks.md.

    Arguments go to the benchmark: ``nox -s bench -- --backend trio --seconds 2``.
    """
    sync(session)
    session.run("python", "bench/client_overhead.py", *session.posargs)


@nox.session(name="cli-startup")
def cli_startup(session: nox.Session) -> None:
    """Wall time and modules imported by ``relaykit --help``, ``models --help``,
    ``logs -n 1`` and ``keys --help`` in fresh processes (``bench/cli_startup.py``;
    pass its options after ``--``); see docs/benchmarks.md#cli-start-up."""
    sync(session)
    session.run("python", "bench/cli_startup.py", *session.posargs)


@nox.session
def observability(session: nox.Session) -> None:
    """What tracing, metrics, redaction and a limiter add to a call's client CPU, and
    the Redis limiter's decisions/s; see docs/benchmarks-observability.md.

    Arguments go to the benchmark, e.g. the reading closest to production:
    ``nox -s observability -- --realistic --no-redis --tracer lean``.
    """
    sync(session)
    session.run("python", "bench/observability.py", *session.posargs)


@nox.session(name="compiled-features")
def compiled_features(session: nox.Session) -> None:
    """Issue #6's features compiled with mypyc against pure Python, in instructions
    (``bench/compiled_features.py``; needs valgrind and gcc); see
    docs/benchmarks-observability.md, "compiled with mypyc"."""
    sync(session, "bench")
    session.run("python", "bench/compiled_features.py", *session.posargs)


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


@nox.session(name="cache-burst")
def cache_burst(session: nox.Session) -> None:
    """A burst of concurrent response-cache lookups and writes on relaykit-postgres
    (``bench/cache_burst.py``; pass its options after ``--``)."""
    sync(session, "bench")
    session.run("python", "bench/cache_burst.py", *session.posargs)


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
def versus(session: nox.Session) -> None:
    """One benchmark on another commit's sources and on this checkout's, in alternated
    pairs: what a change did to a hot path (``bench/versus.py``), e.g.
    ``nox -s versus -- 62c7361 instructions.py -- --clients raw,relaykit``."""
    sync(session, "bench")
    session.run("python", "bench/versus.py", *session.posargs)


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


#: what a distribution's smoke check needs next to it: a provider that makes HTTP
#: calls for the aiohttp client, one for the gateway to serve
SMOKE_PARTNERS = {"aiohttp": ["openai"], "gateway": ["openai"]}


def _distributions() -> dict[str, Path]:
    """Every distribution's short name (``openai``, ``google-auth``) -> its directory."""
    return {
        p.parent.name: p.parent
        for p in sorted(Path().glob("*/*/pyproject.toml"))
        if p.parts[0] in ("plugins", "contrib", "libs")
    }


def _first_party(directory: Path) -> set[str]:
    """The relaykit-* distributions ``directory``'s pyproject.toml requires, by name."""
    import re
    import tomllib

    deps = tomllib.loads((directory / "pyproject.toml").read_text())["project"]["dependencies"]
    names = (re.split(r"[\s\[<>=!~;]", dep, maxsplit=1)[0] for dep in deps)
    return {name.removeprefix("relaykit-") for name in names if name.startswith("relaykit-")}


@nox.session
def wheels(session: nox.Session) -> None:
    """Build every distribution (sdist, then the wheel from it), check their metadata with
    ``twine check``, then install each plugin, library and contrib package from its wheel
    alone (with ``relaykit``; other dependencies from PyPI) in a fresh virtualenv and run
    tests/wheel_smoke.py there: import, entry point listed by ``relaykit plugins``, and one
    call against its loopback mock. ``nox -s wheels -- openai gateway`` checks only those.
    """
    import time

    session.install("twine>=6.1")
    tmp = Path(session.create_tmp()).resolve()
    dist = tmp / "dist"
    timings: list[tuple[str, float]] = []
    started = time.perf_counter()
    session.run("rm", "-rf", str(dist), external=True)
    session.run("uv", "build", "--all-packages", "--quiet", "-o", str(dist), external=True)
    timings.append(("build (sdists, wheels)", time.perf_counter() - started))

    started = time.perf_counter()
    built = sorted(str(p) for p in dist.iterdir() if p.suffix in (".whl", ".gz"))
    session.run("twine", "check", *built)
    timings.append(("twine check", time.perf_counter() - started))
    from zipfile import ZipFile

    # A distribution without a readme has an empty page on PyPI: twine only warns.
    for wheel in dist.glob("*.whl"):
        with ZipFile(wheel) as archive:
            metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
            if "Description-Content-Type:" not in archive.read(metadata).decode():
                session.warn(f"{wheel.name}: no long description (pyproject.toml `readme`)")

    def wheel_of(name: str) -> str:
        stem = "relaykit" if name == "core" else "relaykit_" + name.replace("-", "_")
        return str(dist / f"{stem}-0.1.0-py3-none-any.whl")

    directories = _distributions()
    smoke = str(Path("tests/wheel_smoke.py").resolve())
    for name in session.posargs or sorted(directories):
        started = time.perf_counter()
        wanted = {name, *SMOKE_PARTNERS.get(name, [])}
        while extra := {d for w in wanted for d in _first_party(directories[w])} - wanted:
            wanted |= extra  # the relaykit-* wheels each needs, from dist/, never PyPI
        venv = tmp / "venvs" / name
        session.run("uv", "venv", "--quiet", "--clear", str(venv), external=True)
        python = str(venv / "bin" / "python")
        session.run(
            "uv",
            "pip",
            "install",
            "--quiet",
            f"--python={python}",
            wheel_of("core"),
            *(wheel_of(w) for w in sorted(wanted)),
            external=True,
        )
        installed = time.perf_counter()
        # From the venv's own directory, so nothing of the checkout is importable.
        session.run(python, smoke, name, external=True, env={"PYTHONSAFEPATH": "1"})
        timings.append((f"relaykit-{name}: install", installed - started))
        timings.append(("  its smoke check", time.perf_counter() - installed))
    session.log("timings (seconds):")
    for what, seconds in timings:
        session.log(f"  {what:<28} {seconds:6.1f}")
