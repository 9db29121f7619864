"""``relaykit embed-multi``, ``relaykit similar`` and ``relaykit collections``.

simonw/llm's embedding commands, over :class:`~relaykit_sqlite.collection.Collection`::

    relaykit embed-multi docs docs.csv -m openai/text-embedding-3-small --store
    relaykit embed-multi notes --files ~/notes '**/*.md' --prefix notes/
    relaykit similar docs "how do I reset my password?" -n 3
    relaykit similar docs -i faq-12 --json
    relaykit collections list            # name, model, items
    relaykit collections add docs faq-13 "Invoices are emailed monthly." --store
    relaykit collections delete docs
    relaykit collections path

Every command takes ``-d/--database`` (default: ``embeddings.db`` in the user
config dir). Reading the input files happens before the event loop starts.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from relaykit.cli.number_options import integer
from relaykit.cli.text_options import non_blank
from relaykit.errors import InvalidRequestError

# Only light modules here: the sqlite plugin registers these commands in every
# `relaykit` run (`relaykit --help` too); .collection loads in the handlers.
from .collection_types import DEFAULT_BATCH_SIZE, EmbedCounts

if TYPE_CHECKING:
    from relaykit.cli.context import CliContext

    from .collection import Collection, SimilarItem
    from .collection_inputs import Row

#: how much of a stored text ``relaykit similar`` prints (``--json`` prints it all)
PREVIEW = 70


def register(cli: argparse._SubParsersAction[Any]) -> None:
    """Add the three commands to ``relaykit``'s parser."""
    from .collection_inputs import FORMATS

    multi = cli.add_parser(
        "embed-multi",
        help="embed many texts into a collection (CSV, TSV, JSON, JSON lines, or files)",
        description="Embed items into COLLECTION, stored in a SQLite file. In FILE (- or"
        " nothing: stdin) each CSV/TSV row (after a header) or JSON object is an item: the"
        " first column or key (or the `id` key) is its id, the other values its text; a"
        " JSON `metadata` object is kept as its metadata. --files makes an item of each"
        " file. Items whose text is stored already (by hash) are skipped, so running it"
        " again sends only what changed.",
    )
    multi.add_argument("collection", metavar="COLLECTION")
    multi.add_argument("file", nargs="?", metavar="FILE", help="the items (default: stdin)")
    _model_option(multi)
    multi.add_argument("--format", choices=FORMATS, help="FILE's format (default: guessed)")
    multi.add_argument(
        "--files",
        nargs=2,
        action="append",
        metavar=("DIR", "GLOB"),
        help="embed each file under DIR matching GLOB ('**/*.md'); repeatable",
    )
    multi.add_argument("--prefix", default="", help="put this before every item's id")
    multi.add_argument(
        "--batch-size",
        type=integer,
        default=DEFAULT_BATCH_SIZE,
        help=f"items embedded per call and committed together (default {DEFAULT_BATCH_SIZE})",
    )
    _store_and_metadata(multi, "every item")
    _database_option(multi)
    multi.set_defaults(func=embed_multi)

    similar = cli.add_parser(
        "similar",
        help="the items of a collection most similar to a text or to an item",
        description="Print the N items of COLLECTION nearest TEXT (embedded with the"
        " collection's model) or, with -i, nearest a stored item (no model call), by"
        " cosine similarity, most similar first: score, id and the stored text.",
    )
    similar.add_argument("collection", metavar="COLLECTION")
    similar.add_argument("text", nargs="?", metavar="TEXT", help="the text to compare with")
    similar.add_argument("-i", "--id", help="compare with this stored item instead")
    similar.add_argument("-n", type=integer, default=10, help="how many items (default 10)")
    similar.add_argument(
        "--json", action="store_true", help="one JSON object per line: id, score, content, metadata"
    )
    _database_option(similar)
    similar.set_defaults(func=similar_command)

    collections = cli.add_parser(
        "collections",
        help="list, add to and delete embedding collections",
        description="The embedding collections in the SQLite file (-d, default"
        " embeddings.db in the user config dir).",
    )
    actions = collections.add_subparsers(title="actions", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="every collection: name, model, items")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    _database_option(listing)
    listing.set_defaults(func=collections_list)
    add = actions.add_parser("add", help="embed one text into a collection under an id")
    add.add_argument("collection", metavar="COLLECTION")
    add.add_argument("id", metavar="ID")
    add.add_argument("text", metavar="TEXT")
    _model_option(add)
    _store_and_metadata(add, "the item")
    _database_option(add)
    add.set_defaults(func=collections_add)
    delete = actions.add_parser("delete", help="delete a collection and its items")
    delete.add_argument("name", metavar="NAME")
    _database_option(delete)
    delete.set_defaults(func=collections_delete)
    path = actions.add_parser("path", help="print the path of the embeddings file")
    _database_option(path)
    path.set_defaults(func=collections_path)


