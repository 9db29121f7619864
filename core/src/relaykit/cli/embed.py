"""``relaykit embed``: embed texts and print their vectors, one JSON array per line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from ..errors import InvalidRequestError
from .default_model import command_model
from .number_options import integer
from .stdin_text import read_stdin_lines

if TYPE_CHECKING:
    from ..config import Config
    from ..embeddings import EmbeddingResponse
    from .context import CliContext


def register(
    commands: argparse._SubParsersAction[Any], parents: Sequence[argparse.ArgumentParser]
) -> None:
    """Add the ``embed`` command."""
    parser = commands.add_parser(
        "embed",
        parents=parents,
        help="embed texts and print their vectors",
        description="Embed each TEXT (or each line of stdin) and print one vector per "
        "line, as a JSON array, in the texts' order: "
        "cat docs.txt | relaykit embed -m openai/text-embedding-3-small > vectors.jsonl",
    )
    parser.add_argument(
        "texts", nargs="*", metavar="TEXT", help="texts to embed (default: stdin, one per line)"
    )
    parser.add_argument(
        "-m",
        "--model",
        help="provider/model or an alias (default: [defaults] embedding_model)",
    )
    parser.add_argument(
        "--dimensions", type=integer, help="shorter vectors, for the models that can make them"
    )
    parser.add_argument(
        "--input-type",
        choices=("query", "document"),
        help="what the texts are, for the models that embed queries and documents apart",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object: the vectors with the model, usage and cost",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``relaykit embed``."""
    context: CliContext = args.context
    texts = embed_texts(args.texts, sys.stdin)
    config = context.load_config()
    model = command_model(args.model, config, "embedding", "openai/text-embedding-3-small")
    response = context.run(_embed, context, config, model, texts, args)
    if args.json:
        print(
            json.dumps(
                {
                    "provider": response.provider,
                    "model": response.model,
                    "input_tokens": response.usage.input_tokens,
                    "cost_usd": None if response.cost is None else str(response.cost),
                    "cache_hit": response.cache_hit,
                    "vectors": [list(v) for v in response.vectors],
                }
            )
        )
    else:
        write = sys.stdout.write
        for vector in response.vectors:
            write(json.dumps(list(vector)))
            write("\n")
    return 0


def embed_texts(texts: Sequence[str], stdin: TextIO | None, *, command: str = "embed") -> list[str]:
    """The texts: the arguments, else each line piped on stdin (for ``relaykit
    {command}``).

    A blank line is refused rather than skipped: the vectors come out one per
    line, and a skipped line would shift every vector after it onto the wrong
    text (and a ranking's indices would point at the wrong lines).
    """
    if texts:
        return list(texts)
    if stdin is not None and not stdin.isatty():
        lines = [line.rstrip("\r\n") for line in read_stdin_lines(stdin, command)]
        for number, line in enumerate(lines, 1):
            if not line.strip():
                raise InvalidRequestError(
                    f"line {number} of stdin is blank: every line is a text to {command}",
                    hint="remove blank lines first (grep -v '^[[:space:]]*$')",
                )
        if lines:
            return lines
    raise InvalidRequestError(
        "no text given",
        hint="pass texts as arguments, or pipe one per line: "
        f"cat docs.txt | relaykit {command} -m MODEL" + (" QUERY" if command == "rerank" else ""),
    )


async def _embed(
    context: CliContext, config: Config, model: str, texts: list[str], args: argparse.Namespace
) -> EmbeddingResponse:
    params: dict[str, Any] = {}
    if args.dimensions is not None:
        params["dimensions"] = args.dimensions
    if args.input_type is not None:
        params["input_type"] = args.input_type
    async with context.client(config) as client:
        return await client.embed(model, texts, **params)
