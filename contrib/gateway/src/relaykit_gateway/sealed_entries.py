"""Kept conversations sealed for the shared store: only their caller's key opens them.

A conversation kept for ``previous_response_id`` cannot be redacted (going on
from it resends what the caller sent: documents, personal data, a pasted
password), so what the shared store (Redis) holds is ciphertext: AES-256-GCM
under a key derived (:func:`~relaykit_gateway.derived_secrets.derived_key`,
HKDF-SHA256) from the value of the caller's gateway key, with the entry's kind,
owner and response id as associated data, so that an entry moved to another id
or owner does not open. The store's keys are HMACs under a second secret derived
from the same value: the store's key names say nothing of whose they are.

Whose seal, and what follows:

- with gateway keys, each key's own: a process configured with the same key
  value reads what another wrote; another key finds nothing. Replacing a key's
  value (keeping its name) leaves the old value's entries behind, unread: a
  miss, and the caller sends the whole conversation (they expire within the
  hour);
- without gateway keys (a loopback-only gateway, one caller), the key vault's
  master key (``$RELAYKIT_MASTER_KEY``, else an existing ``master.key`` in the
  user config dir; never created here): every process that shares it shares
  kept responses. Without one, :func:`seals` gives none and kept responses stay
  in each process's memory: a key known to all (or a fresh random one per
  process) would be no secret, or a store no other process can read.

An entry is ``FORMAT:`` and the base64 of a random 96-bit nonce and the
ciphertext with its 16-byte tag (random nonces are safe to some 2**32
entries per key; a key keeps far fewer within its hour). One that does not
open (tampered with, or written under the same store key by something else)
is a miss, logged by the error's type alone.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

import attrs

from relaykit.key_vault import load_master_key
from relaykit.secrets import Secret

from .derived_secrets import derived_key
from .keys import GatewayKeys

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

#: the version of the sealed entries' format (in their text, their labels, their associated data)
FORMAT = 2
#: what the AES-256-GCM key of a caller's entries is derived with
_SEAL_LABEL = b"relaykit-gateway kept responses v2: aes-256-gcm entries"
#: ... and the key of the HMAC that names them in the store
_NAME_LABEL = b"relaykit-gateway kept responses v2: store keys"
_PREFIX = f"{FORMAT}:"
_NONCE_BYTES = 12
_TAG_BYTES = 16

logger = logging.getLogger("relaykit.gateway")


def sealed_size(plain_bytes: int) -> int:
    """The characters of the entry that seals ``plain_bytes`` bytes."""
    raw = _NONCE_BYTES + plain_bytes + _TAG_BYTES
    return len(_PREFIX) + 4 * -(-raw // 3)  # base64, padded


@attrs.frozen(eq=False)
class Seal:
    """What seals and names one caller's kept entries in the shared store (its two
    derived secrets are never shown)."""

    _aead: AESGCM = attrs.field(repr=False, alias="aead")
    _naming: bytes = attrs.field(repr=False, alias="naming")

    @classmethod
    def of(cls, value: Secret) -> Seal:
        """The seal of the gateway key (or master key) ``value``."""
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        return cls(AESGCM(derived_key(value, _SEAL_LABEL)), derived_key(value, _NAME_LABEL))

    def store_key(self, kind: str, owner: str | None, response_id: str) -> str:
        """The store's key (hex, as the store's keys are) of ``owner``'s ``response_id``
        entry of ``kind`` (``kept`` or ``deleted``)."""
        return hmac.new(
            self._naming, _context(kind, owner, response_id), hashlib.sha256
        ).hexdigest()

    def seal(self, plain: bytes, kind: str, owner: str | None, response_id: str) -> str:
        """``plain``, encrypted and authenticated as ``owner``'s ``response_id`` entry of
        ``kind``, as the store's text."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plain, _context(kind, owner, response_id))
        # binascii's standard alphabet: twice as fast as base64.urlsafe_b64encode's
        return _PREFIX + binascii.b2a_base64(nonce + sealed, newline=False).decode()

    def open(self, text: str, kind: str, owner: str | None, response_id: str) -> bytes | None:
        """What ``text`` seals as ``owner``'s ``response_id`` entry of ``kind``; ``None``
        for another format's entry, or (logged, by type) one that does not open."""
        if not text.startswith(_PREFIX):
            return None  # a plain entry of an older gateway, or not one of ours: a miss
        from cryptography.exceptions import InvalidTag

        try:
            raw = binascii.a2b_base64(text[len(_PREFIX) :], strict_mode=True)
            nonce, sealed = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
            return self._aead.decrypt(nonce, sealed, _context(kind, owner, response_id))
        except (InvalidTag, binascii.Error, ValueError) as error:
            # never the text: it may be a caller's conversation
            logger.warning(
                "a kept response in the shared store did not open (%s): a miss",
                type(error).__name__,
            )
            return None


def seals(keys: GatewayKeys, environ: Mapping[str, str] = os.environ) -> dict[str | None, Seal]:
    """Each caller's seal, by its key's name: with no keys, the one caller's (``None``)
    from the key vault's master key if there is one, else none (see the module)."""
    if keys:
        return {name: Seal.of(value) for name, value in keys.keys}
    master = load_master_key(environ)
    return {} if master is None else {None: Seal.of(master.key)}


def _context(kind: str, owner: str | None, response_id: str) -> bytes:
    """What binds an entry to its place: the format, its kind, owner and response id."""
    who = "none" if owner is None else f"key={owner}"
    return f"relaykit-gateway v{FORMAT} {kind} response\x00{who}\x00{response_id}".encode()
