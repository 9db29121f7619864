"""Which price a call is charged at: the config's ``[prices]`` override, else the plugin's.

Providers know list prices (``Provider.price(model)``); operators know their
negotiated ones. ``[prices."provider/model"]`` wins so that cost tracking and
USD budgets follow what the operator actually pays.
"""

from __future__ import annotations

from collections.abc import Mapping

from .protocols import Provider
from .response import ModelPrice


class PriceBook:
    """Looks up the USD price of a deployment, overrides first."""

    def __init__(self, overrides: Mapping[str, ModelPrice]) -> None:
        self._overrides = dict(overrides)

    def price(self, provider_name: str, provider: Provider, *models: str) -> ModelPrice | None:
        """The price of the first of ``models`` that has one (override, then plugin).

        Pass the model the provider reported first and the requested model second:
        a response from ``gpt-4o-mini-2024-07-18`` is priced as itself when
        configured, else as the ``gpt-4o-mini`` that was asked for.
        """
        if self._overrides:
            for model in models:
                if model and (found := self._overrides.get(f"{provider_name}/{model}")):
                    return found
        for model in models:
            if model and (found := provider.price(model)) is not None:
                return found
        return None
