"""One cattrs converter for every relaykit value, and JSON helpers on top of it.

Parts and stream events are tagged unions: each JSON object carries ``type``.
Bytes travel as base64, Decimals as strings, so ``from_json(to_json(x)) == x``.
A :class:`~relaykit.ChatResponse` (and the values it holds) is read back by a
decoder compiled from its fields (:mod:`relaykit.value_decoders`): a cached
answer taken from a store is one, read on the call's path.

Public plugin API: plugins may import this module; the names in ``__all__`` are
stable for them (docs/writing-plugins.md, "Modules plugins may import").
"""

from __future__ import annotations

import base64
import functools
import json
import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

import cattrs

from . import events
from .json_decode import loads
from .messages import PART_TYPES, Attachment, Part
from .web_search import Citation

__all__ = ["converter", "from_json", "structure_event", "to_json", "unstructure_event"]

T = TypeVar("T")

converter = cattrs.Converter()
converter.register_unstructure_hook(bytes, lambda b: base64.b64encode(b).decode())
converter.register_structure_hook(bytes, lambda v, _: base64.b64decode(v))
converter.register_unstructure_hook(Decimal, str)
converter.register_structure_hook(Decimal, lambda v, _: Decimal(v))


def _structure_part(value: Any, _: Any) -> Part:
    cls = PART_TYPES[value["type"]]
    return converter.structure(value, cls)


converter.register_structure_hook(Part, _structure_part)
converter.register_structure_hook(Attachment, _structure_part)


def _without_parsed() -> None:
    # A response's ``parsed`` is the caller's own object, made again from its
    # text: never part of its JSON.
    from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

    from .response import ChatResponse

    omit = override(omit=True)
    converter.register_unstructure_hook(
        ChatResponse, make_dict_unstructure_fn(ChatResponse, converter, parsed=omit)
    )
    converter.register_structure_hook(
        ChatResponse, make_dict_structure_fn(ChatResponse, converter, parsed=omit)
    )


_without_parsed()


def _name_when_set() -> None:
    # A message's participant name is written only when it has one: every other
    # message's JSON (call records, exports) stays as it was; an image's detail too.
    from cattrs.gen import make_dict_unstructure_fn, override

    from .messages import ImagePart, Message

    converter.register_unstructure_hook(
        Message,
        make_dict_unstructure_fn(Message, converter, name=override(omit_if_default=True)),
    )
    converter.register_unstructure_hook(
        ImagePart,
        make_dict_unstructure_fn(ImagePart, converter, detail=override(omit_if_default=True)),
    )


_name_when_set()


@functools.cache
def _decoders() -> dict[type, Callable[[Any], Any]]:
    """The compiled decoders :func:`from_json` uses: a response's, and those of the
    values it holds (Usage, ToolCall, ReasoningPart, Citation). Made on first use
    (~2 ms), not when this module is imported."""
    from .response import ChatResponse
    from .value_decoders import make_decoders

    try:
        return make_decoders(ChatResponse, converter, omit={ChatResponse: ("parsed",)})
    except Exception:  # pragma: no cover - a field type cattrs alone knows
        logging.getLogger("relaykit").warning(
            "no fast decoder for ChatResponse; cattrs decodes cached answers", exc_info=True
        )
        return {}


_EVENT_TYPES: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        events.StreamStart,
        events.TextDelta,
        events.ReasoningDelta,
        events.ToolCallDelta,
        events.UsageUpdate,
        events.SearchQuery,
        events.LogprobsDelta,
        events.Finish,
        Citation,
    )
}


def unstructure_event(event: events.StreamEvent) -> dict[str, Any]:
    """A stream event as a JSON-ready dict tagged with its ``type``."""
    data: dict[str, Any] = converter.unstructure(event)
    data["type"] = type(event).__name__
    return data


def structure_event(data: dict[str, Any]) -> events.StreamEvent:
    """The inverse of :func:`unstructure_event`."""
    data = dict(data)
    cls = _EVENT_TYPES[data.pop("type")]
    result: events.StreamEvent = converter.structure(data, cls)
    return result


def to_json(value: Any) -> str:
    """Serialise any relaykit value (or a list of them) to JSON."""
    return json.dumps(converter.unstructure(value), separators=(",", ":"), ensure_ascii=False)


def from_json(text: str | bytes, cls: type[T]) -> T:
    """Parse JSON produced by :func:`to_json` back into ``cls``."""
    decode = _decoders().get(cls)
    if decode is not None:
        try:
            return decode(loads(text))  # type: ignore[no-any-return]
        except Exception:
            # Not what to_json writes, or a number orjson may have read inexactly:
            # the standard library and cattrs decide (and say what is wrong).
            pass
    return converter.structure(json.loads(text), cls)
