"""Ids only the gateway key they were given to can use: a batch's, and its result files'.

The gateway keeps no batches: each id it gives carries what it names (a
relaykit batch id, with the endpoint and input file for OpenAI's), so that any
gateway process, or a restarted one, answers for it. So that a caller who
learns another's id cannot read, cancel or list that batch, the id also carries
a tag: the first 16 bytes of an HMAC-SHA256 of its prefix and what it carries,
keyed by a secret derived from the gateway key of the caller it was given to
(:func:`~relaykit_gateway.derived_secrets.hmac_derived`).
Any process configured with that key checks it; no other key can make or
check such a tag, so another caller's id is not found (a 404, as OpenAI and
Anthropic answer for an id of another organization's), and so is an id
tampered with.

Why the caller's own key, rather than one secret for all: nothing more to
configure or share between processes, adding or removing other keys changes
nothing, and an id outlives a restart. Replacing a key's value (keeping its
name) makes the ids given to the old value unknown: keep the old key until its
batches end (a day at most). Without gateway keys (loopback only, no check)
every caller is the same one, and ids are tagged with a fixed secret.

An id is its prefix, the tag (22 characters of URL-safe base64) and what it
carries (URL-safe base64): one path segment. Ids made before ids carried a tag
(the prefix and what they carry, alone) are not accepted: :func:`untagged`
reads one, so that the refusal can say what to do instead.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping

import attrs

from .derived_secrets import hmac_derived
from .keys import GatewayKeys

#: the characters of a tag: 16 bytes of HMAC in URL-safe base64, unpadded
TAG_CHARS = 22
#: what the secret of a key is derived with (a new purpose gets its own label)
_LABEL = b"relaykit-gateway owned ids v1"
#: the secret of the one caller a gateway without keys has
_NO_KEYS = hashlib.sha256(_LABEL + b" without keys").digest()


@attrs.frozen
class IdOwner:
    """A caller as the ids it is given know it: the name of its gateway key (``None``
    without keys) and a secret derived from the key's value (never shown)."""

    name: str | None
    _secret: bytes = attrs.field(repr=False, alias="secret")

    def make(self, prefix: str, carried: str) -> str:
        """The id, starting with ``prefix``, that carries ``carried`` for this caller."""
        return prefix + self._tag(prefix, carried) + _encode(carried)

    def read(self, owned_id: str, prefix: str) -> str | None:
        """What ``owned_id`` carries, if it is an id :meth:`make` gave this caller with
        ``prefix`` (``None``: another caller's, tampered with, or not an id at all)."""
        if not owned_id.startswith(prefix):
            return None
        body = owned_id[len(prefix) :]
        carried = _decode(body[TAG_CHARS:]) if len(body) > TAG_CHARS else None
        if carried is None:
            return None
        # the same text has one spelling: compared whole, tag included, in constant time
        expected = self.make(prefix, carried)
        return carried if hmac.compare_digest(expected.encode(), owned_id.encode()) else None

    def _tag(self, prefix: str, carried: str) -> str:
        message = prefix.encode() + b"\x00" + carried.encode()
        digest = hmac.new(self._secret, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")


def id_owners(keys: GatewayKeys) -> Mapping[str | None, IdOwner]:
    """Each caller ``keys`` lets in, by its key's name (``None``: the one caller of a
    gateway without keys)."""
    if not keys:
        return {None: IdOwner(None, _NO_KEYS)}
    return {name: IdOwner(name, hmac_derived(key, _LABEL)) for name, key in keys.keys}


def untagged(old_id: str, prefix: str) -> str | None:
    """What an id of an earlier gateway (``prefix`` and what it carries, without a
    tag) carries, or ``None`` if ``old_id`` is not one."""
    if not old_id.startswith(prefix):
        return None
    carried = _decode(old_id[len(prefix) :])
    return carried if carried is not None and prefix + _encode(carried) == old_id else None


def _encode(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(encoded: str) -> str | None:
    """The printable text ``encoded`` spells (``None``: not base64 of such text; control
    characters never name a batch)."""
    try:
        text = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (binascii.Error, ValueError):
        return None
    return text if text and text.isprintable() else None