def _model_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-m",
        "--model",
        help="embedding model for a new collection (default: the collection's own,"
        " else [defaults] embedding_model)",
    )


def _store_and_metadata(parser: argparse.ArgumentParser, whom: str) -> None:
    parser.add_argument(
        "--store", action="store_true", help="keep the text too (`similar` then prints it)"
    )
    parser.add_argument("--metadata", metavar="JSON", help=f"a JSON object stored with {whom}")


def _database_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-d",
        "--database",
        metavar="PATH",
        # blank, it was taken for the default file: -d "$DB" with DB unset
        type=non_blank("the embeddings file's path"),
        help="the embeddings file (default: embeddings.db in the user config dir)",
    )


def _database(args: argparse.Namespace) -> Path:
    from .collection_file import default_embeddings_path

    given: str | None = args.database
    return Path(given).expanduser() if given else default_embeddings_path()


def _metadata(given: str | None) -> dict[str, Any] | None:
    if given is None:
        return None
    try:
        value = json.loads(given)
    except ValueError as e:
        raise InvalidRequestError(
            f"--metadata is not JSON ({e})",
            hint="""pass an object: --metadata '{"source": "faq"}'""",
        ) from e
    if not isinstance(value, dict):
        raise InvalidRequestError(
            f"--metadata is a JSON {type(value).__name__}, not an object",
            hint="""pass an object: --metadata '{"source": "faq"}'""",
        )
    return value


async def _open(args: argparse.Namespace, model_given: str | None = None) -> Collection:
    """The collection, with the model to create it with when it is new: ``-m``, else
    ``[defaults] embedding_model`` (an existing collection keeps its own)."""
    from relaykit.cli.default_model import command_model

    from .collection import Collection

    context: CliContext = args.context
    existing = Collection(_database(args), args.collection)
    try:
        info = await existing.info()
    finally:
        await existing.aclose()
    model = model_given
    if model is None and info is None:
        model = command_model(
            None, context.load_config(), "embedding", "openai/text-embedding-3-small"
        )
    return Collection(_database(args), args.collection, model)


def _read_items(args: argparse.Namespace) -> list[Row]:
    from relaykit.cli.stdin_text import read_stdin_text

    from .collection_inputs import file_items, parse_items, with_metadata

    rows: list[Row] = []
    if args.files:
        if args.file is not None or args.format is not None:
            raise InvalidRequestError(
                "--files and FILE (or --format) were both given",
                hint="embed files with --files DIR GLOB, or the items of one FILE",
            )
        empty = 0
        for directory, pattern in args.files:
            found, skipped = file_items(directory, pattern)
            rows += found
            empty += skipped
        if empty:
            print(f"skipped {empty} empty file(s)", file=sys.stderr)
    else:
        if args.file in (None, "-"):
            if sys.stdin.isatty():
                raise InvalidRequestError(
                    "no items given",
                    hint="pass FILE, pipe the items in, or use --files DIR GLOB",
                )
            name, text = "stdin", read_stdin_text(sys.stdin, "embed-multi")
        else:
            name = args.file
            try:
                text = Path(name).expanduser().read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise InvalidRequestError(
                    f"cannot read {name}: {e}", hint="pass a readable UTF-8 file"
                ) from e
        rows = parse_items(name, text, args.format)
    if not rows:
        raise InvalidRequestError(
            "no items to embed", hint="check the input: a header row alone holds none"
        )
    _say_repeated_ids(rows, "--files" if args.files else name)
    return with_metadata(rows, args.prefix, _metadata(args.metadata))


def _say_repeated_ids(rows: list[Row], source: str) -> None:
    """Say on stderr which ids come more than once: only the last text of each is
    embedded and kept, and the earlier ones must not vanish unsaid."""
    seen: set[str] = set()
    repeated: dict[str, None] = {}  # in the order first repeated
    for item_id, _, _ in rows:
        if item_id in seen:
            repeated[item_id] = None
        seen.add(item_id)
    if repeated:
        shown = ", ".join(map(repr, list(repeated)[:3])) + (", ..." if len(repeated) > 3 else "")
        print(
            f"{source}: {len(repeated)} id{'s' if len(repeated) > 1 else ''} given more"
            f" than once ({shown}):"
            " the last text of each is kept",
            file=sys.stderr,
        )


