"""``relaykit logs``: list, search and total the call log; ``relaykit logs prune``;
``relaykit logs import`` (records spilled while storage was failing)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidRequestError
from .number_options import integer
from .sources import source_lines
from .storage_session import make_parser, needs, opened_storage, run
from .table import format_table, write_text
from .text_options import non_blank
from .when import duration, point_in_time

if TYPE_CHECKING:
    # Records, their JSON converter (cattrs) and the spill files load in the handlers:
    # every `relaykit` run registers this command, `relaykit --help` too.
    from ..messages import ReasoningPart
    from ..protocols import CallRecord, LogQuery, UsageTotal
    from ..response import Usage


def register(subparsers: argparse._SubParsersAction[Any], parents: Sequence[Any]) -> None:
    """Add ``logs``, ``logs prune`` and ``logs import``."""
    logs = make_parser(
        subparsers,
        "logs",
        list(parents),
        help="list, search and total logged calls",
        description="List logged calls, newest first. Filters combine.",
    )
    logs.add_argument(
        "-q",
        "--query",
        "--search",  # the word the help uses: typed first more often than not
        dest="query",
        metavar="TEXT",
        type=_search_text,
        help="full-text search of prompts, responses, web search queries and the titles and"
        " URLs of cited pages",
    )
    logs.add_argument(
        "--model",
        type=non_blank("a model"),
        help="model as requested (alias) or routed (provider/model)",
    )
    logs.add_argument("--provider", type=non_blank("a provider name"), help="provider name")
    logs.add_argument("--status", choices=("ok", "error"), help="only successes or failures")
    logs.add_argument(
        "--conversation",
        metavar="ID",
        type=non_blank("a conversation id"),
        help="only this conversation's calls (metadata conversation_id; relaykit chat sets one)",
    )
    logs.add_argument(
        "--meta",
        type=metadata_pair,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="only calls whose metadata holds this (gateway_key=alice, user=u-7); repeatable",
    )
    logs.add_argument(
        "--since", type=point_in_time, metavar="WHEN", help="a duration ago (7d, 12h) or a date"
    )
    logs.add_argument(
        "--until", type=point_in_time, metavar="WHEN", help="a duration ago (7d, 12h) or a date"
    )
    logs.add_argument("-n", "--limit", type=count, default=20, help="how many calls (default 20)")
    logs.add_argument("--offset", type=count, default=0, help="skip this many calls first")
    logs.add_argument(
        "--before",
        type=page_cursor,
        metavar="CURSOR",
        help="the next page: go on after the page that printed this --before (every full"
        " page does); calls logged or pruned meanwhile shift nothing",
    )
    logs.add_argument("--json", action="store_true", help="one JSON object per line")
    logs.add_argument(
        "--full",
        action="store_true",
        help="each call in full: params and tools, every message, reasoning, answer, tool calls",
    )
    logs.add_argument("--totals", action="store_true", help="usage and cost per model and day")
    logs.add_argument(
        "--by",
        metavar="NAME",
        # blank ("$NAME" unset), the totals came ungrouped without a word
        type=non_blank("a metadata name, e.g. gateway_key"),
        help="with --totals: per value of this metadata name too (gateway_key: per caller)",
    )
    logs.set_defaults(func=logs_command)
    actions = logs.add_subparsers(title="actions", metavar="ACTION")
    prune = make_parser(
        actions, "prune", parents, help="delete old calls", description="Delete old logged calls."
    )
    prune.add_argument(
        "--older-than", type=duration, required=True, metavar="AGE", help="e.g. 30d, 12h, 2w"
    )
    prune.set_defaults(func=prune_command)
    load = make_parser(
        actions,
        "import",
        parents,
        help="store call records from a JSON Lines file (a spill file)",
        description="Store the call records in FILE: the spill file relaykit writes records to"
        " when storage fails ([storage] spill_path). Records already stored are skipped.",
    )
    load.add_argument(
        "file",
        type=non_blank("a JSON Lines file", Path),
        metavar="FILE",
        help="a JSON Lines file of call records",
    )
    load.add_argument(
        "--keep",
        action="store_true",
        help="keep FILE once its records are stored (default: delete it)",
    )
    load.set_defaults(func=import_command)


#: the largest LIMIT and OFFSET storage takes: SQLite's and PostgreSQL's 64-bit integer
_LARGEST_COUNT = 2**63 - 1


def count(text: str) -> int:
    """A whole number >= 0 (SQLite reads a negative LIMIT as no limit at all) that
    fits the 64-bit integer storage binds it as."""
    try:
        value = integer(text)
    except argparse.ArgumentTypeError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 0 in digits 0-9")
    if value > _LARGEST_COUNT:
        raise argparse.ArgumentTypeError(f"{text!r} is too large: give at most {_LARGEST_COUNT}")
    return value


def page_cursor(text: str) -> str:
    """``--before``'s cursor, checked (and never repeated back: a mistaken paste may
    be anything, a key among them)."""
    from ..log_cursor import cursor_position

    try:
        cursor_position(text)
    except InvalidRequestError:
        raise argparse.ArgumentTypeError(
            f"a {len(text)}-character text that is not a page cursor: give the --before"
            " that relaykit logs printed under the page before"
        ) from None
    return text


def metadata_pair(text: str) -> tuple[str, str]:
    """``NAME=VALUE`` as a pair."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE (e.g. gateway_key=alice)")
    return name, value


