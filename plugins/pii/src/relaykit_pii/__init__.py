"""relaykit-pii: find personal data in text and mask it, or swap it for reversible placeholders.

Enable it with ``[redactors.pii] enabled = true``: stored records, logs and
spans then carry ``[EMAIL]``-style masks. With ``outbound = true`` the prompt
sent to the provider carries placeholders (``<EMAIL_qhdkzmxa>``) that the client
turns back into the originals in the answer, streams included.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from relaykit.lazy_exports import lazy_exports

# Names load on first use: relaykit imports every installed plugin's entry point
# when a client is built, and a plugin that is installed but not configured
# should not cost its dependencies' import time.
_EXPORTS = {
    "KINDS": "detectors",
    "find_pii": "detectors",
    "PiiRedactor": "redactor",
    "ReversiblePiiRedactor": "redactor",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)


if TYPE_CHECKING:
    from .detectors import KINDS as KINDS
    from .detectors import find_pii as find_pii
    from .redactor import PiiRedactor as PiiRedactor
    from .redactor import ReversiblePiiRedactor as ReversiblePiiRedactor
