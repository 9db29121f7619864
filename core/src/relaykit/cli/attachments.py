"""``-a/--attach PATH|URL`` and ``--attach-type PATH MIME``: files the prompt comes with.

``relaykit prompt`` and ``relaykit chat`` share them (simonw/llm's ``-a`` and
``--at``). Each attachment becomes a content part of the user message:

- an image (PNG, JPEG, WebP or GIF, the formats every vendor reads) an
  :class:`~relaykit.ImagePart`;
- a PDF, or any other document, a :class:`~relaykit.DocumentPart`; text
  (``text/*``, JSON, YAML, source code...) goes as ``text/plain``, the one
  text type every provider that reads documents takes, under its file name.

What a file is comes from its bytes first (images' and PDFs' magic numbers),
then its name, then whether it is UTF-8 text; ``--attach-type`` says it
outright. A URL is passed on as a URL (never fetched here): its type comes from
its path's suffix, or ``--attach-type URL MIME``. A ``data:`` URL holds the
file itself: its bytes (base64, or percent-encoded text) are attached as a
file's would be, its media type the URL's. ``-a -`` reads the attachment
from stdin. Files are read before the event loop starts, as stdin is: the CLI
has nothing else to run meanwhile.

Whether the provider reads a part is the provider's to say: each plugin refuses
what its API cannot take (a PDF by URL on Chat Completions, a Word file on
Anthropic) before anything is sent, with the fix in the error.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import mimetypes
import os
import re
import sys
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import unquote_to_bytes, urlsplit

import attrs

from ..errors import InvalidRequestError
from ..file_problems import read_problem

if TYPE_CHECKING:
    from ..messages import DocumentPart, ImagePart, Message

#: ``-a -``: the attachment is stdin
STDIN = "-"
#: the largest file relaykit attaches: 32 MB is the most Anthropic takes in one
#: request and OpenAI in one request's files; a larger one could only fail, after
#: being read into memory and uploaded
MAX_ATTACHMENT_BYTES = 32_000_000
#: image formats every provider that reads images takes
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif"})
#: media types outside ``text/*`` that are text all the same
TEXT_APPLICATION_TYPES = frozenset(
    {
        "application/json",
        "application/xml",
        "application/yaml",
        "application/x-yaml",
        "application/toml",
        "application/javascript",
        "application/x-javascript",
        "application/x-sh",
        "application/sql",
        "application/x-python-code",
    }
)
_PDF_MAGIC = b"%PDF-"


@attrs.frozen
class AttachmentSpec:
    """One ``-a`` or ``--attach-type`` as given: a path, a URL or ``-``, and the
    media type ``--attach-type`` named (``None``: find it out)."""

    source: str
    media_type: str | None = None


class _AppendSpec(argparse.Action):
    """Append an :class:`AttachmentSpec` to ``dest``, so ``-a`` and ``--attach-type``
    keep the order they were given in."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        if isinstance(values, str):
            spec = AttachmentSpec(values)
        else:
            assert values is not None and len(values) == 2
            source, media_type = str(values[0]), str(values[1])
            if "/" not in media_type:
                parser.error(f"{option_string}: {media_type!r} is no MIME type (e.g. image/png)")
            spec = AttachmentSpec(source, media_type)
        specs = list(getattr(namespace, self.dest, None) or [])
        setattr(namespace, self.dest, [*specs, spec])


def add_attachment_options(parser: argparse.ArgumentParser, *, when: str) -> None:
    """Add ``-a/--attach`` and ``--attach-type/--at``; ``when`` says which message gets them."""
    parser.add_argument(
        "-a",
        "--attach",
        dest="attachments",
        metavar="PATH|URL",
        action=_AppendSpec,
        default=[],
        help=f"attach an image, PDF or text file (or a URL, sent as a URL) to {when}; "
        "repeatable; - reads it from stdin; a data: URL is attached as its bytes",
    )
    parser.add_argument(
        "--attach-type",
        "--at",
        dest="attachments",
        metavar=("PATH|URL", "MIME"),
        nargs=2,
        action=_AppendSpec,
        help="attach a file whose type cannot be guessed, as MIME: --attach-type notes text/plain",
    )


