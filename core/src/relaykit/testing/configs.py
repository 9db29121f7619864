"""Client configs for tests: no call log, one attempt, no waiting."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["one_try_config"]


def one_try_config(providers: Mapping[str, Any], **sections: Any) -> dict[str, Any]:
    """A client config for a test against mocks: ``providers`` as its ``[providers]``
    table, no call log, one attempt and no waits; ``sections`` replace those
    (``retry={...}``) or add others (``models={...}``).

    ``relaykit.Client(one_try_config({"anthropic": {"base_url": mock.base_url,
    "api_key": KEY}}))`` is a client of ``mock`` whose first error is the test's.
    """
    config: dict[str, Any] = {
        "storage": {"backend": "none"},
        "retry": {"attempts": 1, "initial_wait": 0, "max_retry_after": 0},
        "providers": dict(providers),
    }
    config.update(sections)
    return config