def query_from(args: argparse.Namespace) -> LogQuery:
    """The :class:`LogQuery` the ``logs`` options describe."""
    from ..protocols import LogQuery

    since, until = args.since, args.until
    if since is not None and until is not None and until.timestamp() <= since.timestamp():
        raise InvalidRequestError(
            f"--until {until:%Y-%m-%d %H:%M} is not after --since {since:%Y-%m-%d %H:%M},"
            " so no call can match",
            hint="swap the two, or drop one",
        )
    if args.before is not None and args.offset:
        raise InvalidRequestError(
            "--before and --offset both say where the page starts: give one",
            hint="drop --offset to go on from the page --before names",
        )
    return LogQuery(
        model=args.model,
        provider=args.provider,
        status=args.status,
        since=args.since,
        until=args.until,
        text=args.query,
        limit=args.limit,
        offset=args.offset,
        before=args.before,
        conversation_id=args.conversation,
        metadata=tuple(args.meta),
        group_by=args.by,
    )


def logs_command(args: argparse.Namespace) -> int:
    """List (or total) logged calls."""
    return run(args, _logs)


async def _logs(args: argparse.Namespace) -> int:
    query = query_from(args)
    if args.totals:
        # totals add up every matching call: rows to show in full or skip are none
        given = (("--full", args.full), ("--offset", args.offset), ("--before", args.before))
        dropped = [option for option, value in given if value]
        if dropped:
            raise InvalidRequestError(
                f"--totals adds up every call: {dropped[0]} does not apply",
                hint=f"drop {dropped[0]}, or drop --totals to list the calls",
            )
    if args.by is not None and not args.totals:
        raise InvalidRequestError(
            "--by groups totals: it needs --totals", hint=f"relaykit logs --totals --by {args.by}"
        )
    async with opened_storage(args, reading=True) as storage:
        if args.totals:
            needs(storage, "usage_totals")
            totals = await storage.usage_totals(query)
        else:
            records = await storage.query_logs(query)
    if args.totals:
        if args.json:
            for t in totals:
                write_text(json.dumps(_total_json(t, args.by)) + "\n")
        else:
            write_text(_totals_table(totals, args.by) + "\n")
        return 0
    if args.json:
        for r in records:
            write_text(json.dumps(_record_json(r), ensure_ascii=False) + "\n")
    elif records and args.full:
        write_text("\n\n".join(_record_block(r) for r in records) + "\n")
    elif records:
        write_text(_records_table(records) + "\n")
    else:
        print("no logged calls match", file=sys.stderr)
    if records and len(records) == query.limit:
        # On stderr: --json's lines stay records alone.
        from ..log_cursor import log_cursor

        print(f"more calls may follow: add --before {log_cursor(records[-1])}", file=sys.stderr)
    return 0