def uses_stdin(specs: Sequence[AttachmentSpec]) -> bool:
    """Whether one of ``specs`` is ``-a -``."""
    return any(spec.source == STDIN for spec in specs)


def read_attachments(
    specs: Sequence[AttachmentSpec], *, max_chars: int, stdin: BinaryIO | None = None
) -> list[ImagePart | DocumentPart]:
    """The parts ``specs`` name, in order: files and stdin read, URLs kept as URLs.

    :param max_chars: the most characters a text attachment may have (``[validation]
        max_chars``, the limit the client puts on a request's text).
    :param stdin: where ``-a -`` reads from (default: ``sys.stdin``'s bytes).

    Raises :class:`~relaykit.InvalidRequestError` naming the attachment and the fix
    for a missing file, one too large, one whose type is unknown, or stdin given twice.
    """
    if sum(spec.source == STDIN for spec in specs) > 1:
        raise InvalidRequestError(
            "-a - is given more than once: stdin holds one attachment",
            param="attach",
            hint="save the others to files and attach those",
        )
    parts = []
    for spec in specs:
        if _is_url(spec.source):
            parts.append(_url_part(spec))
            continue
        if spec.source == STDIN:
            data, name = _read_stdin(stdin), None
        elif _is_data_url(spec.source):
            data, media_type = _read_data_url(spec.source)
            # --attach-type still has the last word, as it has for a file
            spec = AttachmentSpec(spec.source, spec.media_type or media_type)
            parts.append(_data_part(spec, data, None, max_chars, shown=_data_shown(spec.source)))
            continue
        elif (refused := _other_url(spec.source)) is not None:
            raise refused
        else:
            data, name = _read_file(spec.source), os.path.basename(spec.source)
        parts.append(_data_part(spec, data, name, max_chars))
    return parts


def user_message(text: str | None, attachments: Sequence[ImagePart | DocumentPart]) -> Message:
    """The user message: the attachments, then the text (vendors advise putting
    images and documents before the question about them)."""
    from ..messages import Message, TextPart

    if not attachments:
        return Message.user(text or "")
    return Message.user([*attachments, *([TextPart(text)] if text else [])])


def _is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def _is_data_url(source: str) -> bool:
    # a file of that name, if there is one, is what was meant (as for other schemes)
    return source[:5].lower() == "data:" and not os.path.exists(source)


def _data_shown(source: str) -> str:
    """A ``data:`` URL as errors quote it: its header, not the data (which may be long)."""
    header, comma, _ = source.partition(",")
    return repr(f"{header},…" if comma else header)


#: what the Fetch standard strips from base64 data before decoding it
_BASE64_SPACE = re.compile(rb"[\t\n\f\r ]")