def embed_multi(args: argparse.Namespace) -> int:
    """Handle ``relaykit embed-multi``: read the items, then embed them on the loop."""
    if args.batch_size < 1:
        raise InvalidRequestError(
            f"--batch-size is {args.batch_size}", hint="pass --batch-size 1 or more"
        )
    rows = _read_items(args)  # blocking reads, before the event loop starts
    context: CliContext = args.context
    return context.run(_embed_multi, args, rows)


async def _embed_multi(args: argparse.Namespace, rows: list[Row]) -> int:
    context: CliContext = args.context
    kept = EmbedCounts(0, 0)

    def progress(counts: EmbedCounts) -> None:
        nonlocal kept
        kept = counts

    async with await _open(args, args.model) as collection, context.client() as client:
        try:
            counts = await collection.embed_many(
                client, rows, batch_size=args.batch_size, store=args.store, on_batch=progress
            )
        except Exception:
            if kept.embedded:
                # Before the error line: the batches before it are stored, and a
                # second run sends only the rest (unchanged texts are skipped).
                print(
                    f"{collection.name}: embedded {kept.embedded} (kept) before the error;"
                    " run the command again to embed the rest",
                    file=sys.stderr,
                )
            raise
    print(f"{collection.name}: embedded {counts.embedded}, {counts.unchanged} unchanged")
    return 0


async def collections_add(args: argparse.Namespace) -> int:
    """Handle ``relaykit collections add``."""
    context: CliContext = args.context
    metadata = _metadata(args.metadata)
    async with await _open(args, args.model) as collection, context.client() as client:
        embedded = await collection.embed(
            client, args.id, args.text, metadata=metadata, store=args.store
        )
    print(f"{collection.name}: {args.id} {'embedded' if embedded else 'unchanged'}")
    return 0


async def similar_command(args: argparse.Namespace) -> int:
    """Handle ``relaykit similar``."""
    from .collection import Collection

    if (args.text is None) == (args.id is None):
        raise InvalidRequestError(
            "give the TEXT to compare with, or -i ID of a stored item (one of them)",
            hint='relaykit similar COLLECTION "a question" or relaykit similar COLLECTION -i ID',
        )
    if args.n < 1:
        raise InvalidRequestError(f"-n is {args.n}", hint="pass -n 1 or more")
    context: CliContext = args.context
    async with Collection(_database(args), args.collection) as collection:
        if args.id is not None:
            found = await collection.similar_by_id(args.id, args.n)
        else:
            async with context.client() as client:
                found = await collection.similar(client, args.text, args.n)
    _print_similar(found, as_json=args.json)
    return 0


def _print_similar(found: list[SimilarItem], *, as_json: bool) -> None:
    from relaykit.cli.table import write_text  # a stored id or text may hold a lone surrogate

    for item in found:
        if as_json:
            row = {
                "id": item.id,
                "score": item.score,
                "content": item.content,
                "metadata": item.metadata,
            }
            write_text(json.dumps(row, ensure_ascii=False) + "\n")
            continue
        text = " ".join((item.content or "").split())
        if len(text) > PREVIEW:
            text = text[: PREVIEW - 1] + "…"
        write_text(f"{item.score:.3f}  {item.id}  {text}".rstrip() + "\n")


async def collections_list(args: argparse.Namespace) -> int:
    """Handle ``relaykit collections list``."""
    from relaykit.cli.table import format_table, write_text

    from .collection import list_collections

    found = await list_collections(_database(args))
    if args.json:
        for info in found:
            write_text(
                json.dumps({"name": info.name, "model": info.model, "count": info.count}) + "\n"
            )
    elif found:
        rows = [(info.name, info.model, str(info.count)) for info in found]
        write_text(format_table(("name", "model", "items"), rows, right=(2,)) + "\n")
    else:
        print(f"no collections in {_database(args)}", file=sys.stderr)
    return 0


async def collections_delete(args: argparse.Namespace) -> int:
    """Handle ``relaykit collections delete``."""
    from .collection import Collection, CollectionNotFoundError

    async with Collection(_database(args), args.name) as collection:
        if not await collection.delete():
            raise CollectionNotFoundError(
                f"no collection named {args.name!r} in {collection.path}",
                hint="`relaykit collections list` shows those there are",
            )
    print(f"deleted collection {args.name}")
    return 0


def collections_path(args: argparse.Namespace) -> int:
    """Handle ``relaykit collections path``."""
    print(_database(args))
    return 0
