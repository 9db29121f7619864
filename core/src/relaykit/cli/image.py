"""``relaykit image``: draw images from a prompt (or edit images as it says, with
``--edit FILE``) and write them to files."""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidRequestError
from .default_model import command_model
from .named_files import MAX_MEDIA_BYTES, read_named_file
from .number_options import integer
from .output_files import check_output, is_device, output_path, write_output
from .text_options import non_blank

if TYPE_CHECKING:
    from ..config import Config
    from ..image_generation import GeneratedImage, ImageResponse
    from ..image_inputs import ImageFile
    from .context import CliContext


def register(
    commands: argparse._SubParsersAction[Any], parents: Sequence[argparse.ArgumentParser]
) -> None:
    """Add the ``image`` command."""
    parser = commands.add_parser(
        "image",
        parents=parents,
        help="generate images from a prompt, written to files",
        description="Draw PROMPT and write each image to a file (named after the prompt,"
        " in the current directory, unless -o or --out-dir says): relaykit image"
        " -m openai/gpt-image-2 --quality low 'a red fox in snow'. Prints the files"
        " written, never the images. With --edit FILE (once per image) PROMPT says how"
        " to edit them: relaykit image -m openai/gpt-image-2 --edit fox.png"
        " --mask mask.png 'put a red hat on the fox'.",
    )
    parser.add_argument("prompt", metavar="PROMPT", help="what to draw, or how to edit")
    parser.add_argument(
        "--edit",
        metavar="FILE",
        type=non_blank("an image file"),
        action="append",
        help="an image to edit (PNG, JPEG, WebP); repeat it for several",
    )
    parser.add_argument(
        "--mask",
        metavar="FILE",
        type=non_blank("an image file"),
        help="with --edit: where to edit the first image (OpenAI: a PNG, transparent there)",
    )
    parser.add_argument(
        "-m", "--model", help="provider/model or an alias (default: [defaults] image_model)"
    )
    parser.add_argument("-n", type=integer, default=1, metavar="N", help="how many images (1)")
    parser.add_argument("--size", metavar="WxH", help="1024x1024, 1536x1024, ... or auto")
    parser.add_argument(
        "--quality", metavar="Q", help="the vendor's word: low, medium, high, auto; hd, standard"
    )
    parser.add_argument(
        "--format",
        dest="output_format",
        choices=("png", "jpeg", "webp"),
        help="the image format to ask for (where the model takes one)",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        type=non_blank("a file name, or - for stdout"),
        help="the file to write (with -n 2 or more: FILE-1.png, FILE-2.png, ...);"
        " its suffix is the image's when FILE has none; - writes the image to stdout",
    )
    where.add_argument(
        "--out-dir",
        metavar="DIR",
        type=non_blank("a directory (. for this one)"),
        help="the directory to write files named after the prompt to",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object: the files with their sizes, usage and cost",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handle ``relaykit image``."""
    context: CliContext = args.context
    _check_prompt(args)
    config = context.load_config()
    model = command_model(args.model, config, "image", "openai/gpt-image-2")
    if args.mask is not None and not args.edit:
        raise InvalidRequestError(
            "--mask marks where to edit an image: it needs --edit FILE", param="mask"
        )
    if args.out_dir is not None and not Path(args.out_dir).is_dir():
        raise InvalidRequestError(
            f"--out-dir {args.out_dir!r} is not a directory", hint="create it first"
        )
    check_output(args.output)
    if args.output == "-":
        _check_stdout(args)
    # read before anything connects: a file that cannot be sent costs no connection
    edits = None
    if args.edit:
        images = [_image(path, "--edit") for path in args.edit]
        edits = (images, _image(args.mask, "--mask") if args.mask is not None else None)
    response = context.run(_generate, context, config, model, args, edits)
    if args.output == "-":
        return _to_stdout(response.images[0])
    written = [_write(image, i, response, args) for i, image in enumerate(response.images)]
    if args.json:
        print(json.dumps(_summary(response, written), ensure_ascii=False))
        return 0
    for image, where in zip(response.images, written, strict=True):
        # a path written, or the URL of an image the service would only link to
        print(where if where is not None else image.url)
    return 0


async def _generate(
    context: CliContext,
    config: Config,
    model: str,
    args: argparse.Namespace,
    edits: tuple[list[ImageFile], ImageFile | None] | None,
) -> ImageResponse:
    params = {
        "n": args.n,
        "size": args.size,
        "quality": args.quality,
        "output_format": args.output_format,
    }
    async with context.client(config) as client:
        if edits is not None:
            images, mask = edits
            return await client.edit_image(model, args.prompt, image=images, mask=mask, **params)
        return await client.generate_image(model, args.prompt, **params)


def _image(path: str, option: str) -> ImageFile:
    """The image file at ``path``, read whole: at most :data:`MAX_MEDIA_BYTES`."""
    from ..image_inputs import ACCEPTED, ImageFile

    data = read_named_file(
        path,
        limit=MAX_MEDIA_BYTES,
        what="image file",
        param=option.lstrip("-"),
        hint=f"give an image file ({ACCEPTED})",
    )
    return ImageFile(data, filename=path)


def _write(
    image: GeneratedImage, index: int, response: ImageResponse, args: argparse.Namespace
) -> str | None:
    """Write ``image`` where the options say; the path written (``None``: a URL only).

    ``-o`` is written over, as ``curl -o`` would; a name made from the prompt
    never overwrites a file: ``fox-2.png`` follows ``fox.png``.
    """
    if image.data is None:
        return None
    count = len(response.images)
    if args.output is not None:
        path = output_path(args.output, image.suffix)
        if count > 1 and not is_device(path):  # -n 2 -o /dev/null: both to the device
            path = path.with_name(f"{path.stem}-{index + 1}{path.suffix}")
        return str(write_output(path, image.data))
    directory = Path(args.out_dir or ".")
    stem = _slug(args.prompt)
    if count > 1:
        stem = f"{stem}-{index + 1}"
    path = directory / f"{stem}{image.suffix}"
    copy = 2
    while path.exists():
        path = directory / f"{stem}-v{copy}{image.suffix}"
        copy += 1
    return str(write_output(path, image.data, "--out-dir"))


def _check_stdout(args: argparse.Namespace) -> None:
    """Refuse, before the paid call, an ``-o -`` stdout cannot take: a terminal, more
    than one image, or ``--json`` beside the image's bytes."""
    if sys.stdout.isatty():
        raise InvalidRequestError(
            "-o - would write an image to a terminal",
            param="output",
            hint="pipe it (relaykit image ... -o - | display), or name a file with -o",
        )
    if args.n > 1:
        raise InvalidRequestError(
            f"-o - writes one image: -n {args.n} asks for {args.n}",
            param="output",
            hint="drop -n, or write files: -o FILE (FILE-1.png, ...) or --out-dir DIR",
        )
    if args.json:
        raise InvalidRequestError(
            "-o - writes the image to stdout: --json would print there too",
            param="output",
            hint="drop --json, or write a file with -o FILE",
        )


def _to_stdout(image: GeneratedImage) -> int:
    """Write ``image``'s bytes to stdout; a service that only links to it: its URL on
    stderr (the image is paid for), and exit 1, stdout having no image."""
    if image.data is None:
        print(
            f"error: the service gave no image to write, only its URL: {image.url}", file=sys.stderr
        )
        return 1
    sys.stdout.buffer.write(image.data)
    sys.stdout.flush()
    return 0


def _check_prompt(args: argparse.Namespace) -> None:
    """Refuse a blank PROMPT with the fix in command-line words (the client's says
    ``generate_image(model, ...)``, the Python API's)."""
    if args.prompt.strip():
        return
    model = shlex.quote(args.model) if args.model else "MODEL"
    if args.edit:
        problem = "PROMPT is blank: it says how to edit the image"
        fix = f"say how: relaykit image -m {model} --edit {shlex.quote(args.edit[0])} 'add a hat'"
    else:
        problem = "PROMPT is blank: there is nothing to draw"
        fix = f"say what to draw: relaykit image -m {model} 'a red fox in snow'"
    raise InvalidRequestError(problem, param="prompt", hint=fix)


def _slug(prompt: str) -> str:
    """A file name from the prompt's first words: ``a-red-fox-in-snow``."""
    words = re.findall(r"[^\W_]+", prompt.lower())
    slug = "-".join(words)[:48].strip("-")
    return slug or "image"


def _summary(response: ImageResponse, written: list[str | None]) -> dict[str, Any]:
    from ..image_files import size_text

    return {
        "provider": response.provider,
        "model": response.model,
        "images": [
            {
                "file": where,
                "url": image.url if where is None else None,
                "media_type": image.media_type,
                "size": size_text(image.size),
                "bytes": len(image.data) if image.data is not None else None,
                "revised_prompt": image.revised_prompt,
            }
            for image, where in zip(response.images, written, strict=True)
        ],
        "input_tokens": response.usage.input_tokens,
        "output_tokens": response.usage.output_tokens,
        "cost_usd": None if response.cost is None else str(response.cost),
    }