def _read_data_url(source: str) -> tuple[bytes, str]:
    """A ``data:`` URL's bytes and media type, read as RFC 2397 and the Fetch
    standard's "data: URL processor" say: the data percent-decoded, then, with
    ``;base64``, base64-decoded (white space ignored, padding optional); without a
    type it is ``text/plain``."""
    shown = _data_shown(source)
    header, comma, payload = source[len("data:") :].partition(",")
    if not comma:
        raise InvalidRequestError(
            f"cannot attach {shown}: a data: URL holds its data after a comma",
            param="attach",
            hint="data:MIME;base64,DATA, e.g. data:image/png;base64,iVBORw0KGgo...",
        )
    params = [p.strip() for p in header.split(";")]
    encoded = len(params) > 1 and params[-1].lower() == "base64"
    if encoded:
        params.pop()
    media_type = params[0].lower() or "text/plain"
    if "/" not in media_type:
        raise InvalidRequestError(
            f"cannot attach {shown}: its media type {params[0]!r} is no MIME type",
            param="attach",
            hint="name it in full, e.g. data:image/png;base64,...",
        )
    data = unquote_to_bytes(payload)
    if encoded:
        if len(payload) > MAX_ATTACHMENT_BYTES * 4 // 3 + 4:  # refused before decoding
            raise _too_large(shown, len(payload) * 3 // 4, exact=False)
        data = _BASE64_SPACE.sub(b"", data)
        try:
            data = base64.b64decode(data + b"=" * (-len(data) % 4), validate=True)
        except binascii.Error:
            raise InvalidRequestError(
                f"cannot attach {shown}: its data is not valid base64",
                param="attach",
                hint="encode the file with base64 -w0 FILE, or attach the file itself: -a PATH",
            ) from None
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise _too_large(shown, len(data))
    return data, ";".join([media_type, *params[1:]])


#: the start of a URL of any scheme (RFC 3986: a letter, then letters, digits, + - .)
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")


def _other_url(source: str) -> InvalidRequestError | None:
    """The refusal of ``source`` when it is a URL of a scheme other than http(s) and
    names no file here (it would be read as a missing file)."""
    found = _SCHEME.match(source)
    if found is None or os.path.exists(source):
        return None
    return InvalidRequestError(
        f"cannot attach {source!r}: relaykit takes http:// and https:// URLs, not "
        f"{found.group(1).lower()}:// ones",
        param="attach",
        hint="download it and attach the file (-a PATH), or give an http(s):// URL",
    )


def _read_file(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            # The size first, so a huge file is refused unread; a pipe (<(cmd)) says
            # 0, so the read stops one byte past the limit to tell.
            size = os.fstat(f.fileno()).st_size
            data = b"" if size > MAX_ATTACHMENT_BYTES else f.read(MAX_ATTACHMENT_BYTES + 1)
        if size > MAX_ATTACHMENT_BYTES or len(data) > MAX_ATTACHMENT_BYTES:
            raise _too_large(repr(path), max(size, len(data)), exact=len(data) <= size)
        return data
    except OSError as e:
        problem = read_problem(e)
    raise InvalidRequestError(
        f"cannot attach {path!r}: {problem}",
        param="attach",
        hint="check the path, or pass a URL (http:// or https://)",
    )


def _read_stdin(stdin: BinaryIO | None) -> bytes:
    if stdin is None:
        if sys.stdin is None or sys.stdin.isatty():
            state = "closed" if sys.stdin is None else "a terminal"
            raise InvalidRequestError(
                f"-a - reads the attachment from stdin, but stdin is {state}",
                param="attach",
                hint="pipe the file in: cat photo.png | relaykit prompt -a - 'Describe it'",
            )
        buffer = getattr(sys.stdin, "buffer", None)
        # A text stream without bytes under it (a test's StringIO): its text as UTF-8.
        data = buffer.read(MAX_ATTACHMENT_BYTES + 1) if buffer else sys.stdin.read().encode()
    else:
        data = stdin.read(MAX_ATTACHMENT_BYTES + 1)
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise _too_large("on stdin", len(data), exact=False)
    return data


def _too_large(what: str, size: int, *, exact: bool = True) -> InvalidRequestError:
    limit = f"{MAX_ATTACHMENT_BYTES / 1e6:g} MB"
    amount = f"{size / 1e6:,.1f} MB" if exact else f"over {limit}"
    return InvalidRequestError(
        f"the attachment {what} is {amount}; relaykit attaches files of at most "
        f"{limit} (the most a provider takes in one request)",
        param="attach",
        hint="shrink it (fewer pages, a smaller image), or pass a URL the provider fetches",
    )


def _data_part(
    spec: AttachmentSpec, data: bytes, name: str | None, max_chars: int, *, shown: str = ""
) -> ImagePart | DocumentPart:
    """The part ``data`` makes; ``shown`` names it in errors (default: its file name,
    or stdin)."""
    from ..image_files import sniff
    from ..messages import DocumentPart, ImagePart

    shown = shown or (repr(name) if name else "on stdin")
    if not data:
        raise InvalidRequestError(
            f"the attachment {shown} is empty (0 bytes)",
            param="attach",
            hint="attach a file with something in it",
        )
    media_type = _bare(spec.media_type) if spec.media_type else _sniffed(data, name)
    if media_type is None:
        raise _unknown_type(spec.source, shown)
    _refuse_media(media_type, shown)
    if media_type.startswith("image/"):
        if media_type not in IMAGE_TYPES:
            raise _unreadable_image(shown, media_type)
        # The bytes say what an image is, whatever its name or --attach-type claims.
        return ImagePart(data=data, media_type=sniff(data) or media_type)
    if _is_text(media_type):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InvalidRequestError(
                f"the attachment {shown} is {media_type}, but not UTF-8 text",
                param="attach",
                hint="convert it (iconv -t UTF-8), or give its real type with --attach-type",
            ) from None
        if len(text) > max_chars:
            raise InvalidRequestError(
                f"the attachment {shown} is {len(text):,} characters of text,"
                f" over the limit of {max_chars:,}",
                param="attach",
                hint="attach a part of it, or raise [validation] max_chars",
            )
        return DocumentPart(data=data, media_type="text/plain", name=name)
    return DocumentPart(data=data, media_type=media_type, name=name)


def _url_part(spec: AttachmentSpec) -> ImagePart | DocumentPart:
    from ..messages import DocumentPart, ImagePart

    path = urlsplit(spec.source).path
    name = PurePosixPath(path).name or None
    if spec.media_type:
        media_type: str | None = _bare(spec.media_type)
    else:
        media_type = mimetypes.guess_type(path, strict=False)[0]
    shown = repr(spec.source)
    if media_type is None:
        raise _unknown_type(spec.source, shown)
    _refuse_media(media_type, shown)
    if media_type.startswith("image/"):
        if media_type not in IMAGE_TYPES:
            raise _unreadable_image(shown, media_type)
        return ImagePart(url=spec.source)
    if _is_text(media_type):
        media_type = "text/plain"
    return DocumentPart(url=spec.source, media_type=media_type, name=name)


def _sniffed(data: bytes, name: str | None) -> str | None:
    """What ``data`` is: its magic number, else UTF-8 text, else its file name says.

    Text before the name: a README, a Makefile, a pipe's output have no suffix,
    and some suffixes mislead (``.ts``: TypeScript, or an MPEG video stream?).
    """
    from ..image_files import sniff

    found = sniff(data) or ("application/pdf" if data.startswith(_PDF_MAGIC) else None)
    if found is None and b"\0" not in data[:8192]:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            found = "text/plain"
    if found is None and name:
        found = mimetypes.guess_type(name, strict=False)[0]
    return found


def _bare(media_type: str) -> str:
    return media_type.partition(";")[0].strip().lower()


def _is_text(media_type: str) -> bool:
    return (
        media_type.startswith("text/")
        or media_type in TEXT_APPLICATION_TYPES
        or media_type.endswith(("+json", "+xml"))
    )


def _refuse_media(media_type: str, shown: str) -> None:
    if media_type.startswith(("audio/", "video/")):
        raise InvalidRequestError(
            f"the attachment {shown} is {media_type}: prompts take images, PDFs and text",
            param="attach",
            hint="transcribe audio first: relaykit transcribe FILE",
        )


def _unknown_type(source: str, shown: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"cannot tell what kind of file the attachment {shown} is",
        param="attach",
        hint=f"name its type: --attach-type {source} MIME (application/pdf, image/png, text/plain)",
    )


def _unreadable_image(shown: str, media_type: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"the attachment {shown} is {media_type}: models read PNG, JPEG, WebP or GIF images",
        param="attach",
        hint="convert it first (convert IN OUT.png)",
    )
