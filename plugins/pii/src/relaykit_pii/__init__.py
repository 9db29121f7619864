"""relaykit-pii: find personal data in text and mask it, or swap it for reversible placeholders.

Enable it with ``[redactors.pii] enabled = true``: stored records, logs and
spans then carry ``[EMAIL]``-style masks. With ``outbound = true`` the prompt
sent to the provider carries placeholders (``<EMAIL_qhdkzmxa>``) that the client
turns back into the originals in the answer, streams included.
"""

from .detectors import KINDS, find_pii
from .redactor import PiiRedactor, ReversiblePiiRedactor

__all__ = ["KINDS", "PiiRedactor", "ReversiblePiiRedactor", "find_pii"]
