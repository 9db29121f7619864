"""The ``relaykit`` command line (being built)."""


def main() -> int:
    """Entry point of the ``relaykit`` command."""
    raise SystemExit("relaykit CLI: not yet implemented")
