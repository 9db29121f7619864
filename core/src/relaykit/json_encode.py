"""``dumps``: a request body as compact JSON bytes, as cheap as it can be made.

Every call encodes its request body. With orjson installed (relaykit-aiohttp,
the fast transport, brings it) that takes about a tenth of the standard
library's time and writes UTF-8 as it is. Values orjson refuses (lone
surrogates, integers beyond 64 bits, types it does not know) go through the
standard library's compact encoder, which escapes non-ASCII text: both are
the same JSON value.

Public plugin API: plugins may import this module; the names in ``__all__`` are
stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

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


def _json_dumps(value: Any) -> bytes:
    """``value`` as compact JSON, UTF-8 bytes; raises ``TypeError`` for what JSON cannot hold."""
    return _compact(value).encode()


def _orjson_or_json(value: Any) -> bytes:
    """``value`` as compact JSON, UTF-8 bytes; raises ``TypeError`` for what JSON cannot hold."""
    try:
        return _orjson_dumps(value, option=_OPTIONS)  # type: ignore[misc]
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return _compact(value).encode()


#: ``value`` as compact JSON, UTF-8 bytes; raises ``TypeError`` for what JSON cannot hold.
dumps: Callable[[Any], bytes] = _orjson_or_json if _orjson_dumps is not None else _json_dumps