def prune_command(args: argparse.Namespace) -> int:
    """Delete calls older than ``--older-than``."""
    return run(args, _prune)


async def _prune(args: argparse.Namespace) -> int:
    cutoff = datetime.now(UTC) - args.older_than
    async with opened_storage(args, reading=True) as storage:
        needs(storage, "prune")
        deleted = await storage.prune(cutoff)
    print(f"deleted {deleted} call{'s' if deleted != 1 else ''} started before {_when(cutoff)}")
    return 0


#: records stored per write_batch by `logs import`
IMPORT_BATCH = 1000


def _search_text(text: str) -> str:
    """``-q``'s text, refused when it holds no word: punctuation alone (``-q '"'``)
    searched for nothing, and every call was listed as if no ``-q`` were given."""
    from ..protocols import search_words

    non_blank("words to search for")(text)
    if not search_words(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} holds no word to search for: the search matches words"
            " (letters and digits), not punctuation"
        )
    return text


def import_command(args: argparse.Namespace) -> int:
    """Store the records in a spill file, then delete it (unless ``--keep``)."""
    return run(args, _import)


async def _import(args: argparse.Namespace) -> int:
    import anyio

    from ..record_spill import drop_lock, lock_path

    path: Path = args.file
    # The lock file take() makes beside the file goes again, however the import
    # ends; one that was there (clients spill into the file) stays theirs.
    made_lock = not lock_path(path).exists()
    try:
        return await _import_taken(args, path)
    finally:
        if made_lock:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(drop_lock, path)


async def _import_taken(args: argparse.Namespace, path: Path) -> int:
    import anyio

    from ..record_spill import give_back

    try:
        taken, records = await anyio.to_thread.run_sync(_take, path, args.keep)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    try:
        async with opened_storage(args) as storage:
            for start in range(0, len(records), IMPORT_BATCH):
                await storage.write_batch(records[start : start + IMPORT_BATCH])
    except BaseException:
        if taken:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(give_back, taken, path)
            print(f"the records are still in {path}: import it later", file=sys.stderr)
        raise
    for file in taken:
        await anyio.to_thread.run_sync(file.unlink)
    n = len(records)
    print(f"stored {n} call record{'s' if n != 1 else ''} from {path}")
    return 0


def _take(path: Path, keep: bool) -> tuple[list[Path], list[CallRecord]]:
    """The files taken to import (none with ``keep``) and their records.

    Unless ``keep``, ``path`` is moved aside under the spill file's lock
    (:func:`relaykit.record_spill.take`), so a client spilling meanwhile starts
    a new file rather than appending lines this import would then delete; the
    files a replay that died left behind are imported too."""
    from ..record_spill import give_back, has_spilled, read_spilled, take

    # Checked before take(): it would move a directory aside as a taken file and
    # leave a lock file next to a path that is not there.
    if path.is_dir():
        raise ValueError(
            f"{path} is a directory, not a spill file (give the JSON Lines file of"
            " call records: [storage] spill_path, or spilled-records-*.jsonl in the"
            " user config dir)"
        )
    if path.exists() and not path.is_file():
        # A device or a pipe: never a spill file. Taken, it was renamed aside (as
        # root, /dev/zero vanished) and read without end, and never put back.
        raise ValueError(
            f"{path} is not a regular file (a device, a pipe or a socket), not a spill"
            " file (give the JSON Lines file of call records: [storage] spill_path, or"
            " spilled-records-*.jsonl in the user config dir)"
        )
    if not keep and path.is_symlink():
        # Taken, the link itself was moved aside, and given back a copy of the file
        # took its place (as root, logs import /dev/stdin replaced the system's link).
        raise ValueError(
            f"{path} is a symbolic link to {os.path.realpath(path)}: an import moves the"
            " file it is given aside and deletes it (give the file itself, or add --keep"
            " to store its records and leave it)"
        )
    if not (path.exists() or (not keep and has_spilled(path))):
        raise ValueError(
            f"no such file: {path} (give the spill file: [storage] spill_path,"
            " or spilled-records-*.jsonl in the user config dir)"
        )
    if keep:
        return [], list(read_spilled(path))
    taken = take(path)
    try:
        # Every line read (and checked) before any is stored: a bad line stops it whole.
        return taken, [record for file in taken for record in read_spilled(file)]
    except BaseException as e:
        give_back(taken, path)
        if isinstance(e, ValueError):  # name the file as the user did
            message = str(e)
            for file in taken:
                message = message.replace(str(file), str(path))
            raise ValueError(message) from None
        raise


