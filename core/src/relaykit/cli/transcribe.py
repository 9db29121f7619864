"""``relaykit transcribe``: the text said in an audio file."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import InvalidRequestError
from .default_model import command_model
from .named_files import MAX_MEDIA_BYTES, read_named_file
from .stdin_text import read_stdin_bytes
from .text_options import non_blank

if TYPE_CHECKING:
    from ..audio import AudioFile
    from ..config import Config
    from ..transcription import TranscriptionResponse
    from .context import CliContext


def register(
    commands: argparse._SubParsersAction[Any], parents: Sequence[argparse.ArgumentParser]
) -> None:
    """Add the ``transcribe`` command."""
    parser = commands.add_parser(
        "transcribe",
        parents=parents,
        help="transcribe an audio file to text",
        description="Print the text said in FILE (flac, m4a, mp3, mp4, ogg, wav or webm; "
        "- reads stdin): relaykit transcribe -m openai/gpt-4o-mini-transcribe memo.m4a",
    )
    parser.add_argument(
        "file",
        metavar="FILE",
        type=non_blank("an audio file, or - for stdin"),
        help="the audio file, or - for stdin",
    )
    parser.add_argument(
        "-m",
        "--model",
        help="provider/model or an alias (default: [defaults] transcription_model)",
    )
    parser.add_argument(
        "--language", metavar="CODE", help="the audio's language (en, de, ...): faster, surer"
    )
    parser.add_argument(
        "--prompt", metavar="TEXT", help="a text to guide spelling and style (names, jargon)"
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object: the text with its language, length, usage and cost",
    )
    parser.add_argument(
        "--stream",
        action="store_true",
        help="print the text as it is heard (gpt-4o-transcribe models; others print it whole)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``relaykit transcribe``."""
    context: CliContext = args.context
    if args.stream and args.json:
        raise InvalidRequestError(
            "--stream prints text as it comes, --json one object at the end",
            hint="pass one of them",
        )
    config = context.load_config()
    model = command_model(args.model, config, "transcription", "openai/gpt-4o-mini-transcribe")
    audio = _audio(args.file)
    if args.stream:
        context.run(_stream, context, config, model, audio, args)
        sys.stdout.write("\n")
        return 0
    response = context.run(_transcribe, context, config, model, audio, args)
    if args.json:
        answer = {
            "provider": response.provider,
            "model": response.model,
            "text": response.text,
            "language": response.language,
            "duration": response.duration,
            "input_tokens": response.usage.input_tokens,
            "output_tokens": response.usage.output_tokens,
            "cost_usd": None if response.cost is None else str(response.cost),
        }
        print(json.dumps(answer, ensure_ascii=False))
        return 0
    sys.stdout.write(response.text)
    sys.stdout.write("\n")
    return 0


def _audio(file: str) -> AudioFile:
    """The audio to transcribe, from the file or for ``-`` from stdin: read now,
    before anything connects, and at most :data:`MAX_MEDIA_BYTES`; its format
    checked with the command line's fix (the API's names the Python way)."""
    from ..audio import ACCEPTED, audio_format

    audio = _read_audio(file)
    if not audio.data:  # the client's own error says it is empty
        return audio
    try:
        audio_format(audio)
    except InvalidRequestError as e:
        convert = f"convert it to one of {ACCEPTED} (ffmpeg -i IN OUT.mp3)"
        e.hint = (
            f"{convert}, or give it as a file named for its format (relaykit transcribe memo.m4a)"
            if file == "-"
            else f"if it is a recording, name the file for its format (memo.m4a), or {convert}"
        )
        raise
    return audio


def _read_audio(file: str) -> AudioFile:
    from ..audio import ACCEPTED, AudioFile

    if file != "-":
        data = read_named_file(
            file,
            limit=MAX_MEDIA_BYTES,
            what="audio file",
            param="FILE",
            hint=f"give a recording ({ACCEPTED})",
        )
        return AudioFile(data, filename=file)
    stdin = sys.stdin
    if stdin is None or stdin.isatty():
        raise InvalidRequestError(
            "no audio on stdin", hint="pipe a file in (relaykit transcribe - < memo.wav)"
        )
    data = read_stdin_bytes(stdin, MAX_MEDIA_BYTES)
    if not data:
        raise InvalidRequestError(
            "stdin held no audio (0 bytes)",
            hint="pipe a recording in (relaykit transcribe - < memo.wav)",
        )
    return AudioFile(data)


async def _transcribe(
    context: CliContext,
    config: Config,
    model: str,
    audio: AudioFile,
    args: argparse.Namespace,
) -> TranscriptionResponse:
    async with context.client(config) as client:
        return await client.transcribe(model, audio, language=args.language, prompt=args.prompt)


async def _stream(
    context: CliContext,
    config: Config,
    model: str,
    audio: AudioFile,
    args: argparse.Namespace,
) -> TranscriptionResponse:
    """Print each piece of the transcript as it is heard."""
    async with (
        context.client(config) as client,
        client.stream_transcription(
            model, audio, language=args.language, prompt=args.prompt
        ) as transcript,
    ):
        async for delta in transcript:
            sys.stdout.write(delta)
            sys.stdout.flush()
    return transcript.response
