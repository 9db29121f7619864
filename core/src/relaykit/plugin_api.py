"""Which relaykit modules plugins may import: the core's public plugin API, in one place.

Plugins (and libraries and apps built on the core) depend only on these modules, and
only on the names in each one's ``__all__``; everything else in the core may change
without notice. ``tests/test_plugin_api.py`` checks that every distribution in this
repository keeps to the list, that each module listed has a docstring and an
``__all__``, and that the list in docs/writing-plugins.md ("Modules plugins may
import") is :func:`render`'s output.

A plugin's tests may use anything, but only ``relaykit.testing`` (and its
submodules, for type-checked mocks) is kept stable for them.
"""

from __future__ import annotations

__all__ = ["PLUGIN_MODULES", "TESTING_PACKAGE", "is_plugin_module", "render"]

#: module -> what a plugin uses it for, one line each (the docs list says the same)
PLUGIN_MODULES: dict[str, str] = {
    "relaykit": "the client, requests, responses, messages, errors and `hookimpl`",
    "relaykit.audio": "`AudioFile` and its format and media type, for speech to text",
    "relaykit.batches": "batch statuses and JSONL lines, for providers' batch APIs",
    "relaykit.budgets": "USD budget periods and micro-dollar amounts, for shared limiters",
    "relaykit.cache_points": "where to put prompt-cache marks when the caller did not say",
    "relaykit.cli.context": "`CliContext`, what a `relaykit_commands` handler gets",
    "relaykit.cli.default_model": "the model a command that is not a chat uses",
    "relaykit.cli.log_output": "the command line's log setup, for commands that spawn workers",
    "relaykit.cli.number_options": "argparse types for number options: ASCII digits, a range",
    "relaykit.cli.stdin_text": "stdin read as UTF-8 text, refused with a typed error when not",
    "relaykit.cli.text_options": "`non_blank`: an argparse type refusing a blank value",
    "relaykit.cli.table": "plain-text tables for command output; `write_text`, which never fails",
    "relaykit.config": "`Config` and its sections, as hooks receive them",
    "relaykit.embeddings": "embedding values, batching (`send_batches`) and token estimates",
    "relaykit.errors": "the error hierarchy, `error_for_status` and `did_you_mean`",
    "relaykit.events": "stream events a provider's `stream` yields",
    "relaykit.fork_safety": "resets for threads, sockets and connections after `fork()`",
    "relaykit.gauge_events": "the events exporters receive besides call records",
    "relaykit.http": "the HTTP client providers call, and its transport errors",
    "relaykit.http_errors": "a vendor's HTTP error response as a typed `RelayError`; "
    "`error_in_answer`, the error object a status-200 body holds in place of an answer; "
    "`refuse_document_stream` (`not_a_stream`, `error_in_place_of_stream`) for a stream "
    "answered with a document; `not_the_api`, an HTML page or other non-API answer summed up",
    "relaykit.image_files": "an image's format and pixel size from its bytes",
    "relaykit.image_generation": "image generation values and base64 decoding",
    "relaykit.json_schemas": "schemas as vendors take them: strict rules, Claude's subset, names",
    "relaykit.json_decode": "`loads`, the fast JSON decoder for answers; `SHAPE_ERRORS`, "
    "`wrong_shape`, `misfit` and `count` for an answer of the wrong shape; `require_answer` for "
    "one without the field that carries it (and `ErrorInAnswer`, its error for an error object "
    "in that field's place)",
    "relaykit.json_encode": "`dumps`, the fast JSON encoder for request bodies",
    "relaykit.key_vault": "the master key that encrypts stored API keys",
    "relaykit.known_secrets": "`KnownSecrets`, credentials a provider mints, masked everywhere",
    "relaykit.lazy_exports": "a package's names loaded on first use, for cheap entry points",
    "relaykit.messages": "messages and their content parts",
    "relaykit.metrics": "the metric instruments and how a call record becomes observations",
    "relaykit.moderation": "moderation values and `moderation_result`",
    "relaykit.multipart": "`multipart/form-data` bodies: encode, parse, `unquote_param`",
    "relaykit.plugin_options": "a plugin's config table read into numbers and paths, typed errors",
    "relaykit.protocols": "the protocols plugins implement and the values that cross them",
    "relaykit.record_rows": "call records as flat table rows, for SQL storage backends",
    "relaykit.request": "`ChatRequest`, the values inside it, `estimate_prompt_tokens`,"
    " `refuse_seed`",
    "relaykit.rerank": "rerank values and `ranked`",
    "relaykit.response": "`ChatResponse`, `Usage`, `ModelInfo`, `ModelPrice`",
    "relaykit.secrets": "`Secret`, `SecretHeaders`, `scrub` and `cut_short`, so keys never show",
    "relaykit.serialization": "the cattrs converter and JSON for relaykit values",
    "relaykit.storable_text": "any string as text every database takes, and back, exactly",
    "relaykit.speech": "text-to-speech values and media types",
    "relaykit.sqlite_fork": "`using_sqlite`: SQLite work recorded, so a child forked "
    "meanwhile is refused SQLite instead of hanging",
    "relaykit.sse": "a server-sent events decoder for streamed answers",
    "relaykit.tool_ids": "tool call ids renamed as a vendor takes them: each once, valid",
    "relaykit.web_search": "web search settings, citations and refusals",
    "relaykit.testing": "fakes, vendor mocks and contract suites, for tests and shipped mocks",
}

#: the test helpers' package: its submodules are public too (see ``PLUGIN_MODULES``)
TESTING_PACKAGE = "relaykit.testing"


def is_plugin_module(module: str) -> bool:
    """Whether a plugin may import ``module``: a listed one, or a ``relaykit.testing`` submodule."""
    return module in PLUGIN_MODULES or module.startswith(TESTING_PACKAGE + ".")


def render() -> str:
    """The Markdown list docs/writing-plugins.md shows, one line per module."""
    return "".join(f"- `{module}`: {use}\n" for module, use in PLUGIN_MODULES.items())