# -- rendering -----------------------------------------------------------------


def _when(moment: datetime | float) -> str:
    if isinstance(moment, float | int):
        moment = datetime.fromtimestamp(moment, UTC)
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _cost(cost: Decimal | None) -> str:
    return "-" if cost is None else f"${cost:.6f}"


#: what marks a record's tokens and cost that are relaykit's estimate, not the vendor's
_ESTIMATE = "~"

#: the line under a table with ``~`` rows: the mark would mean nothing otherwise
_ESTIMATE_LEGEND = (
    f"{_ESTIMATE} estimated by relaykit: the call ended before the vendor said what it billed"
)


def _tokens_and_cost(r: CallRecord) -> tuple[str, str]:
    """``r``'s ``IN/OUT`` tokens and cost, each marked ``~`` when relaykit estimated
    them (``usage_estimated``: the call ended before the vendor said what it billed)."""
    tokens, cost = f"{r.usage.input_tokens}/{r.usage.output_tokens}", _cost(r.cost)
    if r.usage_estimated:
        tokens = _ESTIMATE + tokens
        cost = cost if r.cost is None else _ESTIMATE + cost
    return tokens, cost


def _cost_of_which_estimated(cost: Decimal | None, estimated: Decimal | None) -> str:
    """A total cost, and how much of it is relaykit's estimate when any is:
    ``$0.501400 (of which ~$0.001400 estimated)``."""
    if estimated is None:
        return _cost(cost)
    return f"{_cost(cost)} (of which {_ESTIMATE}{_cost(estimated)} estimated)"


