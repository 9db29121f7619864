"""``relaykit moderate``: is each text harmful, and for which of the vendor's categories."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .default_model import command_model
from .embed import embed_texts

if TYPE_CHECKING:
    from ..config import Config
    from ..moderation import ModerationResponse, ModerationResult
    from .context import CliContext

#: how many categories a line shows for a text nothing flagged (the closest calls)
TOP = 3


def register(
    commands: argparse._SubParsersAction[Any], parents: Sequence[argparse.ArgumentParser]
) -> None:
    """Add the ``moderate`` command."""
    parser = commands.add_parser(
        "moderate",
        parents=parents,
        help="check texts for harmful content",
        description="Moderate each TEXT (or each line of stdin) and print one line per text,"
        " in order: 'flagged' and the categories it was flagged for, or 'ok' and its"
        f" {TOP} highest-scored categories, each with its score, then the text."
        " Categories are the vendor's own: relaykit moderate -m"
        " openai/omni-moderation-latest 'some text'",
    )
    parser.add_argument(
        "texts", nargs="*", metavar="TEXT", help="texts to check (default: stdin, one per line)"
    )
    parser.add_argument(
        "-m",
        "--model",
        help="provider/model or an alias (default: [defaults] moderation_model)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object: every category's verdict and score, with the model and cost",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``relaykit moderate``."""
    context: CliContext = args.context
    texts = embed_texts(args.texts, sys.stdin, command="moderate")
    config = context.load_config()
    model = command_model(args.model, config, "moderation", "openai/omni-moderation-latest")
    response = context.run(_moderate, context, config, model, texts)
    if args.json:
        answer = {
            "provider": response.provider,
            "model": response.model,
            "flagged": response.flagged,
            "input_tokens": response.usage.input_tokens,
            "cost_usd": None if response.cost is None else str(response.cost),
            "results": [
                {
                    "flagged": r.flagged,
                    "flagged_categories": list(r.flagged_categories),
                    "categories": dict(r.categories),
                    "scores": dict(r.scores),
                }
                for r in response.results
            ],
        }
        print(json.dumps(answer, ensure_ascii=False))
        return 0
    write = sys.stdout.write
    for text, result in zip(texts, response.results, strict=True):
        write(line(result, text))
        write("\n")
    return 0


def line(result: ModerationResult, text: str) -> str:
    """``flagged\tviolence 0.91, harassment 0.62\tthe text`` (or ``ok`` and the highest
    scores): one text's verdict, tab-separated for ``cut`` and ``grep``."""
    if result.flagged:
        verdict, names = "flagged", result.flagged_categories
    else:
        scores = result.scores
        verdict = "ok"
        names = tuple(sorted(scores, key=lambda name: (-scores[name], name))[:TOP])
    shown = ", ".join(f"{name} {result.scores.get(name, 0.0):.2f}" for name in names)
    return f"{verdict}\t{shown}\t{' '.join(text.split())}"


async def _moderate(
    context: CliContext, config: Config, model: str, texts: list[str]
) -> ModerationResponse:
    async with context.client(config) as client:
        return await client.moderate(model, texts)
