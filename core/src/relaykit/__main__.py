"""``python -m relaykit``: the ``relaykit`` command."""

from relaykit.cli import main

raise SystemExit(main())