def _preview(record: CallRecord, width: int = 48) -> str:
    if record.operation == "embeddings":
        # No answer to show: how many texts, and the first of them.
        count = record.params.get("inputs", len(record.messages))
        first = record.messages[0].text if record.messages else ""
        prompt = f"{first} (+{count - 1} more)" if count > 1 else first
        vectors = f"{count} vector{'s' if count != 1 else ''}"
        answer = vectors if record.ok else (record.error_message or "")
    elif record.operation == "rerank":
        # The query, and how many documents it ranked (the ranking is not stored).
        count = record.params.get("documents", max(len(record.messages) - 1, 0))
        prompt = record.messages[0].text if record.messages else ""
        ranked = f"{count} document{'s' if count != 1 else ''} ranked"
        answer = ranked if record.ok else (record.error_message or "")
    elif record.operation == "transcribe":
        return _transcription_preview(record, width)
    elif record.operation in ("generate_image", "edit_image"):
        return _image_preview(record, width)
    elif record.operation == "speak":
        return _speech_preview(record, width)
    elif record.operation == "moderate":
        # The first text, and what was flagged (the scores are not stored).
        count = record.params.get("inputs", len(record.messages))
        first = record.messages[0].text if record.messages else ""
        prompt = f"{first} (+{count - 1} more)" if count > 1 else first
        answer = _moderation_answer(record) if record.ok else (record.error_message or "")
    else:
        prompt = next((m.text for m in reversed(record.messages) if m.role == "user"), "")
        answer = record.text if record.ok else (record.error_message or "")
    text = " ".join(f"{prompt} → {answer}".split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _moderation_answer(record: CallRecord) -> str:
    """``1 of 2 flagged (violence, harassment)``, or ``not flagged``."""
    flagged = record.params.get("flagged", 0)
    if not flagged:
        return "not flagged"
    count = record.params.get("inputs", 1)
    categories = ", ".join(record.params.get("flagged_categories") or ())
    verdict = "flagged" if count == 1 else f"{flagged} of {count} flagged"
    return f"{verdict} ({categories})" if categories else verdict


def _transcription_preview(record: CallRecord, width: int) -> str:
    """``audio (12.3 s) → 'first words…'``: the audio's length (never its bytes: the
    record has none) and the start of its transcript, quoted."""
    seconds = record.params.get("audio_seconds")
    audio = f"audio ({seconds:.1f} s)" if isinstance(seconds, int | float) else "audio"
    if not record.ok:
        answer = " ".join((record.error_message or "").split())
    elif not record.text:
        return f"{audio} → transcribed"  # the record keeps no content
    else:
        said = " ".join(record.text.split())
        room = max(width - len(audio) - 5, 4)  # " → " and the quotes
        if len(said) > room:
            said = said[: room - 1] + "…"
        answer = f"'{said}'"
    text = f"{audio} → {answer}"
    return text if len(text) <= width else text[: width - 1] + "…"


def _image_preview(record: CallRecord, width: int) -> str:
    """``a red fox in snow → 1 image (1024x1024)``: the prompt (when the record keeps
    content), and how many images came and their size (never the images: the record
    has none)."""
    prompt = " ".join(record.messages[0].text.split()) if record.messages else "image"
    if not record.ok:
        answer = " ".join((record.error_message or "").split())
    else:
        count = record.params.get("images", 0)
        answer = f"{count} image{'s' if count != 1 else ''}"
        sizes = record.params.get("image_sizes") or [record.params.get("size")]
        size = sizes[0] if sizes and len(set(sizes)) == 1 else None
        if isinstance(size, str) and size != "auto":
            answer += f" ({size})"
    room = max(width - len(answer) - 3, 8)  # " → "
    if len(prompt) > room:
        prompt = prompt[: room - 1] + "…"
    text = f"{prompt} → {answer}"
    return text if len(text) <= width else text[: width - 1] + "…"


def _speech_preview(record: CallRecord, width: int) -> str:
    """``'Hello there…' → 12 kB mp3``: the start of the text spoken, quoted (when the
    record keeps content), and the audio's size and format (never the audio: the
    record has none)."""
    said = " ".join(record.messages[0].text.split()) if record.messages else ""
    if not record.ok:
        answer = " ".join((record.error_message or "").split())
    else:
        size = record.params.get("audio_bytes", 0)
        fmt = record.params.get("format", "audio")
        answer = f"{_kilobytes(size)} {fmt}"
    if not said:
        text = f"speech → {answer}"
        return text if len(text) <= width else text[: width - 1] + "…"
    room = max(width - len(answer) - 5, 4)  # " → " and the quotes
    if len(said) > room:
        said = said[: room - 1] + "…"
    text = f"'{said}' → {answer}"
    return text if len(text) <= width else text[: width - 1] + "…"


def _kilobytes(size: Any) -> str:
    """``12 kB`` (``840 B`` under a kilobyte): an audio's size, as people read it."""
    if not isinstance(size, int) or size < 1000:
        return f"{size if isinstance(size, int) else 0} B"
    return f"{size / 1000:.0f} kB" if size < 1_000_000 else f"{size / 1_000_000:.1f} MB"


def _route(r: CallRecord) -> str:
    """What was asked for and where it went: ``fast → openai/gpt-4o-mini``."""
    if not r.provider and not r.model:
        # Failed before any deployment was tried (a missing key, our own rate limit):
        # the error says why.
        return f"{r.model_requested} (not sent)"
    model = f"{r.provider}/{r.model}"
    if r.model_requested not in (model, ""):
        model = f"{r.model_requested} → {model}"
    return model


def _status(r: CallRecord) -> str:
    """A call's status: ``ok``, ``cached`` (answered from the response cache: its
    tokens are its answer's, processed when first asked), or its error's type."""
    if r.ok:
        return "cached" if r.cache_hit else "ok"
    return r.error_type or "error"


def _record_block(r: CallRecord) -> str:
    """One call in full, for ``relaykit logs --full``: a header line, then what was said."""
    status = _status(r)
    latency = f"{r.latency:.2f}s" if r.latency is not None else "-"
    tokens, cost = _tokens_and_cost(r)
    lines = [
        f"{_when(r.started_at)}  {status}  {_route(r)}  {tokens} tokens  {cost}  {latency}",
        f"  id: {r.id}",
    ]
    if r.usage_estimated:
        lines.append(
            "  usage: estimated by relaykit (the call ended before the vendor said what it billed)"
        )
    if r.conversation_id is not None:
        lines.append(f"  conversation: {r.conversation_id}")
    if r.attempts > 1 or r.fallbacks:
        # what the call's resilience did: retries and targets given up on
        lines.append(f"  attempts: {r.attempts}, fallbacks: {r.fallbacks}")
    if len(r.route) > 1 or r.route_errors:
        # the path the call took: each attempt, and what the failed ones failed with
        errors = r.route_errors or ("",) * len(r.route)
        steps = [f"{name} ({e})" if e else name for name, e in zip(r.route, errors, strict=False)]
        lines.append(f"  route: {' → '.join(steps)}")
    if r.usage.cached_input_tokens or r.usage.cache_write_input_tokens:
        lines.append(f"  prompt cache (read/write): {_cache_reads_writes(r.usage)}")
    if r.usage.web_searches:
        lines.append(f"  web searches: {r.usage.web_searches}")
    if r.search_queries:
        # quoted: a query may hold commas, or be a single word
        searched = ", ".join(json.dumps(q, ensure_ascii=False) for q in r.search_queries)
        lines.append(f"  searched for: {searched}")
    if r.params:
        lines.append(f"  params: {json.dumps(r.params, ensure_ascii=False)}")
    # A participant name shows as OpenAI's transcripts show it: role (name).
    lines.extend(
        _indented(f"{m.role}{'' if m.name is None else f' ({m.name})'}: {m.text}")
        for m in r.messages
        if m.text
    )
    if r.reasoning:
        lines.append(_indented(f"reasoning: {r.reasoning}"))
    if r.reasoning_parts:
        lines.append(f"  reasoning blocks: {_reasoning_blocks(r.reasoning_parts)}")
    if r.text:
        lines.append(_indented(f"assistant: {r.text}"))
    for call in r.tool_calls:
        lines.append(f"  tool call {call.name} {json.dumps(call.arguments, ensure_ascii=False)}")
    if r.stop_sequence is not None:
        # quoted: a stop sequence is often whitespace ("\n\nHuman:")
        lines.append(f"  stop sequence met: {json.dumps(r.stop_sequence, ensure_ascii=False)}")
    if r.citations:
        lines.append("  sources:")
        lines.extend(f"    {line}" for line in source_lines(r.citations))
    if not r.ok:
        lines.append(_indented(f"error: {r.error_message or ''}"))
    return "\n".join(lines)


def _record_json(r: CallRecord) -> dict[str, Any]:
    """``r`` as JSON values, with reasoning signatures and redacted data only noted."""
    from ..serialization import converter

    data: dict[str, Any] = converter.unstructure(r)
    parts = [p for m in data["messages"] for p in m["content"] if p["type"] == "reasoning"]
    for part in [*parts, *data["reasoning_parts"]]:
        for key in ("signature", "redacted"):
            if part.get(key) is not None:
                part[key] = _opaque(part[key])
    return data


def _opaque(value: str) -> str:
    # Opaque provider data, not secrets, but not text to print either: say it is there.
    return f"[{len(value)} characters of provider data]"


def _reasoning_blocks(parts: Sequence[ReasoningPart]) -> str:
    """How many blocks, and which carry opaque provider data: never the data itself."""
    redacted = sum(p.redacted is not None for p in parts)
    signed = sum(p.signature is not None for p in parts)
    origins = sorted({p.origin for p in parts if p.origin})
    notes = [f"{redacted} redacted" if redacted else "", f"{signed} signed" if signed else ""]
    notes += [f"from {', '.join(origins)}"] if origins else []
    detail = ", ".join(n for n in notes if n)
    return f"{len(parts)}" + (f" ({detail})" if detail else "")


def _indented(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines() or [""])


def _records_table(records: Sequence[CallRecord]) -> str:
    rows = []
    for r in records:
        model = _route(r)
        latency = f"{r.latency:.2f}s" if r.latency is not None else "-"
        tokens, cost = _tokens_and_cost(r)
        status = _status(r)
        rows.append([_when(r.started_at), status, model, tokens, cost, latency, _preview(r)])
    headers = ["STARTED", "STATUS", "MODEL", "IN/OUT", "COST", "LATENCY", "PROMPT → RESPONSE"]
    table = format_table(headers, rows, right={3, 4, 5})
    if any(r.usage_estimated for r in records):
        table += "\n" + _ESTIMATE_LEGEND
    return table


def _totals_table(totals: Sequence[UsageTotal], by: str | None = None) -> str:
    from ..response import Usage

    rows = []
    costs = [t.cost for t in totals if t.cost is not None]
    estimates = [t.estimated_cost for t in totals if t.estimated_cost is not None]
    # Only where some call searched the web, or was answered from the response
    # cache: the table stays as it was for everyone else.
    searched = any(t.usage.web_searches for t in totals)
    hit = any(t.cache_hits for t in totals)
    for t in totals:
        rows.append(
            [
                t.day.isoformat(),
                *([t.group if t.group is not None else "-"] if by else []),
                # calls that failed before any deployment was tried group under none
                f"{t.provider}/{t.model}" if t.provider or t.model else "(not sent)",
                str(t.calls),
                *([str(t.cache_hits)] if hit else []),
                str(t.errors),
                str(t.usage.input_tokens),
                _cache_reads_writes(t.usage),
                str(t.usage.output_tokens),
                *([str(t.usage.web_searches)] if searched else []),
                _cost_of_which_estimated(t.cost, t.estimated_cost),
            ]
        )
    rows.append(
        [
            "total",
            *([""] if by else []),
            "",
            str(sum(t.calls for t in totals)),
            *([str(sum(t.cache_hits for t in totals))] if hit else []),
            str(sum(t.errors for t in totals)),
            str(sum(t.usage.input_tokens for t in totals)),
            _cache_reads_writes(sum((t.usage for t in totals), Usage())),
            str(sum(t.usage.output_tokens for t in totals)),
            *([str(sum(t.usage.web_searches for t in totals))] if searched else []),
            _cost_of_which_estimated(
                sum(costs, Decimal(0)) if costs else None,
                sum(estimates, Decimal(0)) if estimates else None,
            ),
        ]
    )
    headers = ["DAY (UTC)", "MODEL", "CALLS", "ERRORS", "INPUT", "CACHE R/W", "OUTPUT", "COST"]
    if searched:
        headers.insert(7, "SEARCHES")
    if hit:  # of CALLS, those the response cache answered (their tokens are not counted)
        headers.insert(3, "HITS")
    right = set(range(2, len(headers)))  # every count and the cost
    if by:
        headers.insert(1, by.upper())
        right = {i + 1 for i in right}
    return format_table(headers, rows, right=right)


def _cache_reads_writes(usage: Usage) -> str:
    # Both are part of INPUT; writes cost more than plain input, reads less, and
    # one-hour writes more again (2x input at Anthropic): their share is shown too.
    cell = f"{usage.cached_input_tokens}/{usage.cache_write_input_tokens}"
    one_hour = usage.cache_write_1h_input_tokens
    return f"{cell} ({one_hour} 1h)" if one_hour else cell


def _total_json(t: UsageTotal, by: str | None = None) -> dict[str, Any]:
    from ..serialization import converter

    return {
        "day": t.day.isoformat(),
        "provider": t.provider,
        "model": t.model,
        "calls": t.calls,
        # of those calls, the response cache's hits: usage leaves their tokens out
        "cache_hits": t.cache_hits,
        "errors": t.errors,
        "usage": converter.unstructure(t.usage),
        # Plain notation whatever the backend's sum gave (SQLite: 1E-9, PostgreSQL: 0.000000001)
        "cost": f"{t.cost:f}" if t.cost is not None else None,
        # of those calls and that cost, relaykit's estimates (calls that ended
        # before the vendor said what it billed)
        "estimated": t.estimated,
        "estimated_cost": f"{t.estimated_cost:f}" if t.estimated_cost is not None else None,
        # grouped by a metadata name: the value under that name (null: calls without it)
        **({by: t.group} if by else {}),
    }
