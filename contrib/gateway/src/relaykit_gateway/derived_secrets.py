"""Secrets derived from a gateway key's value: one for each purpose, each under its own label.

The gateway keeps nothing a caller owns under a secret of its own configuration:
what only a key's caller may read or use is bound to that key's value (the
secret the caller presents), through a one-way derivation labelled with its
purpose and format version. So any gateway process configured with the key
derives the same secret, adding or removing other keys changes nothing, and
replacing a key's value (keeping its name) leaves what the old value owned
behind: unreadable, and unknown to the new value.

Two derivations, one per generation of the gateway:

- :func:`derived_key` (HKDF-SHA256), for every new purpose: kept conversations
  (:mod:`relaykit_gateway.sealed_entries`);
- :func:`hmac_derived` (HMAC-SHA256 keyed by the value), batch ids' tags
  (:mod:`relaykit_gateway.owned_ids`) from before this module: ids given out
  carry tags made with it, so it stays while such ids may be in use.

The values never leave this module's callers: derived secrets sit in
attributes kept out of reprs, and nothing here logs.
"""

from __future__ import annotations

import hashlib
import hmac

from relaykit.secrets import Secret

#: the bytes of every derived secret (a 256-bit key)
SECRET_BYTES = 32


def derived_key(value: Secret, label: bytes) -> bytes:
    """The 32-byte secret ``label`` (a purpose and its format version) derives from
    the gateway key ``value``: HKDF-SHA256 without salt (the value is the secret)."""
    # cryptography is imported here so that importing the gateway stays light
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    kdf = HKDF(algorithm=hashes.SHA256(), length=SECRET_BYTES, salt=None, info=label)
    return kdf.derive(value.reveal().encode())


def hmac_derived(value: Secret, label: bytes) -> bytes:
    """The 32-byte secret of ``label`` derived as batch ids have always had it: an
    HMAC-SHA256 of ``label`` keyed by the gateway key ``value``."""
    return hmac.new(value.reveal().encode(), label, hashlib.sha256).digest()
