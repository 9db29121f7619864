"""``relaykit rerank``: rank texts by their relevance to a query, best first."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .default_model import command_model
from .embed import embed_texts
from .number_options import integer

if TYPE_CHECKING:
    from ..config import Config
    from ..rerank import RerankResponse
    from .context import CliContext


def register(
    commands: argparse._SubParsersAction[Any], parents: Sequence[argparse.ArgumentParser]
) -> None:
    """Add the ``rerank`` command."""
    parser = commands.add_parser(
        "rerank",
        parents=parents,
        help="rank texts by their relevance to a query",
        description="Rank each DOCUMENT (or each line of stdin) by its relevance to QUERY "
        "and print them best first, one per line: "
        "cat passages.txt | relaykit rerank -m cohere/rerank-v3.5 'how do I reset it?' -n 3",
    )
    parser.add_argument("query", metavar="QUERY", help="what the documents should answer")
    parser.add_argument(
        "documents",
        nargs="*",
        metavar="DOCUMENT",
        help="texts to rank (default: stdin, one per line)",
    )
    parser.add_argument(
        "-m", "--model", help="provider/model or an alias (default: [defaults] rerank_model)"
    )
    parser.add_argument("-n", "--top-n", type=integer, help="print only the N best")
    parser.add_argument(
        "--scores", action="store_true", help="put each document's score and index before it"
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object: the results with the model, usage and cost",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``relaykit rerank``."""
    context: CliContext = args.context
    documents = embed_texts(args.documents, sys.stdin, command="rerank")
    config = context.load_config()
    model = command_model(args.model, config, "rerank", "cohere/rerank-v3.5")
    response = context.run(_rerank, context, config, model, documents, args)
    if args.json:
        results = [
            {"index": r.index, "score": r.score, "document": r.document} for r in response.results
        ]
        answer = {
            "provider": response.provider,
            "model": response.model,
            "input_tokens": response.usage.input_tokens,
            "search_units": response.search_units,
            "cost_usd": None if response.cost is None else str(response.cost),
            "results": results,
        }
        print(json.dumps(answer, ensure_ascii=False))
        return 0
    write = sys.stdout.write
    for result in response.results:
        if args.scores:
            write(f"{result.score:.4f}\t{result.index}\t")
        write(result.document)
        write("\n")
    return 0


async def _rerank(
    context: CliContext,
    config: Config,
    model: str,
    documents: list[str],
    args: argparse.Namespace,
) -> RerankResponse:
    async with context.client(config) as client:
        return await client.rerank(model, args.query, documents, top_n=args.top_n)
