"""The ``relaykit`` command line: ``relaykit prompt``, ``chat``, ``models``, ``plugins``, ``demo``.

Each command lives in its own module with a ``register(commands, parents)``
function; plugins add more through the ``relaykit_commands`` hook.
"""

from .main import main

__all__ = ["main"]
