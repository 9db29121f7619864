"""The marker plugins decorate hook implementations with: ``@relaykit.hookimpl``."""

import pluggy

hookimpl = pluggy.HookimplMarker("relaykit")
