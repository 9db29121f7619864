"""Images to edit: :class:`ImageFile`, and reading what a caller passes as one.

:meth:`relaykit.Client.edit_image` takes one image or several, each bytes, a
path, an :class:`ImageFile`, an :class:`~relaykit.ImagePart` holding bytes (or
a ``data:`` URL), or a :class:`~relaykit.GeneratedImage` holding bytes (so an
image just drawn can be edited at once); :func:`read_images` turns them into
:class:`ImageFile` values whose format is known. As for audio
(:mod:`relaykit.audio`), the format is read from the bytes (their magic
number): PNG, JPEG, WebP or GIF; bytes of none of these are refused before
anything is sent. A URL is never fetched: relaykit sends bytes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, TypeAlias

import anyio
import attrs

from .errors import InvalidRequestError
from .file_problems import read_fix, read_problem
from .image_files import SUFFIXES, dimensions, sniff

if TYPE_CHECKING:
    from .image_generation import GeneratedImage
    from .messages import ImagePart

#: one image :meth:`relaykit.Client.edit_image` takes
EditableImage: TypeAlias = "bytes | str | os.PathLike[str] | ImageFile | ImagePart | GeneratedImage"
#: what the formats relaykit reads are called in errors
ACCEPTED = "PNG, JPEG, WebP or GIF"


def _data_repr(data: bytes) -> str:
    # An image is content: a repr (in a log, an error, a test's failure) says how much.
    return f"<{len(data):,} bytes>"


@attrs.frozen
class ImageFile:
    """An image for :meth:`relaykit.Client.edit_image`: its bytes, and what they are.

    ``media_type`` and ``filename`` may be left out: the format is read from
    the bytes (``media_type`` when they say nothing relaykit reads). Its repr
    shows the size, never the bytes.
    """

    data: bytes = attrs.field(repr=_data_repr)
    media_type: str | None = None
    filename: str | None = None

    @property
    def format(self) -> str:
        """``png``, ``jpeg``, ``webp`` or ``gif``: see :func:`image_media_type`."""
        return image_media_type(self).removeprefix("image/")

    @property
    def size(self) -> tuple[int, int] | None:
        """``(width, height)`` from the image's header (``None`` when it does not say)."""
        return dimensions(self.data)

    @property
    def upload_name(self) -> str:
        """The file name to send: the caller's (without its directories) when its suffix
        names the format, else ``image.png`` (or ``.jpg``, ``.webp``, ``.gif``)."""
        suffix = SUFFIXES[image_media_type(self)]
        name = PurePath(self.filename or "image").name or "image"
        own = PurePath(name).suffix.lower()
        if own == suffix or (suffix == ".jpg" and own == ".jpeg"):
            return name
        return f"{PurePath(name).stem or 'image'}{suffix}"


def image_media_type(image: ImageFile) -> str:
    """The media type of ``image``: the bytes' magic number, else its own ``media_type``
    when that names a format relaykit sends. A typed error otherwise."""
    found = sniff(image.data)
    if found is None and image.media_type:
        declared = image.media_type.split(";", 1)[0].strip().lower()
        found = declared if declared in SUFFIXES else None
    if found is None:
        raise InvalidRequestError(
            "the image's format is unknown: its bytes are no " + ACCEPTED,
            param="image",
            hint="send a PNG, JPEG or WebP file (convert it with: convert IN OUT.png)",
        )
    return found


async def read_images(image: Any) -> tuple[ImageFile, ...]:
    """``image`` (one image, or a list or tuple of them: see the module docstring) as
    :class:`ImageFile` values, in order; a path's file is read without blocking the
    event loop.

    Raises :class:`~relaykit.InvalidRequestError` for no image at all, a path that
    names no file, an empty image, bytes of no format relaykit reads, or anything else.
    """
    if isinstance(image, list | tuple):
        if not image:
            raise _no_image()
        return tuple([await read_image(each, "image") for each in image])
    if image is None:
        raise _no_image()
    return (await read_image(image, "image"),)


