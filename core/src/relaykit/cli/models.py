"""``relaykit models``: what each provider serves, with context windows and prices."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, NotFoundError, RelayError
from .table import format_table
from .text_options import non_blank

if TYPE_CHECKING:
    from ..response import ModelInfo
    from .context import CliContext


def register(
    commands: argparse._SubParsersAction[Any], parents: Sequence[argparse.ArgumentParser]
) -> None:
    """Add the ``models`` command."""
    parser = commands.add_parser(
        "models",
        parents=parents,
        help="list the models of one provider or of every usable one",
        description="List models with their context window and USD price per million tokens. "
        "Without PROVIDER, lists every provider that is configured or has its API key set.",
    )
    parser.add_argument(
        "provider",
        nargs="?",
        metavar="PROVIDER",
        type=non_blank("a provider name (openai), or none for every provider"),
        help="e.g. openai",
    )
    parser.add_argument("--json", action="store_true", help="print the list as JSON")
    parser.set_defaults(func=run)


async def run(args: argparse.Namespace) -> int:
    """Handle ``relaykit models``."""
    context: CliContext = args.context
    async with context.client() as client:
        models = await client.models(args.provider)
        if not models:
            # An empty listing is a failure, not an empty table: a script running
            # `relaykit models` must be able to tell that nothing is usable.
            raise _nothing_listed(args.provider, client._registry.names())
    if args.json:
        from ..serialization import to_json

        print(to_json(models))
    else:
        print(models_table(models))
    return 0


def _nothing_listed(provider: str | None, configured: Sequence[str]) -> RelayError:
    """Why no model was listed, and what to do about it."""
    if provider:
        return NotFoundError(
            f"{provider} lists no models", hint=f"check [providers.{provider}] base_url"
        )
    if not configured:
        return ConfigError(
            "no provider is configured",
            hint="set a provider's API key (e.g. OPENAI_API_KEY), configure "
            "[providers.NAME], or store a key with `relaykit keys set NAME`",
        )
    names = ", ".join(configured)
    return NotFoundError(
        f"no models found: {names} listed none or failed",
        hint=f"`relaykit models {configured[0]}` shows why",
    )


def models_table(models: Sequence[ModelInfo], *, indent: str = "") -> str:
    """``models`` as a table: id, context window, input and output USD per 1M tokens."""
    rows = [
        (
            m.qualified_id,
            f"{m.context_window:,}" if m.context_window else "-",
            usd(m.price.input) if m.price else "-",
            usd(m.price.output) if m.price else "-",
        )
        for m in models
    ]
    headers = ("model", "context", "input $/1M", "output $/1M")
    return format_table(headers, rows, right={1, 2, 3}, indent=indent)


def usd(amount: Decimal) -> str:
    """A price as a plain decimal with at least two places: 0.15, 2.50, 0.075."""
    cents = amount.quantize(Decimal("0.01"))
    return f"{cents:f}" if cents == amount else f"{amount.normalize():f}"
