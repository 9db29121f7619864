"""``relaykit speak``: say a text aloud, written to an audio file."""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidRequestError
from .default_model import command_model
from .number_options import real_number
from .output_files import check_output, output_path, write_error, write_output
from .stdin_text import read_stdin_text
from .text_options import non_blank

if TYPE_CHECKING:
    from ..config import Config
    from ..speech import SpeechResponse
    from .context import CliContext

#: the CLI's voice when none is given: OpenAI's first, as its guide's examples use
DEFAULT_VOICE = "alloy"


def register(
    commands: argparse._SubParsersAction[Any], parents: Sequence[argparse.ArgumentParser]
) -> None:
    """Add the ``speak`` command."""
    from ..speech_formats import FORMATS

    parser = commands.add_parser(
        "speak",
        parents=parents,
        help="say a text aloud, written to an audio file",
        description="Speak TEXT (- reads stdin) and write the audio to a file named"
        " after the text, in the current directory, unless -o says (-o - writes to"
        " stdout when it is not a terminal): relaykit speak -m openai/gpt-4o-mini-tts"
        " --voice coral 'Hello there'. Prints the file written, never the audio.",
    )
    parser.add_argument("text", metavar="TEXT", help="what to say, or - for stdin")
    parser.add_argument(
        "-m", "--model", help="provider/model or an alias (default: [defaults] speech_model)"
    )
    parser.add_argument(
        "--voice",
        default=DEFAULT_VOICE,
        help=f"the vendor's voice name (default: {DEFAULT_VOICE}, an OpenAI voice)",
    )
    parser.add_argument(
        "--format", dest="fmt", choices=FORMATS, default="mp3", help="the audio format (mp3)"
    )
    parser.add_argument("--speed", type=real_number, help="0.25 to 4.0 (1.0 is normal)")
    parser.add_argument(
        "--instructions", metavar="TEXT", help="how to say it (gpt-4o-mini-tts): tone, pace"
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        type=non_blank("a file name, or - for stdout"),
        help="the file to write, over any there (- for stdout, when it is not a terminal)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object: the file with the audio's size, format and cost",
    )
    parser.add_argument(
        "--stream",
        action="store_true",
        help="write the audio as it arrives (with -o -, play it while it is spoken:"
        " relaykit speak --stream --format pcm -o - TEXT | ffplay -f s16le -ar 24k -)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``relaykit speak``."""
    context: CliContext = args.context
    text = _text(args.text)
    if not text.strip():
        # Refused here, not by the client, whose fix is in the Python API's words.
        model = shlex.quote(args.model) if args.model else "MODEL"
        raise InvalidRequestError(
            "TEXT is blank: there is nothing to say",
            param="text",
            hint=f"say what to speak: relaykit speak -m {model} 'Hello there'",
        )
    if args.output == "-" and sys.stdout.isatty():
        raise InvalidRequestError(
            "-o - would write audio to a terminal",
            hint="pipe it (relaykit speak ... -o - | mpv -), or name a file with -o",
        )
    if args.output == "-" and args.json:
        raise InvalidRequestError(
            "-o - writes the audio to stdout: --json would print there too",
            hint="drop --json, or write a file with -o FILE",
        )
    check_output(args.output)
    config = context.load_config()
    model = command_model(args.model, config, "speech", "openai/gpt-4o-mini-tts")
    if args.stream:
        path = None if args.output == "-" else _path(args.fmt, text, args.output)
        response = context.run(_stream, context, config, model, text, args, path)
        if path is None:
            return 0
    else:
        response = context.run(_speak, context, config, model, text, args)
        if args.output == "-":
            sys.stdout.buffer.write(response.audio)
            sys.stdout.flush()
            return 0
        path = _path(response.format, text, args.output)
        write_output(path, response.audio)
    if args.json:
        answer = {
            "provider": response.provider,
            "model": response.model,
            "file": str(path),
            "format": response.format,
            "media_type": response.media_type,
            "bytes": response.size,
            "cost_usd": None if response.cost is None else str(response.cost),
        }
        print(json.dumps(answer, ensure_ascii=False))
        return 0
    print(path)
    return 0


def _text(text: str) -> str:
    """The text to say, or for ``-`` the text piped on stdin."""
    if text != "-":
        return text
    stdin = sys.stdin
    if stdin is None or stdin.isatty():
        raise InvalidRequestError(
            "no text on stdin", hint="pipe it in (echo 'Hello' | relaykit speak -)"
        )
    return read_stdin_text(stdin, "speak -")


async def _speak(
    context: CliContext, config: Config, model: str, text: str, args: argparse.Namespace
) -> SpeechResponse:
    async with context.client(config) as client:
        return await client.speak(
            model,
            text,
            voice=args.voice,
            format=args.fmt,
            speed=args.speed,
            instructions=args.instructions,
        )


async def _stream(
    context: CliContext,
    config: Config,
    model: str,
    text: str,
    args: argparse.Namespace,
    path: Path | None,
) -> SpeechResponse:
    """Write each chunk as it arrives: to ``path``, or (``None``) to stdout, flushed,
    so that a player reading the pipe starts at once (in a worker thread: a slow
    reader does not stall the loop); an error writing ``path`` names it."""
    import anyio

    if path is None:
        out = anyio.wrap_file(sys.stdout.buffer)
    else:
        try:
            out = await anyio.open_file(path, "wb")
        except OSError as e:
            raise write_error(path, e) from None
    try:
        async with (
            context.client(config) as client,
            client.stream_speech(
                model,
                text,
                voice=args.voice,
                format=args.fmt,
                speed=args.speed,
                instructions=args.instructions,
            ) as audio,
        ):
            async for chunk in audio:
                try:
                    await out.write(chunk)
                    await out.flush()  # a full disk said now, not lost at close
                except OSError as e:
                    if path is None:  # stdout: main reports it (a closed pipe, a full disk)
                        raise
                    raise write_error(path, e) from None
        return audio.response
    finally:
        if path is not None:
            # flushed after each chunk: nothing is left to fail here but after an error
            with contextlib.suppress(OSError):
                await out.aclose()


def _path(fmt: str, text: str, output: str | None) -> Path:
    """Where to write the audio: ``output`` (written over, as ``curl -o`` would), else
    a file named after the text that never overwrites one (``hello-v2.mp3`` follows
    ``hello.mp3``)."""
    suffix = f".{fmt}"
    if output is not None:
        path = output_path(output, suffix)
    else:
        stem = _slug(text)
        path = Path(f"{stem}{suffix}")
        copy = 2
        while path.exists():
            path = Path(f"{stem}-v{copy}{suffix}")
            copy += 1
    return path


def _slug(text: str) -> str:
    """A file name from the text's first words: ``hello-there``."""
    words = re.findall(r"[^\W_]+", text.lower())
    slug = "-".join(words)[:48].strip("-")
    return slug or "speech"