def _no_image() -> InvalidRequestError:
    return InvalidRequestError(
        "edit_image needs at least one image to edit",
        param="image",
        hint="pass image='photo.png' (a path, bytes, or a list of them)",
    )


async def read_image(image: Any, param: str) -> ImageFile:
    """One image (see :func:`read_images`), ``param`` naming it in errors (``image``, ``mask``)."""
    from .image_generation import GeneratedImage
    from .messages import ImagePart

    if isinstance(image, ImageFile):
        found = image
    elif isinstance(image, bytes | bytearray | memoryview):
        found = ImageFile(bytes(image))
    elif isinstance(image, GeneratedImage):
        if image.data is None:
            raise InvalidRequestError(
                "this image came as a URL, not bytes: relaykit sends bytes, never fetches",
                param=param,
                hint="fetch image.url yourself and pass the bytes",
            )
        found = ImageFile(image.data, media_type=image.media_type)
    elif isinstance(image, ImagePart) or (isinstance(image, str) and image.startswith("data:")):
        found = _from_url(image.url if isinstance(image, ImagePart) else image, image, param)
    elif isinstance(image, str | os.PathLike):
        path = os.fspath(image)
        if not isinstance(path, str):
            path = os.fsdecode(path)
        found = ImageFile(await _read(path, param), filename=path)
    else:
        raise InvalidRequestError(
            f"{param} must be bytes, a path, a relaykit.ImageFile or ImagePart,"
            f" not {type(image).__name__}",
            param=param,
        )
    if not isinstance(found.data, bytes):
        raise InvalidRequestError(
            f"ImageFile.data must be bytes, not {type(found.data).__name__}", param=param
        )
    if not found.data:
        named = f" {found.filename!r}" if found.filename else ""
        raise InvalidRequestError(
            f"the {param}{named} is empty (0 bytes)",
            param=param,
            hint="give a PNG, JPEG or WebP file with an image in it",
        )
    try:
        image_media_type(found)
    except InvalidRequestError as e:
        named = f" {PurePath(found.filename).name!r}" if found.filename else ""
        raise InvalidRequestError(
            f"the {param}{named} is no image relaykit reads: its bytes are no {ACCEPTED}",
            param=param,
            hint=e.hint,
        ) from None
    return found


def _from_url(url: str | None, given: Any, param: str) -> ImageFile:
    """An :class:`~relaykit.ImagePart`'s bytes, or a ``data:`` URL's."""
    from .image_generation import image_from_base64
    from .messages import ImagePart

    if isinstance(given, ImagePart) and given.data is not None:
        return ImageFile(given.data, media_type=given.media_type)
    if url is not None and url.startswith("data:"):
        try:
            drawn = image_from_base64(url)
        except ValueError:
            raise InvalidRequestError(
                f"the {param}'s data: URL holds no base64", param=param
            ) from None
        assert drawn.data is not None
        return ImageFile(drawn.data, media_type=drawn.media_type)
    raise InvalidRequestError(
        f"the {param} is a URL ({str(url)[:60]!r}): relaykit sends bytes and never fetches",
        param=param,
        hint="download it first and pass the bytes or the file's path",
    )


async def _read(path: str, param: str) -> bytes:
    """The file at ``path``; a typed error naming it when it cannot be read."""
    try:
        return await anyio.Path(path).read_bytes()
    except (OSError, ValueError) as e:  # ValueError: a NUL in the path
        problem, fix = read_problem(e), read_fix(e)
    raise InvalidRequestError(
        f"cannot read {param} file {path!r}: {problem}", param=param, hint=fix
    )


def check_mask(mask: ImageFile, images: Sequence[ImageFile]) -> None:
    """Refuse a mask whose size differs from the first image's (the one it applies to),
    when both headers say."""
    first = images[0].size
    own = mask.size
    if first is not None and own is not None and first != own:
        raise InvalidRequestError(
            f"the mask is {own[0]}x{own[1]}, the image it masks {first[0]}x{first[1]}:"
            " they must be the same size",
            param="mask",
            hint="draw the mask at the first image's size",
        )
