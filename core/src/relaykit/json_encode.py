"""``dumps``: a request body as compact JSON bytes, as cheap as it can be made.

Every call encodes its request body. With orjson installed (relaykit-aiohttp,
the fast transport, brings it) that takes about a tenth of the standard
library's time and writes UTF-8 as it is. Values orjson refuses (lone
surrogates, integers beyond 64 bits, types it does not know) go through the
standard library's compact encoder, which escapes non-ASCII text: both are
the same JSON value. What neither can encode is bad input, refused unsent.

Public plugin API: plugins may import this module; the names in ``__all__`` are
stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .errors import InvalidRequestError

__all__ = ["dumps"]

_orjson_dumps: Callable[..., bytes] | None
try:
    from orjson import OPT_PASSTHROUGH_DATACLASS, OPT_PASSTHROUGH_DATETIME
    from orjson import dumps as _orjson_dumps
except ImportError:  # optional
    _orjson_dumps = None
else:
    # Datetimes and dataclasses go to the standard library, which refuses them as it
    # would without orjson: a request body must not depend on which encoder ran.
    _OPTIONS = OPT_PASSTHROUGH_DATACLASS | OPT_PASSTHROUGH_DATETIME

_compact = json.JSONEncoder(separators=(",", ":")).encode


class _Unencodable(InvalidRequestError, TypeError, ValueError):
    """A request body holding what JSON cannot: refused before sending, typed as any
    bad input is, and still the ``TypeError`` (or, for a loop, ``ValueError``) the
    encoders raise, for code that catches those."""


# Call records and reprs name it by its type's name: the public one.
_Unencodable.__name__ = _Unencodable.__qualname__ = "InvalidRequestError"


def _refused(e: Exception) -> _Unencodable:
    # Only the encoder's words (a type name, "Circular reference detected"): no value.
    return _Unencodable(
        f"the request holds a value JSON cannot encode ({e})",
        hint="pass JSON values only (dict, list, str, int, float, bool, None, no loops)"
        " in extra, metadata, tools and response_format",
    )


def _json_dumps(value: Any) -> bytes:
    """``value`` as compact JSON, UTF-8 bytes (see :data:`dumps`)."""
    try:
        return _compact(value).encode()
    except (TypeError, ValueError) as e:
        raise _refused(e) from None


def _orjson_or_json(value: Any) -> bytes:
    """``value`` as compact JSON, UTF-8 bytes (see :data:`dumps`)."""
    try:
        return _orjson_dumps(value, option=_OPTIONS)  # type: ignore[misc]
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return _json_dumps(value)


#: ``value`` as compact JSON, UTF-8 bytes. What JSON cannot hold (a type it does not
#: know, a loop) raises :class:`relaykit.InvalidRequestError` without a status (also
#: a ``TypeError``): the request was refused before sending, and
#: :func:`relaykit.http.never_sent` says so.
dumps: Callable[[Any], bytes] = _orjson_or_json if _orjson_dumps is not None else _json_dumps
