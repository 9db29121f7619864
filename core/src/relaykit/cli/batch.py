"""``relaykit batch``: submit a JSONL file of chats as one batch, follow it, read its results.

``relaykit batch submit -m MODEL FILE`` (``-`` for stdin) reads one request a
line, ``{"custom_id": ..., "messages": [...]}`` or ``{"custom_id": ...,
"prompt": "..."}`` with any chat parameters beside them, and prints the
batch's id; ``status ID`` and ``cancel ID`` print where it is; ``list PROVIDER``
prints its newest batches, one line each; ``results ID`` prints one line per
item (``--json``: one JSON object per line).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import InvalidRequestError
from .named_files import MAX_BATCH_BYTES, read_named_file
from .number_options import whole_number
from .stdin_text import read_stdin_lines
from .text_options import non_blank

if TYPE_CHECKING:
    from ..batches import Batch, BatchResult
    from .context import CliContext


def register(
    commands: argparse._SubParsersAction[Any], parents: Sequence[argparse.ArgumentParser]
) -> None:
    """Add the ``batch`` command and its sub-commands."""
    parser = commands.add_parser(
        "batch",
        parents=parents,
        help="run chats as a batch: half price, answered within 24 hours",
        description="Submit many chats as one batch (OpenAI, Groq, Anthropic), follow it,"
        " and read its results: relaykit batch submit -m openai/gpt-4o-mini requests.jsonl,"
        " then relaykit batch status ID until it is done, then relaykit batch results ID.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    submit = actions.add_parser(
        "submit",
        parents=parents,
        help="submit a JSONL file of requests; print the batch id",
        description='Each line of FILE is one request: {"custom_id": "q1", "messages":'
        ' [...]} or {"custom_id": "q1", "prompt": "..."}, with any chat parameters beside'
        ' them ("max_tokens": 200, "temperature": 0, ...). Prints the batch id.',
    )
    submit.add_argument(
        "file",
        metavar="FILE",
        type=non_blank("a JSON Lines file, or - for stdin"),
        help="the JSONL file of requests (- for stdin)",
    )
    submit.add_argument("-m", "--model", required=True, help="provider/model (one deployment)")
    submit.add_argument("--json", action="store_true", help="print the batch as JSON")
    submit.set_defaults(func=_submit)
    for name, what in (("status", "print a batch's status"), ("cancel", "cancel a batch")):
        action = actions.add_parser(name, parents=parents, help=what, description=what + ".")
        action.add_argument("id", metavar="ID", help="the batch id submit printed")
        action.add_argument("--json", action="store_true", help="print the batch as JSON")
        action.set_defaults(func=_status if name == "status" else _cancel)
    listing = actions.add_parser(
        "list",
        parents=parents,
        help="print a provider's most recent batches, newest first",
        description="One line per batch, newest first, as status prints it: every batch"
        " of the account, whoever submitted it. PROVIDER is a provider (openai) or a"
        " model of one (openai/gpt-4o-mini).",
    )
    listing.add_argument("provider", metavar="PROVIDER", help="e.g. openai, anthropic, gemini")
    listing.add_argument(
        "-n", "--limit", type=whole_number(1), default=20, help="how many batches (default: 20)"
    )
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(func=_list)
    results = actions.add_parser(
        "results",
        parents=parents,
        help="print an ended batch's results, one line per item",
        description="One line per item, as the vendor serves them: its custom id, then its"
        " answer (on one line) or 'error:' and why. --json: one JSON object per line.",
    )
    results.add_argument("id", metavar="ID", help="the batch id submit printed")
    results.add_argument("--json", action="store_true", help="one JSON object per line")
    results.set_defaults(func=_results)


def read_requests(file: Iterable[str], name: str) -> list[dict[str, Any]]:
    """The requests in a JSONL ``file``: one JSON object a line, blank lines skipped."""
    items: list[dict[str, Any]] = []
    for number, line in enumerate(file, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as e:
            raise InvalidRequestError(
                f"{name} line {number} is not JSON ({e.msg})",
                param="FILE",
                hint='write one object a line: {"custom_id": "q1", "prompt": "..."}',
            ) from None
        if not isinstance(item, dict):
            raise InvalidRequestError(
                f"{name} line {number} is a JSON {type(item).__name__}, not an object",
                param="FILE",
                hint='write one object a line: {"custom_id": "q1", "prompt": "..."}',
            )
        items.append(item)
    if not items:
        raise InvalidRequestError(
            f"{name} holds no requests", param="FILE", hint="give one JSON object a line"
        )
    return items


def _submit(args: argparse.Namespace) -> int:
    context: CliContext = args.context
    if args.file == "-":
        if sys.stdin is None or sys.stdin.isatty():  # nothing piped: reading would wait
            raise InvalidRequestError(
                "no requests on stdin: it is " + ("closed" if sys.stdin is None else "a terminal"),
                param="FILE",
                hint="pipe them in (relaykit batch submit -m MODEL - < requests.jsonl), "
                "or give the file: relaykit batch submit -m MODEL requests.jsonl",
            )
        items = read_requests(read_stdin_lines(sys.stdin, "batch submit -m MODEL -"), "stdin")
    else:
        data = read_named_file(
            args.file,
            limit=MAX_BATCH_BYTES,
            what="batch file",
            param="FILE",
            hint="give a JSON Lines file of requests, or - for stdin",
        )
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidRequestError(
                f"{args.file} is not UTF-8 text",
                param="FILE",
                hint="save it as UTF-8 (iconv -f LATIN1 -t UTF-8), as JSON Lines are",
            ) from None
        # lines as a text-mode file splits them (str.splitlines would split inside
        # a JSON string too, at U+2028 and the other separators JSON leaves raw)
        items = read_requests(io.StringIO(text, newline=None), args.file)
    config = context.load_config()

    async def submit() -> Batch:
        async with context.client(config) as client:
            return await client.submit_batch(args.model, items)

    batch = context.run(submit)
    print(_batch_json(batch) if args.json else batch.id)
    if not args.json:
        print(
            f"{batch.total or len(items)} requests, {batch.status}: follow it with"
            f" `relaykit batch status {batch.id}`",
            file=sys.stderr,
        )
    return 0


def _status(args: argparse.Namespace) -> int:
    return _show(args, "batch")


def _cancel(args: argparse.Namespace) -> int:
    return _show(args, "cancel_batch")


def _show(args: argparse.Namespace, method: str) -> int:
    context: CliContext = args.context
    config = context.load_config()

    async def look() -> Batch:
        async with context.client(config) as client:
            result: Batch = await getattr(client, method)(args.id)
            return result

    batch = context.run(look)
    print(_batch_json(batch) if args.json else status_line(batch))
    return 0


def _list(args: argparse.Namespace) -> int:
    context: CliContext = args.context
    config = context.load_config()

    async def look() -> list[Batch]:
        async with context.client(config) as client:
            return await client.batches(args.provider, limit=args.limit)

    for batch in context.run(look):
        print(_batch_json(batch) if args.json else status_line(batch))
    return 0


def status_line(batch: Batch) -> str:
    """``openai/batch_abc  ended (completed)  2 total, 1 succeeded, 1 errored``."""
    return (
        f"{batch.id}\t{batch.status} ({batch.vendor_status})\t{batch.total} total,"
        f" {batch.succeeded} succeeded, {batch.errored} errored, {batch.pending} pending"
        + (f"\t{batch.error}" if batch.error else "")
    )


def _results(args: argparse.Namespace) -> int:
    context: CliContext = args.context
    config = context.load_config()
    write = sys.stdout.write

    async def read() -> None:
        async with context.client(config) as client:
            results = client.batch_results(args.id)
            try:
                async for result in results:
                    write((_result_json(result) if args.json else result_line(result)) + "\n")
            finally:
                await results.aclose()

    context.run(read)
    return 0


def result_line(result: BatchResult) -> str:
    """``q1\tthe answer, on one line`` or ``q2\terror: why``."""
    if result.response is not None:
        return f"{result.custom_id}\t{' '.join(result.response.text.split())}"
    return f"{result.custom_id}\terror: {' '.join(str(result.error).split())}"


def _result_json(result: BatchResult) -> str:
    out: dict[str, Any] = {"custom_id": result.custom_id}
    response = result.response
    if response is not None:
        usage = response.usage
        out.update(
            text=response.text,
            finish_reason=response.finish_reason,
            stop_sequence=response.stop_sequence,
            tool_calls=[
                {"id": c.id, "name": c.name, "arguments": c.arguments} for c in response.tool_calls
            ],
            model=response.model,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost_usd=None if response.cost is None else str(response.cost),
        )
    else:
        error = result.error
        out["error"] = {
            "type": type(error).__name__,
            "message": str(error),
            "status": getattr(error, "status", None),
        }
    return json.dumps(out, ensure_ascii=False)


def _batch_json(batch: Batch) -> str:
    return json.dumps(
        {
            "id": batch.id,
            "provider": batch.provider,
            "model": batch.model,
            "status": batch.status,
            "vendor_status": batch.vendor_status,
            "done": batch.done,
            "total": batch.total,
            "succeeded": batch.succeeded,
            "errored": batch.errored,
            "created_at": batch.created_at,
            "ended_at": batch.ended_at,
            "expires_at": batch.expires_at,
            "error": batch.error,
        }
    )
