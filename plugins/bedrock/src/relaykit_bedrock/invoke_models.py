"""What the InvokeModel calls that are not chats share (embeddings, images, rerank):
:data:`Invoke`, the call each is sent with, and :func:`family_of`, the family of
bodies a model id takes (by its prefix, after any inference profile's)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from relaykit import InvalidRequestError

from .prices import base_model

#: ``invoke(model, body) -> (JSON answer, response headers)``: one InvokeModel call,
#: raising typed errors for error responses.
Invoke = Callable[[str, dict[str, Any]], Awaitable[tuple[Any, Mapping[str, str]]]]


class Family(Protocol):
    """A family of models: the model ids it matches begin with ``prefix``."""

    @property
    def prefix(self) -> str: ...

    @property
    def name(self) -> str: ...


F = TypeVar("F", bound=Family)


def family_of(
    model: str,
    families: Sequence[F],
    *,
    kind: str,
    does: str,
    hint: str,
    provider: str | None = None,
) -> F:
    """The family of ``model`` among ``families``; else a typed refusal saying it is no
    ``kind`` model relaykit calls, and what it ``does`` with (the families supported)."""
    base = base_model(model)
    for family in families:
        if base.startswith(family.prefix):
            return family
    supported = ", ".join(f"{f.prefix}* ({f.name})" for f in families)
    raise InvalidRequestError(
        f"{model!r} is not a Bedrock {kind} model relaykit knows how to call: "
        f"it {does} with {supported}",
        provider=provider,
        model=model,
        param="model",
        hint=hint,
    )
