"""``relaykit --help`` (and other commands' help) imports no provider, app or storage internals.

Every ``relaykit`` run imports every installed plugin's entry-point module and
registers every command, so what those modules import at their top is paid by
each run, ``relaykit --help`` included (0.55 s before session 24, most of it
providers and the gateway's ASGI app). Each case runs the command in a fresh
interpreter and fails naming the heavy module it found, and the module that
imported it. Timing is in bench/cli_startup.py, not here.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: what no command's --help needs; each would cost every `relaykit` run its import
HEAVY = (
    "relaykit_gateway.app",
    "relaykit_openai.provider",
    "relaykit_anthropic.provider",
    "relaykit_bedrock.provider",
    "relaykit_gemini.provider",
    "relaykit_gemini.vertex",
    "relaykit_ollama.provider",
    "relaykit_cohere.provider",
    "relaykit_pii.redactor",
    "relaykit_sqlite.collection",
    "relaykit_sqlite.storage",
    "httpx",
    "anyio",
    "cattrs",
    "relaykit.client",
    "relaykit.call_log",
    "relaykit.serialization",
    "relaykit.config",
    "relaykit.protocols",
    "relaykit.key_vault",
    "relaykit.speech",
)

#: runs ``main(argv)`` with a finder that notes which module first imported each one
PROBE = """
import contextlib, io, json, sys

importers = {}


class Note:
    def find_spec(self, name, path, target=None):
        frame = sys._getframe(1)
        while frame is not None and frame.f_globals.get("__name__", "").startswith(
            ("importlib", "_frozen_importlib")
        ):
            frame = frame.f_back
        if frame is not None:
            where = f"{frame.f_globals.get('__name__')} line {frame.f_lineno}"
            importers.setdefault(name, where)
        return None


sys.meta_path.insert(0, Note())
from relaykit.cli import main

with contextlib.redirect_stdout(io.StringIO()):
    code = main(json.loads(sys.argv[1]))
print(json.dumps({"code": code, "importers": importers, "modules": sorted(sys.modules)}))
"""


def loaded_by(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    """What ``main(argv)`` imports in a fresh interpreter: importers, and all modules."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(argv)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.splitlines()[-1])
    assert found["code"] == 0, f"relaykit {' '.join(argv)} exited {found['code']}"
    return found["importers"], found["modules"]


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["models", "--help"], ["logs", "--help"], ["keys", "--help"]],
    ids=lambda argv: " ".join(argv),
)
def test_help_imports_no_heavy_module(argv: list[str]) -> None:
    importers, modules = loaded_by(argv)
    command = "relaykit " + " ".join(argv)
    assert "relaykit.cli.main" in modules  # the probe ran the CLI
    for module in HEAVY:
        assert module not in modules, (
            f"`{command}` imported {module} (first imported by"
            f" {importers.get(module, 'an unknown module')}): import it inside the hook"
            " or command handler that uses it, not at the top of a plugin's entry-point"
            " module, its package __init__, or a command's module"
        )


def test_a_provider_is_still_found_through_its_entry_point() -> None:
    # The providers import inside relaykit_providers now: the hook must still give them.
    from relaykit.plugins import build_plugin_manager

    pm = build_plugin_manager()
    types = {getattr(p, "type", None) for ps in pm.hook.relaykit_providers() for p in ps}
    assert {"openai", "anthropic", "bedrock", "gemini", "vertex", "ollama"} <= types
