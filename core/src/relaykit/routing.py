"""Turn what the caller wrote as ``model`` into the deployments to try, in order."""

from __future__ import annotations

import random

import attrs

from .config import Config
from .errors import ConfigError


@attrs.frozen
class Target:
    """One deployment: a provider name and that provider's model name."""

    provider: str
    model: str

    @classmethod
    def parse(cls, model_id: str) -> Target:
        """Split ``provider/model`` at the first ``/`` (``openrouter/meta-llama/x`` keeps the rest)."""
        provider, sep, model = model_id.partition("/")
        if not sep or not provider or not model:
            raise ConfigError(
                f"model {model_id!r} is not of the form 'provider/model'",
                hint="write e.g. 'openai/gpt-4o-mini', or define an alias under [models]",
            )
        return cls(provider, model)

    def __str__(self) -> str:
        return f"{self.provider}/{self.model}"


def resolve_targets(model_id: str, config: Config, rng: random.Random | None = None) -> tuple[Target, ...]:
    """The targets to try for ``model_id``: an alias's targets, or the model itself.

    ``fallback`` keeps the configured order; ``weighted`` draws the first target by
    weight and keeps the rest as fallbacks. (Load-aware strategies come later.)
    """
    route = config.models.get(model_id)
    if route is None:
        return (Target.parse(model_id),)
    targets = [Target.parse(t) for t in route.targets]
    if route.strategy == "weighted" and len(targets) > 1:
        weights = list(route.weights or [1.0] * len(targets))
        first = (rng or random).choices(range(len(targets)), weights=weights)[0]
        targets.insert(0, targets.pop(first))
    return tuple(targets)
